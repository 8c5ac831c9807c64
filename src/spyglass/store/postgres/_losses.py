"""Each writer's drop counts in PostgreSQL (see store/_losses.py for what they are and who reads them)."""

from __future__ import annotations

from typing import Any

from spyglass.store._losses import LossCounts, LossSource, loss_rows

_UPSERT = """
    INSERT INTO losses (writer_id, sink, unit, service_name, host, pid, count, first_ns, last_ns)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (writer_id, sink) DO UPDATE SET count = excluded.count, last_ns = excluded.last_ns
"""


def write_losses(conn: Any, source: LossSource, counts: LossCounts, now_ns: int) -> None:
    """Record `source`'s current counts (each replaces that writer's previous count for the sink)."""
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(_UPSERT, loss_rows(source, counts, now_ns))
