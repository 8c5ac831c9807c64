"""A frozen copy of a span as it is at its start, for sinks that read it later on another thread.

A live span keeps changing (`set_attribute()`, `update_name()`) and only the scrubbed values of its start
are known to be clean: a sink that shows a started span (the store's pending row) reads this copy, taken
after the scrubbing processor ran, never the live span.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan

_PLAIN_TYPES = (str, int, float, bool)


def started_snapshot(span: ReadableSpan) -> ReadableSpan:
    """The span's name, attributes and links now, with no events, status or end."""
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_copy(span),
        links=tuple(span.links),
        kind=span.kind,
        start_time=span.start_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _copy(span: ReadableSpan) -> dict[str, Any]:
    # The plain dict inside the SDK's BoundedAttributes copies in one C call; its mapping API is per key.
    raw = getattr(getattr(span, "_attributes", None), "_dict", None)
    return dict(raw) if isinstance(raw, dict) else dict(span.attributes or {})


def with_attributes(span: ReadableSpan, attributes: dict[str, Any]) -> ReadableSpan:
    """A copy of an ended span holding `attributes` instead of its own (the span itself is left as it is:
    other sinks hold it too)."""
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def frozen_attributes(attributes: Mapping[str, Any], dropped: int = 0) -> BoundedAttributes:
    """`attributes` as the SDK's immutable `BoundedAttributes`, without limits.

    Cleaning every value through the SDK's checks cost more than building the attributes: plain values
    (nearly all of them) are taken as they are, anything else is cleaned by the SDK as `set_attribute` does.
    """
    plain: dict[str, Any] = {}
    for key, value in attributes.items():
        if type(value) in _PLAIN_TYPES:
            plain[key] = value
            continue
        cleaned = BoundedAttributes(attributes={key: value}, immutable=False, max_value_len=None)._dict
        if key in cleaned:
            plain[key] = cleaned[key]
    frozen = BoundedAttributes(immutable=True, max_value_len=None)
    frozen._dict = plain
    frozen.dropped = dropped
    return frozen
