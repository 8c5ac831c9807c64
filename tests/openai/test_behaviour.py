"""The tracer never changes the caller's program: errors, instrument/uninstrument, faults inside us,
concurrency, and metrics."""

from __future__ import annotations

import asyncio
import logging
import threading

import openai
import pytest
from openai.lib.azure import AsyncAzureOpenAI, AzureOpenAI

import spyglass
from spyglass._errors import reset_reported_errors

MESSAGES = [{"role": "user", "content": "hello"}]


def llm(captured):
    return [s for s in captured.spans() if s["attributes"].get("spyglass.kind") in ("llm", "llm_stream")]


# --- errors -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "exception", "error_type", "status"),
    [
        ("error-400", openai.BadRequestError, None, 400),
        ("error-401", openai.AuthenticationError, None, 401),
        ("error-404", openai.NotFoundError, "model_not_found", 404),
        ("error-429", openai.RateLimitError, "rate_limit_exceeded", 429),
        ("error-500", openai.InternalServerError, None, 500),
    ],
)
def test_api_errors_are_recorded_and_the_caller_gets_the_same_exception(
    api, captured, model, exception, error_type, status
):
    with pytest.raises(exception) as raised:
        api.call(lambda c: c.chat.completions.create, model=model, messages=MESSAGES)
    (span,) = llm(captured)
    assert span["status"] == "ERROR"
    assert span["attributes"]["error.type"] == (
        error_type or raised.value.code or type(raised.value).__qualname__
    )
    assert span["attributes"]["http.response.status_code"] == status
    (event,) = span["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"].endswith(exception.__name__)
    assert event["attributes"]["exception.message"] == str(raised.value)


def test_connection_error(captured):
    with openai.OpenAI(api_key="k", base_url="http://127.0.0.1:9/v1", max_retries=0) as client:
        with spyglass.instrument_openai(client), pytest.raises(openai.APIConnectionError):
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    (span,) = llm(captured)
    assert span["attributes"]["error.type"] == "APIConnectionError"
    assert span["attributes"]["server.port"] == 9


# --- the caller sees the same thing --------------------------------------------------------------------------


def test_results_are_identical_with_and_without_instrumentation(server, captured):
    calls = [
        lambda c: c.chat.completions.create(model="gpt-4o", messages=MESSAGES, seed=1),
        lambda c: list(c.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)),
        lambda c: c.embeddings.create(model="text-embedding-3-small", input="x"),
        lambda c: c.completions.create(model="gpt-3.5-turbo-instruct", prompt="x"),
        lambda c: list(c.responses.create(model="gpt-4.1", input="x", stream=True)),
    ]

    def run_all():
        with openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0) as client:
            return [call(client) for call in calls]

    def dump(result):
        # everything a caller can read: fields, the fields-set, JSON, repr
        items = result if isinstance(result, list) else [result]
        return [(type(i), i.to_dict(), i.to_json(), i.model_fields_set, repr(i)) for i in items]

    plain = [dump(r) for r in run_all()]
    with spyglass.instrument_openai(openai.OpenAI):
        traced = [dump(r) for r in run_all()]
    assert traced == plain
    assert len(llm(captured)) == 7


# --- instrument / uninstrument ---------------------------------------------------------------------------------


def test_instrumenting_twice_is_idempotent(server, captured):
    with openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0) as client:
        first = spyglass.instrument_openai(client)
        second = spyglass.instrument_openai(client)
        assert first is second
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        first.uninstrument()
        first.uninstrument()  # harmless
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len(llm(captured)) == 1


def test_with_options_copies_are_instrumented_and_uninstrumented_with_the_original(server, captured):
    with openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0) as client:
        handle = spyglass.instrument_openai(client)
        copy = client.with_options(timeout=5)
        copy.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        client.copy(max_retries=1).embeddings.create(model="text-embedding-3-small", input="x")
        handle.uninstrument()
        copy.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert [s["name"] for s in llm(captured)] == ["chat gpt-4o", "embeddings text-embedding-3-small"]


def test_other_clients_stay_untraced(server, captured):
    with (
        openai.OpenAI(api_key="k", base_url=server.base_url) as traced,
        openai.OpenAI(api_key="k", base_url=server.base_url) as other,
        spyglass.instrument_openai(traced),
    ):
        other.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        traced.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len(llm(captured)) == 1


def test_instrumenting_every_client_covers_clients_created_later_and_azure(server, captured):
    with spyglass.instrument_openai():
        with openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0) as client:
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        azure = AzureOpenAI(api_key="k", api_version="2024-10-21", base_url=server.base_url, max_retries=0)
        with azure, pytest.raises(openai.NotFoundError):  # the demo server has no Azure deployment routes
            azure.chat.completions.create(model="gpt-4o", messages=MESSAGES)

        async def async_call():
            async with openai.AsyncOpenAI(api_key="k", base_url=server.base_url) as client:
                await client.embeddings.create(model="text-embedding-3-small", input="x")

        asyncio.run(async_call())
    with openai.OpenAI(api_key="k", base_url=server.base_url) as client:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # after the block: untraced
    assert [s["name"] for s in llm(captured)] == [
        "chat gpt-4o",
        "chat gpt-4o",
        "embeddings text-embedding-3-small",
    ]


def test_instrumenting_a_class_or_an_iterable(server, captured):
    with spyglass.instrument_openai([openai.OpenAI, AsyncAzureOpenAI]):
        with openai.OpenAI(api_key="k", base_url=server.base_url) as client:
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len(llm(captured)) == 1


@pytest.mark.parametrize("bad", [42, "client", [openai.OpenAI, object()]])
def test_instrumenting_something_else_is_a_clear_error(bad):
    with pytest.raises(spyglass.ConfigError, match="takes OpenAI clients"):
        spyglass.instrument_openai(bad)


def test_uninstrumenting_everything_restores_the_sdk(server):
    from openai._base_client import AsyncAPIClient, SyncAPIClient

    original_sync, original_async = SyncAPIClient.request, AsyncAPIClient.request
    original_copy = openai.OpenAI.copy
    with openai.OpenAI(api_key="k", base_url=server.base_url) as client:
        with spyglass.instrument_openai(client):
            assert SyncAPIClient.request is not original_sync
        assert SyncAPIClient.request is original_sync
        assert AsyncAPIClient.request is original_async
        assert openai.OpenAI.copy is original_copy
        assert "_spyglass_instrumentation" not in client.__dict__


def test_suppress_instrumentation(client, captured):
    with spyglass.suppress_instrumentation():
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert captured.spans() == []


# --- faults inside the instrumentation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "owner", "attribute"),
    [
        ("spyglass.integrations.openai._wrappers", "Call", "__init__"),
        ("spyglass.integrations.openai._wrappers", "Call", "_record"),
        ("spyglass.integrations.openai._wrappers", "StreamSpan", "__init__"),
        ("spyglass.integrations.openai._streams", "ChatAccumulator", "_fold"),
        ("spyglass.integrations.openai._streams", "ChatAccumulator", "finish"),
        ("spyglass.integrations.openai._wrappers", None, "cost_of"),
        ("spyglass.integrations.openai._metrics", None, "_get"),
        ("spyglass.integrations.openai._endpoints", None, "chat_input"),
    ],
)
def test_a_failure_inside_spyglass_never_reaches_the_caller(
    server, captured, caplog, monkeypatch, module, owner, attribute
):
    import importlib

    target = importlib.import_module(module)
    if owner is not None:
        target = getattr(target, owner)

    def broken(*args, **kwargs):
        raise RuntimeError("bug inside spyglass")

    monkeypatch.setattr(target, attribute, broken)
    reset_reported_errors()
    with openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0) as plain:
        expected = plain.chat.completions.create(model="gpt-4o", messages=MESSAGES).to_dict()
        expected_stream = [
            c.to_dict() for c in plain.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        ]
    with caplog.at_level(logging.ERROR, logger="spyglass"):
        with openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0) as client:
            with spyglass.instrument_openai(client):
                for _ in range(2):
                    assert (
                        client.chat.completions.create(model="gpt-4o", messages=MESSAGES).to_dict()
                        == expected
                    )
                    chunks = [
                        c.to_dict()
                        for c in client.chat.completions.create(
                            model="gpt-4o", messages=MESSAGES, stream=True
                        )
                    ]
                    assert chunks == expected_stream
                with pytest.raises(openai.NotFoundError):
                    client.chat.completions.create(model="error-404", messages=MESSAGES)
    errors = [r for r in caplog.records if "internal error" in r.getMessage()]
    assert errors, "the failure was reported"
    assert len({r.getMessage() for r in errors}) == len(errors), "each place is reported once"
    for span in captured.finished():
        assert span.end_time is not None  # nothing left open


# --- concurrency ---------------------------------------------------------------------------------------------------


def test_concurrent_async_calls_end_up_under_the_right_parents(server, captured):
    async def one(client, i):
        with spyglass.span("parent {i}", i=i):
            if i % 2:
                await client.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": f"q{i}"}]
                )
            else:
                stream = await client.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": f"q{i}"}], stream=True
                )
                async for _ in stream:
                    await asyncio.sleep(0)

    async def main():
        async with openai.AsyncOpenAI(api_key="k", base_url=server.base_url, max_retries=0) as client:
            with spyglass.instrument_openai(client):
                await asyncio.gather(*(one(client, i) for i in range(100)))

    asyncio.run(main())
    spans = captured.spans()
    parents = {s["span_id"]: s for s in spans if s["attributes"]["spyglass.kind"] == "span"}
    assert len(parents) == 100
    children = [s for s in spans if s["attributes"]["spyglass.kind"] in ("llm", "llm_stream")]
    assert len(children) == 150
    calls = {s["span_id"]: s for s in children if s["attributes"]["spyglass.kind"] == "llm"}
    assert len(calls) == 100
    for child in children:
        if child["attributes"]["spyglass.kind"] == "llm_stream":  # the streaming phase, under its call
            assert calls[child["parent_id"]]["attributes"]["gen_ai.request.stream"] is True
            child = calls[child["parent_id"]]
        parent = parents[child["parent_id"]]
        i = parent["attributes"]["i"]
        assert child["attributes"]["gen_ai.request.model"] == "gpt-4o"
        assert child["attributes"]["gen_ai.input.messages"][0]["parts"][0]["content"] == f"q{i}"
        assert child["trace_id"] == parent["trace_id"]
        assert child["end_time"] is not None


def test_threads_keep_their_own_parents(client, captured):
    def work(i):
        with spyglass.span("thread {i}", i=i):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"t{i}"}])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spans = captured.spans()
    by_id = {s["span_id"]: s for s in spans}
    for span in (s for s in spans if s["attributes"]["spyglass.kind"] == "llm"):
        parent = by_id[span["parent_id"]]
        assert span["attributes"]["gen_ai.input.messages"][0]["parts"][0]["content"] == (
            f"t{parent['attributes']['i']}"
        )


# --- metrics -------------------------------------------------------------------------------------------------------


def test_genai_metrics(api, captured):
    api.call(lambda c: c.chat.completions.create, model="gpt-4o", messages=MESSAGES)
    api.call(
        lambda c: c.chat.completions.create,
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    with pytest.raises(openai.NotFoundError):
        api.call(lambda c: c.chat.completions.create, model="error-404", messages=MESSAGES)
    metrics = captured.metrics()
    durations = metrics["gen_ai.client.operation.duration"]
    assert sum(p["count"] for p in durations) == 3
    assert durations[0]["bucket_boundaries"][:3] == (0.01, 0.02, 0.04)
    errors = [p for p in durations if p["attributes"].get("error.type") == "model_not_found"]
    assert len(errors) == 1
    tokens = metrics["gen_ai.client.token.usage"]
    assert {p["attributes"]["gen_ai.token.type"] for p in tokens} == {"input", "output"}
    assert sum(p["count"] for p in tokens) == 4
    assert tokens[0]["bucket_boundaries"][:3] == (1, 4, 16)
    first_chunk = metrics["gen_ai.client.operation.time_to_first_chunk"]
    assert sum(p["count"] for p in first_chunk) == 1
    for point in durations:
        assert point["attributes"]["gen_ai.operation.name"] == "chat"
        assert point["attributes"]["gen_ai.provider.name"] == "local"


def test_api_keys_and_authorization_headers_are_never_recorded(api, captured):
    api.call(lambda c: c.chat.completions.create, model="gpt-4o", messages=MESSAGES)
    api.call(lambda c: c.chat.completions.create, model="gpt-4o", messages=MESSAGES, stream=True)
    text = repr(captured.spans()) + repr(captured.metrics())
    assert "sk-test-key" not in text
    assert "Bearer" not in text
