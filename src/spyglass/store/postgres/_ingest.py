"""Writing a batch of span rows to PostgreSQL in one transaction: spans, their search vectors, the traces.

Many writers share one database and commit in parallel (see `_changes`). Resources, then spans, then the
traces' locks are taken each in one global order (resource, (trace_id, span_id), trace key), so two writers
touching the same rows cannot deadlock. Under its traces' locks a writer summarizes them from all their
committed spans (READ COMMITTED: each statement sees every commit before it, the other writers' included).
A batch touching a response chain also takes the chain lock, before its traces' locks, so that the threads
it works out see every chain committed before it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from spyglass.store._rows import SPAN_COLUMNS, SpanRow
from spyglass.store._threads import SUMMARY_THREAD_COLUMNS, ThreadSql, resolve_all, resolve_threads
from spyglass.store.postgres._changes import change_number, lock_chains, lock_traces, notify

_COLUMNS = (*SPAN_COLUMNS, "resource_id", "row_bytes")
_UPDATABLE = [column for column in _COLUMNS if column not in ("trace_id", "span_id")]
_ROWS_PER_STATEMENT = 500
# A tsvector holds 1 MiB at most (an error past it, which would drop the span): the search covers the start
# of a huge conversation only.
_MAX_SEARCH_CHARS = 200_000
_INDEXED_TEXT = frozenset({"model", "thread_key", "response_id", "previous_response_id"})
_MAX_INDEXED_BYTES = 2000  # of UTF-8, under the 2,704 a B-tree entry may take with the other columns
_NUMERIC_TYPES = {
    **dict.fromkeys(("start_ns", "end_ns", "duration_ns", "input_tokens", "output_tokens"), "bigint"),
    **dict.fromkeys(("resource_id", "row_bytes"), "bigint"),
    "cost_usd": "double precision",
    "is_pending": "integer",
}
# Many rows in one short statement: one array parameter per column (binary: no escaping), zipped back into
# rows by unnest(). (A VALUES list of 500 rows has 16,000 placeholders, which the client parses anew every
# time: it took half of the writer's CPU.) The rows come in (trace_id, span_id) order, the order their locks
# are taken in. As in SQLite: a pending row never replaces an ended one, and a span sent again only replaces
# its copy when it carries more events (log records joined to it by the receiver).
_UPSERT_SPANS = f"""
    INSERT INTO spans ({", ".join(_COLUMNS)}, search)
    SELECT {", ".join(f"u.{column}" for column in _COLUMNS)}, to_tsvector('simple', u.search_text)
    FROM unnest({", ".join(f"%b::{_NUMERIC_TYPES.get(column, 'text')}[]" for column in _COLUMNS)}, %b::text[])
        WITH ORDINALITY AS u ({", ".join(_COLUMNS)}, search_text, position)
    ORDER BY u.position
    ON CONFLICT (trace_id, span_id) DO UPDATE SET
        {", ".join(f"{column} = excluded.{column}" for column in _UPDATABLE)},
        search = coalesce(excluded.search, spans.search)
    WHERE spans.is_pending = 1 OR (excluded.is_pending = 0
        AND json_array_length(excluded.events::json) > json_array_length(spans.events::json))
"""
_TRACE_COLUMNS = (
    "trace_id",
    "start_ns",
    "end_ns",
    "duration_ns",
    "root_span_id",
    "root_name",
    "message",
    "service_name",
    "span_count",
    "pending_count",
    "error_count",
    "models",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost_usd",
    "first_prompt",
    "seq",
    "data_bytes",
    "thread_key",
    "thread_key_source",
    "thread_id",
    "thread_source",
)
_SUMMARIZE_TRACES = f"""
    INSERT INTO traces ({", ".join(_TRACE_COLUMNS)})
    SELECT g.trace_id, g.start_ns, g.end_ns, g.end_ns - g.start_ns, root.span_id, root.name,
        coalesce(root.message, root.name), root.service_name, g.span_count, g.pending_count, g.error_count,
        (SELECT coalesce(json_agg(m.model ORDER BY m.model), '[]'::json)::text FROM (
            SELECT DISTINCT model FROM spans WHERE trace_id = g.trace_id AND model IS NOT NULL) AS m),
        g.input_tokens, g.output_tokens,
        CASE WHEN g.input_tokens IS NULL AND g.output_tokens IS NULL THEN NULL
            ELSE coalesce(g.input_tokens, 0) + coalesce(g.output_tokens, 0) END,
        g.cost_usd,
        (SELECT p.prompt_preview FROM spans AS p
            WHERE p.trace_id = g.trace_id AND p.prompt_preview IS NOT NULL ORDER BY p.start_ns, p.id LIMIT 1),
        %(seq)s, g.data_bytes, {SUMMARY_THREAD_COLUMNS}
    FROM (
        SELECT trace_id, min(start_ns) AS start_ns, max(coalesce(nullif(end_ns, 0), start_ns)) AS end_ns,
            count(*) AS span_count, sum(is_pending) AS pending_count,
            count(*) FILTER (WHERE status_code = 'ERROR') AS error_count, sum(input_tokens) AS input_tokens,
            sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd, sum(row_bytes) AS data_bytes
        FROM spans WHERE trace_id = ANY(%(ids)s) GROUP BY trace_id
    ) AS g
    JOIN spans AS root ON root.id = (
        SELECT r.id FROM spans AS r WHERE r.trace_id = g.trace_id
        ORDER BY r.parent_span_id IS NOT NULL, r.start_ns, r.id LIMIT 1)
    ON CONFLICT (trace_id) DO UPDATE SET
        {", ".join(f"{column} = excluded.{column}" for column in _TRACE_COLUMNS[1:])}
"""


def write_batch(conn: psycopg.Connection[Any], rows: Sequence[SpanRow], resources: dict[str, int]) -> None:
    """Write `rows` (pending or final) and refresh the summaries of their traces, in one transaction."""
    if not rows:
        return
    latest: dict[tuple[str, str], SpanRow] = {}
    for row in rows:  # one statement cannot touch a row twice: the final or richer copy wins
        kept = latest.get(row.key)
        if kept is None or not _replaces(kept, row):
            latest[row.key] = row
    new_resources: dict[str, int] = {}
    trace_ids = sorted({key[0] for key in latest})
    with conn.transaction():
        seq = change_number(conn)
        for resource in sorted({row.resource for row in latest.values()} - resources.keys()):
            new_resources[resource] = _resource_id(conn, resource)
        models = {key: row.values["model"] for key, row in latest.items()}
        params: list[tuple[object, ...]] = []
        for key in sorted(latest):
            row = latest[key]
            resource_id = resources.get(row.resource) or new_resources[row.resource]
            if row.linked_span is not None:
                _inherit_model(conn, row, row.linked_span, models)
            values = [_indexed(column, _text(row.values[column])) for column in SPAN_COLUMNS]
            params.append(
                (*values, resource_id, row.size, _text(row.search_text[:_MAX_SEARCH_CHARS]) or None)
            )
        for start in range(0, len(params), _ROWS_PER_STATEMENT):
            chunk = params[start : start + _ROWS_PER_STATEMENT]
            conn.execute(_UPSERT_SPANS.encode(), [list(column) for column in zip(*chunk, strict=True)])
        chains_locked = any(_in_chain(row) for row in latest.values()) or _any_chained(conn, trace_ids)
        if chains_locked:
            lock_chains(conn)
        lock_traces(conn, trace_ids)
        conn.execute(_SUMMARIZE_TRACES.encode(), {"seq": seq, "ids": trace_ids})
        if not chains_locked and _any_chained(conn, trace_ids):
            # Another writer made one of these traces part of a chain since we looked: taking the lock this
            # late can deadlock with a resolver holding it, which the server detects and the writer retries.
            lock_chains(conn)
            chains_locked = True
        if chains_locked:
            resolve_threads(thread_sql(conn), trace_ids, seq)
        notify(conn)
    resources.update(new_resources)


def thread_sql(conn: psycopg.Connection[Any]) -> ThreadSql:
    """How the thread resolution runs its queries on PostgreSQL."""

    def rows(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return conn.cursor(row_factory=tuple_row).execute(sql.encode(), params).fetchall()

    def run(sql: str, params: Sequence[Any]) -> None:
        conn.execute(sql.encode(), params)

    return ThreadSql(rows=rows, run=run, placeholder="%s", in_list="= ANY(%s)", as_list=list)


def resolve_all_threads(conn: psycopg.Connection[Any]) -> None:
    """Every trace's thread, under a new change number (a store migrated to threads; inside its transaction)."""
    if conn.execute("SELECT 1 FROM traces LIMIT 1").fetchone() is not None:
        resolve_all(thread_sql(conn), change_number(conn))


_CHAINED = """SELECT EXISTS (SELECT 1 FROM spans WHERE trace_id = ANY(%s)
    AND (response_id IS NOT NULL OR previous_response_id IS NOT NULL))"""


def _in_chain(row: SpanRow) -> bool:
    return row.values["response_id"] is not None or row.values["previous_response_id"] is not None


def _any_chained(conn: psycopg.Connection[Any], trace_ids: list[str]) -> bool:
    """Whether a committed span of one of these traces is part of a response chain."""
    found = conn.cursor(row_factory=tuple_row).execute(_CHAINED, (trace_ids,)).fetchone()
    return bool(found and found[0])


def _replaces(kept: SpanRow, new: SpanRow) -> bool:
    """Whether `kept` should stay over `new` (the same span twice in one batch)."""
    if new.is_pending and not kept.is_pending:
        return True
    return not kept.is_pending and not new.is_pending and _events(kept) >= _events(new)


def _events(row: SpanRow) -> int:
    return len(json.loads(row.values["events"]))


def _resource_id(conn: psycopg.Connection[Any], resource: str) -> int:
    digest = hashlib.sha256(resource.encode()).hexdigest()
    conn.execute(
        "INSERT INTO resources (digest, resource) VALUES (%s, %s) ON CONFLICT (digest) DO NOTHING",
        (digest, _text(resource)),
    )
    found = conn.execute("SELECT id FROM resources WHERE digest = %s", (digest,)).fetchone()
    assert found is not None  # inserted just now or by another writer
    return int(found[0])


def _inherit_model(
    conn: psycopg.Connection[Any], row: SpanRow, linked: tuple[str, str], models: dict[tuple[str, str], Any]
) -> None:
    # A stream span may only know the dated response model; it belongs with its request's model.
    model = models.get(linked)
    if model is None:
        found = conn.execute(
            "SELECT model FROM spans WHERE trace_id = %s AND span_id = %s", linked
        ).fetchone()
        model = found[0] if found is not None else None
    if model is not None:
        row.values["model"] = model


def _indexed(column: str, value: Any) -> Any:
    # A B-tree entry holds about 2.7 kB at most: a longer value in an indexed column would fail the whole
    # batch, so it is cut (a model name or a key that long is garbage anyway).
    if column in _INDEXED_TEXT and isinstance(value, str) and len(value) > _MAX_INDEXED_BYTES // 4:
        return value.encode()[:_MAX_INDEXED_BYTES].decode(errors="ignore")  # whole characters only
    return value


def _text(value: object) -> Any:
    # PostgreSQL text cannot hold NUL (SQLite can); the rows' JSON already escapes it as \u0000.
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value
