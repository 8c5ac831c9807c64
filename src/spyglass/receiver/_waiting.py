"""Log records as the store keeps them while they wait for their span (see store/_waiting_events.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from opentelemetry.sdk.trace import Event

from spyglass.receiver._logs import SpanEvent, SpanKey
from spyglass.store._waiting_events import SpanIds, WaitingEvent


def hex_ids(key: SpanKey) -> SpanIds:
    return format(key[0], "032x"), format(key[1], "016x")


def to_waiting(span_event: SpanEvent, received_ns: int) -> WaitingEvent:
    event = span_event.event
    # ensure_ascii: a lone surrogate becomes an escape, which both stores take as text.
    text = json.dumps(
        {"name": event.name, "timestamp": event.timestamp, "attributes": dict(event.attributes or {})}
    )
    trace_id, span_id = hex_ids(span_event.span)
    return WaitingEvent(trace_id, span_id, received_ns, text)


def from_waiting(texts: Iterable[str]) -> list[Event]:
    """The events again, their attribute values as the SDK has them (sequences as tuples)."""
    events = []
    for text in texts:
        data = json.loads(text)
        attributes = {key: _attribute(value) for key, value in data["attributes"].items()}
        events.append(Event(data["name"], attributes, data["timestamp"]))
    return events


def _attribute(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
