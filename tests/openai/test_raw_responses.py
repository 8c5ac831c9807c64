"""`with_raw_response` and `with_streaming_response`: same objects for the caller, full spans for us."""

from __future__ import annotations

import asyncio

import openai
import pytest

import spyglass

MESSAGES = [{"role": "user", "content": "hello"}]


def kinds(captured):
    return [s["attributes"].get("spyglass.kind") for s in captured.spans()]


def test_with_raw_response(client, captured):
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert isinstance(raw, openai._legacy_response.LegacyAPIResponse)
    completion = raw.parse()
    assert completion is raw.parse()
    (span,) = captured.spans()
    assert span["attributes"]["gen_ai.response.id"] == completion.id
    assert span["attributes"]["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    assert span["attributes"]["spyglass.openai.request_id"] == raw.headers["x-request-id"]


def test_with_raw_response_stream(client, captured):
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES, stream=True)
    stream = raw.parse()
    assert type(stream) is openai.Stream
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert kinds(captured) == ["llm", "llm_stream"]
    call = captured.spans()[0]
    assert call["attributes"]["spyglass.stream.outcome"] == "completed"
    assert call["attributes"]["gen_ai.output.messages"][0]["parts"][0]["content"] == text
    # the caller's raw request was left as written: no usage asked behind its back
    assert "gen_ai.usage.output_tokens" not in call["attributes"]


def test_with_streaming_response(client, captured):
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=MESSAGES
    ) as response:
        assert captured.spans() == []  # the body is not read yet: the call is still going
        completion = response.parse()
    (span,) = captured.spans()
    assert span["attributes"]["gen_ai.response.id"] == completion.id
    assert span["attributes"]["gen_ai.output.messages"][0]["parts"][0]["content"] == (
        completion.choices[0].message.content
    )


def test_with_streaming_response_read_raw_only(client, captured):
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=MESSAGES
    ) as response:
        body = b"".join(response.iter_bytes())
    assert body.startswith(b"{")
    (span,) = captured.spans()
    assert span["status"] == "UNSET"
    assert "gen_ai.output.messages" not in span["attributes"]


def test_with_streaming_response_stream(client, captured):
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=MESSAGES, stream=True
    ) as response:
        chunks = list(response.parse())
    assert chunks
    assert kinds(captured) == ["llm", "llm_stream"]
    call, stream = captured.spans()
    assert stream["attributes"]["spyglass.stream.outcome"] == "completed"
    # the SDK closes the response when the stream ends: the call's span still gets the whole answer first
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert call["attributes"]["gen_ai.output.messages"][0]["parts"][0]["content"] == text
    assert call["attributes"]["gen_ai.response.finish_reasons"] == ("stop",)
    assert call["end_time"] == stream["end_time"]


def test_with_streaming_response_stream_closed_unparsed_ends_the_call(client, captured):
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=MESSAGES, stream=True
    ) as response:
        assert captured.spans() == []
    assert response.http_response.is_closed
    (call,) = captured.spans()
    assert call["attributes"]["gen_ai.request.stream"] is True
    assert "gen_ai.output.messages" not in call["attributes"]


def test_async_raw_variants(server, captured):
    async def main():
        async with openai.AsyncOpenAI(api_key="k", base_url=server.base_url, max_retries=0) as client:
            with spyglass.instrument_openai(client):
                raw = await client.chat.completions.with_raw_response.create(
                    model="gpt-4o", messages=MESSAGES
                )
                first = raw.parse()
                async with client.chat.completions.with_streaming_response.create(
                    model="gpt-4o", messages=MESSAGES
                ) as response:
                    second = await response.parse()
                async with client.chat.completions.with_streaming_response.create(
                    model="gpt-4o", messages=MESSAGES, stream=True
                ) as response:
                    chunks = [c async for c in await response.parse()]
                return first, second, chunks

    first, second, chunks = asyncio.run(main())
    spans = captured.spans()
    assert [s["attributes"]["spyglass.kind"] for s in spans] == ["llm", "llm", "llm", "llm_stream"]
    assert spans[0]["attributes"]["gen_ai.response.id"] == first.id
    assert spans[1]["attributes"]["gen_ai.response.id"] == second.id
    assert spans[3]["attributes"]["spyglass.stream.chunk_count"] == len(chunks)
    assert spans[2]["attributes"]["spyglass.stream.chunk_count"] == len(chunks)
    assert spans[2]["attributes"]["gen_ai.output.messages"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("variant", ["with_raw_response", "with_streaming_response"])
def test_raw_errors_are_recorded_and_raised(client, captured, variant):
    with pytest.raises(openai.NotFoundError):
        result = getattr(client.chat.completions, variant).create(model="error-404", messages=MESSAGES)
        if variant == "with_streaming_response":  # the request is made when the block is entered
            with result:
                pass
    (span,) = captured.spans()
    assert span["status"] == "ERROR"
    assert span["attributes"]["error.type"] == "model_not_found"
