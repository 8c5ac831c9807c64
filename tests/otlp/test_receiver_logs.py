"""`POST /v1/logs`: GenAI log records sent apart from their spans join them, whichever arrives first.

The main case is software we did not write: the contrib openai-v2 instrumentation, in its `event_only` mode,
sends a call's conversation as a log record through the official OTLP log exporter, and its span through the
span exporter, to our receiver.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
from dirty_equals import IsStr
from otlp_helpers import RunningReceiver, genai_span_request

from spyglass.demo.server import DemoServer

CALLER = textwrap.dedent(
    """
    import sys
    import openai
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint, base_url, first = sys.argv[1], sys.argv[2], sys.argv[3]
    resource = Resource.create({"service.name": "contrib-openai"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces")))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint + "/v1/logs"))
    )
    OpenAIInstrumentor().instrument(tracer_provider=tracer_provider, logger_provider=logger_provider)

    client = openai.OpenAI(api_key="sk-test", base_url=base_url, max_retries=0)
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
    )
    providers = [logger_provider, tracer_provider]
    if first == "spans":
        providers.reverse()
    for provider in providers:
        provider.shutdown()
    """
)

# (Its older default, one `gen_ai.user.message`... record per message, is gone from the util-genai it now
# runs on; that shape is checked below with hand-made records.)
MODES = {
    mode: {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": mode,
    }
    for mode in ("event_only", "span_and_event")
}


def _run_caller(receiver: RunningReceiver, server: DemoServer, tmp_path: Path, mode: str, first: str) -> None:
    caller = tmp_path / "caller.py"
    caller.write_text(CALLER)
    environment = {**os.environ, **MODES[mode]}
    for name in ("OTEL_SEMCONV_STABILITY_OPT_IN", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"):
        if name not in MODES[mode]:
            environment.pop(name, None)
    command = [sys.executable, str(caller), receiver.endpoint, server.base_url, first]
    subprocess.run(command, check=True, timeout=60, env=environment)


@pytest.mark.parametrize("first", ["logs", "spans"])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_contrib_conversation_sent_as_logs_joins_its_span(
    receiver: RunningReceiver, server: DemoServer, tmp_path: Path, mode: str, first: str
) -> None:
    _run_caller(receiver, server, tmp_path, mode, first)

    (span,) = receiver.spans()
    assert (span["kind"], span["message"], span["prompt_preview"]) == (
        "llm",
        "Chat Completion with 'gpt-4o-mini'",
        "What is the capital of France?",
    )
    attributes = span["attributes"]
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Answer briefly."}]},
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]},
    ]
    (output,) = json.loads(attributes["gen_ai.output.messages"])
    assert output == {
        "role": "assistant",
        "parts": [{"type": "text", "content": IsStr(regex=r".*capital of France.*")}],
        "finish_reason": "stop",
    }
    assert receiver.receiver.received_span_events >= 1


# --- the endpoint itself, with hand-made OTLP/JSON ---------------------------------------------------------

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"


def _span_request() -> dict[str, Any]:
    return genai_span_request(TRACE_ID, SPAN_ID)


def _log_request(*records: dict[str, Any]) -> dict[str, Any]:
    return {"resourceLogs": [{"resource": {}, "scopeLogs": [{"scope": {}, "logRecords": list(records)}]}]}


def _user_message(text: str, **ids: str) -> dict[str, Any]:
    return {
        "timeUnixNano": "1700000000500000000",
        "eventName": "gen_ai.user.message",
        "body": {"kvlistValue": {"values": [{"key": "content", "value": {"stringValue": text}}]}},
        **ids,
    }


def _post(receiver: RunningReceiver, path: str, document: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(
        f"{receiver.endpoint}{path}",
        content=json.dumps(document),
        headers={"content-type": "application/json", **headers},
        timeout=10,
    )


def test_a_record_that_comes_after_its_span_is_joined_to_it(receiver: RunningReceiver) -> None:
    assert _post(receiver, "/v1/traces", _span_request()).status_code == 200
    (before,) = receiver.spans()
    assert "gen_ai.input.messages" not in before["attributes"]

    record = _user_message("Hello there", traceId=TRACE_ID, spanId=SPAN_ID)
    response = _post(receiver, "/v1/logs", _log_request(record))
    assert (response.status_code, response.json()) == (200, {})

    (after,) = receiver.spans()
    assert json.loads(after["attributes"]["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Hello there"}]}
    ]
    assert after["prompt_preview"] == "Hello there"
    # Sending the span again (an exporter's retry) does not lose what was joined to it.
    assert _post(receiver, "/v1/traces", _span_request()).status_code == 200
    (again,) = receiver.spans()
    assert again["attributes"]["gen_ai.input.messages"] == after["attributes"]["gen_ai.input.messages"]


def test_records_without_a_span_or_not_genai_are_passed_over(receiver: RunningReceiver) -> None:
    plain_log = {
        "timeUnixNano": "1",
        "body": {"stringValue": "a log line"},
        "traceId": TRACE_ID,
        "spanId": SPAN_ID,
    }
    no_span = _user_message("orphan")
    gzipped = gzip.compress(json.dumps(_log_request(plain_log, no_span)).encode())
    response = httpx.post(
        receiver.endpoint + "/v1/logs",
        content=gzipped,
        headers={"content-type": "application/json", "content-encoding": "gzip"},
        timeout=10,
    )
    assert response.status_code == 200
    assert receiver.receiver.received_span_events == 0
    assert _post(receiver, "/v1/traces", _span_request()).status_code == 200
    (span,) = receiver.spans()
    assert "gen_ai.input.messages" not in span["attributes"]


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"{not json", "application/json", "the body is not JSON"),
        (b"\xff\xff\xff", "application/x-protobuf", "not a protobuf ExportLogsServiceRequest"),
        (
            json.dumps(_log_request({"traceId": "zz", "spanId": SPAN_ID})).encode(),
            "application/json",
            "traceId of log record 0 is not hex",
        ),
    ],
)
def test_a_bad_logs_body_is_refused_with_its_reason(
    receiver: RunningReceiver, body: bytes, content_type: str, reason: str
) -> None:
    response = httpx.post(
        receiver.endpoint + "/v1/logs", content=body, headers={"content-type": content_type}, timeout=10
    )
    assert response.status_code == 400
    if content_type == "application/json":
        assert reason in response.json()["message"]
    else:
        assert reason.encode() in response.content
