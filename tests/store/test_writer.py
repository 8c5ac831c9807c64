"""The store writer: pending rows, what a stored span holds, and never raising into the caller.

Every test that takes `store_path` runs on both backends (SqliteSpanProcessor and PostgresSpanProcessor);
those about a file (locks, folders, permissions) take `sqlite_path`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest
from dirty_equals import IsInt, IsStr
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from pg_cluster import both_backends  # noqa: F401  # `store_path`: a SQLite file or a PostgreSQL database
from store_helpers import Tracing, llm_attributes

from spyglass import _attribute_names as names
from spyglass.store import SpanStore, SqliteSpanProcessor


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "traces.sqlite"


def test_a_started_span_is_visible_as_pending_and_replaced_when_it_ends(tracing: Tracing, open_store) -> None:
    with tracing.user_span("Planning a trip") as root:
        tracing.flush()
        store = open_store()
        (pending,) = store.get_trace(format(root.get_span_context().trace_id, "032x"))
        assert pending["is_pending"] is True
        assert pending["end_ns"] is None and pending["duration_ns"] is None
        assert pending["message"] == "Planning a trip"
        (summary,) = store.list_traces()
        assert summary["status"] == "pending" and summary["pending_count"] == 1

    tracing.flush()
    (final,) = store.get_trace(pending["trace_id"])
    assert final["is_pending"] is False
    assert final["end_ns"] == IsInt(gt=final["start_ns"] - 1)
    assert final["duration_ns"] == final["end_ns"] - final["start_ns"]
    (summary,) = store.list_traces()
    assert summary["status"] == "ok" and summary["span_count"] == 1 and summary["pending_count"] == 0


def test_attributes_events_links_and_resource_round_trip(tracing: Tracing, open_store) -> None:
    with tracing.tracer.start_as_current_span("first") as first:
        pass
    attributes = {
        **llm_attributes("Hello there"),
        "flag": True,
        "ratio": 0.25,
        "tags": ("a", "b"),
        "counts": (1, 2, 3),
        names.RESPONSE_FINISH_REASONS: ("stop",),
    }
    with tracing.tracer.start_as_current_span(
        "chat gpt-4o",
        kind=SpanKind.CLIENT,
        attributes=attributes,
        links=[Link(first.get_span_context(), {"link.reason": "retry"})],
    ) as span:
        span.add_event("first chunk", {"index": 0}, timestamp=1_700_000_000_000_000_000)
        span.set_status(Status(StatusCode.ERROR, "rate limited"))
    tracing.flush()

    context = span.get_span_context()
    record = open_store().get_span(format(context.trace_id, "032x"), format(context.span_id, "016x"))
    assert record is not None
    expected_attributes = {
        key: list(value) if isinstance(value, tuple) else value for key, value in attributes.items()
    }
    assert record["attributes"] == expected_attributes
    assert record["events"] == [
        {"name": "first chunk", "time_ns": 1_700_000_000_000_000_000, "attributes": {"index": 0}}
    ]
    assert record["links"] == [
        {
            "trace_id": format(first.get_span_context().trace_id, "032x"),
            "span_id": format(first.get_span_context().span_id, "016x"),
            "attributes": {"link.reason": "retry"},
        }
    ]
    assert record["resource"]["attributes"] == {
        **dict(tracing.provider.resource.attributes),
    }
    assert record["scope"] == {"name": "spyglass.tests", "version": "1.0"}
    assert {
        key: record[key] for key in ("span_kind", "kind", "status_code", "status_description", "model")
    } == {
        "span_kind": "CLIENT",
        "kind": "llm",
        "status_code": "ERROR",
        "status_description": "rate limited",
        "model": "gpt-4o",
    }


def test_llm_span_columns_and_trace_summary(tracing: Tracing, open_store) -> None:
    with tracing.user_span("Answering a customer") as root:
        tracing.llm_span("Where is my parcel?", "On its way.", input_tokens=20, output_tokens=5, cost=0.001)
        tracing.llm_span(
            "Refund policy?", "30 days.", model="gpt-4o-mini", input_tokens=7, output_tokens=2, cost=0.0002
        )
        tracing.llm_span("Broken call", model="gpt-5", error=True)
    tracing.flush()
    store = open_store()
    trace_id = format(root.get_span_context().trace_id, "032x")

    (summary,) = store.list_traces()
    assert summary == {
        "trace_id": trace_id,
        "start_ns": IsInt(),
        "end_ns": IsInt(),
        "duration_ns": summary["end_ns"] - summary["start_ns"],
        "status": "error",
        "root_span_id": format(root.get_span_context().span_id, "016x"),
        "root_name": "Answering a customer",
        "message": "Answering a customer",
        "service_name": "checkout",
        "span_count": 4,
        "pending_count": 0,
        "error_count": 1,
        "models": ["gpt-4o", "gpt-4o-mini", "gpt-5"],
        "input_tokens": 27,
        "output_tokens": 7,
        "total_tokens": 34,
        "cost_usd": pytest.approx(0.0012),
        "first_prompt": "Where is my parcel?",
        "seq": IsInt(),
        "thread_id": None,  # no session, conversation or response chain
        "thread_source": None,
    }
    llm = [span for span in store.get_trace(trace_id) if span["kind"] == "llm"]
    assert [
        (
            s["model"],
            s["response_model"],
            s["provider"],
            s["operation"],
            s["input_tokens"],
            s["output_tokens"],
            s["cost_usd"],
            s["prompt_preview"],
            s["parent_span_id"],
        )
        for s in llm
    ] == [
        (
            "gpt-4o",
            "gpt-4o-2024-08-06",
            "openai",
            "chat",
            20,
            5,
            0.001,
            "Where is my parcel?",
            summary["root_span_id"],
        ),
        (
            "gpt-4o-mini",
            "gpt-4o-mini-2024-08-06",
            "openai",
            "chat",
            7,
            2,
            0.0002,
            "Refund policy?",
            summary["root_span_id"],
        ),
        ("gpt-5", None, "openai", "chat", None, None, None, "Broken call", summary["root_span_id"]),
    ]


def test_a_stream_span_counts_under_its_request_model(tracing: Tracing, open_store) -> None:
    with tracing.tracer.start_as_current_span(
        "chat gpt-4o", attributes={**llm_attributes("Tell me a story"), names.REQUEST_STREAM: True}
    ) as request:
        pass
    with tracing.tracer.start_as_current_span(
        "chat gpt-4o stream",
        links=[Link(request.get_span_context())],
        attributes={
            names.KIND: names.KIND_LLM_STREAM,
            names.MSG: "streaming response from 'gpt-4o' took 1.00s",
            names.RESPONSE_MODEL: "gpt-4o-2024-08-06",
            names.USAGE_INPUT_TOKENS: 9,
            names.USAGE_OUTPUT_TOKENS: 40,
            names.COST_USD: 0.002,
            names.STREAM_OUTCOME: names.STREAM_COMPLETED,
        },
    ):
        pass
    tracing.flush()
    (stats,) = open_store().model_summary()
    assert stats["model"] == "gpt-4o"
    assert (stats["calls"], stats["input_tokens"], stats["output_tokens"], stats["cost_usd"]) == (
        1,
        9,
        40,
        0.002,
    )


def test_shutdown_flushes_and_twice_is_harmless(store_path: Path, open_store) -> None:
    tracing = Tracing(store_path, flush_interval=60)
    for index in range(10):
        with tracing.tracer.start_as_current_span(f"span {index}"):
            pass
    tracing.shutdown()
    tracing.processor.shutdown()
    assert tracing.processor.written_spans == 10
    assert open_store().stats()["spans"] == 10
    with tracing.tracer.start_as_current_span("after shutdown"):
        pass  # dropped, silently
    assert tracing.processor.force_flush(100)


def test_a_full_queue_drops_and_counts_without_blocking(store_path: Path) -> None:
    tracing = Tracing(store_path, max_queue_size=5, flush_interval=60, batch_size=1000)
    try:
        for index in range(50):
            with tracing.tracer.start_as_current_span(f"span {index}"):
                pass
        assert tracing.processor.dropped_spans > 0
    finally:
        tracing.shutdown()
    assert tracing.processor.written_spans + tracing.processor.dropped_spans == 50


def test_an_unwritable_location_keeps_spans_until_exit_then_counts_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    tracing = Tracing(not_a_dir / "traces.sqlite", busy_timeout=0.1)
    for index in range(3):
        with tracing.tracer.start_as_current_span(f"span {index}"):
            pass
    assert not tracing.processor.force_flush(200)  # honest: nothing could be written
    assert tracing.processor.stats() == {
        "written": 0,
        "dropped": 0,
        "waiting_spans": 3,
        "waiting_bytes": IsInt(),
        "waiting_finished": 3,
    }
    started = time.monotonic()
    tracing.shutdown()
    assert time.monotonic() - started < 1.5  # exit_timeout is 1 s
    assert tracing.processor.dropped_spans == 3
    assert {record.name for record in caplog.records} == {"spyglass"}
    messages = [record.getMessage() for record in caplog.records]
    assert "traces.sqlite" in messages[0] and "retrying" in messages[0]
    assert "3 finished spans were not stored" in messages[-1]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_logs_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    read_only = tmp_path / "ro"
    read_only.mkdir(mode=0o555)
    tracing = Tracing(read_only / "traces.sqlite")
    try:
        with tracing.tracer.start_as_current_span("span"):
            pass
        assert not tracing.processor.force_flush(200)
    finally:
        tracing.shutdown()
        read_only.chmod(0o755)
    assert tracing.processor.dropped_spans == 1
    assert {record.name for record in caplog.records} == {"spyglass"}


def test_a_locked_file_keeps_spans_logs_once_and_writes_them_when_free(
    sqlite_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store_path = sqlite_path
    tracing = Tracing(store_path, busy_timeout=0.1)
    try:
        tracing.llm_span("before the lock")
        tracing.flush()
        locker = sqlite3.connect(store_path, isolation_level=None)
        try:
            locker.execute("BEGIN IMMEDIATE")  # another connection holding the write lock
            for _ in range(2):
                tracing.llm_span("while locked")
                assert not tracing.processor.force_flush(300)
            locker.execute("ROLLBACK")
        finally:
            locker.close()
        tracing.llm_span("after the lock")
        tracing.flush()
        assert tracing.processor.dropped_spans == 0
        assert tracing.processor.written_spans == 4
    finally:
        tracing.shutdown()
    assert [record.getMessage() for record in caplog.records] == [IsStr(regex=".*database is locked.*")]
    with SpanStore(store_path) as store:
        prompts = [trace["first_prompt"] for trace in store.list_traces()]
    assert prompts == ["after the lock", "while locked", "while locked", "before the lock"]


def test_writing_a_large_batch_keeps_traces_whole(tracing: Tracing, open_store) -> None:
    for trace in range(30):
        with tracing.user_span(f"job {trace}"):
            for step in range(40):
                with tracing.tracer.start_as_current_span(f"step {step}", attributes={"step": step}):
                    pass
    tracing.flush()
    store = open_store()
    traces = store.list_traces(limit=100)
    assert len(traces) == 30
    assert {trace["span_count"] for trace in traces} == {41}
    assert {trace["pending_count"] for trace in traces} == {0}
    assert json.loads(json.dumps(store.stats())) == {"traces": 30, "spans": 1230, "bytes": IsInt(gt=0)}


def test_invalid_options_fail_at_construction(sqlite_path: Path) -> None:
    store_path = sqlite_path
    with pytest.raises(ValueError, match="batch_size"):
        SqliteSpanProcessor(store_path, batch_size=0)
    with pytest.raises(ValueError, match="max_age"):
        SqliteSpanProcessor(store_path, max_age=-1)
    assert isinstance(SpanStore, type)


def test_the_store_folder_is_created_on_first_use(tmp_path):
    from opentelemetry.sdk.trace import TracerProvider

    from spyglass.store import SpanStore, SqliteSpanProcessor

    path = tmp_path / "not" / "there" / "yet" / "spans.sqlite"
    provider = TracerProvider()
    processor = SqliteSpanProcessor(path)
    provider.add_span_processor(processor)
    provider.get_tracer("t").start_span("hello").end()
    assert processor.force_flush()
    provider.shutdown()
    with SpanStore(path) as store:
        assert [t["root_name"] for t in store.list_traces()] == ["hello"]


def test_a_span_sent_again_replaces_the_stored_one_only_with_more_events(
    tracing: Tracing, open_store
) -> None:
    """Retries of an export are ignored; a copy carrying more events (log records joined to it) wins."""
    with tracing.tracer.start_as_current_span("chat gpt-4o", attributes={"version": "first"}) as span:
        pass
    tracing.flush()
    ended: ReadableSpan = span  # type: ignore[assignment]  # the SDK span, ended

    def copy(version: str, events: list[Event]) -> ReadableSpan:
        return ReadableSpan(
            name=ended.name,
            context=ended.context,
            resource=ended.resource,
            attributes={"version": version},
            events=events,
            start_time=ended.start_time,
            end_time=ended.end_time,
        )

    joined = Event("gen_ai.client.inference.operation.details", {"n": 1}, timestamp=1)
    tracing.processor.on_end(copy("retry, same events", []))
    tracing.flush()
    context = ended.get_span_context()
    ids = (format(context.trace_id, "032x"), format(context.span_id, "016x"))
    record = open_store().get_span(*ids)
    assert record is not None and record["attributes"] == {"version": "first"}

    tracing.processor.on_end(copy("with a joined event", [joined]))
    tracing.processor.on_end(copy("retry of the first, fewer events", []))
    tracing.flush()
    record = open_store().get_span(*ids)
    assert record is not None
    assert (record["attributes"], [event["name"] for event in record["events"]]) == (
        {"version": "with a joined event"},
        ["gen_ai.client.inference.operation.details"],
    )
