"""Removing whole traces: by id, all of them, or the oldest ones when the store is too old or too big.

Each removal is one write transaction that also records the deleted trace ids under a new change number,
so a live viewer following `changes_since()` learns about them.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from spyglass.store._ingest import next_seq, thread_sql
from spyglass.store._threads import chain_neighbours, resolve_threads

_CHUNK = 500  # traces per delete transaction: keeps each write lock short for concurrent writers
_KEEP_DELETIONS = 10_000  # deletion records kept for live viewers; older ones only matter to stale clients
_SIZE_TARGET = 0.9  # prune below the limit so that the next few batches do not trigger another prune


def delete_traces(conn: sqlite3.Connection, trace_ids: Sequence[str]) -> int:
    """Delete these traces and all their spans; returns how many traces existed."""
    deleted = 0
    for start in range(0, len(trace_ids), _CHUNK):
        deleted += _delete_chunk(conn, list(trace_ids[start : start + _CHUNK]))
    return deleted


def clear(conn: sqlite3.Connection) -> None:
    """Delete every trace; recorded as one deletion with no trace id."""
    with _transaction(conn) as seq:
        for table in ("spans_fts", "spans", "traces", "deletions", "losses", "waiting_events"):
            conn.execute(f"DELETE FROM {table}")
        conn.execute("INSERT INTO deletions (seq, trace_id) VALUES (?, NULL)", (seq,))


def prune(conn: sqlite3.Connection, *, max_bytes: int | None, max_age_ns: int | None, now_ns: int) -> int:
    """Delete the oldest whole traces until the store is within `max_bytes` and `max_age_ns`.

    Age counts from a trace's last activity, so a long trace still being written is kept. Size is the
    database pages in use; freed pages are then handed back to the file system.

    Returns:
        The number of traces deleted.
    """
    deleted = 0
    if max_age_ns is not None:
        deleted += _prune_by_age(conn, now_ns - max_age_ns)
        conn.execute("DELETE FROM losses WHERE last_ns < ?", (now_ns - max_age_ns,))
    if max_bytes is not None:
        deleted += _prune_by_size(conn, max_bytes)
    if deleted or (max_bytes is not None and _free_bytes(conn) > max_bytes * (1 - _SIZE_TARGET)):
        # executescript steps the pragma to the end; execute() would free a single page.
        conn.executescript("PRAGMA incremental_vacuum")
    if deleted:
        conn.execute(
            "DELETE FROM deletions WHERE seq < (SELECT seq FROM deletions ORDER BY seq DESC LIMIT 1 OFFSET ?)",
            (_KEEP_DELETIONS,),
        )
    return deleted


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the database pages holding data (free pages excluded)."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    page_count = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int((page_count - free) * page_size)


def _free_bytes(conn: sqlite3.Connection) -> int:
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int(conn.execute("PRAGMA freelist_count").fetchone()[0] * page_size)


def _prune_by_age(conn: sqlite3.Connection, cutoff_ns: int) -> int:
    deleted = 0
    while True:
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT trace_id FROM traces WHERE end_ns < ? ORDER BY end_ns LIMIT ?", (cutoff_ns, _CHUNK)
            )
        ]
        if not ids:
            return deleted
        deleted += _delete_chunk(conn, ids)


def _prune_by_size(conn: sqlite3.Connection, max_bytes: int) -> int:
    deleted = 0
    for _ in range(20):  # each round frees about what is needed; a few rounds absorb estimation error
        used = used_bytes(conn)
        if used <= max_bytes:
            break
        span_total = conn.execute("SELECT total(span_count) FROM traces").fetchone()[0]
        if not span_total:
            break
        spans_to_free = math.ceil((used - max_bytes * _SIZE_TARGET) / (used / span_total))
        ids = _oldest_traces_holding(conn, spans_to_free)
        if not ids:
            break
        deleted += delete_traces(conn, ids)
    return deleted


def _oldest_traces_holding(conn: sqlite3.Connection, span_count: int) -> list[str]:
    ids: list[str] = []
    held = 0
    for trace_id, count in conn.execute(
        "SELECT trace_id, span_count FROM traces ORDER BY start_ns, trace_id"
    ):
        ids.append(trace_id)
        held += count
        if held >= span_count:
            break
    return ids


def _delete_chunk(conn: sqlite3.Connection, trace_ids: list[str]) -> int:
    ids = {"ids": json.dumps(trace_ids)}
    in_ids = "trace_id IN (SELECT value FROM json_each(:ids))"
    with _transaction(conn) as seq:
        threads = thread_sql(conn)
        neighbours = chain_neighbours(threads, trace_ids)  # a chain cut in the middle is two threads
        conn.execute(f"DELETE FROM spans_fts WHERE rowid IN (SELECT id FROM spans WHERE {in_ids})", ids)
        conn.execute(f"DELETE FROM spans WHERE {in_ids}", ids)
        conn.execute(
            f"INSERT INTO deletions (seq, trace_id) SELECT :seq, trace_id FROM traces WHERE {in_ids}",
            {**ids, "seq": seq},
        )
        deleted = conn.execute(f"DELETE FROM traces WHERE {in_ids}", ids).rowcount
        if neighbours:
            resolve_threads(threads, neighbours, seq)
        return deleted


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[int]:
    """A write transaction, yielding its change number."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield next_seq(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
