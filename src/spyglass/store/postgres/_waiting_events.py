"""Log records waiting for their span, in PostgreSQL (see store/_waiting_events.py for the why)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.rows import tuple_row

from spyglass.store._waiting_events import SpanIds, WaitingWork

_KEYS = "SELECT * FROM unnest(%s::text[], %s::text[]) AS k (trace_id, span_id)"


def keep_and_forget(conn: Any, works: Sequence[WaitingWork]) -> int:
    """In one transaction: forget the records of the spans now stored with them, keep the new ones; returns
    how many new ones came after their span was written (dropped: that span will not be written again)."""
    joined = sorted({key for work in works for key in work.joined})
    keep = [event for work in works for event in work.keep]
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cursor:
        if joined:
            cursor.execute(
                f"DELETE FROM waiting_events w USING ({_KEYS}) k "
                "WHERE w.trace_id = k.trace_id AND w.span_id = k.span_id",
                _columns(joined),
            )
        keys = sorted({event.key for event in keep})
        cursor.execute(
            f"""SELECT s.trace_id, s.span_id FROM ({_KEYS}) k
            JOIN spans s ON s.trace_id = k.trace_id AND s.span_id = k.span_id WHERE s.is_pending = 0""",
            _columns(keys),
        )
        stored = {(str(trace_id), str(span_id)) for trace_id, span_id in cursor.fetchall()}
        kept = [event for event in keep if event.key not in stored]
        cursor.executemany(
            "INSERT INTO waiting_events (trace_id, span_id, received_ns, bytes, event) "
            "VALUES (%s, %s, %s, %s, %s)",
            [(e.trace_id, e.span_id, e.received_ns, len(e.event), e.event) for e in kept],
        )
    return len(keep) - len(kept)


def waiting_for(conn: Any, keys: Sequence[SpanIds]) -> dict[SpanIds, list[str]]:
    """The records waiting for these spans, as event JSON, in the order they were received."""
    found: dict[SpanIds, list[str]] = {}
    with conn.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(
            f"""SELECT w.trace_id, w.span_id, w.event FROM ({_KEYS}) k
            JOIN waiting_events w ON w.trace_id = k.trace_id AND w.span_id = k.span_id ORDER BY w.id""",
            _columns(sorted(set(keys))),
        )
        for trace_id, span_id, event in cursor.fetchall():
            found.setdefault((str(trace_id), str(span_id)), []).append(str(event))
    return found


def expire(conn: Any, received_before_ns: int) -> int:
    """Forget records whose span has not come since `received_before_ns`; returns how many."""
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute("DELETE FROM waiting_events WHERE received_ns < %s", (received_before_ns,))
        return int(cursor.rowcount)


def _columns(keys: Sequence[SpanIds]) -> tuple[list[str], list[str]]:
    return [trace_id for trace_id, _ in keys], [span_id for _, span_id in keys]
