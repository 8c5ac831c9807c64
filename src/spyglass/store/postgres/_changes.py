"""How concurrent writers stamp their changes and how a follower reads them without missing one.

Writers never wait for each other to commit. Each change (a trace written, a thread moved, a deletion) is
stamped with the id of the transaction making it (`pg_current_xact_id()`, an xid8, as a bigint). A follower's
cursor is a *watermark*: the oldest transaction id still running when it last looked
(`pg_snapshot_xmin(pg_current_snapshot())`). Every transaction below it has finished, so every change stamped
below it is visible now or never will be; changes stamped at or above it are read next time, once their
transaction has finished too. Transactions commit in any order, xids are handed out in start order, and
neither matters: a change committed late carries an id at or above the watermark of every look taken while
it was running.

The cost: a transaction left open on the server (by anyone, in any database of the cluster, once it has
written) holds the watermark back, so live updates wait for it; they are delayed, never lost.

What writers still need to agree on is serialized as narrowly as we can: a trace's summary is computed under
a lock on that trace (two writers adding spans to one trace take turns; other traces go in parallel), and
response chains (threads across traces) under one lock taken only by batches that touch a chain.
`NOTIFY` tells listening viewers that something was committed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg.rows import tuple_row

CHANNEL = "spyglass_changes"
# Advisory lock keys (pg_advisory_xact_lock(int4, int4)): a space of our own for per-trace locks, and the
# response-chain lock. The migration lock uses the one-bigint form, a separate key space.
_TRACE_LOCKS = 0x5350_5954  # "SPYT"
_CHAIN_LOCKS = 0x5350_5943  # "SPYC"

Connection = psycopg.Connection[Any]


def change_number(conn: Connection) -> int:
    """The number stamped on this transaction's changes: its own id (assigned now if it has none yet)."""
    row = _tuples(conn).execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
    assert row is not None
    return int(row[0])


def watermark(conn: Connection) -> int:
    """Every change stamped below this number is committed (visible to this snapshot) or never will be."""
    row = _tuples(conn).execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").fetchone()
    assert row is not None
    return int(row[0])


def lock_traces(conn: Connection, trace_ids: Iterable[str]) -> None:
    """Take (until commit) the lock of each trace, in one global order so that writers cannot deadlock.

    A statement run after this sees every span the previous holders of these locks committed (READ
    COMMITTED takes a new snapshot per statement), so a trace's summary counts every writer's spans."""
    keys = sorted({_trace_key(trace_id) for trace_id in trace_ids})
    if keys:
        # unnest() yields the array in order: the locks are taken in that order.
        conn.execute(
            "SELECT count(pg_advisory_xact_lock(%s, key)) FROM unnest(%s::int[]) AS key", (_TRACE_LOCKS, keys)
        )


def lock_chains(conn: Connection) -> None:
    """Take (until commit) the lock for working out response chains: each resolution then sees the previous
    one's traces. Only batches touching a chain take it."""
    conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_CHAIN_LOCKS,))


def notify(conn: Connection) -> None:
    """Tell listening viewers at commit that there is something new (nothing is sent if it rolls back)."""
    conn.execute(f"NOTIFY {CHANNEL}")


def _trace_key(trace_id: str) -> int:
    # A stable 32-bit key (Python's hash() differs between processes); a collision only makes two traces take
    # turns.
    return int.from_bytes(hashlib.blake2b(trace_id.encode(), digest_size=4).digest(), "big", signed=True)


def _tuples(conn: Connection) -> psycopg.Cursor[tuple[Any, ...]]:
    return conn.cursor(row_factory=tuple_row)
