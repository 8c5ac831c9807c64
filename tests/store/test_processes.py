"""Several processes writing one store at once (on both backends), a reader and a follower of its changes
alongside them, and a writer killed mid-way."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pg_cluster import both_backends  # noqa: F401  # `store_path`: a SQLite file or a PostgreSQL database

import spyglass.store
from spyglass.store import SpanStore

SPANS_PER_PROCESS = 1500


def _write_spans(path: str, worker: int, count: int) -> None:
    """Child process: `count` spans in traces of three, small batches to contend for the write lock."""
    from opentelemetry.sdk.trace import TracerProvider

    from spyglass import _attribute_names as names
    from spyglass.store._backends import store_processor

    processor = store_processor(path, batch_size=25, flush_interval=0.01)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("worker")
    for index in range(count // 3):
        message = f"worker {worker} job {index}"
        with tracer.start_as_current_span(message, attributes={names.MSG: message}):
            for step in range(2):
                with tracer.start_as_current_span(f"step {step}"):
                    pass
    flushed = processor.force_flush(60_000)  # shutdown alone waits 1 s at most (exit_timeout)
    provider.shutdown()
    if not flushed or processor.written_spans != count or processor.dropped_spans:
        raise SystemExit(
            f"worker {worker}: wrote {processor.written_spans}, dropped {processor.dropped_spans}"
        )


def test_four_processes_write_one_store_while_a_reader_reads(
    store_path: Path | str, open_store: Callable[..., SpanStore]
) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_write_spans, args=(str(store_path), worker, SPANS_PER_PROCESS))
        for worker in range(4)
    ]
    for worker in workers:
        worker.start()

    store = None
    seen: list[int] = []
    cursor = 0  # a follower from the very start: it must see every trace's last state
    followed: dict[str, int] = {}

    def follow() -> None:
        nonlocal cursor
        changes = store.changes_since(cursor, limit=50)
        followed.update((trace["trace_id"], trace["span_count"]) for trace in changes["traces"])
        cursor = changes["cursor"]

    while any(worker.is_alive() for worker in workers):
        if store is None and (isinstance(store_path, str) or store_path.exists()):
            try:
                store = open_store()
            except Exception:  # the first writer may still be creating the schema
                time.sleep(0.01)
                continue
        if store is not None:
            seen.append(store.stats()["spans"])
            store.list_traces(limit=20, search="job")
            follow()
        time.sleep(0.01)
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0

    store = store or open_store()
    for _ in range(1000):  # what was committed after the follower's last look
        before = cursor
        follow()
        if cursor == before:
            break
    assert followed == {trace["trace_id"]: 3 for trace in store.list_traces(limit=10_000)}
    assert store.stats()["spans"] == 4 * SPANS_PER_PROCESS
    assert store.stats()["traces"] == 4 * SPANS_PER_PROCESS // 3
    assert len(seen) > 1 and seen == sorted(seen)  # the reader saw the store grow, never shrink
    assert {trace["span_count"] for trace in store.list_traces(limit=10_000)} == {3}
    last_job = f"job {SPANS_PER_PROCESS // 3 - 1}"
    assert sorted(trace["message"] for trace in store.list_traces(search=last_job)) == [
        f"worker {worker} {last_job}" for worker in range(4)
    ]


_KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from opentelemetry.sdk.trace import TracerProvider
    from spyglass.store import SqliteSpanProcessor

    processor = SqliteSpanProcessor(sys.argv[1], batch_size=20, flush_interval=0.01)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("doomed")
    index = 0
    while True:
        for _ in range(10):
            with tracer.start_as_current_span(f"span {index}", attributes={"index": index}):
                pass
            index += 1
        with tracer.start_as_current_span(f"in flight {index}"):
            processor.force_flush()
            print(index, flush=True)  # every span up to here is committed
    """
)


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "traces.sqlite"


def test_a_writer_killed_mid_write_leaves_every_committed_span(sqlite_path: Path) -> None:
    """On a file (tests/postgres has a receiver SIGKILLed mid-batch)."""
    store_path = sqlite_path
    src = str(Path(spyglass.store.__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(store_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    committed = 0
    try:
        while committed < 500:
            line = child.stdout.readline()
            assert line, "the writer exited early"
            committed = int(line)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    with SpanStore(store_path) as store:
        indexes = {
            span["attributes"]["index"]
            for trace in store.list_traces(limit=100_000)
            for span in store.get_trace(trace["trace_id"])
            if "index" in span["attributes"]
        }
        assert set(range(committed)) <= indexes
        in_flight = store.list_traces(status="pending", limit=100_000)
        assert all(trace["root_name"].startswith("in flight") for trace in in_flight)
    conn = sqlite3.connect(store_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
