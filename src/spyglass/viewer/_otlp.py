"""A stored trace as OTLP JSON (an `ExportTraceServiceRequest`, as an OTLP/HTTP JSON body carries it).

The records go back to SDK `ReadableSpan`s and through the OTLP exporter's own encoder, so the file is what
any OTLP receiver (`spyglass import`, a collector, Jaeger, Phoenix) reads. Spans still running have no end
time yet: they are left out, and the caller is told how many.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from typing import Any

from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from spyglass.store import SpanRecord


def otlp_json(records: Sequence[SpanRecord]) -> tuple[str, int]:
    """(the OTLP JSON text of the finished spans, how many running spans were left out)."""
    finished = [record for record in records if not record["is_pending"] and record["end_ns"] is not None]
    request = encode_spans([_readable(record) for record in finished])
    document = json_format.MessageToDict(request)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                _ids_to_hex(span, ("traceId", "spanId", "parentSpanId"))
                for link in span.get("links", []):
                    _ids_to_hex(link, ("traceId", "spanId"))
    return json.dumps(document, ensure_ascii=False), len(records) - len(finished)


def _ids_to_hex(item: dict[str, Any], keys: Iterable[str]) -> None:
    """protobuf's JSON has ids in base64; OTLP/JSON wants them as hex."""
    for key in keys:
        if item.get(key):
            item[key] = base64.b64decode(item[key]).hex()


def _context(trace_id: str, span_id: str) -> SpanContext:
    return SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=False, trace_flags=TraceFlags(1))


def _readable(record: SpanRecord) -> ReadableSpan:
    resource = record["resource"] or {}
    scope = record["scope"]
    parent = record["parent_span_id"]
    return ReadableSpan(
        name=record["name"],
        context=_context(record["trace_id"], record["span_id"]),
        parent=_context(record["trace_id"], parent) if parent else None,
        resource=Resource(resource.get("attributes") or {}, resource.get("schema_url") or None),
        attributes=record["attributes"],
        events=[Event(e["name"], e.get("attributes") or {}, int(e["time_ns"])) for e in record["events"]],
        links=[
            Link(_context(link["trace_id"], link["span_id"]), link.get("attributes") or {})
            for link in record["links"]
        ],
        kind=SpanKind[record["span_kind"]],
        status=Status(StatusCode[record["status_code"]], record["status_description"]),
        start_time=record["start_ns"],
        end_time=record["end_ns"],
        instrumentation_scope=InstrumentationScope(scope["name"], scope.get("version")) if scope else None,
    )
