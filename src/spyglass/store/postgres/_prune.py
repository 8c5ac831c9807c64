"""Removing whole traces from PostgreSQL: by id, all of them, or the oldest past an age or a size.

Each removal is one short transaction recording the deleted ids under a new change number, so live viewers
learn about them; writers adding spans meanwhile are never blocked for long. Size is the span data the rows
hold (`traces.data_bytes`), not the table files: PostgreSQL reuses freed space after (auto)vacuum rather than
shrinking its files, so their size would never fall under a limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from spyglass.store._threads import chain_neighbours, resolve_threads
from spyglass.store.postgres._changes import change_number, lock_chains, lock_traces, notify
from spyglass.store.postgres._ingest import thread_sql

_CHUNK = 500
_KEEP_DELETIONS = 10_000
_SIZE_TARGET = 0.9

Connection = psycopg.Connection[Any]


def delete_traces(conn: Connection, trace_ids: Sequence[str]) -> int:
    """Delete these traces and all their spans; returns how many traces existed."""
    deleted = 0
    for start in range(0, len(trace_ids), _CHUNK):
        deleted += _delete_chunk(conn, list(trace_ids[start : start + _CHUNK]))
    return deleted


def clear(conn: Connection) -> None:
    """Delete every trace; recorded as one deletion with no trace id."""
    with conn.transaction():
        seq = change_number(conn)
        conn.execute("DELETE FROM spans")
        conn.execute("DELETE FROM traces")
        conn.execute("DELETE FROM deletions")
        conn.execute("DELETE FROM losses")
        conn.execute("DELETE FROM waiting_events")
        conn.execute("INSERT INTO deletions (seq, trace_id) VALUES (%s, NULL)", (seq,))
        notify(conn)


def used_bytes(conn: Connection) -> int:
    """Bytes of span data stored (what the rows hold, as the writer counts it)."""
    row = _tuples(conn).execute("SELECT coalesce(sum(data_bytes), 0) FROM traces").fetchone()
    return int(row[0]) if row else 0


def prune(conn: Connection, *, max_bytes: int | None, max_age_ns: int | None, now_ns: int) -> int:
    """Delete the oldest whole traces until the store is within `max_bytes` and `max_age_ns`; returns how
    many traces were deleted. Age counts from a trace's last activity."""
    deleted = 0
    if max_age_ns is not None:
        while True:
            ids = [
                str(row[0])
                for row in _tuples(conn).execute(
                    "SELECT trace_id FROM traces WHERE end_ns < %s ORDER BY end_ns LIMIT %s",
                    (now_ns - max_age_ns, _CHUNK),
                )
            ]
            if not ids:
                break
            deleted += _delete_chunk(conn, ids)
        conn.execute("DELETE FROM losses WHERE last_ns < %s", (now_ns - max_age_ns,))
    if max_bytes is not None:
        used = used_bytes(conn)
        if used > max_bytes:
            deleted += delete_traces(
                conn, _oldest_traces_holding(conn, math.ceil(used - max_bytes * _SIZE_TARGET))
            )
    if deleted:
        conn.execute(
            "DELETE FROM deletions WHERE seq < "
            "(SELECT seq FROM deletions ORDER BY seq DESC LIMIT 1 OFFSET %s)",
            (_KEEP_DELETIONS,),
        )
    return deleted


def _oldest_traces_holding(conn: Connection, data_bytes: int) -> list[str]:
    ids: list[str] = []
    held = 0
    with _tuples(conn) as cursor:
        for trace_id, size in cursor.execute(
            "SELECT trace_id, data_bytes FROM traces ORDER BY start_ns, trace_id"
        ):
            ids.append(str(trace_id))
            held += int(size)
            if held >= data_bytes:
                break
    return ids


def _delete_chunk(conn: Connection, trace_ids: list[str]) -> int:
    with conn.transaction():
        seq = change_number(conn)
        threads = thread_sql(conn)
        neighbours = chain_neighbours(threads, trace_ids)  # a chain cut in the middle is two threads
        # Spans first, then the locks, as writers take them (no deadlock): the chain lock when a chain is cut,
        # then the traces'; then the spans writers committed meanwhile. A writer waiting for a lock then
        # summarizes its own new spans only: a trace that gets spans while it is deleted comes back with those.
        conn.execute("DELETE FROM spans WHERE trace_id = ANY(%s)", (trace_ids,))
        if neighbours:
            lock_chains(conn)
        lock_traces(conn, trace_ids)
        conn.execute("DELETE FROM spans WHERE trace_id = ANY(%s)", (trace_ids,))
        conn.execute(
            "INSERT INTO deletions (seq, trace_id) SELECT %s, trace_id FROM traces WHERE trace_id = ANY(%s)",
            (seq, trace_ids),
        )
        deleted = conn.execute("DELETE FROM traces WHERE trace_id = ANY(%s)", (trace_ids,)).rowcount
        if neighbours:
            resolve_threads(threads, neighbours, seq)
        notify(conn)
        return deleted


def _tuples(conn: Connection) -> psycopg.Cursor[tuple[Any, ...]]:
    """A cursor giving tuples, whatever the connection's row factory (the reader's gives dicts)."""
    return conn.cursor(row_factory=tuple_row)
