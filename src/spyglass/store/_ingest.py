"""Writing a batch of span rows in one transaction: spans, full-text entries and the trace summaries.

Used by the writer thread and by bulk loaders (the benchmark). Every write transaction takes the next
value of a change counter and stamps it on the traces it touches, which is what `changes_since()` reads.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence

from spyglass.store._rows import SPAN_COLUMNS, SpanRow
from spyglass.store._threads import SUMMARY_THREAD_COLUMNS, ThreadSql, resolve_all, resolve_threads

_UPDATABLE = [column for column in SPAN_COLUMNS if column not in ("trace_id", "span_id")]
# A pending row never replaces a row that has already ended (e.g. a final row written by an earlier batch),
# and a span sent again is ignored, unless the new copy carries more events: the OTLP receiver writes a span
# again once log records sent apart from it (a conversation, as GenAI events) have been joined to it.
#
# Rows go in as one multi-row statement per chunk, not one statement per row: sqlite3 lets go of the GIL at
# every statement step, and a writer thread that must take it back from a busy program hundreds of times a
# batch (a 5 ms switch interval each time) falls behind it, its queue growing.
_ROWS_PER_STATEMENT = 500  # 27 parameters a row, within SQLite's 32,766
_ROW_PLACEHOLDERS = "(" + ", ".join("?" * (len(SPAN_COLUMNS) + 1)) + ")"
_UPSERT_SPANS = f"""
    INSERT INTO spans ({", ".join(SPAN_COLUMNS)}, resource_id)
    VALUES {{rows}}
    ON CONFLICT (trace_id, span_id) DO UPDATE SET
        {", ".join(f"{column} = excluded.{column}" for column in _UPDATABLE)},
        resource_id = excluded.resource_id
    WHERE spans.is_pending = 1
        OR (excluded.is_pending = 0 AND json_array_length(excluded.events) > json_array_length(spans.events))
"""
# OR REPLACE: a final row's text replaces its pending row's (the upsert keeps the row id).
_INSERT_FTS = """
    INSERT OR REPLACE INTO spans_fts (rowid, text)
    SELECT spans.id, given.column1 FROM (VALUES {rows}) AS given
    JOIN spans ON spans.trace_id = given.column2 AND spans.span_id = given.column3
"""
_LINKED_MODEL = "SELECT model FROM spans WHERE trace_id = ? AND span_id = ?"

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
    "thread_key",
    "thread_key_source",
    "thread_id",
    "thread_source",
)
# The summaries of the traces a batch touched, recomputed from all their spans (other processes' included) in
# one statement: SQLite does the aggregation, without the GIL, and nothing is read back into Python. The
# root is the span without a parent (the earliest, if several; the earliest span if none). `WHERE true`
# tells SQLite's parser that ON CONFLICT is the upsert, not a join constraint.
_SUMMARIZE_TRACES = f"""
    INSERT INTO traces ({", ".join(_TRACE_COLUMNS)})
    SELECT g.trace_id, g.start_ns, g.end_ns, g.end_ns - g.start_ns, root.span_id, root.name,
        coalesce(root.message, root.name), root.service_name, g.span_count, g.pending_count, g.error_count,
        (SELECT json_group_array(model) FROM (
            SELECT DISTINCT m.model FROM spans AS m
            WHERE m.trace_id = g.trace_id AND m.model IS NOT NULL ORDER BY m.model)),
        g.input_tokens, g.output_tokens,
        CASE WHEN g.input_tokens IS NULL AND g.output_tokens IS NULL THEN NULL
            ELSE coalesce(g.input_tokens, 0) + coalesce(g.output_tokens, 0) END,
        g.cost_usd,
        (SELECT p.prompt_preview FROM spans AS p
            WHERE p.trace_id = g.trace_id AND p.prompt_preview IS NOT NULL ORDER BY p.start_ns, p.id LIMIT 1),
        ?, {SUMMARY_THREAD_COLUMNS}
    FROM (
        SELECT trace_id, min(start_ns) AS start_ns, max(coalesce(nullif(end_ns, 0), start_ns)) AS end_ns,
            count(*) AS span_count, sum(is_pending) AS pending_count,
            sum(status_code = 'ERROR') AS error_count, sum(input_tokens) AS input_tokens,
            sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd
        FROM spans WHERE trace_id IN (SELECT value FROM json_each(?)) GROUP BY trace_id
    ) AS g
    JOIN spans AS root ON root.id = (
        SELECT r.id FROM spans AS r WHERE r.trace_id = g.trace_id
        ORDER BY r.parent_span_id IS NOT NULL, r.start_ns, r.id LIMIT 1)
    WHERE true
    ON CONFLICT (trace_id) DO UPDATE SET
        {", ".join(f"{column} = excluded.{column}" for column in _TRACE_COLUMNS[1:])}
"""


class ResourceIds:
    """Resource JSON -> `resources.id`, remembered per connection (resources rows are never deleted)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def lookup(self, conn: sqlite3.Connection, resource: str) -> tuple[int, bool]:
        """The id of `resource`, inserting it if needed; the flag says whether it came from the cache."""
        cached = self._ids.get(resource)
        if cached is not None:
            return cached, True
        digest = hashlib.sha256(resource.encode()).hexdigest()
        conn.execute("INSERT OR IGNORE INTO resources (digest, resource) VALUES (?, ?)", (digest, resource))
        (resource_id,) = conn.execute("SELECT id FROM resources WHERE digest = ?", (digest,)).fetchone()
        return resource_id, False

    def remember(self, resource: str, resource_id: int) -> None:
        self._ids[resource] = resource_id


def next_seq(conn: sqlite3.Connection) -> int:
    """Take the next change number; call inside a write transaction (they are serialized across processes)."""
    (seq,) = conn.execute(
        "UPDATE meta SET value = value + 1 WHERE key = 'change_seq' RETURNING value"
    ).fetchone()
    return int(seq)


def write_batch(conn: sqlite3.Connection, rows: Sequence[SpanRow], resources: ResourceIds) -> None:
    """Write `rows` (pending or final) and refresh the summaries of their traces, in one transaction."""
    if not rows:
        return
    conn.execute("BEGIN IMMEDIATE")
    new_resources: dict[str, int] = {}
    try:
        seq = next_seq(conn)
        batch_models = {row.key: row.values["model"] for row in rows}
        params = []
        for row in rows:
            resource_id, cached = resources.lookup(conn, row.resource)
            if not cached:
                new_resources[row.resource] = resource_id
            if row.linked_span is not None:
                _inherit_model(conn, row, row.linked_span, batch_models)
            params.append((*(row.values[column] for column in SPAN_COLUMNS), resource_id))
        _execute_rows(conn, _UPSERT_SPANS, _ROW_PLACEHOLDERS, params)
        # The last text of a span written twice in the batch (pending then final, or a richer copy) wins.
        texts = {row.key: row.search_text for row in rows if row.search_text}
        _execute_rows(conn, _INSERT_FTS, "(?, ?, ?)", [(text, *key) for key, text in texts.items()])
        _summarize_traces(conn, list(dict.fromkeys(row.values["trace_id"] for row in rows)), seq)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    for resource, resource_id in new_resources.items():
        resources.remember(resource, resource_id)


def _execute_rows(
    conn: sqlite3.Connection, sql: str, placeholders: str, rows: Sequence[tuple[object, ...]]
) -> None:
    """Run `sql`, whose `{rows}` stands for a VALUES list, with `rows`, at most `_ROWS_PER_STATEMENT` a go."""
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start : start + _ROWS_PER_STATEMENT]
        conn.execute(
            sql.format(rows=", ".join([placeholders] * len(chunk))), [v for row in chunk for v in row]
        )


def _inherit_model(
    conn: sqlite3.Connection,
    row: SpanRow,
    linked: tuple[str, str],
    batch_models: dict[tuple[str, str], str | None],
) -> None:
    # A stream span may only know the dated response model; it belongs with its request's model.
    model = batch_models.get(linked)
    if model is None:
        found = conn.execute(_LINKED_MODEL, linked).fetchone()
        model = found[0] if found is not None else None
    if model is not None:
        row.values["model"] = model


def _summarize_traces(conn: sqlite3.Connection, trace_ids: list[str], seq: int) -> None:
    """Recompute the `traces` rows of these traces from all their spans (other processes' included), and
    which threads they (and the traces continuing them) are in."""
    conn.execute(_SUMMARIZE_TRACES, (seq, json.dumps(trace_ids)))
    resolve_threads(thread_sql(conn), trace_ids, seq)


def thread_sql(conn: sqlite3.Connection) -> ThreadSql:
    """How the thread resolution runs its queries on SQLite."""
    return ThreadSql(
        rows=lambda sql, params: conn.execute(sql, params).fetchall(),
        run=lambda sql, params: conn.execute(sql, params).close(),
        placeholder="?",
        in_list="IN (SELECT value FROM json_each(?))",
        as_list=json.dumps,
    )


def resolve_all_threads(conn: sqlite3.Connection) -> None:
    """Every trace's thread, under a new change number (a store migrated to threads; inside its transaction)."""
    if conn.execute("SELECT 1 FROM traces LIMIT 1").fetchone() is not None:
        resolve_all(thread_sql(conn), next_seq(conn))
