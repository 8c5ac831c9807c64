"""OTLP trace requests (protobuf or JSON) -> OpenTelemetry SDK `ReadableSpan`s, the store's input.

Every OTLP attribute value has a place: strings, bools, ints, doubles and homogeneous arrays of them stay as
they are; bytes become base64 text; maps (kvlists) and mixed or nested arrays become JSON strings whose keys
are listed in `spyglass.json_keys`, as spyglass's own spans do for structured values. Anything malformed
raises `PayloadError` with a reason fit for a 400 response.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]
from google.protobuf.message import DecodeError, Message  # type: ignore[import-untyped,unused-ignore]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import AttributeValue

from spyglass import _attribute_names as names
from spyglass.receiver.normalize import normalize

_MAX_DEPTH = 32  # nesting of arrays and maps inside one attribute value

_KINDS = {
    trace_pb2.Span.SPAN_KIND_INTERNAL: SpanKind.INTERNAL,
    trace_pb2.Span.SPAN_KIND_SERVER: SpanKind.SERVER,
    trace_pb2.Span.SPAN_KIND_CLIENT: SpanKind.CLIENT,
    trace_pb2.Span.SPAN_KIND_PRODUCER: SpanKind.PRODUCER,
    trace_pb2.Span.SPAN_KIND_CONSUMER: SpanKind.CONSUMER,
}
_STATUS = {
    trace_pb2.Status.STATUS_CODE_OK: StatusCode.OK,
    trace_pb2.Status.STATUS_CODE_ERROR: StatusCode.ERROR,
}


class PayloadError(ValueError):
    """The request body is not a valid OTLP export; the message says what is wrong."""


def parse_protobuf(body: bytes) -> ExportTraceServiceRequest:
    """Parse an `application/x-protobuf` body."""
    return parse_protobuf_message(body, ExportTraceServiceRequest())


def parse_json(body: bytes) -> ExportTraceServiceRequest:
    """Parse an `application/json` body (OTLP/JSON: ids as hex strings, enums as names or numbers)."""
    return parse_json_message(body, ExportTraceServiceRequest(), "resourceSpans", _hex_ids_to_base64)


_Request = TypeVar("_Request", bound=Message)


def parse_protobuf_message(body: bytes, request: _Request) -> _Request:
    """Fill `request`, an export request message, from a protobuf body."""
    try:
        request.ParseFromString(body)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise PayloadError(f"the body is not a protobuf {type(request).__name__}: {exc}") from None
    return request


def parse_json_message(
    body: bytes, request: _Request, top_key: str, hex_ids_to_base64: Callable[[dict[str, Any]], None]
) -> _Request:
    """Fill `request` from an OTLP/JSON body, whose ids `hex_ids_to_base64` converts for protobuf's parser."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"the body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise PayloadError(f"the body must be a JSON object with a {top_key!r} list")
    hex_ids_to_base64(document)
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise PayloadError(f"the body is not an OTLP/JSON {type(request).__name__}: {exc}") from None
    return request


def with_conversation(span: ReadableSpan, more_events: Sequence[Event] = ()) -> ReadableSpan:
    """`span` as decoded, plus `more_events` (log records joined to it), plus what `normalize()` adds.

    `span` must be as decoded (not normalized yet): an attribute `normalize()` added would stop it from
    looking again once more events are known.
    """
    events = list(span.events)
    if more_events:
        events = sorted([*events, *more_events], key=lambda event: event.timestamp or 0)
    attributes = dict(span.attributes or {})
    added = normalize(span.name, attributes, events)
    if not added and not more_events:
        return span
    attributes.update(added)
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def decoded_spans(request: ExportTraceServiceRequest) -> list[ReadableSpan]:
    """Every span of the request as it was sent, without `normalize()`."""
    spans: list[ReadableSpan] = []
    for r_index, resource_spans in enumerate(request.resource_spans):
        where = f"resourceSpans[{r_index}]"
        attributes, _ = _attributes(resource_spans.resource.attributes, where)
        resource = Resource(attributes, resource_spans.schema_url or None)
        for s_index, scope_spans in enumerate(resource_spans.scope_spans):
            scope = _scope(scope_spans, f"{where}.scopeSpans[{s_index}]")
            for index, span in enumerate(scope_spans.spans):
                spans.append(_span(span, resource, scope, f"{where}.scopeSpans[{s_index}].spans[{index}]"))
    return spans


def _scope(scope_spans: trace_pb2.ScopeSpans, where: str) -> InstrumentationScope:
    scope = scope_spans.scope
    attributes, _ = _attributes(scope.attributes, where + ".scope")
    return InstrumentationScope(scope.name, scope.version or None, scope_spans.schema_url or None, attributes)


def _span(span: trace_pb2.Span, resource: Resource, scope: InstrumentationScope, where: str) -> ReadableSpan:
    trace_id = _id(span.trace_id, 16, where + ".traceId", required=True)
    span_id = _id(span.span_id, 8, where + ".spanId", required=True)
    parent_id = _id(span.parent_span_id, 8, where + ".parentSpanId", required=False)
    flags = TraceFlags(span.flags & 0xFF) if span.flags & 0xFF else TraceFlags(TraceFlags.SAMPLED)
    context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=flags)
    parent = SpanContext(trace_id, parent_id, is_remote=True, trace_flags=flags) if parent_id else None
    attributes, json_keys = _attributes(span.attributes, where)
    events = [
        Event(event.name, _attributes(event.attributes, f"{where}.events[{i}]")[0], event.time_unix_nano)
        for i, event in enumerate(span.events)
    ]
    links = [_link(link, f"{where}.links[{i}]") for i, link in enumerate(span.links)]
    if json_keys:
        attributes[names.JSON_KEYS] = _merge_json_keys(attributes.get(names.JSON_KEYS), json_keys)
    status_code = _STATUS.get(span.status.code, StatusCode.UNSET)
    start = span.start_time_unix_nano
    return ReadableSpan(
        name=span.name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=attributes,
        events=events,
        links=links,
        kind=_KINDS.get(span.kind, SpanKind.INTERNAL),
        status=Status(
            status_code, (span.status.message or None) if status_code is StatusCode.ERROR else None
        ),
        start_time=start,
        end_time=max(span.end_time_unix_nano, start),
        instrumentation_scope=scope,
    )


def _link(link: trace_pb2.Span.Link, where: str) -> Link:
    trace_id = _id(link.trace_id, 16, where + ".traceId", required=True)
    span_id = _id(link.span_id, 8, where + ".spanId", required=True)
    flags = TraceFlags(link.flags & 0xFF)
    attributes, _ = _attributes(link.attributes, where)
    return Link(SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags), attributes)


def _id(raw: bytes, size: int, where: str, *, required: bool) -> int:
    if not raw and not required:
        return 0
    if len(raw) != size:
        raise PayloadError(f"{where} must be {size} bytes ({size * 2} hex digits), got {len(raw)}")
    value = int.from_bytes(raw, "big")
    if value == 0 and required:
        raise PayloadError(f"{where} is all zeros, which is not a valid id")
    return value


# --- attribute values ---------------------------------------------------------------------------------------


def _attributes(pairs: Iterable[KeyValue], where: str) -> tuple[dict[str, AttributeValue], list[str]]:
    """The SDK attributes of an OTLP list, and the keys whose values were encoded as JSON."""
    attributes: dict[str, AttributeValue] = {}
    json_keys: list[str] = []
    for pair in pairs:
        value, is_json = _attribute_value(pair.value, f"{where} attribute {pair.key!r}")
        if value is None:
            continue
        attributes[pair.key] = value
        if is_json:
            json_keys.append(pair.key)
    return attributes, json_keys


def _attribute_value(value: AnyValue, where: str) -> tuple[AttributeValue | None, bool]:
    which = value.WhichOneof("value")
    if which is None:
        return None, False
    if which == "array_value":
        items = [_plain(item, where, 1) for item in value.array_value.values]
        item_types = {type(item) for item in items}
        if len(item_types) <= 1 and item_types <= {str, bool, int, float}:
            return tuple(items), False
        return _dump(items), True
    if which == "kvlist_value":
        return _dump(_plain(value, where, 0)), True
    return _plain(value, where, 0), False


def _plain(value: AnyValue, where: str, depth: int) -> Any:
    """An AnyValue as plain Python: bytes as base64 text, arrays as lists, kvlists as dicts."""
    if depth > _MAX_DEPTH:
        raise PayloadError(f"{where} is nested more than {_MAX_DEPTH} levels deep")
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "bool_value":
        return value.bool_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if which == "array_value":
        return [_plain(item, where, depth + 1) for item in value.array_value.values]
    if which == "kvlist_value":
        return {pair.key: _plain(pair.value, where, depth + 1) for pair in value.kvlist_value.values}
    return None


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _merge_json_keys(existing: AttributeValue | None, keys: Sequence[str]) -> str:
    merged: list[str] = []
    if isinstance(existing, str):
        try:
            parsed = json.loads(existing)
        except ValueError:
            parsed = []
        if isinstance(parsed, list):
            merged = [key for key in parsed if isinstance(key, str)]
    merged.extend(key for key in keys if key not in merged)
    return _dump(merged)


# --- OTLP/JSON ids ------------------------------------------------------------------------------------------

_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _hex_ids_to_base64(document: Mapping[str, Any]) -> None:
    """OTLP/JSON writes ids as hex where protobuf's JSON mapping expects base64: convert them in place."""
    for resource_spans in _list(document, "resourceSpans", "resource_spans"):
        for scope_spans in _list(resource_spans, "scopeSpans", "scope_spans"):
            for index, span in enumerate(_list(scope_spans, "spans")):
                _convert_ids(span, f"span {index}")
                for link in _list(span, "links"):
                    _convert_ids(link, f"a link of span {index}")


def _list(parent: object, *keys: str) -> list[Any]:
    if not isinstance(parent, dict):
        return []
    for key in keys:
        value = parent.get(key)
        if value is not None:
            if not isinstance(value, list):
                raise PayloadError(f"{key!r} must be a list")
            return value
    return []


def _convert_ids(item: object, where: str) -> None:
    if not isinstance(item, dict):
        return
    for key in _ID_FIELDS:
        raw = item.get(key)
        if raw is None:
            continue
        if not isinstance(raw, str):
            raise PayloadError(f"{key} of {where} must be a hex string, got {type(raw).__name__}")
        try:
            item[key] = base64.b64encode(bytes.fromhex(raw)).decode("ascii")
        except ValueError:
            raise PayloadError(f"{key} of {where} is not hex: {raw[:40]!r}") from None
