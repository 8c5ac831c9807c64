"""Joining GenAI log records to their spans, whichever of the two arrives first.

An SDK exports spans and logs through separate processors on their own schedules (the Python SDK's batch
processors: logs every second, spans every five), so the records of a call usually arrive before its span,
and sometimes after it. Records whose span has not come yet wait here; recent GenAI spans are kept as they
were sent, so that records arriving later can still be joined and the span written again with them (the
store keeps the copy with the most events). Both are bounded: the oldest go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TypeVar

from opentelemetry.sdk.trace import Event, ReadableSpan

from spyglass.receiver._decode import with_conversation
from spyglass.receiver._logs import SpanEvent, SpanKey

DEFAULT_MAX_SPANS = 10_000
_Value = TypeVar("_Value")


class LogJoiner:
    """Remembers what is needed to join log records to spans; thread-safe."""

    def __init__(self, max_spans: int = DEFAULT_MAX_SPANS) -> None:
        self._max_spans = max_spans
        self._lock = threading.Lock()
        # Records whose span has not been received yet.
        self._waiting: OrderedDict[SpanKey, list[Event]] = OrderedDict()
        # Recent GenAI spans as sent (not normalized), with the records joined to them so far.
        self._spans: OrderedDict[SpanKey, tuple[ReadableSpan, list[Event]]] = OrderedDict()

    def spans_received(self, spans: list[ReadableSpan]) -> list[ReadableSpan]:
        """The spans to store: each with the records that came before it, and normalized."""
        joined = []
        with self._lock:
            for span in spans:
                key = _key(span)
                events = self._waiting.pop(key, [])
                known = self._spans.get(key)
                if known is not None:  # sent again (a retry): keep what was joined to it before
                    known[1].extend(events)
                    events = known[1]
                elif _is_genai(span):
                    _remember(self._spans, key, (span, events), self._max_spans)
                joined.append(with_conversation(span, list(events)))
        return joined

    def events_received(self, span_events: list[SpanEvent]) -> list[ReadableSpan]:
        """The spans to store again, now that these records are joined to them; the other records wait."""
        changed: dict[SpanKey, tuple[ReadableSpan, list[Event]]] = {}
        with self._lock:
            for span_event in span_events:
                key = span_event.span
                known = self._spans.get(key)
                if known is None:
                    waiting = self._waiting.get(key)
                    if waiting is None:
                        _remember(self._waiting, key, [span_event.event], self._max_spans)
                    else:
                        waiting.append(span_event.event)
                    continue
                known[1].append(span_event.event)
                changed[key] = known
            return [with_conversation(span, list(events)) for span, events in changed.values()]


def _remember(table: OrderedDict[SpanKey, _Value], key: SpanKey, value: _Value, limit: int) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > limit:
        table.popitem(last=False)


def _key(span: ReadableSpan) -> SpanKey:
    context = span.context
    return (context.trace_id, context.span_id) if context is not None else (0, 0)


def _is_genai(span: ReadableSpan) -> bool:
    return any(key.startswith("gen_ai.") for key in span.attributes or ())
