"""The store writer under attack: hostile values (on both backends), a span SQLite refuses, another process
holding the lock, a file that cannot grow, a memory bound in bytes, exit and force_flush bounded, pending rows
from a copy."""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags
from store_helpers import Tracing, llm_attributes

from spyglass import _attribute_names as names
from spyglass._encoding import valid_utf8
from spyglass.store import SpanStore, SqliteSpanProcessor, _backends

_HOSTILE_TEXT = st.one_of(
    st.sampled_from(["\ud800", "a\udfffb", "\x00", "nul\x00inside", "\ufeff\u202e", "x" * 3_000_000]),
    st.text(st.characters(categories=["Cs", "Cc", "L", "So"]), max_size=40),
)
_ANY_VALUE: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        _HOSTILE_TEXT,
        st.binary(max_size=20),
        st.builds(object),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_HOSTILE_TEXT, inner, max_size=4)),
    max_leaves=12,
)


def _span(index: int, name: str, attributes: dict[Any, Any], **more: Any) -> ReadableSpan:
    context = SpanContext(0xABC0 + index, 0x100 + index, is_remote=False, trace_flags=TraceFlags(1))
    return ReadableSpan(
        name,
        context,
        resource=Resource.create({"service.name": "hostile"}),
        attributes=attributes,  # type: ignore[arg-type]  # on purpose: what no SDK would let through
        start_time=1_700_000_000_000_000_000 + index,
        end_time=1_700_000_000_000_000_000 + index + 1_000,
        **more,
    )


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One writer and a reader for all examples: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        location: Path | str = tmp_path_factory.mktemp("hostile") / "traces.sqlite"
    else:
        cluster = request.getfixturevalue("cluster")
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE hostile")
        location = cluster.url("hostile")
    processor = _backends.store_processor(location)
    store = _backends.open_store(location, readonly=True)
    yield processor, store
    processor.shutdown()
    store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_HOSTILE_TEXT, model=_HOSTILE_TEXT, content=_ANY_VALUE, other=_ANY_VALUE, key=_HOSTILE_TEXT)
def test_one_hostile_span_costs_no_other_span(
    shared: Any, name: str, model: str, content: Any, other: Any, key: str
) -> None:
    processor, store = shared
    base = processor.written_spans

    def stored(text: str) -> str:
        # What a text column keeps: PostgreSQL's cannot hold NUL, which it stores as U+FFFD.
        kept = valid_utf8(text)
        return kept if isinstance(store, SpanStore) else kept.replace("\x00", "\ufffd")

    offset = base * 10  # fresh ids for every example
    attributes = {
        **llm_attributes("hello"),
        names.REQUEST_MODEL: model,
        names.INPUT_MESSAGES: json.dumps([{"role": "user", "parts": [{"type": "text", "content": name}]}]),
        "content": content,
        key: other,
        names.USAGE_INPUT_TOKENS: 2**80,
        names.COST_USD: math.nan,
    }
    events = [Event(name, {"weird": other}, 1)]  # type: ignore[dict-item]
    status = Status(StatusCode.ERROR, name)
    spans = [_span(offset + index, f"normal {index}", {"n": index}) for index in range(20)]
    spans.insert(7, _span(offset + 99, name, attributes, events=events, status=status))
    for span in spans:
        processor.on_end(span)
    started = time.monotonic()
    assert processor.force_flush(10_000)
    assert time.monotonic() - started < 5
    assert processor.written_spans - base == 21
    assert processor.dropped_spans == 0
    (bad,) = store.get_trace(format(0xABC0 + offset + 99, "032x"))
    assert bad["name"] == stored(name[: 1024 * 1024]) or bad["name"].startswith(stored(name[:1000]))
    assert bad["model"] is None or bad["model"].startswith(stored(model[:1000]))
    assert bad["cost_usd"] is None and bad["input_tokens"] is None
    assert bad["attributes"]["content"] is not None or content is None


def test_a_span_sqlite_refuses_is_dropped_alone_and_counted(store_path: Path, open_store, caplog) -> None:
    processor = SqliteSpanProcessor(store_path)
    processor.on_end(_span(0, "first", {}))
    assert processor.force_flush(5_000)
    # A real SQLite refusal of one row: a trigger aborts any insert of a span named "poison".
    with sqlite3.connect(store_path) as conn:
        conn.execute(
            "CREATE TRIGGER reject BEFORE INSERT ON spans WHEN NEW.name = 'poison' "
            "BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
        )
    for index in range(1, 30):
        processor.on_end(_span(index, "poison" if index == 13 else f"span {index}", {}))
    processor.on_end(ReadableSpan("no context"))  # cannot be converted at all
    assert processor.force_flush(5_000)
    processor.shutdown()
    assert (processor.written_spans, processor.dropped_spans) == (29, 2)
    assert open_store().stats()["spans"] == 29
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "poisoned" in messages and "dropped it alone" in messages


def test_a_running_span_s_pending_row_is_what_it_had_at_start(
    tracing: Tracing, store_path: Path, open_store
) -> None:
    with tracing.tracer.start_as_current_span("working", attributes={"at.start": "visible"}) as span:
        span.set_attribute("set.later", "SECRET-123-not-scrubbed-yet")
        tracing.flush()
        (pending,) = open_store().get_trace(format(span.get_span_context().trace_id, "032x"))
        assert pending["is_pending"] is True
        assert pending["attributes"] == {"at.start": "visible"}
    raw = b"".join(path.read_bytes() for path in store_path.parent.glob("traces.sqlite*"))
    assert b"SECRET-123" not in raw
    tracing.flush()
    (final,) = open_store().get_trace(format(span.get_span_context().trace_id, "032x"))
    assert final["attributes"]["set.later"] == "SECRET-123-not-scrubbed-yet"  # at end: through the scrubber


_LOCK_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


@contextlib.contextmanager
def _lock_held(path: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the store's write lock for `seconds` (or until the block ends)."""
    with subprocess.Popen(
        [sys.executable, "-c", _LOCK_HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
            yield holder
        finally:
            if holder.poll() is None and seconds > 10:
                holder.kill()
            holder.wait(30)


def test_a_lock_held_8_s_by_another_process_loses_nothing(tracing: Tracing, open_store) -> None:
    tracing.llm_span("before")
    tracing.flush()
    with _lock_held(tracing.processor.path, 8):
        for index in range(1000):
            with tracing.tracer.start_as_current_span(f"span {index}"):
                pass
        started = time.monotonic()
        assert not tracing.processor.force_flush(500)  # honours its timeout while the lock is held
        assert time.monotonic() - started < 1.0
    assert tracing.processor.force_flush(20_000)
    assert (tracing.processor.written_spans, tracing.processor.dropped_spans) == (1001, 0)
    assert open_store().stats()["spans"] == 1001


_PROGRAM = """
import logging, resource, sys, time
logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
from opentelemetry.sdk.trace import TracerProvider
from spyglass.store import SqliteSpanProcessor
path, mode = sys.argv[1], sys.argv[2]
processor = SqliteSpanProcessor(path, max_buffer_bytes=2_000_000, flush_interval=0.05)
provider = TracerProvider()
provider.add_span_processor(processor)
tracer = provider.get_tracer("t")
with tracer.start_as_current_span("before"):
    pass
if mode == "full":
    import os
    assert processor.force_flush(5_000)
    size = os.path.getsize(path) + os.path.getsize(path + "-wal")
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 20_000, size + 20_000))
for index in range(400):
    with tracer.start_as_current_span(f"span {index}", attributes={"blob": "x" * 20_000}):
        pass
time.sleep(0.5)
print("stats", processor.stats(), flush=True)
print("exiting", time.monotonic(), flush=True)
"""


@pytest.mark.parametrize("mode", ["locked", "full"])
def test_a_locked_or_full_store_bounds_memory_and_exit(store_path: Path, open_store, mode: str) -> None:
    SqliteSpanProcessor(store_path).shutdown()  # the store exists before the other process locks it
    with _lock_held(store_path, 30) if mode == "locked" else contextlib.nullcontext():
        program = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(_PROGRAM), str(store_path), mode],
            capture_output=True,
            text=True,
            timeout=60,
        )
        ended = time.monotonic()
    assert program.returncode == 0, program.stderr
    lines = program.stdout.splitlines()
    stats = eval(lines[0].removeprefix("stats "))  # a dict literal printed by the program
    exited_at = float(lines[1].split()[1])
    assert ended - exited_at < 1.6  # the writer's part of exit: exit_timeout, 1 s (plus interpreter exit)
    assert stats["waiting_bytes"] <= 2_000_000
    assert stats["dropped"] > 0  # 400 × 20 kB cannot fit in 2 MB
    assert stats["written"] + stats["dropped"] + stats["waiting_spans"] >= 400
    assert "finished spans were not stored" in program.stderr
    assert "Traceback" not in program.stderr
    with SpanStore(store_path, readonly=True) as store:
        assert store.stats()["spans"] >= (1 if mode == "full" else 0)  # the file is intact and readable
