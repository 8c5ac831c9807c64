"""The trace-list filters: parsed from query parameters, run by the store, re-checked on live changes.

Every filter but `attribute` is the store's own (`SpanStore.list_traces`). The store has no attribute index,
so an attribute filter walks the newest traces page by page and reads each candidate's spans, within a
budget; the response then says how far back it looked.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from spyglass.store import SpanRecord, SpanStore, TraceStatus, TraceSummary
from spyglass.store._rows import search_text

_STATUSES: tuple[TraceStatus, ...] = ("ok", "error", "pending")
ATTRIBUTE_SCAN_TRACES = 5_000  # traces read per attribute-filtered page at most
ATTRIBUTE_SCAN_SECONDS = 1.5


class FilterError(ValueError):
    """A query parameter that is not a valid filter; the message names it."""


@dataclass(frozen=True)
class TraceFilter:
    status: TraceStatus | None = None
    model: str | None = None
    service: str | None = None
    min_duration: float | None = None  # seconds
    min_tokens: int | None = None
    min_cost: float | None = None  # USD
    search: str | None = None
    attribute: str | None = None  # "key=value", or a bare value matched against every attribute

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> TraceFilter:
        def text(name: str) -> str | None:
            value = params.get(name, "").strip()
            return value or None

        def number(name: str, kind: type[float] | type[int]) -> Any:
            value = text(name)
            if value is None:
                return None
            try:
                parsed = kind(value)
            except ValueError:
                raise FilterError(f"{name} must be a number, got {value!r}") from None
            if parsed < 0:
                raise FilterError(f"{name} must not be negative")
            return parsed

        status = text("status")
        if status is not None and status not in _STATUSES:
            raise FilterError(f"status must be one of {', '.join(_STATUSES)}, got {status!r}")
        return cls(
            status=status,  # checked against _STATUSES above
            model=text("model"),
            service=text("service"),
            min_duration=number("min_duration", float),
            min_tokens=number("min_tokens", int),
            min_cost=number("min_cost", float),
            search=text("q"),
            attribute=text("attr"),
        )

    def is_empty(self) -> bool:
        return all(getattr(self, field.name) is None for field in fields(self))

    def store_kwargs(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "model": self.model,
            "service": self.service,
            "min_duration": self.min_duration,
            "min_tokens": self.min_tokens,
            "min_cost": self.min_cost,
            "search": self.search,
        }

    def matches_summary(self, trace: TraceSummary) -> bool:
        """The filters a trace summary alone can answer, exactly as the store answers them."""
        if self.status is not None and trace["status"] != self.status:
            return False
        if self.model is not None and self.model not in trace["models"]:
            return False
        if self.service is not None and trace["service_name"] != self.service:
            return False
        if self.min_duration is not None and trace["duration_ns"] < int(self.min_duration * 1e9):
            return False
        if self.min_tokens is not None and (trace["total_tokens"] or 0) < self.min_tokens:
            return False
        return not (self.min_cost is not None and (trace["cost_usd"] or 0) < self.min_cost)

    def matches(self, store: SpanStore, trace: TraceSummary) -> bool:
        """Whether a changed trace belongs in a list filtered by self (for live updates)."""
        if not self.matches_summary(trace):
            return False
        if self.search is None and self.attribute is None:
            return True
        # Reading the trace's own spans costs the same on any store, unlike a full-text query for a common word.
        spans = store.get_trace(trace["trace_id"])
        if self.search is not None and not search_matches(spans, self.search):
            return False
        return self.attribute is None or attribute_matches(spans, self.attribute)


@dataclass
class TracePage:
    traces: list[TraceSummary]
    next_before: int | None  # pass as `before` for the next page; None at the end
    scanned: int | None = None  # with an attribute filter: how many traces were read


def list_page(store: SpanStore, where: TraceFilter, *, limit: int, before: int | None) -> TracePage:
    if where.attribute is None:
        traces = store.list_traces(limit=limit, before=before, **where.store_kwargs())
        next_before = traces[-1]["start_ns"] if len(traces) == limit else None
        return TracePage(traces, next_before)
    found: list[TraceSummary] = []
    scanned = 0
    deadline = time.monotonic() + ATTRIBUTE_SCAN_SECONDS
    cursor = before
    while True:
        batch = store.list_traces(limit=200, before=cursor, **where.store_kwargs())
        for trace in batch:
            scanned += 1
            cursor = trace["start_ns"]
            if attribute_matches(store.get_trace(trace["trace_id"]), where.attribute):
                found.append(trace)
            if len(found) == limit or scanned >= ATTRIBUTE_SCAN_TRACES or time.monotonic() > deadline:
                return TracePage(found, cursor, scanned)
        if len(batch) < 200:
            return TracePage(found, None, scanned)


def attribute_matches(spans: list[SpanRecord], wanted: str) -> bool:
    """Whether a span has attribute `key=value` (span or resource), or any attribute equal to a bare value."""
    key, sep, value = (part.strip() for part in wanted.partition("="))
    for span in spans:
        if not sep:
            if any(_as_text(item) == wanted for item in span["attributes"].values()):
                return True
            continue
        resource = span["resource"].get("attributes", {}) if span["resource"] else {}
        for attributes in (span["attributes"], resource):
            if key in attributes and _as_text(attributes[key]) == value:
                return True
    return False


def search_matches(spans: list[SpanRecord], search: str) -> bool:
    """The store's full-text rule on one trace: every word in one span's text, the last as a prefix."""
    words = [_fold(word) for word in re.findall(r"\w+", search)]
    if not words:
        return True
    *whole, prefix = words
    for span in spans:
        tokens = {_fold(token) for token in re.findall(r"\w+", search_text(span["attributes"]))}
        if all(word in tokens for word in whole) and any(token.startswith(prefix) for token in tokens):
            return True
    return False


def _fold(word: str) -> str:
    """Lower case without diacritics, as the store's unicode61 tokenizer (remove_diacritics 2) folds words."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))
