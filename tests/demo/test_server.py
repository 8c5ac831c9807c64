"""The demo server, driven through the real `openai` SDK over HTTP."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pydantic
import pytest

from spyglass.demo.server import DemoServer, UploadedFile, create_app, serve

USER = [{"role": "user", "content": "Say this is a test"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
            },
            "required": ["location", "unit", "days"],
            "additionalProperties": False,
        },
    },
}
RESPONSES_TOOL = {"type": "function", **WEATHER_TOOL["function"]}


class City(pydantic.BaseModel):
    name: str
    population: int
    coastal: bool
    districts: list[str]
    mayor: Person | None


class Person(pydantic.BaseModel):
    name: str
    age: float


City.model_rebuild()


@pytest.fixture(scope="module")
def server() -> Iterator[DemoServer]:
    with serve() as running:
        yield running


@pytest.fixture(scope="module")
def client(server: DemoServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key="test", base_url=server.base_url, max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def chat(client: openai.OpenAI, **kwargs: Any) -> Any:
    return client.chat.completions.create(model=kwargs.pop("model", "gpt-4o-mini"), messages=USER, **kwargs)


# --- chat completions --------------------------------------------------------------------------------------


def test_chat_completion(client: openai.OpenAI, server: DemoServer) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
    completion = raw.parse()
    assert raw.headers["x-request-id"].startswith("req_")
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"
    assert completion.system_fingerprint
    [choice] = completion.choices
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert "Say this is a test" in (choice.message.content or "")
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens == 3 + 5  # 3 per message, 5 words
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 0
    assert server.requests[-1].body == {"model": "gpt-4o-mini", "messages": USER}


def test_same_request_same_bytes(client: openai.OpenAI) -> None:
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
    second = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
    assert first.content == second.content
    assert first.headers["x-request-id"] == second.headers["x-request-id"]
    other = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER)
    assert other.parse().id != first.parse().id


def test_chat_stream_reassembles_to_the_plain_answer(client: openai.OpenAI) -> None:
    plain = chat(client).choices[0].message.content
    with chat(client, stream=True) as stream:
        chunks = list(stream)
    assert len(chunks) > 4
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == plain
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert all(c.usage is None for c in chunks)
    assert len({c.id for c in chunks}) == 1


def test_chat_stream_has_no_usage_field_unless_asked(client: openai.OpenAI) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=USER, stream=True
    ) as response:
        text = response.read().decode()
    assert '"usage"' not in text
    assert text.endswith("data: [DONE]\n\n")


def test_chat_stream_with_usage(client: openai.OpenAI) -> None:
    plain = chat(client)
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=USER, stream=True, stream_options={"include_usage": True}
    ) as response:
        frames = [line for line in response.read().decode().split("\n\n") if line]
    payloads = [json.loads(frame.removeprefix("data: ")) for frame in frames[:-1]]
    assert frames[-1] == "data: [DONE]"
    assert all(p["usage"] is None for p in payloads[:-1])
    assert payloads[-1]["choices"] == []
    assert plain.usage is not None
    assert payloads[-1]["usage"] == plain.usage.model_dump(exclude_none=True)


def test_chat_n2_stream_interleaves_choices(client: openai.OpenAI) -> None:
    plain = chat(client, n=2)
    assert [c.index for c in plain.choices] == [0, 1]
    assert plain.choices[0].message.content != plain.choices[1].message.content
    with chat(client, n=2, stream=True) as stream:
        chunks = list(stream)
    texts = {0: "", 1: ""}
    order = []
    for chunk in chunks:
        [choice] = chunk.choices
        order.append(choice.index)
        texts[choice.index] += choice.delta.content or ""
    assert texts == {c.index: c.message.content for c in plain.choices}
    assert order[:4] == [0, 1, 0, 1]


def test_chat_tool_call(client: openai.OpenAI) -> None:
    completion = chat(client, tools=[WEATHER_TOOL])
    [choice] = completion.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {
        "location": "example location",
        "unit": "celsius",
        "days": 1,
    }


def test_chat_tool_call_stream(client: openai.OpenAI) -> None:
    plain = chat(client, tools=[WEATHER_TOOL]).choices[0].message.tool_calls
    assert plain
    with chat(client, tools=[WEATHER_TOOL], stream=True) as stream:
        chunks = list(stream)
    calls = [call for c in chunks for call in c.choices[0].delta.tool_calls or []]
    assert len(calls) > 3
    assert calls[0].id == plain[0].id
    assert calls[0].function is not None and calls[0].function.name == "get_weather"
    arguments = "".join(call.function.arguments or "" for call in calls if call.function)
    assert json.loads(arguments) == json.loads(plain[0].function.arguments)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_chat_after_a_tool_result(client: openai.OpenAI) -> None:
    messages = [
        *USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 degrees"},
    ]
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL])
    assert completion.choices[0].finish_reason == "stop"
    assert "Sunny, 21 degrees" in (completion.choices[0].message.content or "")


def test_chat_parse_with_a_pydantic_model(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(model="gpt-4o-mini", messages=USER, response_format=City)
    city = completion.choices[0].message.parsed
    assert isinstance(city, City)
    assert city.districts and city.population == 1 and city.coastal is True
    assert isinstance(city.mayor, Person)


def test_chat_completions_stream_helper(client: openai.OpenAI) -> None:
    plain = chat(client).choices[0].message.content
    with client.chat.completions.stream(model="gpt-4o-mini", messages=USER) as stream:
        deltas = [event.delta for event in stream if event.type == "content.delta"]
        final = stream.get_final_completion()
    assert "".join(deltas) == plain
    assert final.choices[0].message.content == plain


def test_chat_limits_and_echoes(client: openai.OpenAI) -> None:
    short = chat(client, max_completion_tokens=3, service_tier="auto", reasoning_effort="low")
    assert short.choices[0].finish_reason == "length"
    assert short.choices[0].message.content == "This is a"
    assert short.service_tier == "default"
    assert short.usage is not None and short.usage.completion_tokens_details is not None
    assert short.usage.completion_tokens_details.reasoning_tokens == 32
    assert short.usage.completion_tokens == 3 + 32


def test_cached_tokens_for_long_prompts(client: openai.OpenAI) -> None:
    long_prompt = "word " * 1200
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": long_prompt}]
    )
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens == 1203
    assert completion.usage.prompt_tokens_details.cached_tokens == 1152


def test_chat_json_object(client: openai.OpenAI) -> None:
    completion = chat(client, response_format={"type": "json_object"})
    assert "answer" in json.loads(completion.choices[0].message.content or "")


# --- legacy completions ------------------------------------------------------------------------------------


def test_completions(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi")
    assert completion.object == "text_completion"
    assert completion.id.startswith("cmpl-")
    assert completion.choices[0].finish_reason == "stop"
    assert "Say hi" in completion.choices[0].text
    assert completion.usage is not None and completion.usage.prompt_tokens == 2
    with client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Say hi", stream=True, stream_options={"include_usage": True}
    ) as stream:
        chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == completion.choices[0].text
    assert chunks[-1].choices == [] and chunks[-1].usage == completion.usage


def test_completions_list_prompt_and_n(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt=["one", "two"], n=2)
    assert [c.index for c in completion.choices] == [0, 1, 2, 3]
    assert '"two"' in completion.choices[2].text
    with client.completions.create(model="gpt-3.5-turbo-instruct", prompt=[1, 2, 3], stream=True) as stream:
        chunks = list(stream)
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


# --- embeddings --------------------------------------------------------------------------------------------


def test_embeddings_float_and_base64_agree(client: openai.OpenAI, server: DemoServer) -> None:
    floats = client.embeddings.create(model="text-embedding-3-small", input="hello", encoding_format="float")
    decoded = client.embeddings.create(model="text-embedding-3-small", input="hello")
    assert server.requests[-1].body["encoding_format"] == "base64"  # the SDK's default
    assert len(floats.data[0].embedding) == 1536
    assert decoded.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=0)
    assert sum(v * v for v in floats.data[0].embedding) == pytest.approx(1.0, rel=1e-5)
    assert floats.usage.prompt_tokens == floats.usage.total_tokens == 1
    assert floats.model == "text-embedding-3-small"


def test_embeddings_raw_base64_is_little_endian_float32(client: openai.OpenAI) -> None:
    raw = client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="hello", encoding_format="base64", dimensions=4
    )
    encoded = json.loads(raw.content)["data"][0]["embedding"]
    assert isinstance(encoded, str)
    assert len(base64.b64decode(encoded)) == 4 * 4


def test_embeddings_batches_dimensions_and_tokens(client: openai.OpenAI) -> None:
    result = client.embeddings.create(
        model="text-embedding-3-large", input=["a b", "c"], dimensions=8, encoding_format="float"
    )
    assert [d.index for d in result.data] == [0, 1]
    assert [len(d.embedding) for d in result.data] == [8, 8]
    assert result.data[0].embedding != result.data[1].embedding
    assert result.usage.prompt_tokens == 3
    tokens = client.embeddings.create(model="text-embedding-3-large", input=[[1, 2, 3], [4, 5]])
    assert tokens.usage.prompt_tokens == 5
    assert len(tokens.data[0].embedding) == 3072


# --- images ------------------------------------------------------------------------------------------------


def test_image_url(client: openai.OpenAI) -> None:
    result = client.images.generate(model="dall-e-3", prompt="a lighthouse")
    [image] = result.data or []
    assert image.url is not None and image.url.startswith("http://127.0.0.1:")
    assert "a lighthouse" in (image.revised_prompt or "")
    png = client.get(image.url, cast_to=openai._legacy_response.HttpxBinaryResponseContent).content
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_image_b64_json(client: openai.OpenAI) -> None:
    result = client.images.generate(model="dall-e-2", prompt="a cat", response_format="b64_json", n=2)
    assert len(result.data or []) == 2
    for image in result.data or []:
        assert base64.b64decode(image.b64_json or "").startswith(b"\x89PNG")
        assert image.revised_prompt is None


def test_gpt_image_reports_usage(client: openai.OpenAI) -> None:
    result = client.images.generate(model="gpt-image-1", prompt="a cat", quality="low")
    assert result.usage is not None
    assert result.usage.output_tokens == 272
    assert result.usage.input_tokens_details.text_tokens == 2
    assert base64.b64decode((result.data or [])[0].b64_json or "").startswith(b"\x89PNG")


def test_image_edit(client: openai.OpenAI, server: DemoServer) -> None:
    png = base64.b64decode(
        client.images.generate(model="dall-e-2", prompt="x", response_format="b64_json").data[0].b64_json
        or ""
    )  # type: ignore[index]
    result = client.images.edit(image=("in.png", png, "image/png"), prompt="add a hat", model="gpt-image-1")
    assert result.usage is not None and result.usage.input_tokens_details.image_tokens > 0
    form = server.requests[-1].body
    assert form["prompt"] == "add a hat"
    assert isinstance(form["image"], UploadedFile)
    assert form["image"].content == png
    url = client.images.edit(image=("in.png", png, "image/png"), prompt="add a hat", response_format="url")
    assert (url.data or [])[0].url


# --- responses ---------------------------------------------------------------------------------------------


def test_responses_create(client: openai.OpenAI) -> None:
    result = client.responses.create(model="gpt-4o-mini", input="Tell me a story", instructions="Be brief.")
    assert result.id.startswith("resp_")
    assert result.status == "completed"
    assert result.instructions == "Be brief."
    assert "Tell me a story" in result.output_text
    assert result.usage is not None
    assert result.usage.input_tokens == 3 + 3 + 4  # instructions, 3 per input item, prompt
    assert result.usage.input_tokens_details.cached_tokens == 0
    assert result.usage.output_tokens_details.reasoning_tokens == 0


def test_responses_input_items(client: openai.OpenAI) -> None:
    result = client.responses.create(
        model="gpt-4o-mini",
        input=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "input_text", "text": "What is up?"}]},
        ],
    )
    assert "What is up?" in result.output_text


def test_responses_stream(client: openai.OpenAI) -> None:
    plain = client.responses.create(model="gpt-4o-mini", input="Tell me a story")
    with client.responses.create(model="gpt-4o-mini", input="Tell me a story", stream=True) as stream:
        events = list(stream)
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert types.count("response.output_text.delta") > 2
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == plain.output_text
    final = events[-1].response
    assert final.model_dump() == plain.model_dump()


def test_responses_stream_helper(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-4o-mini", input="Tell me a story") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text


def test_responses_function_call(client: openai.OpenAI) -> None:
    result = client.responses.create(model="gpt-4o-mini", input="Weather?", tools=[RESPONSES_TOOL])
    [call] = result.output
    assert call.type == "function_call"
    assert call.name == "get_weather" and call.call_id.startswith("call_")
    assert json.loads(call.arguments)["unit"] == "celsius"
    with client.responses.create(
        model="gpt-4o-mini", input="Weather?", tools=[RESPONSES_TOOL], stream=True
    ) as stream:
        events = list(stream)
    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert len(deltas) > 1 and "".join(deltas) == call.arguments
    follow_up = client.responses.create(
        model="gpt-4o-mini",
        tools=[RESPONSES_TOOL],
        input=[
            {"role": "user", "content": "Weather?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "Rainy"},
        ],
    )
    assert "Rainy" in follow_up.output_text


def test_responses_parse(client: openai.OpenAI) -> None:
    result = client.responses.parse(model="gpt-4o-mini", input="A city", text_format=City)
    assert isinstance(result.output_parsed, City)


def test_responses_reasoning(client: openai.OpenAI) -> None:
    result = client.responses.create(model="gpt-5-nano", input="Count", reasoning={"effort": "high"})
    assert [item.type for item in result.output] == ["reasoning", "message"]
    assert result.usage is not None
    assert result.usage.output_tokens_details.reasoning_tokens == 512
    assert result.reasoning is not None and result.reasoning.effort == "high"
    with client.responses.stream(model="gpt-5-nano", input="Count", reasoning={"effort": "high"}) as stream:
        final = stream.get_final_response()
    assert (final.id, final.output_text, final.usage) == (result.id, result.output_text, result.usage)
    assert [item.type for item in final.output] == ["reasoning", "message"]


def test_responses_max_output_tokens(client: openai.OpenAI) -> None:
    result = client.responses.create(model="gpt-4o-mini", input="Tell me", max_output_tokens=16)
    assert result.status == "incomplete"
    assert result.incomplete_details is not None and result.incomplete_details.reason == "max_output_tokens"


# --- models and unknown paths ------------------------------------------------------------------------------


def test_models(client: openai.OpenAI) -> None:
    models = [m.id for m in client.models.list()]
    assert "gpt-4o-mini" in models
    assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("missing-model")


def test_unknown_path_is_an_openai_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.post("/nope", body={}, cast_to=object)
    assert caught.value.body == {
        "message": "Invalid URL (POST /v1/nope)",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    with pytest.raises(openai.NotFoundError):
        client.get("/chat/completions", cast_to=object)


def test_bad_json_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.post("/chat/completions", body=[1, 2], cast_to=object)
    with pytest.raises(openai.BadRequestError, match="model"):
        client.post("/chat/completions", body={"messages": USER}, cast_to=object)


# --- faults ------------------------------------------------------------------------------------------------

FAULTS = [
    ("error-400", openai.BadRequestError, 400, "invalid_value"),
    ("error-401", openai.AuthenticationError, 401, "invalid_api_key"),
    ("error-404", openai.NotFoundError, 404, "model_not_found"),
    ("missing-gpt-9", openai.NotFoundError, 404, "model_not_found"),
    ("error-429", openai.RateLimitError, 429, "rate_limit_exceeded"),
    ("error-500", openai.InternalServerError, 500, None),
    ("error-503", openai.InternalServerError, 503, None),
]


@pytest.mark.parametrize(("model", "error", "status", "code"), FAULTS)
def test_error_models(
    client: openai.OpenAI, model: str, error: type[openai.APIStatusError], status: int, code: str | None
) -> None:
    calls = [
        lambda: chat(client, model=model),
        lambda: chat(client, model=model, stream=True),
        lambda: client.embeddings.create(model=model, input="x"),
        lambda: client.responses.create(model=model, input="x"),
        lambda: client.completions.create(model=model, prompt="x"),
        lambda: client.images.generate(model=model, prompt="x"),
    ]
    for call in calls:
        with pytest.raises(error) as caught:
            call()
        assert caught.value.status_code == status
        assert caught.value.code == code
        assert caught.value.type
        assert caught.value.request_id and caught.value.request_id.startswith("req_")


def test_model_not_found_message(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        chat(client, model="missing-gpt-9")
    assert isinstance(caught.value.body, dict)
    assert (
        caught.value.body["message"]
        == "The model `missing-gpt-9` does not exist or you do not have access to it."
    )


def test_rate_limit_retry_headers(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        chat(client, model="error-429")
    assert caught.value.response.headers["retry-after"] == "0"
    assert caught.value.type == "requests"


def test_sdk_retries_are_fast(server: DemoServer) -> None:
    with openai.OpenAI(api_key="test", base_url=server.base_url, max_retries=2) as retrying:
        start = time.perf_counter()
        with pytest.raises(openai.RateLimitError):
            retrying.chat.completions.create(model="error-429", messages=USER)
        assert time.perf_counter() - start < 1
    assert [r.headers["x-stainless-retry-count"] for r in server.requests[-3:]] == ["0", "1", "2"]


def test_midstream_error(client: openai.OpenAI) -> None:
    received = []
    with (
        pytest.raises(openai.APIError, match="The server had an error"),
        chat(client, model="midstream-error", stream=True) as stream,
    ):
        received.extend(stream)
    assert len(received) == 3
    with (
        pytest.raises(openai.APIError),
        client.responses.create(model="midstream-error", input="x", stream=True) as events,
    ):
        list(events)
    with (
        pytest.raises(openai.APIError),
        client.completions.create(model="midstream-error", prompt="x", stream=True) as chunks,
    ):
        list(chunks)
    with pytest.raises(openai.InternalServerError):
        chat(client, model="midstream-error")


def test_midstream_disconnect(client: openai.OpenAI) -> None:
    received = []
    with (
        pytest.raises(Exception) as caught,
        chat(client, model="midstream-disconnect", stream=True) as stream,
    ):
        received.extend(stream)
    # openai 1.x lets httpx's RemoteProtocolError through; newer versions wrap it in APIConnectionError.
    assert type(caught.value).__name__ in {"APIConnectionError", "RemoteProtocolError"}
    assert len(received) == 3
    with (
        pytest.raises(Exception) as caught,
        client.responses.create(model="midstream-disconnect", input="x", stream=True) as events,
    ):
        list(events)
    assert type(caught.value).__name__ in {"APIConnectionError", "RemoteProtocolError"}
    with pytest.raises(openai.APIConnectionError):
        chat(client, model="midstream-disconnect")
    assert chat(client).choices  # the server is still fine


def test_slow_model(client: openai.OpenAI) -> None:
    start = time.perf_counter()
    completion = chat(client, model="slow-60")
    assert time.perf_counter() - start >= 0.06
    assert completion.model == "slow-60"
    with pytest.raises(openai.APITimeoutError):
        chat(client, model="slow-1000", timeout=0.05)


def test_stream_options_rejected_by_model(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        chat(client, model="no-stream-options", stream=True, stream_options={"include_usage": True})
    assert caught.value.body == {
        "message": "Unrecognized request argument supplied: stream_options",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    with chat(client, model="no-stream-options", stream=True) as stream:
        assert list(stream)


def test_stream_options_rejected_by_app() -> None:
    with (
        serve(create_app(reject_stream_options=True)) as strict,
        openai.OpenAI(api_key="test", base_url=strict.base_url, max_retries=0) as client,
    ):
        with pytest.raises(openai.BadRequestError, match="stream_options"):
            chat(client, stream=True, stream_options={"include_usage": True})
        with chat(client, stream=True) as stream:
            assert list(stream)
        assert len(strict.requests) == 2


# --- what the SDK sent -------------------------------------------------------------------------------------


def test_requests_are_recorded(client: openai.OpenAI, server: DemoServer) -> None:
    server.requests.clear()
    chat(client, temperature=0.5, user="u-1")
    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer test"
    assert request.headers["x-stainless-lang"] == "python"
    assert request.body == {"model": "gpt-4o-mini", "messages": USER, "temperature": 0.5, "user": "u-1"}
    assert request.json == request.body
    assert json.loads(request.content) == request.body


# --- async client ------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_client(server: DemoServer) -> None:
    async with openai.AsyncOpenAI(api_key="test", base_url=server.base_url, max_retries=0) as client:
        plain = await client.chat.completions.create(model="gpt-4o-mini", messages=USER)
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
        assert (
            "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            == plain.choices[0].message.content
        )
        assert chunks[-1].usage == plain.usage
        async with client.responses.stream(model="gpt-4o-mini", input="hi") as events:
            final = await events.get_final_response()
        assert "hi" in final.output_text
        embedding = await client.embeddings.create(model="text-embedding-3-small", input="x")
        assert len(embedding.data[0].embedding) == 1536
        with pytest.raises(openai.RateLimitError):
            await client.responses.create(model="error-429", input="x")


def test_stream_closed_early_leaves_the_server_fine(client: openai.OpenAI) -> None:
    for _ in range(3):
        with chat(client, stream=True, n=20) as stream:
            next(iter(stream))
    assert chat(client).choices[0].finish_reason == "stop"
