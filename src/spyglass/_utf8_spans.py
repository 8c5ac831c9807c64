"""Spans whose every string is valid UTF-8, for sinks that must encode them (OTLP protobuf, JSON files).

A lone surrogate in a span name, an attribute, an event or a status makes protobuf's encoder raise, and with
it the whole batch the span was sent in. `utf8_safe()` returns the span itself when all its strings encode
(the usual case, checked cheaply), else a copy with each lone surrogate replaced by U+FFFD.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, Status

from spyglass._encoding import valid_utf8


def utf8_safe(span: ReadableSpan) -> ReadableSpan:
    """`span`, or a copy of it whose strings are valid UTF-8."""
    if _valid_span(span):
        return span
    status = span.status
    return ReadableSpan(
        name=valid_utf8(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_attributes(span.attributes),
        events=[Event(valid_utf8(e.name), _attributes(e.attributes), e.timestamp) for e in span.events],
        links=[Link(link.context, _attributes(link.attributes)) for link in span.links],
        kind=span.kind,
        status=Status(status.status_code, _optional(status.description)),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _valid_span(span: ReadableSpan) -> bool:
    return (
        _valid(span.name)
        and _valid_attributes(span.attributes)
        and all(_valid(event.name) and _valid_attributes(event.attributes) for event in span.events)
        and all(_valid_attributes(link.attributes) for link in span.links)
        and _valid(span.status.description or "")
    )


def _valid(text: str) -> bool:
    return text.isascii() or valid_utf8(text) is text


def _valid_attributes(attributes: Mapping[str, Any] | None) -> bool:
    for key, value in (attributes or {}).items():
        if not _valid(key):
            return False
        if isinstance(value, str):
            if not _valid(value):
                return False
        elif isinstance(value, Sequence) and not all(_valid(item) for item in value if isinstance(item, str)):
            return False
    return True


def _attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {valid_utf8(key): _value(value) for key, value in (attributes or {}).items()}


def _value(value: Any) -> Any:
    if isinstance(value, str):
        return valid_utf8(value)
    if isinstance(value, tuple | list):
        return tuple(valid_utf8(item) if isinstance(item, str) else item for item in value)
    return value


def _optional(text: str | None) -> str | None:
    return None if text is None else valid_utf8(text)
