"""Turning an OpenTelemetry span into a `spans` row: the columns, the JSON blobs and the searchable text.

Runs on the writer thread (or in a bulk loader), never on the thread that made the span.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.util.types import AttributeValue

from spyglass import _attribute_names as names

PREVIEW_CHARS = 200
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
)


@dataclass
class SpanRow:
    """One `spans` row ready to insert, plus what goes beside it (resource JSON, full-text)."""

    values: dict[str, Any]
    resource: str
    search_text: str
    # For a stream span without a request model: the span whose model it inherits (its link target).
    linked_span: tuple[str, str] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.values["trace_id"], self.values["span_id"]

    @property
    def is_pending(self) -> bool:
        return bool(self.values["is_pending"])


def span_to_row(span: ReadableSpan, *, pending: bool) -> SpanRow:
    """Convert a span; `pending` for a span that has started and not ended (its end fields stay NULL)."""
    context = span.context
    assert context is not None  # the SDK always sets it
    attributes = dict(span.attributes or {})
    end_ns = None if pending else span.end_time
    start_ns = span.start_time or 0
    status = span.status
    scope = span.instrumentation_scope
    parent = span.parent
    links = [_link_dict(link.context.trace_id, link.context.span_id, link.attributes) for link in span.links]
    events = [
        {"name": event.name, "time_ns": event.timestamp, "attributes": _jsonable(event.attributes)}
        for event in ([] if pending else span.events)
    ]
    resource_attributes, resource = _resource_json(span.resource)
    values: dict[str, Any] = {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_span_id": format(parent.span_id, "016x") if parent is not None else None,
        "name": span.name,
        "span_kind": span.kind.name,
        "kind": _str_or_none(attributes.get(names.KIND)),
        "message": _str_or_none(attributes.get(names.MSG)),
        "start_ns": start_ns,
        "end_ns": end_ns,
        "duration_ns": None if end_ns is None else end_ns - start_ns,
        "status_code": "UNSET" if pending else status.status_code.name,
        "status_description": None if pending else status.description,
        "service_name": _str_or_none(resource_attributes.get("service.name")),
        "model": _str_or_none(attributes.get(names.REQUEST_MODEL) or attributes.get(names.RESPONSE_MODEL)),
        "response_model": _str_or_none(attributes.get(names.RESPONSE_MODEL)),
        "provider": _str_or_none(attributes.get(names.PROVIDER_NAME)),
        "operation": _str_or_none(attributes.get(names.OPERATION_NAME)),
        "input_tokens": _int_or_none(attributes.get(names.USAGE_INPUT_TOKENS)),
        "output_tokens": _int_or_none(attributes.get(names.USAGE_OUTPUT_TOKENS)),
        "cost_usd": _float_or_none(attributes.get(names.COST_USD)),
        "prompt_preview": prompt_preview(attributes.get(names.INPUT_MESSAGES)),
        "is_pending": int(pending),
        "attributes": dump_json(attributes),
        "events": dump_json(events),
        "links": dump_json(links),
        "scope": dump_json({"name": scope.name, "version": scope.version}) if scope is not None else None,
    }
    linked = None
    if values["kind"] == names.KIND_LLM_STREAM and attributes.get(names.REQUEST_MODEL) is None and links:
        linked = (links[0]["trace_id"], links[0]["span_id"])
    return SpanRow(values, resource, search_text(attributes), linked)


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
    chunks: list[str] = []
    message = attributes.get(names.MSG)
    if isinstance(message, str):
        chunks.append(message)
    for key in (names.SYSTEM_INSTRUCTIONS, names.INPUT_MESSAGES, names.OUTPUT_MESSAGES):
        raw = attributes.get(key)
        if isinstance(raw, str):
            chunks.extend(_message_texts(raw))
    return "\n".join(chunks)


def prompt_preview(raw: object) -> str | None:
    """The start of the first user message's text, for trace lists."""
    if not isinstance(raw, str):
        return None
    parsed = _loads(raw)
    if parsed is None:
        return raw[:PREVIEW_CHARS]  # a truncated value is no longer JSON; its start still reads well
    for message in _dicts(parsed):
        if message.get("role") == "user":
            text = " ".join(_part_texts(message.get("parts")))
            if text:
                return text[:PREVIEW_CHARS]
    return None


def dump_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _message_texts(raw: str) -> list[str]:
    parsed = _loads(raw)
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
    # encoder writes tuples as lists already, so only a mapping copy is needed.
    return dict(attributes) if attributes else {}


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float_or_none(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
