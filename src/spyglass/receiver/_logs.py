"""OTLP log requests (protobuf or JSON) -> the span events they stand for.

GenAI instrumentations may send a call's conversation as log records tied to its span rather than on the
span itself: the contrib openai-v2 instrumentation does by default (`gen_ai.system.message`,
`gen_ai.user.message`, `gen_ai.choice`...), and in its latest-conventions `event_only` mode it sends one
`gen_ai.client.inference.operation.details` record holding `gen_ai.input.messages` and the rest. Each such
record becomes an `Event` of its span: the record's attributes, plus its body as a JSON `body` attribute,
which is where `normalize()` reads an event's body from.

spyglass stores traces, not logs: a record that names no span, or is no GenAI event, is passed over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.sdk.trace import Event

from spyglass.receiver._decode import (
    _attributes,
    _convert_ids,
    _dump,
    _id,
    _list,
    _plain,
    parse_json_message,
    parse_protobuf_message,
)

SpanKey = tuple[int, int]  # (trace id, span id)


@dataclass(frozen=True)
class SpanEvent:
    """A GenAI log record, as the event it adds to the span it names."""

    span: SpanKey
    event: Event


def parse_logs_protobuf(body: bytes) -> ExportLogsServiceRequest:
    """Parse an `application/x-protobuf` body of `POST /v1/logs`."""
    return parse_protobuf_message(body, ExportLogsServiceRequest())


def parse_logs_json(body: bytes) -> ExportLogsServiceRequest:
    """Parse an `application/json` body of `POST /v1/logs` (ids as hex strings)."""
    return parse_json_message(body, ExportLogsServiceRequest(), "resourceLogs", _hex_ids_to_base64)


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    for resource_logs in _list(document, "resourceLogs", "resource_logs"):
        for scope_logs in _list(resource_logs, "scopeLogs", "scope_logs"):
            for index, record in enumerate(_list(scope_logs, "logRecords", "log_records")):
                _convert_ids(record, f"log record {index}")


def span_events(request: ExportLogsServiceRequest) -> list[SpanEvent]:
    """The request's GenAI log records that name a span, as events of those spans."""
    found: list[SpanEvent] = []
    for r_index, resource_logs in enumerate(request.resource_logs):
        for s_index, scope_logs in enumerate(resource_logs.scope_logs):
            for index, record in enumerate(scope_logs.log_records):
                where = f"resourceLogs[{r_index}].scopeLogs[{s_index}].logRecords[{index}]"
                span_event = _span_event(record, where)
                if span_event is not None:
                    found.append(span_event)
    return found


def _span_event(record: logs_pb2.LogRecord, where: str) -> SpanEvent | None:
    attributes, _ = _attributes(record.attributes, where)
    name = record.event_name or attributes.pop("event.name", None)
    if not isinstance(name, str) or not name.startswith("gen_ai."):
        return None
    trace_id = _id(record.trace_id, 16, where + ".traceId", required=False)
    span_id = _id(record.span_id, 8, where + ".spanId", required=False)
    if not trace_id or not span_id:
        return None
    if record.HasField("body"):
        body: Any = _plain(record.body, where + ".body", 0)
        if body is not None:
            attributes["body"] = body if isinstance(body, str) else _dump(body)
    timestamp = record.time_unix_nano or record.observed_time_unix_nano or None
    return SpanEvent((trace_id, span_id), Event(name, attributes, timestamp))
