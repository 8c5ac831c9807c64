"""GenAI log records a receiver acknowledged before their span came, kept in the store until it does.

An SDK sends a call's conversation as log records apart from its span, usually first (the Python SDK exports
logs every second, spans every five). A receiver answers a log request only once its records are committed
here, so a receiver killed before the span comes loses nothing it acknowledged; and the span may reach any
receiver of the store (several behind a load balancer): the one that gets it finds the records here, joins
them, and forgets them in the same batch that writes the span. Records whose span was written already when
they came, and records whose span never comes, are dropped and counted (the store's `losses`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

SpanIds = tuple[str, str]
"""(trace id, span id), in hex as the spans table has them."""


@dataclass(frozen=True)
class WaitingEvent:
    """One log record, as the JSON of the span event it stands for."""

    trace_id: str
    span_id: str
    received_ns: int
    event: str  # {"name", "timestamp", "attributes"} as JSON

    @property
    def key(self) -> SpanIds:
        return self.trace_id, self.span_id


@dataclass(frozen=True)
class WaitingWork:
    """What one receiver request changes: records to keep, and spans now stored with theirs (to forget)."""

    keep: Sequence[WaitingEvent]
    joined: Sequence[SpanIds]

    @property
    def size(self) -> int:
        return sum(len(event.event) + 96 for event in self.keep) + 64 * len(self.joined)


_CHUNK = 400  # keys per statement, within SQLite's parameter limit


def keep_and_forget(conn: sqlite3.Connection, works: Sequence[WaitingWork]) -> int:
    """In one transaction: forget the records of the spans now stored with them, keep the new ones; returns
    how many new ones came after their span was written (dropped: that span will not be written again)."""
    joined = sorted({key for work in works for key in work.joined})
    keep = [event for work in works for event in work.keep]
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("DELETE FROM waiting_events WHERE trace_id = ? AND span_id = ?", joined)
        stored = _finished_spans(conn, sorted({event.key for event in keep}))
        kept = [event for event in keep if event.key not in stored]
        conn.executemany(
            "INSERT INTO waiting_events (trace_id, span_id, received_ns, bytes, event) VALUES (?, ?, ?, ?, ?)",
            [(e.trace_id, e.span_id, e.received_ns, len(e.event), e.event) for e in kept],
        )
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return len(keep) - len(kept)


def _finished_spans(conn: sqlite3.Connection, keys: list[SpanIds]) -> set[SpanIds]:
    sql = """SELECT s.trace_id, s.span_id FROM {keys}
        JOIN spans s ON s.trace_id = k.column1 AND s.span_id = k.column2 WHERE s.is_pending = 0"""
    return {(str(trace_id), str(span_id)) for trace_id, span_id in _rows_for(conn, sql, keys)}


def waiting_for(conn: sqlite3.Connection, keys: Sequence[SpanIds]) -> dict[SpanIds, list[str]]:
    """The records waiting for these spans, as event JSON, in the order they were received."""
    sql = """SELECT w.trace_id, w.span_id, w.event FROM {keys}
        JOIN waiting_events w ON w.trace_id = k.column1 AND w.span_id = k.column2 ORDER BY w.id"""
    found: dict[SpanIds, list[str]] = {}
    for trace_id, span_id, event in _rows_for(conn, sql, sorted(set(keys))):
        found.setdefault((trace_id, span_id), []).append(event)
    return found


def _rows_for(conn: sqlite3.Connection, sql: str, keys: Sequence[SpanIds]) -> Iterator[tuple[Any, ...]]:
    """`sql` run for the keys, `_CHUNK` at a time; its `{keys}` is a VALUES list `k` (column1, column2)."""
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        values = ", ".join("(?, ?)" for _ in chunk)
        yield from conn.execute(
            sql.format(keys=f"(VALUES {values}) AS k"), [part for key in chunk for part in key]
        )


def expire(conn: sqlite3.Connection, received_before_ns: int) -> int:
    """Forget records whose span has not come since `received_before_ns`; returns how many."""
    return conn.execute("DELETE FROM waiting_events WHERE received_ns < ?", (received_before_ns,)).rowcount
