"""`PostgresSpanProcessor`: `SqliteSpanProcessor`'s writer thread and contract, writing to PostgreSQL.

Same queue, memory bound, drop counting, `submit()` commits, `force_flush` and bounded `shutdown`; only the
connection, the batch SQL, the transient errors and pruning are PostgreSQL's. A server that is down or
restarting is retried with back-off while the spans wait in memory.
"""

from __future__ import annotations

import os
import time
from typing import Any

import psycopg
import psycopg.errors

from spyglass.store._backends import mask_url
from spyglass.store._losses import LossCounts, LossSource
from spyglass.store._rows import SpanRow
from spyglass.store._waiting_events import WaitingWork
from spyglass.store.postgres import _ingest, _losses, _prune, _schema, _waiting_events
from spyglass.store.writer import SqliteSpanProcessor


class PostgresSpanProcessor(SqliteSpanProcessor):
    """Store every span in a PostgreSQL database shared with other writers, visible from its start.

    Args:
        url: `postgresql://user[:password]@host[:port]/dbname` (libpq parameters and variables apply).
        **options: as `SqliteSpanProcessor` (`max_bytes`, `max_age`, `batch_size`, ...).

    Raises:
        StoreError: the database holds a newer spyglass schema. It is left untouched.
    """

    _OPEN_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, OSError)

    def __init__(self, url: str, **options: Any) -> None:
        self._url = url
        self._pg_resources: dict[str, int] = {}
        super().__init__(url, **options)

    @property
    def url(self) -> str:
        """The store's URL, its password masked."""
        return mask_url(self._url)

    def _display_name(self, path: str | os.PathLike[str]) -> str:
        return mask_url(str(path))

    def _open_connection(self) -> Any:
        # The first attempt runs on the caller's thread (the constructor): an unreachable host must not hold
        # it long; libpq's shortest connect timeout is 2 seconds.
        return _schema.connect(self._url, migrate=True, timeout=2)

    def _write_batch(self, conn: Any, rows: list[SpanRow]) -> None:
        _ingest.write_batch(conn, rows, self._pg_resources)

    def _is_transient(self, exc: BaseException) -> bool:
        # Connection lost, server restarting, deadlock or serialization failure: worth another try. A limit
        # of the server's (class 54: a value too big for an index) fails the same way every time: the span
        # causing it is dropped alone.
        if isinstance(exc, psycopg.errors.ProgramLimitExceeded):
            return False
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            if self._conn is not None and self._conn.closed:
                self._conn = None  # reconnect at the next attempt
                self._next_open_attempt = 0.0
            return True
        return False

    def _write_losses(self, conn: Any, source: LossSource, counts: LossCounts, now_ns: int) -> None:
        _losses.write_losses(conn, source, counts, now_ns)

    def _keep_waiting(self, conn: Any, works: list[WaitingWork]) -> int:
        return _waiting_events.keep_and_forget(conn, works)

    def _expire_waiting(self, conn: Any, received_before_ns: int) -> int:
        return _waiting_events.expire(conn, received_before_ns)

    def _prune(self, conn: Any) -> None:
        _prune.prune(conn, max_bytes=self._max_bytes, max_age_ns=self._max_age_ns, now_ns=time.time_ns())

    def _after_fork_in_child(self) -> None:
        self._pg_resources = {}
        super()._after_fork_in_child()
