"""The PostgreSQL store gives what the SQLite store gives for the same spans, and keeps its contract."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from store_helpers import Tracing

from spyglass.store import SpanStore, StoreError
from spyglass.store.postgres import PostgresSpanStore

HOSTILE = "nul\x00 surrogate \udc80 emoji 🦊 " + "z" * 5000


def _scenario(tracing: Tracing) -> None:
    with tracing.user_span("checkout basket"):
        tracing.llm_span("What is the capital of France?", "Paris.")
        tracing.llm_span("Translate bonjour", "hello", model="gpt-4o-mini", input_tokens=5, output_tokens=1)
    with tracing.user_span("refund order"):
        tracing.llm_span("broken call", error=True, model="gpt-4o-mini")
    with tracing.user_span(HOSTILE):
        tracing.llm_span(HOSTILE, HOSTILE, cost=None)
    tracing.flush()


def _pg(value: Any) -> Any:
    """What PostgreSQL keeps of a text column: it cannot hold NUL, stored as U+FFFD (JSON columns keep it)."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def _without_seq(traces: list[Any]) -> list[Any]:
    return [{key: value for key, value in trace.items() if key != "seq"} for trace in traces]


def test_both_backends_store_and_answer_the_same(tmp_path: Path, pg_url: str) -> None:
    sqlite_tracing, pg_tracing = Tracing(tmp_path / "spans.sqlite"), Tracing(pg_url)
    try:
        for tracing in (sqlite_tracing, pg_tracing):
            # The same ids on both sides: the same spans, made twice.
            _scenario(tracing)
    finally:
        sqlite_tracing.shutdown()
        pg_tracing.shutdown()
    with SpanStore(tmp_path / "spans.sqlite") as lite, PostgresSpanStore(pg_url) as pg:
        lite_traces, pg_traces = lite.list_traces(), pg.list_traces()
        assert len(pg_traces) == 3
        # Span ids differ between the two runs; everything else matches trace by trace.
        for lite_trace, pg_trace in zip(lite_traces, pg_traces, strict=True):
            assert pg_trace["message"] == _pg(lite_trace["message"])
            for field in (
                "span_count",
                "pending_count",
                "error_count",
                "models",
                "input_tokens",
                "output_tokens",
                "total_tokens",
                "cost_usd",
                "first_prompt",
                "status",
            ):
                assert pg_trace[field] == _pg(lite_trace[field]), field  # type: ignore[literal-required]
            lite_spans, pg_spans = lite.get_trace(lite_trace["trace_id"]), pg.get_trace(pg_trace["trace_id"])
            assert [s["name"] for s in pg_spans] == [_pg(s["name"]) for s in lite_spans]
            for lite_span, pg_span in zip(lite_spans, pg_spans, strict=True):
                for field in (
                    "attributes",
                    "events",
                    "model",
                    "kind",
                    "status_code",
                    "prompt_preview",
                    "is_pending",
                    "resource",
                    "scope",
                    "input_tokens",
                    "cost_usd",
                ):
                    assert pg_span[field] == _pg(lite_span[field]), field  # type: ignore[literal-required]
            assert json.loads(pg.get_trace_json(pg_trace["trace_id"])) == pg_spans
            first = pg_spans[0]
            assert pg.get_span(first["trace_id"], first["span_id"]) == first
            assert _without_seq([pg.get_trace_summary(pg_trace["trace_id"])]) == _without_seq([pg_trace])
        lite_models, pg_models = lite.model_summary(), pg.model_summary()
        assert [m["model"] for m in pg_models] == ["gpt-4o", "gpt-4o-mini"]
        for lite_model, pg_model in zip(lite_models, pg_models, strict=True):
            assert {k: v for k, v in pg_model.items() if "duration" not in k} == {
                k: v for k, v in lite_model.items() if "duration" not in k
            }
            assert pg_model["p50_duration_ns"] is not None
        for filters in (
            {"status": "error"},
            {"status": "ok"},
            {"model": "gpt-4o-mini"},
            {"min_tokens": 10},
            {"search": "capital fra"},
            {"search": "bonjour"},
            {"search": "emoji"},
            {"search": "nothing-like-it"},
            {"service": "checkout"},
            {"min_cost": 0.0004},
        ):
            assert [t["message"] for t in pg.list_traces(**filters)] == [  # type: ignore[arg-type]
                _pg(t["message"])
                for t in lite.list_traces(**filters)  # type: ignore[arg-type]
            ], filters
        assert pg.stats()["traces"] == lite.stats()["traces"] == 3
        assert pg.stats()["spans"] == lite.stats()["spans"]


def test_a_pending_row_is_resolved_by_another_writer(pg_url: str) -> None:
    starter, ender = Tracing(pg_url), Tracing(pg_url)
    try:
        span = starter.tracer.start_span("long call")
        starter.flush()
        context = span.get_span_context()
        trace_id, span_id = format(context.trace_id, "032x"), format(context.span_id, "016x")
        with PostgresSpanStore(pg_url) as store:
            record = store.get_span(trace_id, span_id)
            assert record is not None and record["is_pending"]
            assert store.list_traces()[0]["status"] == "pending"
            span.end()
            ended = span  # the finished span, written by the other processor
            commit = ender.processor.submit([ended])  # type: ignore[list-item]
            assert commit is not None and commit.wait(10)
            record = store.get_span(trace_id, span_id)
            assert record is not None and not record["is_pending"]
            starter.flush()  # the starter's own end row arrives second: same span, no duplicate
            assert store.stats()["spans"] == 1
            assert store.list_traces()[0]["status"] == "ok"
            assert ender.processor.stats()["written"] == 1
    finally:
        starter.shutdown()
        ender.shutdown()


def test_live_changes_deletes_clear_and_pruning(pg_url: str) -> None:
    tracing = Tracing(pg_url)
    try:
        with PostgresSpanStore(pg_url) as store:
            cursor = store.current_cursor()
            _scenario(tracing)
            changes = store.changes_since(cursor)
            assert len(changes["traces"]) == 3 and not changes["cleared"] and not changes["more"]
            assert store.changes_since(changes["cursor"])["traces"] == []
            victim = changes["traces"][0]["trace_id"]
            assert store.delete_trace(victim) and not store.delete_trace(victim)
            after_delete = store.changes_since(changes["cursor"])
            assert after_delete["deleted"] == [victim]
            assert store.get_trace(victim) == [] and store.stats()["traces"] == 2
            assert store.prune(max_age=3600) == 0
            time.sleep(0.05)
            assert store.prune(max_bytes=1) == 2  # every trace holds more than one byte of data
            _scenario(tracing)
            assert store.prune(max_age=0.001) == 3
            _scenario(tracing)
            store.clear()
            assert store.list_traces() == [] and store.changes_since(after_delete["cursor"])["cleared"]
        with (
            PostgresSpanStore(pg_url, readonly=True) as readonly,
            pytest.raises(StoreError, match="read-only"),
        ):
            readonly.clear()
    finally:
        tracing.shutdown()


def test_a_newer_schema_is_refused_and_left_untouched(pg_url: str) -> None:
    PostgresSpanStore(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO spyglass_migrations (name, applied_at) VALUES ('9999_from_the_future', 0)")
    with pytest.raises(StoreError, match=r"newer spyglass.*9999_from_the_future") as raised:
        PostgresSpanStore(pg_url)
    assert "s3cret-pw" not in str(raised.value)
    with pytest.raises(StoreError, match="newer spyglass"):
        Tracing(pg_url)


def test_an_unreachable_server_is_an_error_without_the_password(cluster: Any) -> None:
    url = f"postgresql://spyglass:s3cret-pw@127.0.0.1:{cluster.port}/no_such_db"
    with pytest.raises(StoreError) as raised:
        PostgresSpanStore(url)
    assert "no_such_db" in str(raised.value) and "s3cret-pw" not in str(raised.value)


def test_the_writer_keeps_spans_while_the_server_is_unreachable_and_counts_none_dropped(pg_url: str) -> None:
    tracing = Tracing(pg_url, flush_interval=0.05)
    try:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            # Cut the writer's connection: the next batch fails, reconnects and is written.
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        _scenario(tracing)
        assert tracing.processor.stats()["dropped"] == 0
        with PostgresSpanStore(pg_url) as store:
            assert store.stats()["spans"] == 7
    finally:
        tracing.shutdown()


def test_a_huge_conversation_of_distinct_words_is_stored_and_searchable(pg_url: str) -> None:
    # A tsvector holds 1 MiB at most: a prompt of ~1 MiB of distinct words must not lose its span.
    words = " ".join(f"word{index}x{index * 7919 % 100_003}" for index in range(60_000))
    tracing = Tracing(pg_url)
    try:
        with tracing.user_span("huge prompt"):
            tracing.llm_span(words, "ok")
        tracing.flush()
        assert tracing.processor.stats()["dropped"] == 0
        with PostgresSpanStore(pg_url) as store:
            assert store.stats()["spans"] == 2
            assert [t["message"] for t in store.list_traces(search="word1x7919")] == ["huge prompt"]
    finally:
        tracing.shutdown()


def test_a_store_from_the_change_counter_version_is_upgraded_and_followed(pg_url: str) -> None:
    tracing = Tracing(pg_url)
    try:
        _scenario(tracing)
        with psycopg.connect(pg_url, autocommit=True) as conn:  # what the previous version left
            conn.execute("DELETE FROM spyglass_migrations WHERE name = '0003_change_transaction_ids'")
            conn.execute("UPDATE spyglass_meta SET value = 4000000000 WHERE key = 'change_seq'")
            conn.execute("UPDATE traces SET seq = 4000000000")  # counter values, far past any xid here
        with PostgresSpanStore(pg_url) as store:  # opened for writing: upgraded
            cursor = store.current_cursor()
            assert store.changes_since(cursor)["traces"] == []  # the old stamps are not news
            with tracing.user_span("after the upgrade"):
                pass
            tracing.flush()
            assert [trace["root_name"] for trace in store.changes_since(cursor)["traces"]] == [
                "after the upgrade"
            ]
            assert store.stats()["traces"] == 4
            assert len(store.changes_since(0)["traces"]) == 4  # the old traces are changes since the start
    finally:
        tracing.shutdown()


def test_one_slow_read_does_not_hold_up_the_others(pg_url: str) -> None:
    with PostgresSpanStore(pg_url) as store, psycopg.connect(pg_url) as blocker:
        blocker.execute("LOCK TABLE traces IN ACCESS EXCLUSIVE MODE")  # the trace list now waits for it
        slow = threading.Thread(target=store.list_traces, daemon=True)
        slow.start()
        slow.join(0.5)
        assert slow.is_alive()
        started = time.monotonic()
        assert store.get_span("0" * 32, "0" * 16) is None  # another request, on a connection of its own
        assert time.monotonic() - started < 2.0
        blocker.rollback()
        slow.join(10)
        assert not slow.is_alive()


@pytest.mark.parametrize(
    ("window", "index_first_under"),
    [(1000, 1000), (4, 1000), (4, 3)],
    ids=["window holds all", "index first", "walk every trace"],
)
def test_search_finds_the_same_newest_traces_whichever_way_it_runs(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, window: int, index_first_under: int
) -> None:
    from spyglass.store.postgres import reader

    tracing = Tracing(pg_url)
    for index in range(30):  # every third one mentions Lisbon; every fifth one fails
        tracing.llm_span(f"trip {index} to {'Lisbon' if index % 3 == 0 else 'Oslo'}", error=index % 5 == 0)
    tracing.flush()
    tracing.shutdown()
    monkeypatch.setattr(reader, "_SEARCH_WINDOW", window)
    monkeypatch.setattr(reader, "_INDEX_FIRST_UNDER", index_first_under)
    with PostgresSpanStore(pg_url) as store:
        newest = [trace["first_prompt"] for trace in store.list_traces(4, search="lisb")]
        assert newest == ["trip 27 to Lisbon", "trip 24 to Lisbon", "trip 21 to Lisbon", "trip 18 to Lisbon"]
        failed = [trace["first_prompt"] for trace in store.list_traces(50, search="lisbon", status="error")]
        assert failed == ["trip 15 to Lisbon", "trip 0 to Lisbon"]
        older = store.list_traces(
            50, search="lisbon", before=store.list_traces(4, search="lisbon")[-1]["start_ns"]
        )
        assert [trace["first_prompt"] for trace in older] == [
            f"trip {i} to Lisbon" for i in (15, 12, 9, 6, 3, 0)
        ]
        assert store.list_traces(50, search="madrid") == []


def test_a_store_without_the_model_summary_index_gets_it_and_the_same_summary(pg_url: str) -> None:
    tracing = Tracing(pg_url)
    try:
        _scenario(tracing)
        with PostgresSpanStore(pg_url) as store:
            before = store.model_summary()
        with psycopg.connect(pg_url, autocommit=True) as conn:  # what the previous version left
            conn.execute("DROP INDEX spans_model_summary")
            conn.execute("DELETE FROM spyglass_migrations WHERE name = '0005_model_summary_index'")
        with PostgresSpanStore(pg_url) as store:  # opened for writing: upgraded
            assert store.model_summary() == before
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("SELECT to_regclass('spans_model_summary') IS NOT NULL").fetchone() == (True,)
        assert [model["calls"] for model in before] and all(model["p50_duration_ns"] for model in before)
    finally:
        tracing.shutdown()
