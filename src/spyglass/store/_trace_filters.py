"""The conditions the trace and thread lists filter by, for both backends (each gives its placeholder)."""

from __future__ import annotations

from typing import Literal

TraceStatus = Literal["ok", "error", "pending"]


SQLITE_MODEL_CONDITION = "EXISTS (SELECT 1 FROM json_each(traces.models) WHERE value = ?)"


def trace_filters(
    *,
    before: int | None = None,
    status: TraceStatus | None = None,
    model: str | None = None,
    service: str | None = None,
    min_duration: float | None = None,
    max_duration: float | None = None,
    min_tokens: int | None = None,
    min_cost: float | None = None,
    placeholder: str = "?",
    model_condition: str = SQLITE_MODEL_CONDITION,
) -> tuple[list[str], list[object]]:
    """The conditions on the traces table for `list_traces`' filters, and their parameters. Each backend
    gives its own parameter `placeholder` and how it tests a trace's list of models (`model_condition`)."""
    conditions: list[str] = []
    params: list[object] = []

    def add(condition: str, *values: object) -> None:
        conditions.append(condition.replace("?", placeholder))
        params.extend(values)

    if before is not None:
        add("start_ns < ?", before)
    if status is not None:
        add(STATUS_CONDITIONS[status])
    if model is not None:
        conditions.append(model_condition)
        params.append(model)
    if service is not None:
        add("service_name = ?", service)
    if min_duration is not None:
        add("duration_ns >= ?", int(min_duration * 1e9))
    if max_duration is not None:
        add("duration_ns <= ?", int(max_duration * 1e9))
    if min_tokens is not None:
        add("total_tokens >= ?", min_tokens)
    if min_cost is not None:
        add("cost_usd >= ?", min_cost)
    return conditions, params


def where_clause(conditions: list[str]) -> str:
    return "WHERE " + " AND ".join(conditions) if conditions else ""


STATUS_CONDITIONS: dict[str, str] = {
    "error": "error_count > 0",
    "pending": "error_count = 0 AND pending_count > 0",
    "ok": "error_count = 0 AND pending_count = 0",
}
