"""Joining GenAI log records to their spans, whichever of the two arrives first.

An SDK exports spans and logs through separate processors on their own schedules (the Python SDK's batch
processors: logs every second, spans every five), so the records of a call usually arrive before its span,
and sometimes after it. Records whose span has not come yet wait here (and in the store, where the receiver
keeps them before it answers: see store/_waiting_events.py); recent GenAI spans are kept as they were sent,
so that records arriving later can still be joined and the span written again with them (the store keeps
the copy with the most events). Both are bounded in count and in bytes (the text they hold): the oldest go
first; a record past its span's own bound is dropped and counted.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TypeVar

from opentelemetry.sdk.trace import Event, ReadableSpan

from spyglass.receiver._decode import with_conversation
from spyglass.receiver._logs import SpanEvent, SpanKey

DEFAULT_MAX_SPANS = 10_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""What the joiner holds at most, roughly, in bytes: waiting records and remembered spans together."""
DEFAULT_MAX_SPAN_BYTES = 4 * 1024 * 1024
"""The records joined to one span at most, in bytes; later ones are dropped and counted."""
_Value = TypeVar("_Value")
_ENTRY_BYTES = 256  # an entry's objects, before its text


class LogJoiner:
    """Remembers what is needed to join log records to spans; thread-safe."""

    def __init__(
        self,
        max_spans: int = DEFAULT_MAX_SPANS,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_span_bytes: int = DEFAULT_MAX_SPAN_BYTES,
    ) -> None:
        self._max_spans = max_spans
        self._max_bytes = max_bytes
        self._max_span_bytes = max_span_bytes
        self._lock = threading.Lock()
        # Records whose span has not been received yet.
        self._waiting: OrderedDict[SpanKey, list[Event]] = OrderedDict()
        # Recent GenAI spans as sent (not normalized), with the records joined to them so far.
        self._spans: OrderedDict[SpanKey, tuple[ReadableSpan, list[Event]]] = OrderedDict()
        self._sizes: dict[SpanKey, int] = {}  # bytes held per key (in either table)
        self._bytes = 0
        self.dropped_events = 0

    @property
    def held_bytes(self) -> int:
        """What the joiner holds now, roughly, in bytes."""
        return self._bytes

    def waits_for(self, span: ReadableSpan) -> bool:
        """Whether records for this span wait here (else they may wait in the store, from another receiver)."""
        return span_key(span) in self._waiting

    def spans_received(
        self, spans: list[ReadableSpan], stored: Mapping[SpanKey, list[Event]] | None = None
    ) -> tuple[list[ReadableSpan], list[SpanKey]]:
        """The spans to store, each with the records that came before it (here, or `stored` ones from the
        store), and normalized; and the keys of the spans that were joined to records."""
        joined = []
        with_records: list[SpanKey] = []
        with self._lock:
            for span in spans:
                key = span_key(span)
                # A request answered 503 comes again: a record kept twice is joined once.
                events = _unique(self._waiting.pop(key, []) or (stored or {}).get(key, []))
                if events:
                    with_records.append(key)
                known = self._spans.get(key)
                if known is not None:  # sent again (a retry): keep what was joined to it before
                    known[1].extend(events)
                    events = known[1]
                elif is_genai(span):
                    self._add_bytes(key, _attributes_bytes(span.attributes))
                    self._remember(self._spans, key, (span, events))
                else:
                    self._forget_bytes(key)
                joined.append(with_conversation(span, list(events)))
            self._evict_past_bytes()
        return joined, with_records

    def events_received(self, span_events: list[SpanEvent]) -> tuple[list[ReadableSpan], list[SpanEvent]]:
        """The spans to store again, now that these records are joined to them; and the records that wait
        for their span."""
        changed: dict[SpanKey, tuple[ReadableSpan, list[Event]]] = {}
        waiting_now: list[SpanEvent] = []
        with self._lock:
            for span_event in span_events:
                key = span_event.span
                size = _attributes_bytes(span_event.event.attributes) + len(span_event.event.name)
                if self._sizes.get(key, 0) + size > self._max_span_bytes:
                    self.dropped_events += 1
                    continue
                self._add_bytes(key, size)
                known = self._spans.get(key)
                if known is None:
                    waiting = self._waiting.get(key)
                    if waiting is None:
                        self._remember(self._waiting, key, [span_event.event])
                    else:
                        waiting.append(span_event.event)
                    waiting_now.append(span_event)
                    continue
                known[1].append(span_event.event)
                changed[key] = known
            self._evict_past_bytes()
            return [with_conversation(span, list(events)) for span, events in changed.values()], waiting_now

    def _remember(self, table: OrderedDict[SpanKey, _Value], key: SpanKey, value: _Value) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self._max_spans:
            self._evict(table is self._waiting)

    def _evict_past_bytes(self) -> None:
        # Waiting records go first (the oldest): a remembered span is stored already, its records with it.
        while self._bytes > self._max_bytes and (self._waiting or self._spans):
            self._evict(bool(self._waiting))

    def _evict(self, waiting: bool) -> None:
        if waiting:
            key, events = self._waiting.popitem(last=False)
            self.dropped_events += len(events)
        else:
            key, _ = self._spans.popitem(last=False)
        self._forget_bytes(key)

    def _add_bytes(self, key: SpanKey, size: int) -> None:
        before = self._sizes.get(key)
        added = size if before is not None else size + _ENTRY_BYTES
        self._sizes[key] = (before or 0) + added
        self._bytes += added

    def _forget_bytes(self, key: SpanKey) -> None:
        if key not in self._waiting and key not in self._spans:
            self._bytes -= self._sizes.pop(key, 0)


def _unique(events: Sequence[Event]) -> list[Event]:
    seen: set[tuple[str, int | None, str]] = set()
    unique = []
    for event in events:
        identity = (event.name, event.timestamp, repr(sorted((event.attributes or {}).items())))
        if identity not in seen:
            seen.add(identity)
            unique.append(event)
    return unique


def _attributes_bytes(attributes: Mapping[str, object] | None) -> int:
    size = 0
    for value in (attributes or {}).values():
        size += len(value) if isinstance(value, str) else 16
    return size


def span_key(span: ReadableSpan) -> SpanKey:
    context = span.context
    return (context.trace_id, context.span_id) if context is not None else (0, 0)


def is_genai(span: ReadableSpan) -> bool:
    return any(key.startswith("gen_ai.") for key in span.attributes or ())
