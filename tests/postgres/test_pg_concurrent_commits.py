"""Writers committing in parallel and out of order: a follower misses nothing, summaries and threads agree.

Each "writer" is a real connection running the writer's own batch code (`_ingest.write_batch`) inside a
transaction the test holds open, so the test decides when, and in which order, the writers commit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context
from store_helpers import llm_attributes

from spyglass import _attribute_names as names
from spyglass.store._rows import SpanRow, span_to_row
from spyglass.store.postgres import PostgresSpanStore, _ingest, _schema

_services = iter(range(1_000_000))


def _spans(*calls: dict[str, Any], trace_id: int | None = None) -> list[SpanRow]:
    """One finished LLM span per call, each a trace of its own (or all children of one remote parent).

    Each batch comes from a service of its own: two writers storing one new resource do take turns."""
    exporter = InMemorySpanExporter()
    resource = Resource.create({"service.name": f"writer-{next(_services)}"})
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    context = None
    if trace_id is not None:
        parent = SpanContext(trace_id, 0x1234, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
        context = set_span_in_context(NonRecordingSpan(parent))
    for call in calls:
        prompt = call.pop("prompt")
        with tracer.start_as_current_span(f"chat {prompt}", context=context, attributes=call):
            pass
    finished: tuple[ReadableSpan, ...] = exporter.get_finished_spans()
    provider.shutdown()
    return [span_to_row(span, pending=False) for span in finished]


def _call(prompt: str, **extra: Any) -> dict[str, Any]:
    return {"prompt": prompt, **llm_attributes(prompt), **extra}


def _responses(prompt: str, response_id: str, previous: str | None = None) -> dict[str, Any]:
    extra = {names.OPENAI_API_TYPE: "responses", names.RESPONSE_ID: response_id}
    if previous is not None:
        extra[names.REQUEST_PREVIOUS_RESPONSE_ID] = previous
    return _call(prompt, **extra)


@contextmanager
def _writer(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    conn = _schema.connect(pg_url, migrate=True)
    try:
        yield conn
    finally:
        conn.close()


def _write_in_background(conn: psycopg.Connection[Any], rows: list[SpanRow]) -> threading.Thread:
    thread = threading.Thread(target=_ingest.write_batch, args=(conn, rows, {}), daemon=True)
    thread.start()
    return thread


def test_a_follower_misses_nothing_when_writers_commit_out_of_order(pg_url: str) -> None:
    with _writer(pg_url) as first, _writer(pg_url) as second, PostgresSpanStore(pg_url) as follower:
        cursor = follower.current_cursor()
        with first.transaction():  # the first writer starts (and takes its change number) first...
            _ingest.write_batch(first, _spans(_call("started first, committed last")), {})
            # ...the second writes and commits meanwhile, without waiting for the first.
            _ingest.write_batch(second, _spans(_call("started second, committed first")), {})
            early = follower.changes_since(cursor)
            assert [trace["first_prompt"] for trace in early["traces"]] == []  # held back, not skipped
            assert follower.list_traces()[0]["first_prompt"] == "started second, committed first"
            cursor = early["cursor"]
        after = follower.changes_since(cursor)
        assert sorted(trace["first_prompt"] for trace in after["traces"]) == [
            "started first, committed last",
            "started second, committed first",
        ]
        assert follower.changes_since(after["cursor"])["traces"] == []  # each change is given once


def test_writers_of_different_traces_do_not_wait_for_each_other(pg_url: str) -> None:
    with _writer(pg_url) as first, _writer(pg_url) as second, PostgresSpanStore(pg_url) as store:
        with first.transaction():
            _ingest.write_batch(first, _spans(_call("one")), {})
            other = _write_in_background(second, _spans(_call("two")))
            other.join(10)
            assert not other.is_alive()  # committed while the first writer's transaction is open
            assert [trace["first_prompt"] for trace in store.list_traces()] == ["two"]
        assert sorted(trace["first_prompt"] for trace in store.list_traces()) == ["one", "two"]


def test_two_writers_adding_spans_to_one_trace_at_once_both_count(pg_url: str) -> None:
    trace_id = 0xABCDEF
    with _writer(pg_url) as first, _writer(pg_url) as second, PostgresSpanStore(pg_url) as store:
        with first.transaction():
            _ingest.write_batch(first, _spans(_call("a"), _call("b"), trace_id=trace_id), {})
            other = _write_in_background(second, _spans(_call("c"), trace_id=trace_id))
            other.join(0.5)
            assert other.is_alive()  # waits for the trace's lock, not for every writer
        other.join(10)
        (trace,) = store.list_traces()
        assert trace["span_count"] == 3 and trace["trace_id"] == format(trace_id, "032x")


def test_two_writers_of_one_response_chain_at_once_agree_on_its_thread(pg_url: str) -> None:
    with _writer(pg_url) as first, _writer(pg_url) as second, PostgresSpanStore(pg_url) as store:
        with first.transaction():
            _ingest.write_batch(first, _spans(_responses("turn one", "resp_1")), {})
            # The continuation, from another writer: it cannot see turn one until that commits.
            other = _write_in_background(second, _spans(_responses("turn two", "resp_2", previous="resp_1")))
            other.join(0.5)
            assert other.is_alive()  # a chain is worked out by one writer at a time
        other.join(10)
        assert not other.is_alive()
        threads = {trace["first_prompt"]: trace["thread_id"] for trace in store.list_traces()}
        assert threads == {"turn one": "resp_1", "turn two": "resp_1"}
        assert [thread["trace_count"] for thread in store.list_threads()] == [2]
