"""Turning an OpenTelemetry span into a `spans` row: the columns, the JSON blobs and the searchable text.

Runs on the writer thread (or in a bulk loader), never on the thread that made the span.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind
from opentelemetry.util.types import AttributeValue

from spyglass import _attribute_names as names
from spyglass._encoding import safe_repr, truncate, valid_utf8

PREVIEW_CHARS = 200
MAX_VALUE_CHARS = 1024 * 1024
"""The longest string value kept whole in a row (spyglass's own spans keep 128 KiB at most already)."""
_MAX_JSON_DEPTH = 32
_ROW_OVERHEAD = 600  # the dict, the short columns and the objects around them
_INT64 = (-(2**63), 2**63)
_TEXT_PART_TYPES = frozenset({"text", "reasoning", "refusal"})

SPAN_COLUMNS: tuple[str, ...] = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "span_kind",
    "kind",
    "message",
    "start_ns",
    "end_ns",
    "duration_ns",
    "status_code",
    "status_description",
    "service_name",
    "model",
    "response_model",
    "provider",
    "operation",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "prompt_preview",
    "is_pending",
    "attributes",
    "events",
    "links",
    "scope",
    # What groups traces into threads (see store/_threads.py); NULL on most spans.
    "thread_key",
    "thread_source",
    "response_id",
    "previous_response_id",
)


@dataclass
class SpanRow:
    """One `spans` row ready to insert, plus what goes beside it (resource JSON, full-text)."""

    values: dict[str, Any]
    resource: str
    search_text: str
    # For a stream span without a request model: the span whose model it inherits (its link target).
    linked_span: tuple[str, str] | None = None
    # Roughly what the row holds in memory, in bytes (its text, mostly): what the writer's buffer bound counts.
    size: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return self.values["trace_id"], self.values["span_id"]

    @property
    def is_pending(self) -> bool:
        return bool(self.values["is_pending"])


class StartedSpan(NamedTuple):
    """What a pending row needs of a span, copied when it starts: the writer thread never reads a live span
    (an attribute set later, a secret say, must wait for the span's end and the scrubber)."""

    name: str
    context: SpanContext | None
    parent: SpanContext | None
    kind: SpanKind
    attributes: dict[str, AttributeValue]
    start_time: int | None
    links: Sequence[Link]
    resource: Resource
    instrumentation_scope: InstrumentationScope | None

    @classmethod
    def of(cls, span: ReadableSpan) -> StartedSpan:
        """The copy, taken on the caller's thread (a dict copy of the attributes; the rest is immutable)."""
        return cls(
            span.name,
            span.context,
            span.parent,
            span.kind,
            _attributes_copy(span),
            span.start_time,
            span.links,  # a tuple, copied by the property
            span.resource,
            span.instrumentation_scope,
        )


def _attributes_copy(span: ReadableSpan | StartedSpan) -> dict[str, AttributeValue]:
    # The SDK's BoundedAttributes is a Python mapping: copying it item by item costs ~5 µs on the caller's
    # thread; the plain dict inside it copies in one C call (atomic under the GIL). Public API otherwise.
    inner = getattr(getattr(span, "_attributes", None), "_dict", None)
    if isinstance(inner, dict):
        return dict(inner)
    return dict(span.attributes or ())


def span_to_row(span: ReadableSpan | StartedSpan, *, pending: bool) -> SpanRow:
    """Convert a span; `pending` for a span that has started and not ended (its end fields stay NULL).

    Whatever the span holds (lone surrogates, NUL, huge or exotic values), the row is valid UTF-8 text and
    valid JSON: one odd span must never cost the batch it is written with.
    """
    context = span.context
    if context is None:
        raise ValueError("a span without a context cannot be stored")
    attributes = _attributes_copy(span)  # the JSON encoder's fast path takes a dict, not a mapping proxy
    finished = not pending and not isinstance(span, StartedSpan)
    end_ns = _ns(span.end_time) if finished else None  # type: ignore[union-attr]
    start_ns = _ns(span.start_time) or 0
    parent = span.parent
    links = (
        [_link_dict(link.context.trace_id, link.context.span_id, link.attributes) for link in span.links]
        if span.links
        else None
    )
    events = span.events if finished else None  # type: ignore[union-attr]
    status = span.status if finished else None  # type: ignore[union-attr]
    resource_attributes, resource = _resource_json(span.resource)
    attributes_json = dump_json(attributes)
    events_json = (
        dump_json(
            [
                {"name": event.name, "time_ns": event.timestamp, "attributes": _jsonable(event.attributes)}
                for event in events
            ]
        )
        if events
        else "[]"
    )
    get = attributes.get
    kind = _str_or_none(get(names.KIND))
    request_model = get(names.REQUEST_MODEL)
    response_model = _str_or_none(get(names.RESPONSE_MODEL))
    input_messages = _loads_messages(get(names.INPUT_MESSAGES))
    values: dict[str, Any] = {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_span_id": format(parent.span_id, "016x") if parent is not None else None,
        "name": _text(span.name),
        "span_kind": _span_kind(span.kind),
        "kind": kind,
        "message": _str_or_none(get(names.MSG)),
        "start_ns": start_ns,
        "end_ns": end_ns,
        "duration_ns": None if end_ns is None else end_ns - start_ns,
        "status_code": "UNSET" if status is None else _text(status.status_code.name),
        "status_description": None if status is None else _str_or_none(status.description),
        "service_name": _str_or_none(resource_attributes.get("service.name")),
        "model": _str_or_none(request_model or response_model),
        "response_model": response_model,
        "provider": _str_or_none(get(names.PROVIDER_NAME)),
        "operation": _str_or_none(get(names.OPERATION_NAME)),
        "input_tokens": _int_or_none(get(names.USAGE_INPUT_TOKENS)),
        "output_tokens": _int_or_none(get(names.USAGE_OUTPUT_TOKENS)),
        "cost_usd": _float_or_none(get(names.COST_USD)),
        "prompt_preview": _preview(input_messages),
        "is_pending": int(end_ns is None),
        "attributes": attributes_json,
        "events": events_json,
        "links": dump_json(links) if links else "[]",
        "scope": _scope_json(span.instrumentation_scope),
    }
    values.update(_thread_values(get))
    linked = None
    if kind == names.KIND_LLM_STREAM and request_model is None and links:
        linked = (links[0]["trace_id"], links[0]["span_id"])
    text = _search_text(attributes, input_messages)
    size = _ROW_OVERHEAD + len(attributes_json) + len(events_json) + len(text)
    return SpanRow(values, resource, text, linked, size)


def _thread_values(get: Callable[[str], object]) -> dict[str, str | None]:
    """The span's thread columns: its session (or else conversation) id, and for a Responses API call its
    response id and the response it continues."""
    key, source = _str_or_none(get(names.SESSION_ID)), "session"
    if not key:
        key, source = _str_or_none(get(names.CONVERSATION_ID)), "conversation"
    previous = _str_or_none(get(names.REQUEST_PREVIOUS_RESPONSE_ID)) or None
    is_responses = get(names.OPENAI_API_TYPE) == "responses" or previous is not None
    return {
        "thread_key": key or None,
        "thread_source": source if key else None,
        "response_id": (_str_or_none(get(names.RESPONSE_ID)) or None) if is_responses else None,
        "previous_response_id": previous,
    }


def _span_kind(kind: object) -> str:
    name = getattr(kind, "name", None)
    return name if type(name) is str else _text(kind)


def _scope_json(scope: InstrumentationScope | None) -> str | None:
    if scope is None:
        return None
    cached = _scope_cache.get(id(scope))
    if cached is None or cached[0] is not scope:
        if len(_scope_cache) >= _RESOURCE_CACHE_SIZE:
            _scope_cache.clear()
        cached = (scope, dump_json({"name": scope.name, "version": scope.version}))
        _scope_cache[id(scope)] = cached
    return cached[1]


_scope_cache: dict[int, tuple[InstrumentationScope, str]] = {}


def _resource_json(resource: Resource) -> tuple[Mapping[str, AttributeValue], str]:
    # Every span of a provider shares one Resource: encode it once. The cache holds the Resource itself,
    # so its id() cannot be reused by another object while cached.
    cached = _resource_cache.get(id(resource))
    if cached is None:
        if len(_resource_cache) >= _RESOURCE_CACHE_SIZE:
            _resource_cache.clear()
        attributes = dict(resource.attributes)
        cached = (
            resource,
            attributes,
            dump_json({"attributes": attributes, "schema_url": resource.schema_url}),
        )
        _resource_cache[id(resource)] = cached
    return cached[1], cached[2]


_RESOURCE_CACHE_SIZE = 64
_resource_cache: dict[int, tuple[Resource, Mapping[str, AttributeValue], str]] = {}


def search_text(attributes: Mapping[str, AttributeValue]) -> str:
    """The words full-text search finds a span by: its message and the text of its conversation."""
    return _search_text(attributes, _loads_messages(attributes.get(names.INPUT_MESSAGES)))


def _search_text(attributes: Mapping[str, AttributeValue], input_messages: _Parsed) -> str:
    chunks: list[str] = []
    message = attributes.get(names.MSG)
    if isinstance(message, str):
        chunks.append(message)
    for key in (names.SYSTEM_INSTRUCTIONS, names.INPUT_MESSAGES, names.OUTPUT_MESSAGES):
        parsed = input_messages if key == names.INPUT_MESSAGES else _loads_messages(attributes.get(key))
        if parsed is not None:
            chunks.extend(_message_texts(parsed))
    if not chunks:
        return ""
    return valid_utf8(truncate("\n".join(chunks), MAX_VALUE_CHARS))


def prompt_preview(raw: object) -> str | None:
    """The start of the first user message's text, for trace lists."""
    return _preview(_loads_messages(raw))


# A conversation attribute: (the raw string, its parsed JSON or None when it is not JSON), or None.
_Parsed: TypeAlias = "tuple[str, object] | None"


def _loads_messages(raw: object) -> _Parsed:
    if not isinstance(raw, str):
        return None
    return raw, _loads(raw)


def _preview(messages: _Parsed) -> str | None:
    if messages is None:
        return None
    raw, parsed = messages
    if parsed is None:
        return valid_utf8(raw[:PREVIEW_CHARS])  # a truncated value is no longer JSON; its start reads well
    for message in _dicts(parsed):
        if message.get("role") == "user":
            text = " ".join(_part_texts(message.get("parts")))
            if text:
                return valid_utf8(text[:PREVIEW_CHARS])
    return None


def dump_json(value: object) -> str:
    """Compact JSON of `value`, valid whatever it holds: exotic values as text, NaN and infinities as
    strings (SQLite's JSON functions reject them), strings cut at `MAX_VALUE_CHARS`, no lone surrogates."""
    try:
        text = _ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError):
        text = json.dumps(_safe_json(value, 0), ensure_ascii=False, separators=(",", ":"))
    else:
        if len(text) > MAX_VALUE_CHARS:  # some value may be over the limit: cut them one by one
            text = json.dumps(_safe_json(value, 0), ensure_ascii=False, separators=(",", ":"))
    return valid_utf8(text)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _safe_json(value: object, depth: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return truncate(value, MAX_VALUE_CHARS)
    if isinstance(value, int):
        return value if _INT64[0] <= value < _INT64[1] else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= _MAX_JSON_DEPTH:
        return "...[max depth]"
    if isinstance(value, Mapping):
        return {_text(key): _safe_json(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_safe_json(item, depth + 1) for item in value]
    if isinstance(value, bytes | bytearray):
        return truncate(bytes(value).decode("utf-8", "replace"), MAX_VALUE_CHARS)
    return truncate(safe_repr(value), MAX_VALUE_CHARS)


def _text(value: object) -> str:
    """A text column's value, whatever was given."""
    if type(value) is str and value.isascii() and len(value) <= MAX_VALUE_CHARS:
        return value
    text = value if isinstance(value, str) else safe_repr(value)
    return valid_utf8(truncate(text, MAX_VALUE_CHARS))


def _ns(value: object) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return min(max(value, 0), _INT64[1] - 1)


def _message_texts(messages: tuple[str, object]) -> list[str]:
    raw, parsed = messages
    if parsed is None:
        return [raw]  # cut at the size limit: index it as it is rather than lose it
    texts: list[str] = []
    for item in _dicts(parsed):
        if "parts" in item:
            texts.extend(_part_texts(item["parts"]))
        else:  # system instructions are a list of parts directly
            texts.extend(_part_texts([item]))
    return texts


def _part_texts(parts: object) -> list[str]:
    texts: list[str] = []
    for part in _dicts(parts):
        if part.get("type") in _TEXT_PART_TYPES and isinstance(part.get("content"), str):
            texts.append(part["content"])
        elif part.get("type") == "tool_call_response" and isinstance(part.get("response"), str):
            texts.append(part["response"])
    return texts


def _dicts(value: object) -> Iterable[dict[str, Any]]:
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def _loads(raw: str) -> object | None:
    try:
        parsed: object = json.loads(raw)
    except ValueError:
        return None
    return parsed


def _link_dict(
    trace_id: int, span_id: int, attributes: Mapping[str, AttributeValue] | None
) -> dict[str, Any]:
    return {
        "trace_id": format(trace_id, "032x"),
        "span_id": format(span_id, "016x"),
        "attributes": _jsonable(attributes),
    }


def _jsonable(attributes: Mapping[str, AttributeValue] | None) -> dict[str, Any]:
    # Attribute values are primitives or tuples of them (the SDK turns sequences into tuples); the JSON
    # encoder writes tuples as lists already, so only a mapping copy is needed (of the SDK's plain dict
    # inside its BoundedAttributes when there is one: its mapping API goes through Python per key).
    if not attributes:
        return {}
    inner = getattr(attributes, "_dict", None)
    return dict(inner) if isinstance(inner, dict) else dict(attributes)


def _str_or_none(value: object) -> str | None:
    if type(value) is str and value.isascii() and len(value) <= MAX_VALUE_CHARS:
        return value
    return _text(value) if isinstance(value, str) else None


def _int_or_none(value: object) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return value if _INT64[0] <= value < _INT64[1] else None


def _float_or_none(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
