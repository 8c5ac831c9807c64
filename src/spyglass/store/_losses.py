"""What a writer lost, kept in the store so the viewer can say so: each writer's drop counts by sink.

A program's pipeline counts the spans it could not record (its queue full, a sink that fell behind, a store
that stayed locked); `stats()` and the exit line tell the program's own user. The store writer copies those
counts into the `losses` table whenever they change, so whoever looks at the store (the viewer, a teammate on
a shared PostgreSQL) sees that traces are missing, from which program and where. A receiver records the log
records it could not join to their span the same way. Counts are cumulative per writer (one process's
writer), so a row is replaced, never added to.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

LossCounts = Mapping[tuple[str, str], int]
"""Lost items by (sink, unit): ("pipeline", "span"): 12, ("receiver", "log record"): 3."""


class Loss(TypedDict):
    """One writer's count of what one sink lost."""

    service_name: str | None
    host: str | None
    pid: int | None
    sink: str
    unit: str
    count: int
    first_ns: int
    last_ns: int


@dataclass(frozen=True)
class LossSource:
    """Who lost them: one writer, in one process on one host."""

    writer_id: str
    service_name: str | None
    host: str
    pid: int

    @classmethod
    def here(cls, service_name: str | None) -> LossSource:
        return cls(uuid.uuid4().hex, service_name, socket.gethostname(), os.getpid())


LOSS_COLUMNS = tuple(Loss.__annotations__)
_UPSERT = """
    INSERT INTO losses (writer_id, sink, unit, service_name, host, pid, count, first_ns, last_ns)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (writer_id, sink) DO UPDATE SET count = excluded.count, last_ns = excluded.last_ns
"""
LIST_LOSSES = f"SELECT {', '.join(LOSS_COLUMNS)} FROM losses ORDER BY last_ns DESC LIMIT 100"


def loss_rows(source: LossSource, counts: LossCounts, now_ns: int) -> list[tuple[object, ...]]:
    """The `losses` rows for `source`'s counts, in the column order both backends' upserts take."""
    return [
        (source.writer_id, sink, unit, source.service_name, source.host, source.pid, count, now_ns, now_ns)
        for (sink, unit), count in counts.items()
    ]


def write_losses(conn: sqlite3.Connection, source: LossSource, counts: LossCounts, now_ns: int) -> None:
    """Record `source`'s current counts (each replaces that writer's previous count for the sink)."""
    rows = loss_rows(source, counts, now_ns)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(_UPSERT, rows)
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
