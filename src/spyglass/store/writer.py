"""`SqliteSpanProcessor`: every span, from its start, written to a local SQLite store by a background thread.

The thread that makes a span only appends it to a bounded queue (a started span as a copy of what its
pending row needs); conversion, SQL and pruning happen on one daemon writer thread, in batched
transactions. A locked, full or unwritable file is retried with back-off while the spans wait in memory, up
to a bound in bytes; past it, spans are dropped and counted. One span that cannot be written at all is
dropped alone. Nothing here raises into the instrumented program or makes it wait longer than it asked.
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeAlias

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from spyglass.store import _prune
from spyglass.store._errors import StoreError
from spyglass.store._ingest import ResourceIds, write_batch
from spyglass.store._losses import LossCounts, LossSource, write_losses
from spyglass.store._rows import SpanRow, StartedSpan, span_to_row
from spyglass.store._schema import open_for_writing
from spyglass.store._waiting_events import WaitingWork, expire, keep_and_forget

logger = logging.getLogger("spyglass")

DEFAULT_MAX_BUFFER_BYTES = 64 * 1024 * 1024
DEFAULT_EXIT_TIMEOUT = 1.0  # seconds shutdown (and so the program's exit) waits for the writer, at most

_RETRY_OPEN_AFTER = 5.0  # seconds between attempts to open a file that was locked or not writable
_FIRST_BACKOFF = 0.05
_MAX_BACKOFF = 1.0
# SQLite's primary result codes for a file that may take the spans later: busy or locked by another
# process, full, read-only, an I/O error (a file size limit), cannot open, out of memory, interrupted.
_TRANSIENT_CODES = frozenset({5, 6, 7, 8, 9, 10, 13, 14, 15})


class Commit:
    """Returned by `SqliteSpanProcessor.submit()`: says when the spans given are committed to the file."""

    __slots__ = ("_done", "_failed")

    def __init__(self) -> None:
        self._done = threading.Event()
        self._failed = False

    def wait(self, timeout: float | None = None) -> bool:
        """True once every span given is committed; False on timeout or if any of them was dropped."""
        return self._done.wait(timeout) and not self._failed


# A queued item: a span row to make (pending, span, the Commit it belongs to), or a Commit to resolve once
# everything before it is committed or dropped (force_flush, shutdown, submit). The caller's thread only
# appends to a deque bounded in count; bytes are counted on the writer thread, from the rows it makes.
# A receiver's log records waiting for their span (`WaitingWork`) travel the same way, as a row of their own.
_Span: TypeAlias = "tuple[bool, ReadableSpan | StartedSpan | WaitingWork, Commit | None]"
_Row: TypeAlias = "tuple[SpanRow | WaitingWork, Commit | None]"
_EXPIRE_EVERY = 60.0  # seconds between two passes forgetting log records whose span never came
LATE_RECORDS = ("receiver: span stored before its records", "log record")
EXPIRED_RECORDS = ("receiver: span never came", "log record")


class SqliteSpanProcessor(SpanProcessor):
    """Store every span in a local SQLite file, visible from the moment it starts.

    Args:
        path: the store file; created with its directory's permissions if missing.
        max_bytes: prune the oldest whole traces when the data grows past this many bytes.
        max_age: prune whole traces whose last span ended longer ago than this (seconds or a timedelta).
        batch_size: spans written per transaction at most.
        flush_interval: seconds the writer waits for a batch to fill before writing what it has.
        max_queue_size: spans handed over and not yet converted at most; past it, new spans are dropped and
            counted. The writer converts them as they come, also while the file is locked.
        max_buffer_bytes: what the converted rows waiting for the file may hold at most, roughly, in bytes
            (their text); past it, new spans are dropped and counted.
        busy_timeout: seconds one write waits for another process's write lock; then the writer backs off
            and tries again later, the spans kept in memory.
        exit_timeout: seconds `shutdown()` (and so the program's exit) waits for the writer at most; what is
            still unwritten then is dropped, counted and logged.
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
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
        busy_timeout: float = 1.0,
        exit_timeout: float = DEFAULT_EXIT_TIMEOUT,
        prune_interval: float = 60.0,
    ) -> None:
        _check_positive(
            batch_size=batch_size,
            max_queue_size=max_queue_size,
            flush_interval=flush_interval,
            max_buffer_bytes=max_buffer_bytes,
            exit_timeout=exit_timeout,
        )
        self._path = Path(path)
        self._shown = self._display_name(path)  # what messages name the store by
        self._max_bytes = max_bytes
        self._max_age_ns = _to_ns(max_age)
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_queue_size = max_queue_size
        self._max_buffer_bytes = max_buffer_bytes
        self._busy_timeout = busy_timeout
        self._exit_timeout = exit_timeout
        self._prune_interval = prune_interval
        self._stats_lock = threading.Lock()
        self._dropped = 0
        self._written = 0
        self._rows_bytes = 0  # converted rows waiting for the file (writer thread only)
        self._rows_count = 0
        self._logged: set[str] = set()
        self._resources = ResourceIds()
        self._conn: Any = None  # the backend's connection
        self._broken = False  # the file is not a store we may write: nothing will ever be written
        self._next_open_attempt = 0.0
        self._next_write = 0.0  # back-off: no write attempt before this (monotonic seconds)
        self._backoff = _FIRST_BACKOFF
        self._next_prune = 0.0
        self._closing = False  # no new spans are taken
        self._stop_at: float | None = None  # the writer gives up on what is left at this time
        self._gave_up = False  # what was left at shutdown is counted (by the writer, or by shutdown)
        self._shutdown_lock = threading.Lock()
        self._loss_counters: list[tuple[Callable[[], Mapping[str, int]], str]] = []
        self._loss_source: LossSource | None = None
        self._losses_written: dict[tuple[str, str], int] = {}
        self._own_losses: dict[tuple[str, str], int] = {}  # what this writer itself dropped, by (sink, unit)
        self._waiting_max_age_ns: int | None = None
        self._next_expiry = 0.0
        self._try_open(first=True)
        self._start_thread()
        _live_processors.add(self)

    @property
    def path(self) -> Path:
        """The store file."""
        return self._path

    @property
    def dropped_spans(self) -> int:
        """Finished spans that were not stored: memory bound reached, unwritable, or left at shutdown."""
        return self._dropped

    @property
    def written_spans(self) -> int:
        """Finished spans committed to the file by this processor."""
        return self._written

    def stats(self) -> dict[str, int]:
        """Counters: finished spans `written` and `dropped`, the spans and bytes `waiting` in memory, and of
        those the finished spans not yet written (`waiting_finished`; none once shutdown counted them as
        dropped)."""
        with self._stats_lock:
            return {
                "written": self._written,
                "dropped": self._dropped,
                "waiting_spans": len(self._queue) + self._rows_count,
                "waiting_bytes": self._rows_bytes,
                "waiting_finished": 0 if self._gave_up else _finished_in(list(self._queue), list(self._rows)),
            }

    def report_losses(
        self, counts: Callable[[], Mapping[str, int]], *, unit: str = "span", service_name: str | None = None
    ) -> None:
        """From now on, keep what `counts()` says was lost (cumulative counts by sink, such as the pipeline's
        `dropped()`) in the store's `losses` table whenever it changes, so that the viewer shows it.

        Args:
            counts: called on the writer thread; must be cheap and thread-safe.
            unit: what is counted: "span", "log record".
            service_name: the program the counts belong to.
        """
        self._loss_counters.append((counts, unit))
        if self._loss_source is None:
            self._loss_source = LossSource.here(service_name)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            started = StartedSpan.of(span)
        except Exception:  # never into the instrumented program
            return  # a pending row is a preview only: its span is still written when it ends
        self._enqueue(True, started)

    def on_end(self, span: ReadableSpan) -> None:
        self._enqueue(False, span)

    def keep_waiting_events_for(self, seconds: float) -> None:
        """Log records waiting in the store for their span (see `submit(waiting=...)`) are forgotten, and
        counted as lost, once they have waited this long."""
        self._waiting_max_age_ns = int(seconds * 1e9)
        self._next_expiry = 0.0  # the next pass applies it

    def submit(self, spans: Sequence[ReadableSpan], *, waiting: WaitingWork | None = None) -> Commit | None:
        """Queue finished spans and return a `Commit` that says when they are in the file (the receiver
        answers its senders with it); None, with nothing queued, when they do not fit in memory now.

        `waiting`: log records to keep until their span comes, and spans (of these or earlier) now stored
        with theirs, whose records are forgotten; committed after the spans, before the `Commit` is done.
        """
        commit = Commit()
        if self._closing or len(self._queue) + len(spans) > self._max_queue_size:
            return None
        if self._rows_bytes >= self._max_buffer_bytes:
            return None
        self._queue.extend([(False, span, commit) for span in spans])
        if waiting is not None and (waiting.keep or waiting.joined):
            self._queue.append((True, waiting, commit))
        self._queue.append(commit)
        self._wake.set()
        return commit

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Wait until every span queued so far is committed (or dropped); False on timeout."""
        if not self._thread.is_alive():
            return not self._queue
        done = Commit()
        self._queue.append(done)  # past the size bound on purpose: a flush request is never dropped
        self._wake.set()
        return done._done.wait(max(timeout_millis, 0) / 1000)

    def shutdown(self) -> None:
        """Write what is queued, stop the writer thread and close the file; within `exit_timeout` seconds,
        whatever the file does. What is left unwritten is dropped, counted and logged. Calling it again
        does nothing."""
        with self._shutdown_lock:
            if self._closing:
                return
            self._closing = True
        deadline = time.monotonic() + self._exit_timeout
        self._stop_at = deadline - min(0.1, self._exit_timeout / 4)  # time to count what is left
        self._wake.set()
        self._thread.join(timeout=max(deadline - time.monotonic(), 0.0))
        _live_processors.discard(self)
        with self._stats_lock:
            if not self._gave_up:  # stuck in SQLite: what it holds is lost with the process
                self._gave_up = True
                self._dropped += _finished_in(list(self._queue), list(self._rows))
        stats = self.stats()
        if stats["dropped"]:
            logger.warning(
                "spyglass store %s: %d finished spans were not stored (%d written); see dropped_spans",
                self._shown,
                stats["dropped"],
                stats["written"],
            )

    # --- caller's thread --------------------------------------------------------------------------------

    def _enqueue(self, pending: bool, span: ReadableSpan | StartedSpan) -> None:
        try:
            if self._closing or len(self._queue) >= self._max_queue_size:
                if not pending:
                    self._count_dropped(1)
                    self._log_full()
                return
            self._queue.append((pending, span, None))
            if len(self._queue) >= self._batch_size and not self._wake.is_set():
                self._wake.set()
        except Exception:  # never into the instrumented program
            self._count_dropped(0 if pending else 1)

    def _log_full(self) -> None:
        self._log_once(
            "full",
            logging.WARNING,
            "spyglass store %s cannot keep up (%d spans, %d bytes waiting): dropping spans and counting them "
            "(dropped_spans)",
            self._shown,
            len(self._queue) + self._rows_count,
            self._rows_bytes,
        )

    # --- writer thread ----------------------------------------------------------------------------------

    def _start_thread(self) -> None:
        self._queue: deque[_Span | Commit] = deque()
        self._rows: deque[_Row | Commit] = deque()  # converted, waiting for the file
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spyglass-store-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self._wait_time())
                self._wake.clear()
                try:
                    self._convert_queue()
                    self._write_losses_if_changed()  # before the rows: a flush returns with them recorded
                    self._write_rows()
                    self._prune_if_due()
                    self._expire_waiting_if_due()
                except Exception as exc:  # the thread must outlive any surprise
                    self._log_once("unexpected", logging.ERROR, "spyglass store writer error: %r", exc)
                if self._stop_at is not None and (
                    not (self._queue or self._rows) or time.monotonic() >= self._stop_at
                ):
                    return
        finally:
            self._give_up_on_the_rest()
            if self._backoff == _FIRST_BACKOFF:  # the last write went through: record the final counts
                self._write_losses_if_changed()
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _wait_time(self) -> float:
        now = time.monotonic()
        wait = max(self._next_write - now, 0.001) if self._rows else self._flush_interval
        if self._stop_at is not None:
            wait = min(wait, max(self._stop_at - now, 0.0))
        return wait

    def _convert_queue(self) -> None:
        """Turn what the callers queued into rows, a batch at a time (short holds of the GIL)."""
        while self._queue:
            items: list[_Span | Commit] = []
            while self._queue and len(items) < self._batch_size:
                items.append(self._queue.popleft())
            self._rows.extend(self._convert(items))

    def _convert(self, items: list[_Span | Commit]) -> Iterable[_Row | Commit]:
        # A span that started and ended within one batch needs no pending row.
        ended = {_key(item[1]) for item in items if not isinstance(item, Commit) and not item[0]}
        for item in items:
            if isinstance(item, Commit):
                yield item
                continue
            pending, span, commit = item
            if isinstance(span, WaitingWork):
                self._rows_bytes += span.size
                yield span, commit
                continue
            if pending and _key(span) in ended:
                continue
            try:
                row = span_to_row(span, pending=pending)
            except Exception as exc:
                self._drop_unconverted(pending, commit)
                self._log_once("convert", logging.ERROR, "spyglass could not convert a span: %r", exc)
                continue
            if self._rows_bytes + row.size > self._max_buffer_bytes:  # the file has not taken enough
                self._drop_unconverted(pending, commit)
                self._log_full()
                continue
            self._rows_bytes += row.size
            self._rows_count += 1
            yield row, commit

    def _write_rows(self) -> None:
        while self._rows and time.monotonic() >= self._next_write:
            rows, commits = self._take_batch()
            if rows and not self._write(rows):
                self._rows.extendleft(reversed(commits))  # back in front, in order, for the next try
                self._rows.extendleft(reversed(rows))
                return
            for commit in commits:
                commit._done.set()

    def _take_batch(self) -> tuple[list[_Row], list[Commit]]:
        rows: list[_Row] = []
        commits: list[Commit] = []
        # Commits do not end a batch: concurrent submitters share one transaction.
        while self._rows and len(rows) < self._batch_size:
            item = self._rows.popleft()
            if isinstance(item, Commit):
                commits.append(item)
            else:
                rows.append(item)
        while self._rows and isinstance(self._rows[0], Commit):
            commits.append(self._rows[0])
            self._rows.popleft()
        return rows, commits

    def _write(self, rows: list[_Row]) -> bool:
        """Write `rows`: True when done with them (committed, or dropped for good), False to retry later."""
        conn = self._connection()
        if self._broken:
            self._drop(rows)
            return True
        if conn is None:
            return self._back_off()
        try:
            self._write_rows_and_waiting(conn, [row for row, _ in rows])
        except Exception as exc:
            if self._is_transient(exc):
                self._log_write_problem(exc)
                return self._back_off()
            return self._write_one_by_one(conn, rows)
        self._backoff = _FIRST_BACKOFF
        self._committed(rows)
        return True

    def _write_one_by_one(self, conn: Any, rows: list[_Row]) -> bool:
        """Something in the batch cannot be written: find it, drop it alone, write the others."""
        for index, row in enumerate(rows):
            try:
                self._write_rows_and_waiting(conn, [row[0]])
            except Exception as exc:
                if self._is_transient(exc):
                    del rows[:index]  # the ones before are committed; retry from this one
                    self._log_write_problem(exc)
                    return self._back_off()
                self._drop([row])
                self._log_once(
                    f"span:{type(exc).__name__}",
                    logging.ERROR,
                    "spyglass could not store a span (%r); dropped it alone",
                    exc,
                )
            else:
                self._committed([row])
        return True

    def _write_rows_and_waiting(self, conn: Any, items: list[SpanRow | WaitingWork]) -> None:
        rows = [item for item in items if isinstance(item, SpanRow)]
        if rows:
            self._write_batch(conn, rows)
        works = [item for item in items if isinstance(item, WaitingWork)]
        if works:  # after the spans: the records they were stored with are forgotten only once they are
            late = self._keep_waiting(conn, works)
            self._count_own_loss(LATE_RECORDS, late)

    def _expire_waiting_if_due(self) -> None:
        if self._waiting_max_age_ns is None or self._conn is None or time.monotonic() < self._next_expiry:
            return
        self._next_expiry = time.monotonic() + _EXPIRE_EVERY
        try:
            expired = self._expire_waiting(self._conn, time.time_ns() - self._waiting_max_age_ns)
        except Exception as exc:  # locked or down: the next pass
            self._log_once("expire", logging.WARNING, "spyglass could not expire log records: %r", exc)
            return
        self._count_own_loss(EXPIRED_RECORDS, expired)

    def _count_own_loss(self, where: tuple[str, str], count: int) -> None:
        if count:
            self._own_losses[where] = self._own_losses.get(where, 0) + count

    def _back_off(self) -> bool:
        self._next_write = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, _MAX_BACKOFF)
        return False

    def _committed(self, rows: Sequence[_Row]) -> None:
        finished = sum(1 for row, _ in rows if _is_finished(row))
        self._forget(rows)
        with self._stats_lock:
            self._written += finished

    def _drop(self, rows: Sequence[_Row]) -> None:
        for _, commit in rows:
            if commit is not None:
                commit._failed = True
        self._forget(rows)
        self._count_dropped(sum(1 for row, _ in rows if _is_finished(row)))

    def _drop_unconverted(self, pending: bool, commit: Commit | None) -> None:
        if commit is not None:
            commit._failed = True
        self._count_dropped(0 if pending else 1)

    def _forget(self, rows: Sequence[_Row]) -> None:
        self._rows_count -= sum(1 for row, _ in rows if isinstance(row, SpanRow))
        self._rows_bytes -= sum(row.size for row, _ in rows)

    def _give_up_on_the_rest(self) -> None:
        """At shutdown's deadline: whatever is still here is dropped and counted; no flush waits for it."""
        with self._stats_lock:
            counted, self._gave_up = self._gave_up, True
        if counted:  # shutdown stopped waiting and counted it all already
            for item in [*self._queue, *self._rows]:
                if isinstance(item, Commit):
                    item._done.set()
            return
        self._convert_queue_without_rows()
        while self._rows:
            item = self._rows.popleft()
            if isinstance(item, Commit):
                item._done.set()
            else:
                self._drop([item])

    def _convert_queue_without_rows(self) -> None:
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, Commit):
                self._rows.append(item)
            else:
                pending, _, commit = item
                self._drop_unconverted(pending, commit)

    def _write_losses_if_changed(self) -> None:
        if not self._loss_counters or self._loss_source is None or self._conn is None or self._broken:
            return
        counts = dict(self._own_losses)
        for counter, unit in self._loss_counters:
            try:
                for sink, count in counter().items():
                    if count:
                        counts[(sink, unit)] = int(count)
            except Exception:  # a count is not worth an error
                continue
        if counts == self._losses_written:
            return
        try:
            self._write_losses(self._conn, self._loss_source, counts, time.time_ns())
        except Exception as exc:  # locked or down: the next pass tries again
            if not self._is_transient(exc):
                self._log_once("losses", logging.WARNING, "spyglass could not record its losses: %r", exc)
            return
        self._losses_written = counts

    def _log_write_problem(self, exc: Exception) -> None:
        self._log_once(
            f"write:{type(exc).__name__}",
            logging.WARNING,
            "spyglass cannot write spans to %s now (%s); keeping them in memory (up to %d bytes) and retrying",
            self._shown,
            exc,
            self._max_buffer_bytes,
        )

    def _connection(self) -> Any:
        if self._conn is None and time.monotonic() >= self._next_open_attempt:
            self._try_open(first=False)
        return self._conn

    def _try_open(self, *, first: bool) -> None:
        try:
            self._conn = self._open_connection()
        except StoreError as exc:
            if first:
                raise
            self._broken = True  # a foreign or corrupt file stays that way
            self._next_open_attempt = float("inf")
            self._log_once("open", logging.ERROR, "spyglass will not store spans: %s", exc)
        except self._OPEN_ERRORS as exc:
            self._next_open_attempt = time.monotonic() + _RETRY_OPEN_AFTER
            self._log_once(
                "open",
                logging.WARNING,
                "spyglass cannot open its store %s (%s); keeping spans in memory (up to %d bytes) and "
                "retrying",
                self._shown,
                exc,
                self._max_buffer_bytes,
            )

    def _prune_if_due(self) -> None:
        if self._max_bytes is None and self._max_age_ns is None:
            return
        if self._conn is None or time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + self._prune_interval
        try:
            self._prune(self._conn)
        except self._OPEN_ERRORS as exc:
            self._log_once("prune", logging.WARNING, "spyglass could not prune %s: %s", self._shown, exc)

    # --- what a backend provides (another backend subclasses these) --------------------------------------

    # Errors opening or pruning the store that may pass: the writer keeps the spans in memory and retries.
    _OPEN_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, OSError)

    def _display_name(self, path: str | os.PathLike[str]) -> str:
        return str(Path(path))

    def _open_connection(self) -> Any:
        # The constructor runs on the caller's thread: it waits for a lock only briefly, then defers.
        conn = open_for_writing(self._path, busy_timeout=min(self._busy_timeout, 1.0))
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
        return conn

    def _write_batch(self, conn: Any, rows: list[SpanRow]) -> None:
        write_batch(conn, rows, self._resources)

    def _is_transient(self, exc: BaseException) -> bool:
        return _is_transient(exc)

    def _write_losses(self, conn: Any, source: LossSource, counts: LossCounts, now_ns: int) -> None:
        write_losses(conn, source, counts, now_ns)

    def _keep_waiting(self, conn: Any, works: list[WaitingWork]) -> int:
        return keep_and_forget(conn, works)

    def _expire_waiting(self, conn: Any, received_before_ns: int) -> int:
        return expire(conn, received_before_ns)

    def _prune(self, conn: Any) -> None:
        _prune.prune(conn, max_bytes=self._max_bytes, max_age_ns=self._max_age_ns, now_ns=time.time_ns())

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
        self._rows_count = self._rows_bytes = 0  # the parent's rows are the parent's
        if self._loss_source is not None:  # the child's counts are its own
            self._loss_source = LossSource.here(self._loss_source.service_name)
            self._losses_written = {}
        if not self._closing:
            self._start_thread()


def _finished_in(queued: list[_Span | Commit], rows: list[_Row | Commit]) -> int:
    """Finished spans among queued items and rows (what a writer stuck at shutdown takes down with it)."""
    return sum(1 for item in queued if isinstance(item, tuple) and not item[0]) + sum(
        1 for item in rows if isinstance(item, tuple) and _is_finished(item[0])
    )


def _is_finished(row: SpanRow | WaitingWork) -> bool:
    return isinstance(row, SpanRow) and not row.is_pending


def _is_transient(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) or isinstance(
        exc, sqlite3.IntegrityError | sqlite3.DataError | sqlite3.ProgrammingError
    ):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _TRANSIENT_CODES
    message = str(exc).lower()  # Python 3.10 has no error codes: read the message
    return any(
        word in message for word in ("locked", "busy", "full", "readonly", "disk i/o", "unable to open")
    )


def _key(span: ReadableSpan | StartedSpan | WaitingWork) -> tuple[int, int]:
    context = getattr(span, "context", None)
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
