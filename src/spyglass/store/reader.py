"""`SpanStore`: the queries the viewer and the CLI run against a store file.

Reading never blocks the processes writing the file (WAL mode), and a store opened with `readonly=True` is
never written to. Results are plain dicts (typed below) with the JSON columns parsed back.
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypedDict, cast

from spyglass import _attribute_names as names
from spyglass.store import _prune
from spyglass.store._errors import StoreError
from spyglass.store._losses import LIST_LOSSES, Loss
from spyglass.store._schema import open_for_reading
from spyglass.store._thread_queries import (
    ThreadReader,
    ThreadSummary,
    thread_calls_query,
    thread_list_query,
    thread_summary,
)
from spyglass.store._trace_filters import SQLITE_MODEL_CONDITION, TraceStatus, trace_filters, where_clause
from spyglass.store._waiting_events import SpanIds, waiting_for


class TraceSummary(TypedDict):
    """One row of the trace list."""

    trace_id: str
    start_ns: int
    end_ns: int  # the last end (or start, for spans still running) seen so far
    duration_ns: int
    status: TraceStatus  # error if any span failed, else pending if any span is still running
    root_span_id: str | None
    root_name: str | None
    message: str | None  # the root span's message
    service_name: str | None
    span_count: int
    pending_count: int
    error_count: int
    models: list[str]
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None
    first_prompt: str | None  # the start of the first user message in the trace
    seq: int  # the change number of the last write to this trace
    thread_id: str | None  # the conversation it belongs to (see `list_threads`), if any
    thread_source: str | None  # what put it there: session, conversation or responses


class SpanRecord(TypedDict):
    """One span, as stored; `attributes`, `events`, `links`, `resource` and `scope` are parsed JSON."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    span_kind: str  # OpenTelemetry SpanKind name: INTERNAL, CLIENT...
    kind: str | None  # spyglass.kind
    message: str | None
    start_ns: int
    end_ns: int | None
    duration_ns: int | None
    status_code: str  # UNSET, OK or ERROR
    status_description: str | None
    service_name: str | None
    model: str | None  # the request model (a stream span inherits its request's)
    response_model: str | None
    provider: str | None
    operation: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    prompt_preview: str | None
    is_pending: bool
    attributes: dict[str, Any]
    events: list[dict[str, Any]]  # {"name", "time_ns", "attributes"}
    links: list[dict[str, Any]]  # {"trace_id", "span_id", "attributes"}
    resource: dict[str, Any]  # {"attributes", "schema_url"}
    scope: dict[str, Any] | None  # {"name", "version"}


class LinkedSpan(TypedDict):
    trace_id: str
    span_id: str


class WaterfallSpan(TypedDict):
    """A span of a trace as the trace page first needs it (`get_waterfall_json`): `SpanRecord`'s fields for
    the waterfall, the tool call links and "what changed since the previous call", each as in the record
    (its `trace_id` is the trace's); the rest of a span (its other attributes, events, resource, scope) is
    `get_span()`'s, read when it is shown."""

    span_id: str
    parent_span_id: str | None
    name: str
    span_kind: str
    kind: str | None
    message: str | None
    start_ns: int
    end_ns: int | None
    duration_ns: int | None
    status_code: str
    is_pending: bool
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    links: list[LinkedSpan]  # without their attributes
    attributes: dict[str, str]  # only the conversation (WATERFALL_ATTRIBUTES), where it is JSON text


# The attributes a waterfall span keeps: the messages the page links tool calls by and compares calls by.
WATERFALL_ATTRIBUTES = (names.INPUT_MESSAGES, names.OUTPUT_MESSAGES)
WATERFALL_FIELDS = tuple(WaterfallSpan.__annotations__)  # the order of a row of `get_waterfall_json()`
JS_SAFE_INTEGER = 2**53 - 1  # past this, a JavaScript number is not exact: such integers are sent as text


class ModelStats(TypedDict):
    """Calls to one model: `llm` spans count as calls, tokens and cost include their stream spans."""

    model: str
    calls: int
    errors: int
    error_rate: float
    p50_duration_ns: int | None
    p95_duration_ns: int | None
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float


class Changes(TypedDict):
    """What changed after a cursor: pass `cursor` back next time."""

    cursor: int
    traces: list[TraceSummary]  # new or updated, oldest change first
    deleted: list[str]  # trace ids deleted and not re-created since
    cleared: bool  # clear() ran: forget every trace you had before applying `traces`
    more: bool  # there is more to fetch right away


class StoreStats(TypedDict):
    traces: int
    spans: int
    bytes: int


_SPAN_SELECT = """
    SELECT s.*, r.resource AS resource FROM spans s LEFT JOIN resources r ON r.id = s.resource_id
"""
_JSON_SPAN_FIELDS = ("attributes", "events", "links", "resource", "scope")
_RECORD_FIELDS = tuple(SpanRecord.__annotations__)
_SEARCH_TRACES = """trace_id IN (SELECT s.trace_id FROM spans s
    WHERE s.id IN (SELECT rowid FROM spans_fts WHERE spans_fts MATCH ?))"""
_MODELS_OF_THREAD = """SELECT json_group_array(DISTINCT j.value) FROM traces AS m, json_each(m.models) AS j
    WHERE m.thread_id = threads.thread_id"""
_DEFAULT_SPAN_ORDER = """(s.kind = 'llm' AND s.status_code = 'ERROR') IS TRUE DESC,
    s.kind IN ('llm', 'llm_stream') IS TRUE DESC, s.start_ns, s.id"""
_THREAD_COLUMNS = ("thread_key", "thread_source", "response_id", "previous_response_id")


def _json_value(field: str) -> str:
    """SQL for a field's JSON value in a span's object: stored JSON is copied as it is (the writer made it
    valid), never parsed again."""
    if field in _JSON_SPAN_FIELDS:
        return f"coalesce(s.{field}, 'null')"
    if field == "is_pending":
        return "CASE WHEN s.is_pending THEN 'true' ELSE 'false' END"
    if field == "cost_usd":  # 17 significant digits: SQLite's own JSON would round to 15
        return "CASE WHEN s.cost_usd IS NULL THEN 'null' ELSE printf('%!.17g', s.cost_usd) END"
    return f"json_quote(s.{field})"


# A trace's spans as one JSON array assembled by SQLite (one printf a span): what get_trace() returns,
# without parsing each span's JSON in Python only to encode it again (a 5,000-span trace for the viewer).
_SPAN_JSON_FORMAT = "{" + ",".join(f'"{field}":%s' for field in _RECORD_FIELDS) + "}"
_TRACE_JSON = f"""
    SELECT '[' || coalesce(group_concat(
        printf('{_SPAN_JSON_FORMAT}', {", ".join(_json_value(field) for field in _RECORD_FIELDS)}), ','), '') || ']'
    FROM (SELECT s.*, r.resource FROM spans s LEFT JOIN resources r ON r.id = s.resource_id
          WHERE s.trace_id = ? ORDER BY s.start_ns, s.id) AS s
"""


def _waterfall_value(field: str) -> str:
    """SQL for a field's value in a waterfall row's `json_array()`: integers past `JS_SAFE_INTEGER` as text, the
    cost with all 17 digits (SQLite's JSON keeps 15), links as ids only, only the conversation's attributes."""
    if field in ("start_ns", "end_ns", "duration_ns", "input_tokens", "output_tokens"):
        unsafe = f"s.{field} NOT BETWEEN -{JS_SAFE_INTEGER} AND {JS_SAFE_INTEGER}"
        return f"CASE WHEN {unsafe} THEN CAST(s.{field} AS TEXT) ELSE s.{field} END"
    if field == "is_pending":
        return "json(CASE WHEN s.is_pending THEN 'true' ELSE 'false' END)"
    if field == "cost_usd":
        return "CASE WHEN s.cost_usd IS NOT NULL THEN json(printf('%!.17g', s.cost_usd)) END"
    if field == "links":
        return """CASE WHEN s.links = '[]' THEN json_array() ELSE (
            SELECT json_group_array(json_object('trace_id', l.value ->> '$.trace_id',
                'span_id', l.value ->> '$.span_id')) FROM json_each(s.links) AS l) END"""
    if field == "attributes":
        keys = ", ".join(f"'{key}'" for key in WATERFALL_ATTRIBUTES)
        # Most spans have no conversation: a text search skips walking their attributes.
        present = " OR ".join(f"""instr(s.attributes, '"{key}"')""" for key in WATERFALL_ATTRIBUTES)
        return f"""CASE WHEN {present} THEN (SELECT json_group_object(a.key, a.value) FROM json_each(s.attributes)
            AS a WHERE a.key IN ({keys}) AND a.type = 'text') ELSE json_object() END"""
    return f"s.{field}"


# The waterfall's spans as rows (arrays: field names on every span were 40% of the bytes) of one JSON array
# built by SQLite, in start order (that of the subquery).
_WATERFALL_JSON = f"""
    SELECT json_group_array(json_array({", ".join(_waterfall_value(field) for field in WATERFALL_FIELDS)}))
    FROM (SELECT {", ".join(WATERFALL_FIELDS)} FROM spans WHERE trace_id = ? ORDER BY start_ns, id) AS s
"""  # only the columns it shows: sorting whole rows (a span's attributes and events) took most of the time


class SpanStore(ThreadReader):
    """Read (and delete from) a spyglass store file.

    Args:
        path: an existing store file.
        readonly: never write to the file; `delete_trace()`, `clear()` and `prune()` then raise.
        busy_timeout: seconds a delete waits for writers' locks.

    Raises:
        StoreError: the file is missing, not SQLite, not a spyglass store, corrupt, or from a newer spyglass.

    Example:
        ```python
        with SpanStore(".spyglass/traces.sqlite") as store:
            for trace in store.list_traces(limit=20, status="error"):
                print(trace["message"], trace["duration_ns"] / 1e9)
        ```
    """

    def __init__(
        self, path: str | os.PathLike[str], *, readonly: bool = False, busy_timeout: float = 5.0
    ) -> None:
        self._path = Path(path)
        self._readonly = readonly
        self._conn = open_for_reading(self._path, readonly=readonly, busy_timeout=busy_timeout)
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._path

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SpanStore:
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
        """The newest traces first, filtered.

        Args:
            limit: how many traces at most.
            before: only traces that started before this time (ns): pass the last `start_ns` of a page.
            status: `error` (a span failed), `pending` (a span is still running) or `ok` (neither).
            model: a model used in the trace (request model name).
            service: the root span's `service.name`.
            min_duration: seconds.
            max_duration: seconds.
            min_tokens: input plus output tokens over the trace.
            min_cost: USD over the trace.
            search: words that must all appear in one span's message or conversation (the last word may be
                the start of a word).
        """
        where, params = trace_filters(
            before=before,
            status=status,
            model=model,
            service=service,
            min_duration=min_duration,
            max_duration=max_duration,
            min_tokens=min_tokens,
            min_cost=min_cost,
        )
        with self._reading() as conn:
            query = _fts_query(search) if search else None
            if query is not None:
                matches = _few_matches(conn, query)
                if matches is None:
                    return [
                        _trace_summary(row) for row in _search_newest_first(conn, query, where, params, limit)
                    ]
                where.append(
                    "trace_id IN (SELECT trace_id FROM spans WHERE id IN (SELECT value FROM json_each(?)))"
                )
                params.append(json.dumps(matches))
            sql = f"SELECT * FROM traces {where_clause(where)} ORDER BY start_ns DESC, trace_id DESC LIMIT ?"
            return [_trace_summary(row) for row in conn.execute(sql, [*params, limit])]

    def _threads(
        self, limit: int, filters: dict[str, Any], *, search: str | None = None, thread_id: str | None = None
    ) -> list[ThreadSummary]:
        query = _fts_query(search) if search else None
        sql, params = thread_list_query(
            limit,
            filters,
            thread_id=thread_id,
            search=None if query is None else (_SEARCH_TRACES, query),
            placeholder="?",
            model_condition=SQLITE_MODEL_CONDITION,
            models_of_thread=_MODELS_OF_THREAD,
        )
        with self._reading() as conn:
            return [thread_summary(dict(row), json.loads(row["models"])) for row in conn.execute(sql, params)]

    def get_thread(self, thread_id: str) -> list[TraceSummary]:
        """The traces of a thread, oldest first (empty if there is no such thread)."""
        sql = "SELECT * FROM traces WHERE thread_id = ? ORDER BY start_ns, trace_id"
        with self._reading() as conn:
            return [_trace_summary(row) for row in conn.execute(sql, (thread_id,))]

    def get_thread_calls(
        self, thread_id: str, *, traces: int = 500, before: int | None = None
    ) -> list[SpanRecord]:
        """The spans of the model calls (`llm`, `llm_stream`) of a thread's first `traces` traces (with
        `before`, of its newest `traces` traces started before then), in start order: its conversation,
        without reading the other spans (an agent's tool spans) into Python."""
        where, params = thread_calls_query(thread_id, traces, before, "?")
        with self._reading() as conn:
            return [_span_record(row) for row in conn.execute(f"{_SPAN_SELECT} WHERE {where}", params)]

    def get_trace(self, trace_id: str) -> list[SpanRecord]:
        """Every span of a trace, in start order (empty if there is no such trace)."""
        sql = f"{_SPAN_SELECT} WHERE s.trace_id = ? ORDER BY s.start_ns, s.id"
        with self._reading() as conn:
            return [_span_record(row) for row in conn.execute(sql, (trace_id,))]

    def get_trace_json(self, trace_id: str) -> str:
        """`get_trace()` as JSON text (the same records, in the same order), built by SQLite: for a server
        that sends the spans on as JSON, several times faster than parsing and encoding them again."""
        with self._reading() as conn:
            (text,) = conn.execute(_TRACE_JSON, (trace_id,)).fetchone()
        return str(text)

    def get_waterfall_json(self, trace_id: str) -> str:
        """A trace's spans as `WaterfallSpan`s, in start order: JSON text of an array with one row per span,
        the values of its `WATERFALL_FIELDS` in that order. Integers past `JS_SAFE_INTEGER` (timestamps) are
        decimal strings, so a browser reads them exactly. Built by SQLite, never parsed in Python: a
        5,000-span trace's page asks for it first, then for `get_span()` of the span it shows."""
        with self._reading() as conn:
            (text,) = conn.execute(_WATERFALL_JSON, (trace_id,)).fetchone()
        return str(text)

    def get_span(self, trace_id: str, span_id: str) -> SpanRecord | None:
        sql = f"{_SPAN_SELECT} WHERE s.trace_id = ? AND s.span_id = ?"
        with self._reading() as conn:
            row = conn.execute(sql, (trace_id, span_id)).fetchone()
        return None if row is None else _span_record(row)

    def get_default_span(self, trace_id: str) -> SpanRecord | None:
        """The span a trace's page opens at: its first failed model call, else its first model call (its
        conversation is what one comes for), else its first span; None if there is no such trace."""
        first = f"SELECT s.id FROM spans s WHERE s.trace_id = ? ORDER BY {_DEFAULT_SPAN_ORDER} LIMIT 1"
        sql = f"{_SPAN_SELECT} WHERE s.id = ({first})"  # the full row of one span only
        with self._reading() as conn:
            row = conn.execute(sql, (trace_id,)).fetchone()
        return None if row is None else _span_record(row)

    def get_trace_summary(self, trace_id: str) -> TraceSummary | None:
        with self._reading() as conn:
            row = conn.execute("SELECT * FROM traces WHERE trace_id = ?", (trace_id,)).fetchone()
        return None if row is None else _trace_summary(row)

    def model_summary(self, *, since_ns: int | None = None) -> list[ModelStats]:
        """Per model: calls, errors, latency percentiles of the calls, tokens and cost; most calls first."""
        since = "" if since_ns is None else "AND start_ns >= :since"
        aggregate = f"""
            SELECT model, sum(kind = 'llm') AS calls, sum(status_code = 'ERROR') AS errors,
                sum(kind = 'llm' AND duration_ns IS NOT NULL) AS timed,
                coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens,
                total(cost_usd) AS cost_usd
            FROM spans WHERE model IS NOT NULL AND kind IN ('llm', 'llm_stream') {since}
            GROUP BY model ORDER BY calls DESC, model
        """
        with self._reading() as conn:
            rows = conn.execute(aggregate, {"since": since_ns}).fetchall()
            return [self._model_stats(conn, row, since, since_ns) for row in rows]

    def current_cursor(self) -> int:
        """The change number of the latest write: start following `changes_since()` from here."""
        with self._reading() as conn:
            return int(conn.execute("SELECT value FROM meta WHERE key = 'change_seq'").fetchone()[0])

    def wait_for_change(self, timeout: float) -> bool:
        """Wait `timeout` seconds before the next `changes_since()`: a file tells nobody when it is written,
        so followers poll it (False: no wake-up; the PostgreSQL store wakes on its writers' commits)."""
        time.sleep(timeout)
        return False

    def changes_since(self, cursor: int, *, limit: int = 500) -> Changes:
        """Traces written or deleted after `cursor` (from `current_cursor()` or a previous call)."""
        with self._reading() as conn:
            conn.execute("BEGIN")  # one snapshot for every query below
            try:
                return _changes(conn, cursor, limit)
            finally:
                conn.execute("COMMIT")

    def stats(self) -> StoreStats:
        with self._reading() as conn:
            traces, spans = conn.execute("SELECT count(*), total(span_count) FROM traces").fetchone()
            return {"traces": traces, "spans": int(spans), "bytes": _prune.used_bytes(conn)}

    def losses(self) -> list[Loss]:
        """What writers said they lost (spans, log records), by writer and sink, the latest first."""
        with self._reading() as conn:
            return [cast(Loss, dict(row)) for row in conn.execute(LIST_LOSSES)]

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
        """Delete the oldest whole traces past a size or an age (seconds); returns how many were deleted."""
        max_age_ns = None
        if max_age is not None:
            seconds = max_age.total_seconds() if isinstance(max_age, timedelta) else max_age
            max_age_ns = int(seconds * 1e9)
        with self._writing() as conn:
            return _prune.prune(conn, max_bytes=max_bytes, max_age_ns=max_age_ns, now_ns=time.time_ns())

    def _model_stats(
        self, conn: sqlite3.Connection, row: sqlite3.Row, since: str, since_ns: int | None
    ) -> ModelStats:
        calls = row["calls"]
        return {
            "model": row["model"],
            "calls": calls,
            "errors": row["errors"],
            "error_rate": row["errors"] / calls if calls else 0.0,
            "p50_duration_ns": _percentile(conn, row["model"], row["timed"], 0.50, since, since_ns),
            "p95_duration_ns": _percentile(conn, row["model"], row["timed"], 0.95, since, since_ns),
            "input_tokens": row["input_tokens"],
            "output_tokens": row["output_tokens"],
            "total_tokens": row["input_tokens"] + row["output_tokens"],
            "cost_usd": row["cost_usd"],
        }

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.row_factory = sqlite3.Row
                yield self._conn
            except sqlite3.Error as exc:
                raise StoreError(f"Cannot read the spyglass store {self._path}: {exc}") from exc

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        if self._readonly:
            raise StoreError(f"The spyglass store {self._path} was opened read-only")
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise StoreError(f"Cannot write to the spyglass store {self._path}: {exc}") from exc


def _few_matches(conn: sqlite3.Connection, query: str) -> list[int] | None:
    """The ids of the spans matching `query`, or None when there are too many to collect cheaply."""
    sql = "SELECT rowid FROM spans_fts WHERE spans_fts MATCH ? LIMIT ?"
    matches = [row[0] for row in conn.execute(sql, (query, _FEW_MATCHES + 1))]
    return matches if len(matches) <= _FEW_MATCHES else None


def _search_newest_first(
    conn: sqlite3.Connection, query: str, where: list[str], params: list[object], limit: int
) -> list[sqlite3.Row]:
    """Traces for a common word: walk the matching spans newest first until a page of traces passes the filters.

    Collecting every match of a common word in a big store takes seconds; the newest matches usually fill a
    page after a few hundred spans. Span ids follow write order, so the page is the newest matches in write
    order, sorted by start time.
    """
    spans = conn.execute(
        "SELECT s.trace_id FROM spans_fts JOIN spans s ON s.id = spans_fts.rowid"
        " WHERE spans_fts MATCH ? ORDER BY spans_fts.rowid DESC",
        (query,),
    )
    in_chunk = "trace_id IN (SELECT value FROM json_each(?))"
    sql = f"SELECT * FROM traces {where_clause([*where, in_chunk])}"
    seen: set[str] = set()
    found: list[sqlite3.Row] = []
    try:
        while len(found) < limit:
            chunk = _next_trace_ids(spans, seen, _SEARCH_CHUNK)
            if not chunk:
                break
            found.extend(conn.execute(sql, [*params, json.dumps(chunk)]))
    finally:
        spans.close()
    found.sort(key=lambda row: (row["start_ns"], row["trace_id"]), reverse=True)
    return found[:limit]


def _next_trace_ids(spans: sqlite3.Cursor, seen: set[str], count: int) -> list[str]:
    chunk: list[str] = []
    for (trace_id,) in spans:
        if trace_id not in seen:
            seen.add(trace_id)
            chunk.append(trace_id)
            if len(chunk) == count:
                break
    return chunk


_SEARCH_CHUNK = 200
_FEW_MATCHES = 2000


def _fts_query(text: str) -> str | None:
    """User words as an FTS5 query: every word required, the last one as a prefix; no FTS syntax leaks."""
    words = re.findall(r"\w+", text)
    if not words:
        return None
    quoted = [f'"{word}"' for word in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def _percentile(
    conn: sqlite3.Connection, model: str, count: int, fraction: float, since: str, since_ns: int | None
) -> int | None:
    if not count:
        return None
    offset = max(math.ceil(fraction * count) - 1, 0)  # nearest-rank percentile
    row = conn.execute(
        f"""SELECT duration_ns FROM spans
            WHERE model = :model AND kind = 'llm' AND duration_ns IS NOT NULL {since}
            ORDER BY duration_ns LIMIT 1 OFFSET :offset""",
        {"model": model, "offset": offset, "since": since_ns},
    ).fetchone()
    return None if row is None else int(row[0])


def _changes(conn: sqlite3.Connection, cursor: int, limit: int) -> Changes:
    rows = conn.execute("SELECT * FROM traces WHERE seq > ? ORDER BY seq LIMIT ?", (cursor, limit)).fetchall()
    more = len(rows) == limit
    if more:
        upper = rows[-1]["seq"]  # finish that change's traces so the next call can start after it
        rows = conn.execute(
            "SELECT * FROM traces WHERE seq > ? AND seq <= ? ORDER BY seq", (cursor, upper)
        ).fetchall()
    else:
        upper = int(conn.execute("SELECT value FROM meta WHERE key = 'change_seq'").fetchone()[0])
    traces = [_trace_summary(row) for row in rows]
    present = {trace["trace_id"] for trace in traces}
    deletions = conn.execute(
        "SELECT trace_id FROM deletions WHERE seq > ? AND seq <= ? ORDER BY seq", (cursor, upper)
    ).fetchall()
    return {
        "cursor": upper,
        "traces": traces,
        "deleted": [row[0] for row in deletions if row[0] is not None and row[0] not in present],
        "cleared": any(row[0] is None for row in deletions),
        "more": more,
    }


def _trace_summary(row: sqlite3.Row) -> TraceSummary:
    summary: dict[str, Any] = dict(row)
    summary.pop("thread_key", None)  # what the thread was worked out from
    summary.pop("thread_key_source", None)
    summary["models"] = json.loads(summary["models"])
    if summary["error_count"]:
        summary["status"] = "error"
    elif summary["pending_count"]:
        summary["status"] = "pending"
    else:
        summary["status"] = "ok"
    return summary  # type: ignore[return-value]  # the columns are the TypedDict's keys


def _span_record(row: sqlite3.Row) -> SpanRecord:
    record: dict[str, Any] = dict(row)
    del record["id"], record["resource_id"]
    for column in _THREAD_COLUMNS:  # in the span's attributes already
        record.pop(column, None)
    for field in _JSON_SPAN_FIELDS:
        if record[field] is not None:
            record[field] = json.loads(record[field])
    record["is_pending"] = bool(record["is_pending"])
    return record  # type: ignore[return-value]  # the columns are the TypedDict's keys
