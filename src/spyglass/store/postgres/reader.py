"""`PostgresSpanStore`: `SpanStore`'s queries on a PostgreSQL store, for the viewer and the CLI.

Same methods, same results (plain dicts typed in `spyglass.store.reader`). Search uses the spans' `tsvector`
(GIN index): every word must appear in one span, the last one as a prefix. Live updates follow the
writers' transaction ids up to a safe watermark (`current_cursor()`/`changes_since()`, see `_changes`), so a
viewer sees any writer's spans, whatever order they commit in.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import TracebackType
from typing import Any, cast

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from spyglass.store._backends import mask_url
from spyglass.store._errors import StoreError
from spyglass.store._losses import LIST_LOSSES, Loss
from spyglass.store._thread_queries import (
    ThreadReader,
    ThreadSummary,
    thread_calls_query,
    thread_list_query,
    thread_summary,
)
from spyglass.store._trace_filters import TraceStatus, trace_filters, where_clause
from spyglass.store._waiting_events import SpanIds
from spyglass.store.postgres import _prune, _schema
from spyglass.store.postgres._changes import watermark
from spyglass.store.postgres._listen import ChangeListener
from spyglass.store.postgres._waiting_events import waiting_for
from spyglass.store.reader import (
    JS_SAFE_INTEGER,
    WATERFALL_ATTRIBUTES,
    WATERFALL_FIELDS,
    Changes,
    ModelStats,
    SpanRecord,
    StoreStats,
    TraceSummary,
    _span_record,
    _trace_summary,
)

_SPAN_FIELDS = [field for field in SpanRecord.__annotations__ if field != "resource"]
_SPAN_SELECT = (
    f"SELECT {', '.join(f's.{field}' for field in _SPAN_FIELDS)}, s.id, s.resource_id, r.resource AS resource "
    "FROM spans s LEFT JOIN resources r ON r.id = s.resource_id"
)
_TRACE_SELECT = (
    "SELECT trace_id, start_ns, end_ns, duration_ns, root_span_id, root_name, message, service_name, \
span_count, pending_count, error_count, models, input_tokens, output_tokens, total_tokens, cost_usd, \
first_prompt, seq, thread_id, thread_source FROM traces"
)

_POOL_SIZE = 8  # connections at most: viewer requests read at once, up to this many
_POOL_TIMEOUT = 10.0  # seconds a request waits for a free connection before it fails


def _waterfall_value(field: str) -> str:
    """SQL for a field's JSON value in a waterfall span (see `WaterfallSpan`), as SQLite's reader gives it."""
    if field in ("start_ns", "end_ns", "duration_ns", "input_tokens", "output_tokens"):
        return (
            f"CASE WHEN {field} NOT BETWEEN -{JS_SAFE_INTEGER} AND {JS_SAFE_INTEGER}"
            f" THEN to_json({field}::text) ELSE to_json({field}) END"
        )
    if field == "is_pending":
        return "is_pending <> 0"
    if field == "links":
        return """CASE WHEN links = '[]' THEN '[]'::json ELSE (
            SELECT json_agg(json_build_object('trace_id', l ->> 'trace_id', 'span_id', l ->> 'span_id'))
            FROM json_array_elements(links::json) AS l) END"""
    if field == "attributes":
        keys = ", ".join(f"'{key}'" for key in WATERFALL_ATTRIBUTES)
        # Most spans have no conversation: a text search skips parsing their attributes.
        present = " OR ".join(f"""strpos(attributes, '"{key}"') > 0""" for key in WATERFALL_ATTRIBUTES)
        return f"""CASE WHEN {present} THEN (SELECT coalesce(json_object_agg(a.key, a.value), '{{}}'::json)
            FROM json_each(attributes::json) AS a WHERE a.key IN ({keys}) AND json_typeof(a.value) = 'string')
            ELSE '{{}}'::json END"""
    return field


_WATERFALL_ROW = f"json_build_array({', '.join(_waterfall_value(field) for field in WATERFALL_FIELDS)})"
_WATERFALL_JSON = f"""SELECT coalesce(json_agg({_WATERFALL_ROW} ORDER BY start_ns, id), '[]'::json)::text AS spans
    FROM spans WHERE trace_id = %s"""

_DEFAULT_SPAN_ORDER = """(s.kind = 'llm' AND s.status_code = 'ERROR') IS TRUE DESC,
    s.kind IN ('llm', 'llm_stream') IS TRUE DESC, s.start_ns, s.id"""
_MODEL_CONDITION = "models::jsonb ? %s"
_SEARCH_TRACES = "trace_id IN (SELECT trace_id FROM spans WHERE search @@ to_tsquery('simple', %s))"
_MODELS_OF_THREAD = """SELECT array_agg(DISTINCT j.model) FROM traces AS m,
    jsonb_array_elements_text(m.models::jsonb) AS j (model) WHERE m.thread_id = threads.thread_id"""


class PostgresSpanStore(ThreadReader):
    """Read (and delete from) a spyglass store in PostgreSQL; the same methods as `SpanStore`.

    Args:
        url: `postgresql://user[:password]@host[:port]/dbname`.
        readonly: never write; `delete_trace()`, `clear()` and `prune()` then raise.

    Raises:
        StoreError: the server cannot be reached, or the database has no spyglass store or a newer one.
    """

    def __init__(self, url: str, *, readonly: bool = False) -> None:
        self._url = url
        self._readonly = readonly
        try:
            _schema.connect(url, migrate=not readonly).close()  # checked (and migrated) once
        except psycopg.Error as exc:
            raise StoreError(f"Cannot open the spyglass store {mask_url(url)}: {mask_url(str(exc))}") from exc
        # The viewer serves requests on several threads: each takes a connection of its own.
        self._pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
            url,
            connection_class=psycopg.Connection[dict[str, Any]],
            kwargs={"autocommit": True, "row_factory": dict_row},
            min_size=1,
            max_size=_POOL_SIZE,
            timeout=_POOL_TIMEOUT,
            name="spyglass-reader",
            open=True,
        )
        self._listener = ChangeListener(url)

    @property
    def path(self) -> str:
        """The store's URL, its password masked (what messages show)."""
        return mask_url(self._url)

    def close(self) -> None:
        self._listener.close()
        self._pool.close()

    def __enter__(self) -> PostgresSpanStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def list_traces(
        self,
        limit: int = 50,
        *,
        before: int | None = None,
        status: TraceStatus | None = None,
        model: str | None = None,
        service: str | None = None,
        min_duration: float | None = None,
        max_duration: float | None = None,
        min_tokens: int | None = None,
        min_cost: float | None = None,
        search: str | None = None,
    ) -> list[TraceSummary]:
        """The newest traces first, filtered (see `SpanStore.list_traces`)."""
        conditions, params = trace_filters(
            before=before,
            status=status,
            model=model,
            service=service,
            min_duration=min_duration,
            max_duration=max_duration,
            min_tokens=min_tokens,
            min_cost=min_cost,
            placeholder="%s",
            model_condition=_MODEL_CONDITION,
        )
        query = None if search is None else _tsquery(search)
        with self._reading() as conn:
            if query is not None:
                return _searched_traces(conn, conditions, params, query, limit)
            sql = f"{_TRACE_SELECT} {where_clause(conditions)} ORDER BY start_ns DESC, trace_id DESC LIMIT %s"
            return [_trace_summary(row) for row in conn.execute(sql.encode(), [*params, limit])]

    def _threads(
        self, limit: int, filters: dict[str, Any], *, search: str | None = None, thread_id: str | None = None
    ) -> list[ThreadSummary]:
        query = None if search is None else _tsquery(search)
        sql, params = thread_list_query(
            limit,
            filters,
            thread_id=thread_id,
            search=None if query is None else (_SEARCH_TRACES, query),
            placeholder="%s",
            model_condition=_MODEL_CONDITION,
            models_of_thread=_MODELS_OF_THREAD,
        )
        with self._reading() as conn:
            return [thread_summary(row, row["models"] or []) for row in conn.execute(sql.encode(), params)]

    def get_thread(self, thread_id: str) -> list[TraceSummary]:
        """The traces of a thread, oldest first (empty if there is no such thread)."""
        with self._reading() as conn:
            rows = conn.execute(
                f"{_TRACE_SELECT} WHERE thread_id = %s ORDER BY start_ns, trace_id".encode(), (thread_id,)
            )
            return [_trace_summary(row) for row in rows]

    def get_thread_calls(
        self, thread_id: str, *, traces: int = 500, before: int | None = None
    ) -> list[SpanRecord]:
        """The spans of the model calls of some of a thread's traces (see `SpanStore.get_thread_calls`)."""
        where, params = thread_calls_query(thread_id, traces, before, "%s")
        with self._reading() as conn:
            rows = conn.execute(f"{_SPAN_SELECT} WHERE {where}".encode(), params)
            return [_span_record(row) for row in rows]

    def get_trace(self, trace_id: str) -> list[SpanRecord]:
        """Every span of a trace, in start order (empty if there is no such trace)."""
        with self._reading() as conn:
            rows = conn.execute(
                f"{_SPAN_SELECT} WHERE s.trace_id = %s ORDER BY s.start_ns, s.id".encode(), (trace_id,)
            )
            return [_span_record(row) for row in rows]

    def get_trace_json(self, trace_id: str) -> str:
        """`get_trace()` as JSON text (the same records, in the same order)."""
        return json.dumps(self.get_trace(trace_id), ensure_ascii=False, separators=(",", ":"))

    def get_waterfall_json(self, trace_id: str) -> str:
        """A trace's spans as rows of `WATERFALL_FIELDS`, in start order, as JSON text a browser reads exactly
        (see `SpanStore.get_waterfall_json`); built by PostgreSQL."""
        with self._reading() as conn:
            row = conn.execute(_WATERFALL_JSON.encode(), (trace_id,)).fetchone()
        assert row is not None
        return str(row["spans"])

    def get_span(self, trace_id: str, span_id: str) -> SpanRecord | None:
        with self._reading() as conn:
            row = conn.execute(
                f"{_SPAN_SELECT} WHERE s.trace_id = %s AND s.span_id = %s".encode(), (trace_id, span_id)
            ).fetchone()
        return None if row is None else _span_record(row)

    def get_default_span(self, trace_id: str) -> SpanRecord | None:
        """The span a trace's page opens at (see `SpanStore.get_default_span`)."""
        with self._reading() as conn:
            first = f"SELECT s.id FROM spans s WHERE s.trace_id = %s ORDER BY {_DEFAULT_SPAN_ORDER} LIMIT 1"
            row = conn.execute(f"{_SPAN_SELECT} WHERE s.id = ({first})".encode(), (trace_id,)).fetchone()
        return None if row is None else _span_record(row)

    def get_trace_summary(self, trace_id: str) -> TraceSummary | None:
        with self._reading() as conn:
            row = conn.execute(f"{_TRACE_SELECT} WHERE trace_id = %s".encode(), (trace_id,)).fetchone()
        return None if row is None else _trace_summary(row)

    def model_summary(self, *, since_ns: int | None = None) -> list[ModelStats]:
        """Per model: calls, errors, latency percentiles of the calls (nearest rank), tokens and cost."""
        since = "" if since_ns is None else "AND start_ns >= %(since)s"
        aggregate = f"""
            SELECT model, count(*) FILTER (WHERE kind = 'llm') AS calls,
                count(*) FILTER (WHERE status_code = 'ERROR') AS errors,
                coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens,
                coalesce(sum(cost_usd), 0.0) AS cost_usd,
                {_PERCENTILE.format(fraction=0.50)} AS p50, {_PERCENTILE.format(fraction=0.95)} AS p95
            FROM spans WHERE model IS NOT NULL AND kind IN ('llm', 'llm_stream') {since}
            GROUP BY model ORDER BY calls DESC, model
        """
        with self._reading() as conn:
            rows = conn.execute(aggregate.encode(), {"since": since_ns}).fetchall()
        return [_model_stats(row) for row in rows]

    def current_cursor(self) -> int:
        """The change number of the latest write: start following `changes_since()` from here."""
        with self._reading() as conn:
            return watermark(conn)

    def wait_for_change(self, timeout: float) -> bool:
        """Wait at most `timeout` seconds for any writer to commit (its `NOTIFY`); whether one did. Then
        `changes_since()` has something new, unless a long transaction holds it back (see `_changes`)."""
        return self._listener.wait(timeout)

    def changes_since(self, cursor: int, *, limit: int = 500) -> Changes:
        """Traces written or deleted after `cursor`, by any writer (from `current_cursor()` or a previous
        call)."""
        with self._reading() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")  # one snapshot
            return _changes(conn, cursor, limit)

    def stats(self) -> StoreStats:
        """Traces, spans, and `bytes` of span data (see `_prune.used_bytes`)."""
        with self._reading() as conn:
            row = conn.execute(
                "SELECT count(*) AS traces, coalesce(sum(span_count), 0) AS spans FROM traces"
            ).fetchone()
            assert row is not None
            return {
                "traces": int(row["traces"]),
                "spans": int(row["spans"]),
                "bytes": _prune.used_bytes(conn),
            }

    def losses(self) -> list[Loss]:
        """What writers said they lost (spans, log records), by writer and sink, the latest first."""
        with self._reading() as conn:
            return [cast(Loss, row) for row in conn.execute(LIST_LOSSES).fetchall()]

    def waiting_events(self, spans: list[SpanIds]) -> dict[SpanIds, list[str]]:
        """The log records a receiver keeps for these spans (trace and span ids in hex) until they come, as
        span event JSON (see store/_waiting_events.py)."""
        if not spans:
            return {}
        with self._reading() as conn:
            return waiting_for(conn, spans)

    def delete_trace(self, trace_id: str) -> bool:
        """Delete a trace and its spans; False if there was no such trace."""
        with self._writing() as conn:
            return _prune.delete_traces(conn, [trace_id]) > 0

    def clear(self) -> None:
        """Delete every trace."""
        with self._writing() as conn:
            _prune.clear(conn)

    def prune(self, *, max_bytes: int | None = None, max_age: float | timedelta | None = None) -> int:
        """Delete the oldest whole traces past a size (span data bytes) or an age (seconds); returns how many
        were deleted."""
        max_age_ns = None
        if max_age is not None:
            seconds = max_age.total_seconds() if isinstance(max_age, timedelta) else max_age
            max_age_ns = int(seconds * 1e9)
        with self._writing() as conn:
            return _prune.prune(conn, max_bytes=max_bytes, max_age_ns=max_age_ns, now_ns=time.time_ns())

    @contextmanager
    def _reading(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:  # a pool timeout too
            raise StoreError(f"Cannot read the spyglass store {self.path}: {mask_url(str(exc))}") from exc

    @contextmanager
    def _writing(self) -> Iterator[psycopg.Connection[Any]]:
        if self._readonly:
            raise StoreError(f"The spyglass store {self.path} was opened read-only")
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise StoreError(f"Cannot write to the spyglass store {self.path}: {mask_url(str(exc))}") from exc


# Searching, PostgreSQL's planner walks the newest traces and tests each one's spans against the words, or
# takes every matching span from the GIN index first; it cannot tell a rare word from a common one, and picks
# badly either way (a rare word walked every trace: 1.2 s on a million spans). So: walk the newest
# `_SEARCH_WINDOW` traces (a per-trace test the planner cannot turn into a join); when they hold too few
# matches, count the matching spans up to `_INDEX_FIRST_UNDER`: fewer, and they are taken from the index
# first; more (a common word with a rare filter), and the walk goes on over every trace.
_SEARCH_WINDOW = 2000
_INDEX_FIRST_UNDER = 20_000
_MATCHES = "search @@ to_tsquery('simple', %s)"
_SEARCH_WALK = f"""SELECT * FROM ({_TRACE_SELECT} {{where}} ORDER BY start_ns DESC, trace_id DESC {{window}}) AS t
    WHERE (SELECT true FROM spans AS s WHERE s.trace_id = t.trace_id AND s.{_MATCHES} LIMIT 1)
    ORDER BY start_ns DESC, trace_id DESC LIMIT %s"""
_COUNT_MATCHES = f"SELECT count(*) AS found FROM (SELECT 1 FROM spans WHERE {_MATCHES} LIMIT %s) AS m"
_SEARCH_BY_INDEX = f"""WITH matched AS MATERIALIZED (SELECT DISTINCT trace_id FROM spans WHERE {_MATCHES})
    {_TRACE_SELECT} WHERE trace_id IN (SELECT trace_id FROM matched) {{conditions}}
    ORDER BY start_ns DESC, trace_id DESC LIMIT %s"""


def _searched_traces(
    conn: psycopg.Connection[Any], conditions: list[str], params: list[object], query: str, limit: int
) -> list[TraceSummary]:
    where = where_clause(conditions)

    def walk(window: str, extra: list[object]) -> list[Any]:
        sql = _SEARCH_WALK.format(where=where, window=window)
        return conn.execute(sql.encode(), [*params, *extra, query, limit]).fetchall()

    found = walk("LIMIT %s", [_SEARCH_WINDOW])
    if len(found) < limit:
        count = conn.execute(_COUNT_MATCHES.encode(), [query, _INDEX_FIRST_UNDER]).fetchone()
        if count is not None and count["found"] < _INDEX_FIRST_UNDER:
            rest = "".join(f" AND {condition}" for condition in conditions)
            sql = _SEARCH_BY_INDEX.format(conditions=rest)
            found = conn.execute(sql.encode(), [query, *params, limit]).fetchall()
        else:
            found = walk("", [])
    return [_trace_summary(row) for row in found]


def _tsquery(text: str) -> str | None:
    """User words as a tsquery: every word required, the last one as a prefix; no tsquery syntax leaks."""
    words = [word.lower() for word in re.findall(r"\w+", text)]
    if not words:
        return None
    quoted = [f"'{word}'" for word in words]
    quoted[-1] += ":*"
    return " & ".join(quoted)


# The nearest-rank percentile (the first duration at or past the fraction), computed by the server: sending
# every call's duration to Python took most of the models page's time on a big store.
_PERCENTILE = """percentile_disc({fraction}) WITHIN GROUP (ORDER BY duration_ns)
    FILTER (WHERE kind = 'llm' AND duration_ns IS NOT NULL)"""


def _model_stats(row: dict[str, Any]) -> ModelStats:
    calls = int(row["calls"])
    return {
        "model": row["model"],
        "calls": calls,
        "errors": int(row["errors"]),
        "error_rate": int(row["errors"]) / calls if calls else 0.0,
        "p50_duration_ns": None if row["p50"] is None else int(row["p50"]),
        "p95_duration_ns": None if row["p95"] is None else int(row["p95"]),
        "input_tokens": int(row["input_tokens"]),
        "output_tokens": int(row["output_tokens"]),
        "total_tokens": int(row["input_tokens"]) + int(row["output_tokens"]),
        "cost_usd": float(row["cost_usd"]),
    }


def _changes(conn: psycopg.Connection[Any], cursor: int, limit: int) -> Changes:
    # Changes stamped in [cursor, watermark): all of them committed or rolled back (see _changes).
    below = watermark(conn)
    rows = conn.execute(
        f"{_TRACE_SELECT} WHERE seq >= %s AND seq < %s ORDER BY seq LIMIT %s".encode(), (cursor, below, limit)
    ).fetchall()
    more = len(rows) == limit
    if more:
        below = int(rows[-1]["seq"]) + 1  # finish that change's traces so the next call can start after it
        rows = conn.execute(
            f"{_TRACE_SELECT} WHERE seq >= %s AND seq < %s ORDER BY seq".encode(), (cursor, below)
        ).fetchall()
    traces = [_trace_summary(row) for row in rows]
    present = {trace["trace_id"] for trace in traces}
    deletions = conn.execute(
        "SELECT trace_id FROM deletions WHERE seq >= %s AND seq < %s ORDER BY seq", (cursor, below)
    ).fetchall()
    return {
        # Nothing new keeps the cursor where it was: the watermark also moves for others' transactions, and
        # an unchanged cursor is how a follower knows there is nothing to send.
        "cursor": below if rows or deletions else cursor,
        "traces": traces,
        "deleted": [row["trace_id"] for row in deletions if row["trace_id"] not in (None, *present)],
        "cleared": any(row["trace_id"] is None for row in deletions),
        "more": more,
    }
