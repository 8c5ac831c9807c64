"""The traced program cannot tell: same requests, same chunks (fields and fields-set), same method objects.

And the stream span ends however the caller stops: at a `break`, on an exception that cannot even be
printed, and as `interrupted` when a stream delimited by the connection's close stops early.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import inspect
import typing
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from openai._base_client import AsyncAPIClient, SyncAPIClient
from sse_relay import events, relay, stream_bytes

import spyglass

MESSAGES = [{"role": "user", "content": "Tell me a story about logging."}]
CHAT = {"model": "gpt-4o", "messages": MESSAGES, "stream": True}
CLIENT_CLASSES = [openai.OpenAI, openai.AsyncOpenAI, openai.AzureOpenAI, openai.AsyncAzureOpenAI]
# the HTTP library this openai release is built on (httpx, or httpx2 from openai 3)
http = importlib.import_module(
    next(c.__module__.split(".")[0] for c in openai.DefaultHttpxClient.__mro__ if c.__name__ == "Client")
)


def spans_of_kind(captured: Any, kind: str) -> list[dict[str, Any]]:
    return [s for s in captured.spans() if s["attributes"].get("spyglass.kind") == kind]


def fingerprint(chunk: Any) -> tuple[Any, ...]:
    """Everything a caller can read off a chunk."""
    return (type(chunk), chunk.to_dict(), chunk.to_json(), chunk.model_fields_set, repr(chunk))


def read_stream(mode: str, base_url: str, instrumented: bool, **body: Any) -> list[Any]:
    """Chat-stream `body` through a fresh sync or async client, traced or not; every chunk read."""
    if mode == "sync":
        with openai.OpenAI(api_key="k", base_url=base_url, max_retries=0) as client:
            if not instrumented:
                return list(client.chat.completions.create(**body))
            with spyglass.instrument_openai(client):
                return list(client.chat.completions.create(**body))

    async def main() -> list[Any]:
        async with openai.AsyncOpenAI(api_key="k", base_url=base_url, max_retries=0) as client:
            if not instrumented:
                return [c async for c in await client.chat.completions.create(**body)]
            with spyglass.instrument_openai(client):
                return [c async for c in await client.chat.completions.create(**body)]

    return asyncio.run(main())


# --- replaced methods keep their identity ---------------------------------------------------------------------


def replaced_methods() -> dict[tuple[type, str], Any]:
    found = {(base, "request"): base.__dict__["request"] for base in (SyncAPIClient, AsyncAPIClient)}
    for cls in CLIENT_CLASSES:
        for name in ("copy", "with_options"):
            if name in cls.__dict__:
                found[(cls, name)] = cls.__dict__[name]
    return found


def test_replaced_methods_keep_their_identity_and_uninstrument_restores_the_very_objects(captured):
    originals = replaced_methods()
    assert len(originals) == 2 + 2 * len(CLIENT_CLASSES)
    with spyglass.instrument_openai():
        replaced = replaced_methods()
        for key, original in originals.items():
            wrapper = replaced[key]
            assert wrapper is not original, key  # really replaced: the checks below are not vacuous
            for attribute in ("__name__", "__qualname__", "__doc__", "__module__"):
                assert getattr(wrapper, attribute) == getattr(original, attribute), (key, attribute)
            assert wrapper.__wrapped__ is original
            assert inspect.signature(wrapper) == inspect.signature(original)
            assert typing.get_type_hints(wrapper) == typing.get_type_hints(original)
            assert inspect.iscoroutinefunction(wrapper) == inspect.iscoroutinefunction(original)
        for cls in CLIENT_CLASSES:  # `with_options = copy` in the SDK: still one object
            assert (cls.__dict__["with_options"] is cls.__dict__["copy"]) == (
                originals[(cls, "with_options")] is originals[(cls, "copy")]
            )
            assert cls.with_options is cls.copy
        # bound to a client, the same holds
        client = openai.OpenAI(api_key="k", base_url="http://127.0.0.1:9/v1")
        original_copy = originals[(openai.OpenAI, "copy")]
        assert inspect.signature(client.with_options) == inspect.signature(original_copy.__get__(client))
        client.close()
    assert replaced_methods() == originals
    for key, original in originals.items():
        assert replaced_methods()[key] is original, key


def test_methods_replaced_on_a_raw_streaming_response_keep_their_names(server, captured):
    with openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0) as client:
        with spyglass.instrument_openai(client):
            with client.chat.completions.with_streaming_response.create(
                model="gpt-4o", messages=MESSAGES
            ) as raw:
                assert raw.parse.__name__ == "parse"
                assert raw.parse.__doc__ == type(raw).parse.__doc__
                assert raw.http_response.close.__name__ == "close"
                raw.parse()


# --- usage of streams: never asked for, never hidden -----------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_stream_request_goes_out_exactly_as_the_caller_wrote_it(mode, server, captured):
    chunks = read_stream(mode, server.base_url, instrumented=True, **CHAT)
    assert "stream_options" not in server.requests[-1].body
    assert chunks and all(chunk.choices for chunk in chunks)
    (stream,) = spans_of_kind(captured, "llm")  # the call's span holds the response
    assert stream["attributes"]["spyglass.usage.source"] == "unavailable"
    assert "gen_ai.usage.output_tokens" not in stream["attributes"]
    assert stream["attributes"]["spyglass.cost.status"] == "unknown"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_usage_the_server_sends_unasked_reaches_the_caller_untouched(mode, server, captured):
    # A server that always ends a stream with a usage chunk (and `"usage": null` on the others),
    # whatever the request says: the built-in server's own answer to a request that asked for usage.
    with_usage = stream_bytes(
        server.base_url, "/chat/completions", {**CHAT, "stream_options": {"include_usage": True}}
    )
    with relay(with_usage) as server_with_usage:
        plain = read_stream(mode, server_with_usage.base_url, instrumented=False, **CHAT)
        traced = read_stream(mode, server_with_usage.base_url, instrumented=True, **CHAT)
        sent_plain, sent_traced = server_with_usage.requests
    assert sent_traced == sent_plain
    assert [fingerprint(c) for c in traced] == [fingerprint(c) for c in plain]
    assert traced[-1].choices == [] and traced[-1].usage is not None
    assert all("usage" in c.model_fields_set for c in traced)
    (stream,) = spans_of_kind(captured, "llm")  # the call's span holds the response
    assert stream["attributes"]["spyglass.usage.source"] == "api"
    assert stream["attributes"]["gen_ai.usage.output_tokens"] == traced[-1].usage.completion_tokens
    assert stream["attributes"]["spyglass.stream.outcome"] == "completed"


def test_the_sdk_stream_helper_sees_the_usage_the_server_sent_unasked(server, captured):
    with_usage = stream_bytes(
        server.base_url, "/chat/completions", {**CHAT, "stream_options": {"include_usage": True}}
    )

    def run(client: openai.OpenAI) -> tuple[list[Any], Any]:
        body = {k: v for k, v in CHAT.items() if k != "stream"}
        with client.chat.completions.stream(**body) as helper:
            kinds = [event.type for event in helper]
        return kinds, helper.get_final_completion()

    with relay(with_usage) as server_with_usage:
        with openai.OpenAI(api_key="k", base_url=server_with_usage.base_url, max_retries=0) as client:
            plain_kinds, plain_final = run(client)
            with spyglass.instrument_openai(client):
                traced_kinds, traced_final = run(client)
    assert traced_kinds == plain_kinds and plain_kinds.count("chunk") == len(events(with_usage)) - 1
    assert traced_final.to_dict() == plain_final.to_dict()
    assert traced_final.usage is not None


# --- the stream span ends where the caller stops ---------------------------------------------------------------


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Only reference counting frees objects: what happens at a `break` does not wait for a collection."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_breaking_out_of_a_loop_ends_the_span_at_the_break(server, captured, no_gc):
    plain = read_stream("sync", server.base_url, instrumented=False, **CHAT)
    with openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0) as client:
        with spyglass.instrument_openai(client):
            stream = client.chat.completions.create(**CHAT)
            for first in stream:  # noqa: B007 - the loop is what is tested
                break
            # the stream object is still alive and was never closed: the break alone ended the span
            (span,) = spans_of_kind(captured, "llm_stream")
            assert span["attributes"]["spyglass.stream.outcome"] == "closed_early"
            assert span["attributes"]["spyglass.stream.chunk_count"] == 1
            # and the caller can go on reading, exactly as without spyglass
            rest = list(stream)
    assert [fingerprint(c) for c in [first, *rest]] == [fingerprint(c) for c in plain]
    assert len(spans_of_kind(captured, "llm_stream")) == 1


def test_breaking_out_of_an_async_loop_ends_the_span_at_the_next_turn_of_the_event_loop(
    server, captured, no_gc
):
    plain = read_stream("async", server.base_url, instrumented=False, **CHAT)

    async def main() -> tuple[list[Any], list[Any], list[Any]]:
        async with openai.AsyncOpenAI(api_key="k", base_url=server.base_url, max_retries=0) as client:
            with spyglass.instrument_openai(client):
                stream = await client.chat.completions.create(**CHAT)
                async for first in stream:  # noqa: B007 - the loop is what is tested
                    break
                at_break = spans_of_kind(captured, "llm_stream")
                # The event loop closes the SDK's abandoned async generator (asyncio: a callback, then a
                # task), and that drops our loop iterator: two turns, no I/O needed.
                turns = 0
                while not spans_of_kind(captured, "llm_stream") and turns < 10:
                    await asyncio.sleep(0)
                    turns += 1
                after = spans_of_kind(captured, "llm_stream")
                rest = [c async for c in stream]
                return [first, *rest], at_break, after

    chunks, at_break, after = asyncio.run(main())
    assert at_break == []  # not yet: the SDK's generator is closed by the event loop, not at once
    (span,) = after
    assert span["attributes"]["spyglass.stream.outcome"] == "closed_early"
    assert span["attributes"]["spyglass.stream.chunk_count"] == 1
    assert [fingerprint(c) for c in chunks] == [fingerprint(c) for c in plain]


def test_next_then_a_loop_to_the_end_is_one_completed_span(server, captured, no_gc):
    with openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0) as client:
        with spyglass.instrument_openai(client):
            stream = client.chat.completions.create(**CHAT)
            chunks = [next(stream), *stream]
    (span,) = spans_of_kind(captured, "llm_stream")
    assert span["attributes"]["spyglass.stream.outcome"] == "completed"
    assert span["attributes"]["spyglass.stream.chunk_count"] == len(chunks)


# --- exceptions that cannot be printed -----------------------------------------------------------------------


class Unprintable(BaseException):
    """Not an `Exception`: openai 1.x and 2.x turn those into `APIConnectionError`; this one gets through."""

    def __str__(self) -> str:
        raise RuntimeError("this exception has no text")


def status_descriptions(captured: Any) -> list[str | None]:
    return [s.status.description for s in captured.finished() if s.status.description]


def raise_unprintable(response: Any) -> None:
    raise Unprintable()


def test_a_request_failing_with_an_unprintable_exception_is_ended(server, captured):
    http_client = openai.DefaultHttpxClient(event_hooks={"response": [raise_unprintable]})
    with openai.OpenAI(
        api_key="k", base_url=server.base_url, max_retries=0, http_client=http_client
    ) as client:
        with spyglass.instrument_openai(client):
            with pytest.raises(Unprintable):
                client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    (span,) = spans_of_kind(captured, "llm")
    assert span["status"] == "ERROR"
    assert status_descriptions(captured) == ["Unprintable: <Unprintable str() failed>"]
    assert span["attributes"]["error.type"] == "Unprintable"
    (event,) = span["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"].endswith("Unprintable")


class CutTransport(http.HTTPTransport):  # type: ignore[misc, name-defined]
    """Real HTTP; the body raises `Unprintable` after its first piece."""

    def handle_request(self, request: Any) -> Any:
        response = super().handle_request(request)
        inner = response.stream

        class Raising(http.SyncByteStream):  # type: ignore[misc, name-defined]
            def __iter__(self) -> Iterator[bytes]:
                for piece in inner:
                    yield piece
                    raise Unprintable()

            def close(self) -> None:
                inner.close()

        response.stream = Raising()
        return response


def test_a_stream_failing_with_an_unprintable_exception_is_ended(server, captured):
    http_client = openai.DefaultHttpxClient(transport=CutTransport())
    with openai.OpenAI(
        api_key="k", base_url=server.base_url, max_retries=0, http_client=http_client
    ) as client:
        with spyglass.instrument_openai(client):
            stream = client.chat.completions.create(**CHAT)
            with pytest.raises(Unprintable):
                for _ in stream:
                    pass
    (span,) = spans_of_kind(captured, "llm_stream")
    assert span["attributes"]["spyglass.stream.outcome"] == "error"
    assert span["status"] == "ERROR"
    # both the stream's span and the call's own (the GenAI operation) failed
    assert status_descriptions(captured) == ["Unprintable: <Unprintable str() failed>"] * 2


# --- a close-delimited stream that stops early -------------------------------------------------------------------


def cut(body: bytes, keep: Callable[[bytes], bool]) -> bytes:
    return b"".join(event for event in events(body) if keep(event))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_close_delimited_chat_stream_that_stops_early_is_interrupted(mode, server, captured):
    body = stream_bytes(server.base_url, "/chat/completions", CHAT)
    before_the_end = cut(
        body, lambda e: b'"finish_reason":"stop"' not in e.replace(b" ", b"") and b"[DONE]" not in e
    )
    assert 0 < len(before_the_end) < len(body)
    with relay(before_the_end) as early_stop:
        plain = read_stream(mode, early_stop.base_url, instrumented=False, **CHAT)
        traced = read_stream(mode, early_stop.base_url, instrumented=True, **CHAT)
    assert [fingerprint(c) for c in traced] == [fingerprint(c) for c in plain] and plain
    (span,) = spans_of_kind(captured, "llm_stream")
    assert span["attributes"]["spyglass.stream.outcome"] == "interrupted"
    assert span["attributes"]["spyglass.stream.chunk_count"] == len(traced)


def test_a_close_delimited_chat_stream_with_its_finish_reason_but_no_done_is_completed(server, captured):
    body = stream_bytes(server.base_url, "/chat/completions", CHAT)
    without_done = cut(body, lambda e: b"[DONE]" not in e)
    with relay(without_done) as no_done:
        read_stream("sync", no_done.base_url, instrumented=True, **CHAT)
    (span,) = spans_of_kind(captured, "llm_stream")
    assert span["attributes"]["spyglass.stream.outcome"] == "completed"


def test_a_close_delimited_responses_stream_that_stops_before_its_final_event_is_interrupted(
    server, captured
):
    request = {"model": "gpt-4.1", "input": "Tell me a story", "stream": True}
    body = stream_bytes(server.base_url, "/responses", request)
    before_the_end = cut(body, lambda e: b"response.completed" not in e)
    assert b"response.completed" in body and len(before_the_end) < len(body)
    with relay(before_the_end) as early_stop:
        with openai.OpenAI(api_key="k", base_url=early_stop.base_url, max_retries=0) as client:
            with spyglass.instrument_openai(client):
                read = list(client.responses.create(**request))
    assert read
    (span,) = spans_of_kind(captured, "llm_stream")
    assert span["attributes"]["spyglass.stream.outcome"] == "interrupted"


def test_breaks_in_many_threads_each_end_their_own_span(server, captured):
    import concurrent.futures

    def one(client: openai.OpenAI, i: int) -> str:
        stream = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": f"t{i}"}], stream=True
        )
        for chunk in stream:
            return chunk.id  # leaving the loop (and the function) at the first chunk
        raise AssertionError("no chunk")

    # With httpx 0.x, httpcore closes an abandoned pooled stream under its pool's lock; a garbage collection
    # that runs inside that lock on one thread and finalizes another stream deadlocks it (seen with openai
    # 1.109.1). Collections run here, between the calls, instead.
    gc.disable()
    try:
        with openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0) as client:
            with spyglass.instrument_openai(client):
                with concurrent.futures.ThreadPoolExecutor(16) as pool:
                    ids = list(pool.map(lambda i: one(client, i), range(32)))
    finally:
        gc.enable()
    gc.collect()
    spans = spans_of_kind(captured, "llm_stream")
    assert len(spans) == 32 and len(set(ids)) == 32
    assert {s["attributes"]["spyglass.stream.outcome"] for s in spans} == {"closed_early"}
    assert {s["attributes"]["gen_ai.response.id"] for s in spans_of_kind(captured, "llm")} == set(ids)
    assert all(s["attributes"]["spyglass.stream.chunk_count"] == 1 for s in spans)
