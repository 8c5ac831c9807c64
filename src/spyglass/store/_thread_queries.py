"""The thread list's query: traces grouped by the thread they are in (see store/_threads.py), filtered.

One query for both backends, built from each one's pieces (its placeholder, how it tests a trace's models,
searches spans and gathers a thread's models), as `reader.trace_filters` is.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from spyglass.store._trace_filters import TraceStatus, trace_filters, where_clause

ThreadSource = Literal["session", "conversation", "responses"]


class ThreadSummary(TypedDict):
    """One row of the thread list: the traces of one conversation, added up."""

    thread_id: str
    source: str | None  # what grouped the first trace: session, conversation or responses
    trace_count: int
    span_count: int
    start_ns: int  # the first trace's start
    end_ns: int  # the last end seen so far
    last_start_ns: int  # the newest trace's start: the list's order, and what `before` pages by
    duration_ns: int  # from the first start to the last end
    busy_ns: int  # the traces' durations added up
    status: TraceStatus
    error_count: int
    pending_count: int
    models: list[str]
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None  # None when no call's price is known
    first_prompt: str | None  # the start of the first user message of the thread
    message: str | None  # the first trace's root message
    service_name: str | None  # the first trace's
    seq: int  # the change number of the last write to one of its traces


class ThreadReader:
    """`list_threads()` and `get_thread_summary()`, for a store that runs `thread_list_query` (`_threads`)."""

    def list_threads(
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
    ) -> list[ThreadSummary]:
        """The threads (conversations over several traces) with the newest activity first, filtered.

        A trace is in a thread when it has a `session.id` or `gen_ai.conversation.id`, or continues (or is
        continued by) a Responses call of another trace. `model`, `service` and `search` list the threads with
        a trace that matches (as in `list_traces`); `status`, the durations (first start to last end), tokens
        and cost are the whole thread's. `before` pages by `last_start_ns`.

        Example:
            ```python
            for thread in store.list_threads(limit=10, min_cost=0.5):
                print(thread["thread_id"], thread["trace_count"], thread["cost_usd"])
            ```
        """
        filters = {
            "before": before,
            "status": status,
            "model": model,
            "service": service,
            "min_duration": min_duration,
            "max_duration": max_duration,
            "min_tokens": min_tokens,
            "min_cost": min_cost,
        }
        return self._threads(limit, filters, search=search)

    def get_thread_summary(self, thread_id: str) -> ThreadSummary | None:
        """One thread's row of `list_threads()`, or None if no trace is in it."""
        found = self._threads(1, {}, thread_id=thread_id)
        return found[0] if found else None

    def _threads(
        self, limit: int, filters: dict[str, Any], *, search: str | None = None, thread_id: str | None = None
    ) -> list[ThreadSummary]:
        raise NotImplementedError


def thread_calls_query(
    thread_id: str, traces: int, before: int | None, placeholder: str
) -> tuple[str, tuple[object, ...]]:
    """The condition on `spans s` (and its parameters) of `get_thread_calls`: the model calls of the thread's
    first `traces` traces, or with `before` of its newest `traces` traces started before then."""
    params: tuple[object, ...]
    if before is None:
        chosen, params = "thread_id = ? ORDER BY start_ns, trace_id LIMIT ?", (thread_id, traces)
    else:
        chosen = "thread_id = ? AND start_ns < ? ORDER BY start_ns DESC, trace_id DESC LIMIT ?"
        params = (thread_id, before, traces)
    sql = f"""s.trace_id IN (SELECT trace_id FROM traces WHERE {chosen})
        AND s.kind IN ('llm', 'llm_stream') ORDER BY s.start_ns, s.id"""
    return sql.replace("?", placeholder), params


def thread_list_query(
    limit: int,
    filters: dict[str, Any],
    *,
    search: tuple[str, str] | None,
    placeholder: str,
    model_condition: str,
    models_of_thread: str,
    thread_id: str | None = None,
) -> tuple[str, list[object]]:
    """The SQL and parameters of `list_threads`. A thread is listed when one of its traces has the model,
    the service and the words searched for; the status, duration, tokens and cost are the whole thread's.

    Args:
        filters: `list_threads`' filters but `search`.
        search: (the condition on `traces` matching the words, its parameter), or None.
        models_of_thread: a scalar subquery of the JSON list of the models of the thread `threads.thread_id`.
        thread_id: only this thread (`get_thread_summary`).
    """
    given = {name: value for name, value in filters.items() if value is not None}
    on_traces = {name: given.pop(name) for name in ("model", "service") if name in given}
    before = given.pop("before", None)
    trace_conditions, trace_params = trace_filters(
        **on_traces, placeholder=placeholder, model_condition=model_condition
    )
    if search is not None:
        trace_conditions.append(search[0])
        trace_params.append(search[1])
    thread_conditions, thread_params = trace_filters(**given, placeholder=placeholder)
    if before is not None:
        thread_conditions.append(f"last_start_ns < {placeholder}")
        thread_params.append(before)
    matching = ""
    if thread_id is not None:
        trace_conditions.append(f"thread_id = {placeholder}")
        trace_params.append(thread_id)
    if trace_conditions:
        matching = f"AND thread_id IN (SELECT thread_id FROM traces {where_clause(trace_conditions)})"
    first_trace = (
        "FROM traces AS f WHERE f.thread_id = threads.thread_id {} ORDER BY f.start_ns, f.trace_id LIMIT 1"
    )
    sql = f"""
        SELECT threads.*,
            (SELECT f.thread_source {first_trace.format("")}) AS source,
            (SELECT f.message {first_trace.format("")}) AS message,
            (SELECT f.service_name {first_trace.format("")}) AS service_name,
            (SELECT f.first_prompt {first_trace.format("AND f.first_prompt IS NOT NULL")}) AS first_prompt,
            ({models_of_thread}) AS models
        FROM (
            SELECT thread_id, count(*) AS trace_count, sum(span_count) AS span_count,
                min(start_ns) AS start_ns, max(end_ns) AS end_ns, max(start_ns) AS last_start_ns,
                max(end_ns) - min(start_ns) AS duration_ns, sum(duration_ns) AS busy_ns,
                sum(error_count) AS error_count, sum(pending_count) AS pending_count,
                sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
                sum(total_tokens) AS total_tokens, sum(cost_usd) AS cost_usd, max(seq) AS seq
            FROM traces WHERE thread_id IS NOT NULL {matching}
            GROUP BY thread_id
        ) AS threads
        {where_clause(thread_conditions)}
        ORDER BY last_start_ns DESC, thread_id DESC LIMIT {placeholder}
    """
    return sql, [*trace_params, *thread_params, limit]


def thread_summary(row: dict[str, Any], models: list[str]) -> ThreadSummary:
    """A thread-list row as a `ThreadSummary` (its models parsed by the backend)."""
    summary: dict[str, Any] = {field: row[field] for field in ThreadSummary.__annotations__ if field in row}
    for field in ("trace_count", "span_count", "start_ns", "end_ns", "last_start_ns", "duration_ns"):
        summary[field] = int(summary[field])
    for field in ("busy_ns", "error_count", "pending_count", "seq"):
        summary[field] = int(summary[field] or 0)
    for field in ("input_tokens", "output_tokens", "total_tokens"):
        summary[field] = None if summary[field] is None else int(summary[field])
    summary["cost_usd"] = None if summary["cost_usd"] is None else float(summary["cost_usd"])
    summary["models"] = sorted(set(models))
    if summary["error_count"]:
        summary["status"] = "error"
    elif summary["pending_count"]:
        summary["status"] = "pending"
    else:
        summary["status"] = "ok"
    return summary  # type: ignore[return-value]  # every key is set above
