"""Every way a stream can end ends its span, with the right outcome and the partial output."""

from __future__ import annotations

import asyncio
import gc

import openai
import pytest

import spyglass

MESSAGES = [{"role": "user", "content": "Tell me a long story about logging."}]


def stream_span(captured):
    spans = [s for s in captured.spans() if s["attributes"].get("spyglass.kind") == "llm_stream"]
    assert len(spans) == 1, spans
    return spans[0]


def call_span(captured):
    """The call's own span: the GenAI operation, which gets the (partial) output when the stream ends."""
    spans = [s for s in captured.spans() if s["attributes"].get("spyglass.kind") == "llm"]
    assert len(spans) == 1, spans
    return spans[0]


@pytest.fixture
def sync_client(server, captured):
    with openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0) as client:
        with spyglass.instrument_openai(client):
            yield client


def test_read_to_the_end(sync_client, captured):
    list(sync_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert stream_span(captured)["attributes"]["spyglass.stream.outcome"] == "completed"


def test_closed_explicitly_after_two_chunks(sync_client, captured):
    stream = sync_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    first = [next(stream), next(stream)]
    assert captured.spans() == []  # both the call and its stream are still going
    stream.close()
    span = stream_span(captured)
    assert span["attributes"]["spyglass.stream.outcome"] == "closed_early"
    assert span["attributes"]["spyglass.stream.chunk_count"] == 2
    call = call_span(captured)
    assert call["attributes"]["spyglass.stream.outcome"] == "closed_early"
    partial = "".join(c.choices[0].delta.content or "" for c in first if c.choices)
    (message,) = call["attributes"]["gen_ai.output.messages"]
    assert "".join(p["content"] for p in message["parts"] if p["type"] == "text") == partial
    # the model never said why it stopped: the caller stopped reading
    assert message["finish_reason"] == "cancelled"
    assert call["attributes"]["gen_ai.response.finish_reasons"] == ("cancelled",)
    assert span["status"] == call["status"] == "UNSET"


def test_left_a_with_block_early(sync_client, captured):
    with sync_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True) as stream:
        for _ in stream:
            break
    assert stream_span(captured)["attributes"]["spyglass.stream.outcome"] == "closed_early"


def test_broken_out_of_and_dropped(sync_client, captured):
    for _ in sync_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True):
        break
    gc.collect()
    span = stream_span(captured)
    assert span["attributes"]["spyglass.stream.outcome"] == "closed_early"  # the break ended it
    assert span["attributes"]["spyglass.stream.chunk_count"] == 1


def test_never_read_and_garbage_collected(sync_client, captured):
    stream = sync_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    del stream
    gc.collect()
    span = stream_span(captured)
    assert span["attributes"]["spyglass.stream.outcome"] == "abandoned"
    assert span["attributes"]["spyglass.stream.chunk_count"] == 0


def test_error_in_the_middle_of_the_stream(sync_client, captured):
    stream = sync_client.chat.completions.create(model="midstream-error", messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in stream:
            received.append(chunk)
    assert received
    span = stream_span(captured)
    assert span["status"] == "ERROR"
    assert span["attributes"]["spyglass.stream.outcome"] == "error"
    assert span["attributes"]["error.type"] == (raised.value.code or type(raised.value).__qualname__)
    assert span["events"][0]["attributes"]["exception.type"].endswith("APIError")
    call = call_span(captured)  # the operation failed: its span says so too
    assert call["status"] == "ERROR"
    assert call["attributes"]["error.type"] == span["attributes"]["error.type"]
    assert call["attributes"]["gen_ai.response.finish_reasons"] == ("error",)
    assert call["attributes"]["gen_ai.output.messages"][0]["finish_reason"] == "error"


def test_connection_dropped_in_the_middle_of_the_stream(sync_client, captured):
    stream = sync_client.chat.completions.create(model="midstream-disconnect", messages=MESSAGES, stream=True)
    with pytest.raises(Exception) as raised:
        for _ in stream:
            pass
    span = stream_span(captured)
    assert span["status"] == "ERROR"
    assert span["attributes"]["spyglass.stream.outcome"] == "error"
    assert span["events"][0]["attributes"]["exception.type"].endswith(type(raised.value).__name__)


def test_user_code_raising_inside_the_loop(sync_client, captured):
    with pytest.raises(ZeroDivisionError):
        with sync_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True) as stream:
            for _ in stream:
                1 / 0  # noqa: B018
    # the user's error is theirs, not the stream's: the stream was closed early
    assert stream_span(captured)["attributes"]["spyglass.stream.outcome"] == "closed_early"


def test_async_exit_paths(server, captured):
    async def main():
        async with openai.AsyncOpenAI(api_key="k", base_url=server.base_url, max_retries=0) as client:
            with spyglass.instrument_openai(client):
                stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
                async for _ in stream:
                    pass
                stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
                await stream.__anext__()
                await stream.close()
                async with await client.chat.completions.create(
                    model="gpt-4o", messages=MESSAGES, stream=True
                ) as stream:
                    async for _ in stream:
                        break
                stream = await client.chat.completions.create(
                    model="midstream-error", messages=MESSAGES, stream=True
                )
                with pytest.raises(openai.APIError):
                    async for _ in stream:
                        pass

    asyncio.run(main())
    outcomes = [
        s["attributes"]["spyglass.stream.outcome"]
        for s in captured.spans()
        if s["attributes"].get("spyglass.kind") == "llm_stream"
    ]
    assert outcomes == ["completed", "closed_early", "closed_early", "error"]


def test_async_stream_abandoned_without_close_still_ends(server, captured):
    async def main():
        async with openai.AsyncOpenAI(api_key="k", base_url=server.base_url, max_retries=0) as client:
            with spyglass.instrument_openai(client):
                stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
                await stream.__anext__()
                del stream
                gc.collect()
                await asyncio.sleep(0)

    asyncio.run(main())
    gc.collect()
    assert stream_span(captured)["attributes"]["spyglass.stream.outcome"] == "abandoned"
