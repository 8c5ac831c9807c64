"""Every covered endpoint, sync and async, stream and not: what the spans record matches what the caller got."""

from __future__ import annotations

import base64
import json

import pydantic
import pytest
from dirty_equals import IsFloat, IsPositiveInt, IsStr

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Please write me a limerick about Python logging."},
]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def llm_spans(captured):
    return [s for s in captured.spans() if s["attributes"].get("spyglass.kind") in ("llm", "llm_stream")]


def calls(captured):
    """The spans of the GenAI operations: one per call, streamed or not."""
    return [s for s in captured.spans() if "gen_ai.operation.name" in s["attributes"]]


def output_text(span) -> str:
    messages = span["attributes"]["gen_ai.output.messages"]
    return "".join(p["content"] for p in messages[0]["parts"] if p["type"] == "text")


def test_chat_completion(api, captured):
    response = api.call(
        lambda c: c.chat.completions.create,
        model="gpt-4o",
        messages=MESSAGES,
        temperature=0.5,
        max_tokens=100,
        seed=7,
        stop=["\n\n"],
    )
    (span,) = llm_spans(captured)
    attributes = span["attributes"]
    assert span["name"] == "chat gpt-4o"
    assert span["status"] == "UNSET"
    assert attributes == {
        "spyglass.kind": "llm",
        "spyglass.msg": "Chat Completion with 'gpt-4o'",
        "spyglass.openai.path": "/chat/completions",
        "spyglass.openai.request_id": IsStr(regex="req_.+"),
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "local",
        "openai.api.type": "chat_completions",
        "server.address": "127.0.0.1",
        "server.port": IsPositiveInt,
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.max_tokens": 100,
        "gen_ai.request.seed": 7,
        "gen_ai.request.stop_sequences": ("\n\n",),
        "gen_ai.input.messages": [  # the system message is part of the chat history: it stays here
            {"role": "system", "parts": [{"type": "text", "content": MESSAGES[0]["content"]}]},
            {"role": "user", "parts": [{"type": "text", "content": MESSAGES[1]["content"]}]},
        ],
        "gen_ai.output.messages": [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": response.choices[0].message.content}],
                "finish_reason": "stop",
            }
        ],
        "gen_ai.response.id": response.id,
        "gen_ai.response.model": response.model,
        "gen_ai.response.finish_reasons": ("stop",),
        **(
            {"openai.response.system_fingerprint": response.system_fingerprint}
            if response.system_fingerprint
            else {}
        ),
        "gen_ai.usage.input_tokens": response.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": response.usage.completion_tokens,
        **(
            {"gen_ai.usage.cache_read.input_tokens": response.usage.prompt_tokens_details.cached_tokens}
            if response.usage.prompt_tokens_details
            else {}
        ),
        **(
            {
                "gen_ai.usage.reasoning.output_tokens": response.usage.completion_tokens_details.reasoning_tokens
            }
            if response.usage.completion_tokens_details
            else {}
        ),
        "spyglass.usage.source": "api",
        "spyglass.cost.usd": IsFloat(gt=0),
        "spyglass.cost.status": "known",
    }
    assert response._request_id == attributes["spyglass.openai.request_id"]


def test_chat_completion_stream_is_one_generation_and_a_streaming_phase(api, captured):
    chunks = api.call(lambda c: c.chat.completions.create, model="gpt-4o", messages=MESSAGES, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    request, stream = llm_spans(captured)
    # The call's span is the one GenAI operation, with the request and the whole response...
    finished = {span.name: span for span in captured.finished()}
    assert request["name"] == "chat gpt-4o"
    assert finished["chat gpt-4o"].kind.name == "CLIENT"
    assert request["attributes"] == {
        "spyglass.kind": "llm",
        "spyglass.msg": "Chat Completion with 'gpt-4o'",
        "spyglass.openai.path": "/chat/completions",
        "spyglass.openai.request_id": IsStr(regex="req_.+"),
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "local",
        "openai.api.type": "chat_completions",
        "server.address": "127.0.0.1",
        "server.port": IsPositiveInt,
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.request.stream": True,
        "gen_ai.input.messages": [
            {"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]} for m in MESSAGES
        ],
        "gen_ai.output.messages": [
            {"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": "stop"}
        ],
        "gen_ai.response.id": chunks[0].id,
        "gen_ai.response.model": chunks[0].model,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.response.time_to_first_chunk": IsFloat(gt=0),
        "openai.response.system_fingerprint": chunks[0].system_fingerprint,
        # the caller did not ask for usage and the server did not send it: spyglass does not ask either
        "spyglass.usage.source": "unavailable",
        "spyglass.cost.status": "unknown",
        "spyglass.cost.reason": IsStr(),
        "spyglass.stream.outcome": "completed",
        "spyglass.stream.chunk_count": len(chunks),
    }
    # ...and the stream's span is only its streaming phase: nothing a GenAI backend counts as a generation.
    assert stream["name"] == "chat gpt-4o stream"
    assert finished["chat gpt-4o stream"].kind.name == "INTERNAL"
    assert stream["attributes"] == {
        "spyglass.kind": "llm_stream",
        "spyglass.msg": IsStr(regex=r"streaming response from 'gpt-4o.*' took \d+\.\d\ds"),
        "spyglass.openai.path": "/chat/completions",
        "spyglass.stream.outcome": "completed",
        "spyglass.stream.chunk_count": len(chunks),
    }
    assert stream["trace_id"] == request["trace_id"]
    assert stream["parent"] == "chat gpt-4o"  # the streaming phase of the call
    assert stream["links"] == [request["span_id"]]
    assert request["start_time"] < stream["start_time"] <= stream["end_time"] == request["end_time"]
    # time to first chunk is measured from the request, so it covers the wait for the response headers
    first_chunk = request["attributes"]["gen_ai.response.time_to_first_chunk"]
    assert first_chunk * 1e9 >= stream["start_time"] - request["start_time"]


def test_stream_inside_a_user_span_hangs_under_its_call(api, captured):
    import spyglass

    with spyglass.span("Asking OpenAI to write some code"):
        api.call(lambda c: c.chat.completions.create, model="gpt-4o", messages=MESSAGES, stream=True)
    spans = {s["name"]: s for s in captured.spans()}
    assert spans["chat gpt-4o"]["parent"] == "Asking OpenAI to write some code"
    assert spans["chat gpt-4o stream"]["parent"] == "chat gpt-4o"


def test_a_caller_asking_for_usage_gets_the_usage_chunk(api, server, captured):
    chunks = api.call(
        lambda c: c.chat.completions.create,
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert chunks[-1].choices == []
    call = calls(captured)[0]["attributes"]
    assert chunks[-1].usage.completion_tokens == call["gen_ai.usage.output_tokens"]
    assert chunks[-1].usage.prompt_tokens == call["gen_ai.usage.input_tokens"]
    assert call["spyglass.usage.source"] == "api"
    assert call["spyglass.cost.status"] == "known"


def test_a_server_rejecting_stream_options_sees_none_from_spyglass(strict_server, captured):
    from openai_api import Api

    for mode in ("sync", "async"):
        chunks = Api(mode, strict_server.base_url).call(
            lambda c: c.chat.completions.create, model="gpt-4o", messages=MESSAGES, stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in chunks)
    bodies = [r.body for r in strict_server.requests if r.path.endswith("/chat/completions")]
    assert len(bodies) == 2  # one request per call: nothing refused, nothing sent again
    assert all("stream_options" not in b for b in bodies)
    streamed = [s for s in calls(captured) if s["attributes"].get("spyglass.stream.outcome")]
    assert len(streamed) == 2
    for call in streamed:
        assert call["status"] == "UNSET"
        assert call["attributes"]["spyglass.usage.source"] == "unavailable"
        assert call["attributes"]["spyglass.cost.status"] == "unknown"


def test_multiple_choices_in_a_stream(api, captured):
    chunks = api.call(
        lambda c: c.chat.completions.create, model="gpt-4o", messages=MESSAGES, stream=True, n=2
    )
    texts = {0: "", 1: ""}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    (call,) = calls(captured)
    messages = call["attributes"]["gen_ai.output.messages"]
    assert [m["parts"][0]["content"] for m in messages] == [texts[0], texts[1]]
    assert call["attributes"]["gen_ai.response.finish_reasons"] == ("stop", "stop")
    assert call["attributes"]["gen_ai.request.choice.count"] == 2


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_round_trip(api, captured, stream):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = api.call(
        lambda c: c.chat.completions.create,
        model="gpt-4o",
        messages=messages,
        tools=[WEATHER_TOOL],
        stream=stream,
    )
    if stream:
        fragments = [
            tc for chunk in first for choice in chunk.choices for tc in (choice.delta.tool_calls or ())
        ]
        call_id = next(tc.id for tc in fragments if tc.id)
        arguments = "".join(tc.function.arguments or "" for tc in fragments)
    else:
        call = first.choices[0].message.tool_calls[0]
        call_id, arguments = call.id, call.function.arguments
    tool_span = calls(captured)[-1]
    assert tool_span["attributes"]["gen_ai.output.messages"] == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": call_id,
                    "name": "get_weather",
                    "arguments": json.loads(arguments),
                }
            ],
            "finish_reason": "tool_calls",
        }
    ]
    assert tool_span["attributes"]["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert llm_spans(captured)[0]["attributes"]["gen_ai.tool.definitions"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": WEATHER_TOOL["function"]["parameters"],
        }
    ]
    captured.clear()
    follow_up = [
        *messages,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "Sunny, 24°C"},
    ]
    api.call(lambda c: c.chat.completions.create, model="gpt-4o", messages=follow_up, tools=[WEATHER_TOOL])
    (second,) = llm_spans(captured)
    assert second["attributes"]["gen_ai.input.messages"] == [
        {"role": "user", "parts": [{"type": "text", "content": "What is the weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": call_id,
                    "name": "get_weather",
                    "arguments": json.loads(arguments),
                }
            ],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": call_id, "response": "Sunny, 24°C"}]},
    ]


class Person(pydantic.BaseModel):
    name: str
    age: int


def test_chat_completions_parse(api, captured):
    completion = api.call(
        lambda c: c.chat.completions.parse, model="gpt-4o", messages=MESSAGES, response_format=Person
    )
    assert isinstance(completion.choices[0].message.parsed, Person)
    (span,) = llm_spans(captured)
    assert span["attributes"]["gen_ai.output.type"] == "json"
    assert json.loads(output_text(span)) == completion.choices[0].message.parsed.model_dump()


def test_chat_completions_stream_helper(api, captured):
    def action(client):
        manager = client.chat.completions.stream(model="gpt-4o", messages=MESSAGES)
        if api.mode == "sync":
            with manager as stream:
                for _ in stream:
                    pass
                return stream.get_final_completion()

        async def consume():
            async with manager as stream:
                async for _ in stream:
                    pass
                return await stream.get_final_completion()

        return consume()

    final = api.run(action)
    (call,) = calls(captured)
    assert call["attributes"]["spyglass.stream.outcome"] == "completed"
    assert output_text(call) == final.choices[0].message.content
    assert final.usage is None  # the helper saw exactly what it would have seen uninstrumented


@pytest.mark.parametrize("stream", [False, True])
def test_legacy_completions(api, captured, stream):
    result = api.call(
        lambda c: c.completions.create,
        model="gpt-3.5-turbo-instruct",
        prompt="Say hi",
        max_tokens=20,
        stream=stream,
        **({"stream_options": {"include_usage": True}} if stream else {}),
    )
    spans = llm_spans(captured)
    assert spans[0]["name"] == "text_completion gpt-3.5-turbo-instruct"
    assert spans[0]["attributes"]["spyglass.msg"] == "Completion with 'gpt-3.5-turbo-instruct'"
    assert spans[0]["attributes"]["gen_ai.input.messages"] == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hi"}]}
    ]
    text = "".join(c.choices[0].text for c in result if c.choices) if stream else result.choices[0].text
    assert output_text(spans[0]) == text
    assert spans[0]["attributes"]["gen_ai.usage.output_tokens"] > 0
    assert len(spans) == (2 if stream else 1)
    assert len(calls(captured)) == 1


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_embeddings(api, captured, encoding_format):
    response = api.call(
        lambda c: c.embeddings.create,
        model="text-embedding-3-small",
        input=["first text", "second text"],
        encoding_format=encoding_format,
    )
    (span,) = llm_spans(captured)
    assert span["name"] == "embeddings text-embedding-3-small"
    attributes = span["attributes"]
    assert attributes["spyglass.msg"] == "Embedding Creation with 'text-embedding-3-small'"
    assert attributes["gen_ai.request.encoding_formats"] == (encoding_format,)
    vector = response.data[0].embedding
    dimensions = len(base64.b64decode(vector)) // 4 if encoding_format == "base64" else len(vector)
    assert attributes["gen_ai.embeddings.dimension.count"] == dimensions
    assert attributes["gen_ai.usage.input_tokens"] == response.usage.prompt_tokens
    assert attributes["gen_ai.input.messages"] == [
        {
            "role": "user",
            "parts": [{"type": "text", "content": "first text"}, {"type": "text", "content": "second text"}],
        }
    ]
    assert attributes["spyglass.cost.status"] == "known"


@pytest.mark.parametrize("response_format", ["url", "b64_json"])
def test_image_generation(api, captured, response_format):
    response = api.call(
        lambda c: c.images.generate,
        model="dall-e-3",
        prompt="R2D2 in a desert",
        response_format=response_format,
    )
    (span,) = llm_spans(captured)
    assert span["name"] == "image_generation dall-e-3"
    assert span["attributes"]["spyglass.msg"] == "Image Generation with 'dall-e-3'"
    parts = span["attributes"]["gen_ai.output.messages"][0]["parts"]
    image = parts[-1]
    if response_format == "url":
        assert image == {"type": "uri", "modality": "image", "uri": response.data[0].url}
    else:
        import hashlib

        raw = base64.b64decode(response.data[0].b64_json)
        assert image == {
            "type": "blob_reference",
            "modality": "image",
            "mime_type": "image/png",
            "size": len(raw),
            "sha256": hashlib.sha256(raw).hexdigest(),
        }
        assert response.data[0].b64_json not in json.dumps(span["attributes"]["gen_ai.output.messages"])


def test_image_edit(api, captured, tmp_path):
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    )
    image = tmp_path / "in.png"
    image.write_bytes(png)

    with image.open("rb") as file:
        api.run(lambda client: client.images.edit(model="gpt-image-1", image=file, prompt="add a hat"))
    (span,) = llm_spans(captured)
    assert span["name"] == "image_edit gpt-image-1"
    assert span["attributes"]["gen_ai.input.messages"] == [
        {"role": "user", "parts": [{"type": "text", "content": "add a hat"}]}
    ]


def test_responses_create(api, captured):
    response = api.call(
        lambda c: c.responses.create, model="gpt-4.1", instructions="Be brief.", input="Tell me a joke"
    )
    (span,) = llm_spans(captured)
    attributes = span["attributes"]
    assert span["name"] == "chat gpt-4.1"
    assert attributes["spyglass.msg"] == "Responses API with 'gpt-4.1'"
    assert attributes["openai.api.type"] == "responses"
    assert attributes["gen_ai.system_instructions"] == [{"type": "text", "content": "Be brief."}]
    assert attributes["gen_ai.input.messages"] == [
        {"role": "user", "parts": [{"type": "text", "content": "Tell me a joke"}]}
    ]
    assert output_text(span) == response.output_text
    assert attributes["gen_ai.response.id"] == response.id
    assert attributes["gen_ai.usage.input_tokens"] == response.usage.input_tokens
    assert attributes["gen_ai.usage.output_tokens"] == response.usage.output_tokens


def test_responses_create_stream(api, captured):
    events = api.call(lambda c: c.responses.create, model="gpt-4.1", input="Tell me a joke", stream=True)
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    (call,) = calls(captured)
    assert call["attributes"]["spyglass.stream.outcome"] == "completed"
    assert output_text(call) == text
    completed = next(e for e in events if e.type == "response.completed")
    assert call["attributes"]["gen_ai.usage.output_tokens"] == completed.response.usage.output_tokens
    assert call["attributes"]["gen_ai.response.id"] == completed.response.id
    assert call["attributes"]["gen_ai.response.finish_reasons"] == ("stop",)


def test_responses_stream_helper_and_parse(api, captured):
    def stream_action(client):
        manager = client.responses.stream(model="gpt-4.1", input="Tell me a joke")
        if api.mode == "sync":
            with manager as stream:
                for _ in stream:
                    pass
                return stream.get_final_response()

        async def consume():
            async with manager as stream:
                async for _ in stream:
                    pass
                return await stream.get_final_response()

        return consume()

    final = api.run(stream_action)
    assert output_text(calls(captured)[0]) == final.output_text
    captured.clear()
    parsed = api.call(lambda c: c.responses.parse, model="gpt-4.1", input="A person", text_format=Person)
    (span,) = llm_spans(captured)
    assert isinstance(parsed.output_parsed, Person)
    assert span["attributes"]["gen_ai.output.type"] == "json"
    assert json.loads(output_text(span)) == parsed.output_parsed.model_dump()


def test_responses_tool_call(api, captured):
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER_TOOL["function"]["parameters"]}
    response = api.call(
        lambda c: c.responses.create, model="gpt-4.1", input="Weather in Paris?", tools=[tool]
    )
    call = next(item for item in response.output if item.type == "function_call")
    (span,) = llm_spans(captured)
    assert span["attributes"]["gen_ai.output.messages"][0]["parts"] == [
        {
            "type": "tool_call",
            "id": call.call_id,
            "name": "get_weather",
            "arguments": json.loads(call.arguments),
        }
    ]
    assert span["attributes"]["gen_ai.response.finish_reasons"] == ("tool_call",)  # the conventions' value


def test_other_endpoints_get_a_generic_span(api, captured):
    models = api.call(lambda c: c.models.list)
    assert models is not None
    (span,) = captured.spans()
    assert span["name"] == "openai GET /models"
    assert span["attributes"]["spyglass.kind"] == "api"
    assert span["attributes"]["spyglass.msg"] == "OpenAI API GET /models"
    assert span["attributes"]["http.request.method"] == "GET"


def test_capture_content_false_records_everything_but_content(server):
    from openai_api import Api
    from spyglass.testing import capture_spans

    with capture_spans(capture_content=False) as captured:
        response = Api("sync", server.base_url).call(
            lambda c: c.chat.completions.create, model="gpt-4o", messages=MESSAGES, tools=[WEATHER_TOOL]
        )
    (span,) = llm_spans(captured)
    attributes = span["attributes"]
    for key in ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"):
        assert key not in attributes
    assert attributes["gen_ai.usage.input_tokens"] == response.usage.prompt_tokens
    assert attributes["gen_ai.response.id"] == response.id
    assert "gen_ai.tool.definitions" in attributes
    flat = json.dumps(span, default=str)
    assert "limerick" not in flat


def test_instrument_openai_capture_content_overrides_configure(server, captured):
    import openai

    import spyglass

    with openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0) as client:
        with spyglass.instrument_openai(client, capture_content=False):
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert "gen_ai.input.messages" not in llm_spans(captured)[0]["attributes"]


def test_images_in_the_conversation_are_references_not_base64(api, captured):
    import hashlib

    raw = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4000
    data = base64.b64encode(raw).decode()
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        }
    ]
    api.call(lambda c: c.chat.completions.create, model="gpt-4o", messages=messages)
    (span,) = llm_spans(captured)
    assert span["attributes"]["gen_ai.input.messages"] == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "What is in this image?"},
                {
                    "type": "blob_reference",
                    "modality": "image",
                    "mime_type": "image/png",
                    "size": len(raw),
                    "sha256": hashlib.sha256(raw).hexdigest(),
                },
                {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"},
            ],
        }
    ]
