"""`SqliteSpanProcessor`: every span, from its start, written to a local SQLite store by a background thread.

The thread that makes a span only appends it to a bounded queue; conversion, SQL and pruning happen on one
daemon writer thread, in batched transactions. Nothing here raises into the instrumented program: a full
queue, a locked or read-only file are counted and logged once (logger `spyglass`).
"""

from __future__ import annotations

import atexit
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections import deque
from datetime import timedelta
from pathlib import Path
from typing import TypeAlias

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from spyglass._snapshot import started_snapshot
from spyglass.store import _prune
from spyglass.store._errors import StoreError
from spyglass.store._ingest import ResourceIds, write_batch
from spyglass.store._rows import SpanRow, span_to_row
from spyglass.store._schema import open_for_writing

logger = logging.getLogger("spyglass")

# A queued item: (pending, span) for a span row, or an Event the writer sets once everything before it is
# committed (force_flush and shutdown).
_Item: TypeAlias = "tuple[bool, ReadableSpan] | threading.Event"

_RETRY_OPEN_AFTER = 5.0  # seconds between attempts to open a file that was locked or not writable


class SqliteSpanProcessor(SpanProcessor):
    """Store every span in a local SQLite file, visible from the moment it starts.

    Args:
        path: the store file; created with its directory's permissions if missing.
        max_bytes: prune the oldest whole traces when the data grows past this many bytes.
        max_age: prune whole traces whose last span ended longer ago than this (seconds or a timedelta).
        batch_size: spans written per transaction at most.
        flush_interval: seconds the writer waits for a batch to fill before writing what it has.
        max_queue_size: spans waiting to be written at most; past it, new spans are dropped and counted.
        busy_timeout: seconds to wait for another process's write lock before giving up on a batch.
        prune_interval: seconds between two pruning passes.

    Raises:
        StoreError: the file exists and is not SQLite, not a spyglass store, corrupt, or from a newer
            spyglass. It is left untouched.

    Example:
        ```python
        provider = TracerProvider()
        provider.add_span_processor(SqliteSpanProcessor(".spyglass/traces.sqlite", max_age=7 * 86400))
        ```
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
        max_age: float | timedelta | None = None,
        batch_size: int = 512,
        flush_interval: float = 0.25,
        max_queue_size: int = 100_000,
        busy_timeout: float = 5.0,
        prune_interval: float = 60.0,
    ) -> None:
        _check_positive(batch_size=batch_size, max_queue_size=max_queue_size, flush_interval=flush_interval)
        self._path = Path(path)
        self._max_bytes = max_bytes
        self._max_age_ns = _to_ns(max_age)
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_queue_size = max_queue_size
        self._busy_timeout = busy_timeout
        self._prune_interval = prune_interval
        self._stats_lock = threading.Lock()
        self._dropped = 0
        self._written = 0
        self._logged: set[str] = set()
        self._resources = ResourceIds()
        self._conn: sqlite3.Connection | None = None
        self._next_open_attempt = 0.0
        self._next_prune = 0.0
        self._closing = False  # no new spans are taken
        self._stopping = False  # the writer thread exits once the queue is empty
        self._shutdown_lock = threading.Lock()
        self._try_open(first=True)
        self._start_thread()
        _live_processors.add(self)

    @property
    def path(self) -> Path:
        """The store file."""
        return self._path

    @property
    def dropped_spans(self) -> int:
        """Finished spans that were not stored: queue full, file locked or unwritable, or after shutdown."""
        return self._dropped

    @property
    def written_spans(self) -> int:
        """Finished spans committed to the file by this processor."""
        return self._written

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        # A copy: the writer thread reads it later, and the live span may have gained unscrubbed values.
        self._enqueue((True, started_snapshot(span)))

    def on_end(self, span: ReadableSpan) -> None:
        self._enqueue((False, span))

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Wait until every span queued so far is committed (or dropped); False on timeout."""
        if not self._thread.is_alive():
            return not self._queue
        done = threading.Event()
        self._queue.append(done)  # past the size bound on purpose: a flush request is never dropped
        self._wake.set()
        return done.wait(timeout_millis / 1000)

    def shutdown(self) -> None:
        """Write what is queued, stop the writer thread and close the file. Calling it again does nothing."""
        with self._shutdown_lock:
            if self._closing:
                return
            self._closing = True
        self.force_flush()
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=self._busy_timeout + 5)
        _live_processors.discard(self)

    # --- caller's thread --------------------------------------------------------------------------------

    def _enqueue(self, item: tuple[bool, ReadableSpan]) -> None:
        try:
            if self._closing or len(self._queue) >= self._max_queue_size:
                if not item[0]:
                    self._count_dropped(1)
                return
            self._queue.append(item)
            if len(self._queue) >= self._batch_size and not self._wake.is_set():
                self._wake.set()
        except Exception:  # never into the instrumented program
            self._count_dropped(0 if item[0] else 1)

    # --- writer thread ----------------------------------------------------------------------------------

    def _start_thread(self) -> None:
        self._queue: deque[_Item] = deque()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spyglass-store-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self._flush_interval)
                self._wake.clear()
                try:
                    self._drain()
                    self._prune_if_due()
                except Exception as exc:  # the thread must outlive any surprise
                    self._log_once("unexpected", logging.ERROR, "spyglass store writer error: %r", exc)
                if self._stopping and not self._queue:
                    return
        finally:
            for item in list(self._queue):  # a flush that raced with shutdown must not wait for nothing
                if isinstance(item, threading.Event):
                    item.set()
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _drain(self) -> None:
        while self._queue:
            items, flushed = self._take_batch()
            if items:
                self._write(items)
            if flushed is not None:
                flushed.set()

    def _take_batch(self) -> tuple[list[tuple[bool, ReadableSpan]], threading.Event | None]:
        items: list[tuple[bool, ReadableSpan]] = []
        while self._queue and len(items) < self._batch_size:
            item = self._queue.popleft()
            if isinstance(item, threading.Event):
                return items, item
            items.append(item)
        return items, None

    def _write(self, items: list[tuple[bool, ReadableSpan]]) -> None:
        finished = sum(1 for pending, _ in items if not pending)
        rows = self._convert(items)
        conn = self._connection()
        if conn is None:
            self._count_dropped(finished)
            return
        try:
            write_batch(conn, rows, self._resources)
        except sqlite3.Error as exc:
            self._count_dropped(finished)
            self._log_once(
                f"write:{type(exc).__name__}",
                logging.WARNING,
                "spyglass could not write spans to %s (%s); dropping them and carrying on",
                self._path,
                exc,
            )
            return
        with self._stats_lock:
            self._written += sum(1 for row in rows if not row.is_pending)

    def _convert(self, items: list[tuple[bool, ReadableSpan]]) -> list[SpanRow]:
        # A span that started and ended within one batch needs no pending row.
        ended = {_key(span) for pending, span in items if not pending}
        rows = []
        for pending, span in items:
            if pending and _key(span) in ended:
                continue
            try:
                rows.append(span_to_row(span, pending=pending))
            except Exception as exc:
                if not pending:
                    self._count_dropped(1)
                self._log_once("convert", logging.ERROR, "spyglass could not convert a span: %r", exc)
        return rows

    def _connection(self) -> sqlite3.Connection | None:
        if self._conn is None and time.monotonic() >= self._next_open_attempt:
            self._try_open(first=False)
        return self._conn

    def _try_open(self, *, first: bool) -> None:
        try:
            # The constructor runs on the caller's thread: it waits for a lock only briefly, then defers.
            conn = open_for_writing(
                self._path, busy_timeout=min(self._busy_timeout, 1.0) if first else self._busy_timeout
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            self._conn = conn
        except StoreError as exc:
            if first:
                raise
            self._next_open_attempt = float("inf")  # a foreign or corrupt file stays that way
            self._log_once("open", logging.ERROR, "spyglass will not store spans: %s", exc)
        except (sqlite3.Error, OSError) as exc:
            self._next_open_attempt = time.monotonic() + _RETRY_OPEN_AFTER
            self._log_once(
                "open",
                logging.WARNING,
                "spyglass cannot open its store %s (%s); spans are dropped until it can",
                self._path,
                exc,
            )

    def _prune_if_due(self) -> None:
        if self._max_bytes is None and self._max_age_ns is None:
            return
        if self._conn is None or time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + self._prune_interval
        try:
            _prune.prune(
                self._conn, max_bytes=self._max_bytes, max_age_ns=self._max_age_ns, now_ns=time.time_ns()
            )
        except sqlite3.Error as exc:
            self._log_once("prune", logging.WARNING, "spyglass could not prune %s: %s", self._path, exc)

    # --- bookkeeping ------------------------------------------------------------------------------------

    def _count_dropped(self, count: int) -> None:
        if count:
            with self._stats_lock:
                self._dropped += count

    def _log_once(self, key: str, level: int, message: str, *args: object) -> None:
        if key not in self._logged:
            self._logged.add(key)
            logger.log(level, message, *args)

    def _after_fork_in_child(self) -> None:
        # The parent's connection must not be used, nor closed (closing could checkpoint the parent's WAL).
        if self._conn is not None:
            _inherited_connections.append(self._conn)
        self._conn = None
        self._next_open_attempt = 0.0
        self._resources = ResourceIds()
        self._stats_lock = threading.Lock()
        self._shutdown_lock = threading.Lock()
        if not self._closing:
            self._start_thread()


def _key(span: ReadableSpan) -> tuple[int, int]:
    context = span.context
    return (context.trace_id, context.span_id) if context is not None else (0, id(span))


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value!r}")


def _to_ns(age: float | timedelta | None) -> int | None:
    if age is None:
        return None
    seconds = age.total_seconds() if isinstance(age, timedelta) else float(age)
    if seconds <= 0:
        raise ValueError(f"max_age must be positive, got {age!r}")
    return int(seconds * 1e9)


_live_processors: weakref.WeakSet[SqliteSpanProcessor] = weakref.WeakSet()
_inherited_connections: list[sqlite3.Connection] = []


def _shutdown_all() -> None:
    for processor in list(_live_processors):
        processor.shutdown()


def _reset_all_after_fork() -> None:
    for processor in list(_live_processors):
        processor._after_fork_in_child()


atexit.register(_shutdown_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_all_after_fork)
