"""Software we did not write sends spans to our receiver: the official OpenTelemetry Python OTLP exporter
(in its own process), and the contrib openai-v2 instrumentation around a real `openai` call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from dirty_equals import IsPositiveInt, IsStr
from otlp_helpers import RunningReceiver

from spyglass.demo.server import DemoServer

SENDER = textwrap.dedent(
    """
    import sys
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode

    endpoint, compression = sys.argv[1], sys.argv[2]
    provider = TracerProvider(resource=Resource.create({"service.name": "interop-sender", "team.size": 3}))
    exporter = OTLPSpanExporter(endpoint=endpoint, compression=Compression(compression))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("interop.tests", "2.0")

    with tracer.start_as_current_span("parent", kind=SpanKind.SERVER) as parent:
        with tracer.start_as_current_span(
            "child",
            kind=SpanKind.CLIENT,
            links=[Link(parent.get_span_context(), {"link.reason": "retry"})],
            attributes={
                "str": "text", "bool": True, "int": 42, "float": 2.5,
                "strs": ["a", "b"], "bools": [True, False], "ints": [1, 2], "floats": [0.5, 1.5],
            },
        ) as child:
            child.add_event("thinking", {"step": 1})
            child.set_status(Status(StatusCode.ERROR, "it broke"))
    provider.shutdown()
    """
)


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_the_official_python_exporter_sends_spans_to_the_receiver(
    receiver: RunningReceiver, compression: str, tmp_path: Path
) -> None:
    sender = tmp_path / "sender.py"
    sender.write_text(SENDER)
    subprocess.run([sys.executable, str(sender), receiver.traces_url, compression], check=True, timeout=60)

    parent, child = receiver.span("parent"), receiver.span("child")
    assert child["trace_id"] == parent["trace_id"]
    assert {
        key: child[key]
        for key in ("parent_span_id", "span_kind", "status_code", "status_description", "scope")
    } == {
        "parent_span_id": parent["span_id"],
        "span_kind": "CLIENT",
        "status_code": "ERROR",
        "status_description": "it broke",
        "scope": {"name": "interop.tests", "version": "2.0"},
    }
    assert child["attributes"] == {
        "str": "text",
        "bool": True,
        "int": 42,
        "float": 2.5,
        "strs": ["a", "b"],
        "bools": [True, False],
        "ints": [1, 2],
        "floats": [0.5, 1.5],
    }
    assert child["events"] == [{"name": "thinking", "time_ns": IsPositiveInt, "attributes": {"step": 1}}]
    assert child["links"] == [
        {"trace_id": parent["trace_id"], "span_id": parent["span_id"], "attributes": {"link.reason": "retry"}}
    ]
    assert parent["span_kind"] == "SERVER"
    assert parent["service_name"] == "interop-sender"
    assert parent["resource"]["attributes"] == {
        "service.name": "interop-sender",
        "team.size": 3,
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": IsStr,
        "service.instance.id": IsStr,
    }
    assert child["duration_ns"] >= 0


OPENAI_V2_CALLER = textwrap.dedent(
    """
    import sys
    import openai
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint, base_url = sys.argv[1], sys.argv[2]
    provider = TracerProvider(resource=Resource.create({"service.name": "contrib-openai"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    OpenAIInstrumentor().instrument(tracer_provider=provider)

    client = openai.OpenAI(api_key="sk-test", base_url=base_url, max_retries=0)
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
    )
    provider.shutdown()
    """
)


def _run_openai_v2_caller(
    receiver: RunningReceiver, base_url: str, tmp_path: Path, env: dict[str, str]
) -> None:
    caller = tmp_path / "caller.py"
    caller.write_text(OPENAI_V2_CALLER)
    environment = {**os.environ, **env}
    for name in ("OTEL_SEMCONV_STABILITY_OPT_IN", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"):
        if name not in env:
            environment.pop(name, None)
    command = [sys.executable, str(caller), receiver.traces_url, base_url]
    subprocess.run(command, check=True, timeout=60, env=environment)


def test_contrib_openai_v2_spans_become_conversations(
    receiver: RunningReceiver, server: DemoServer, tmp_path: Path
) -> None:
    """The contrib instrumentation (latest GenAI conventions, content on the span) around a real call."""
    env = {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "span_only",
    }
    _run_openai_v2_caller(receiver, server.base_url, tmp_path, env)

    (span,) = receiver.spans()
    assert {key: span[key] for key in SUMMARY} == {
        "name": "chat gpt-4o-mini",
        "span_kind": "CLIENT",
        "kind": "llm",
        "message": "Chat Completion with 'gpt-4o-mini'",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "operation": "chat",
        "input_tokens": IsPositiveInt,
        "output_tokens": IsPositiveInt,
        "prompt_preview": "What is the capital of France?",
    }
    attributes = span["attributes"]
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Answer briefly."}]},
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]},
    ]
    (output,) = json.loads(attributes["gen_ai.output.messages"])
    assert output == {
        "role": "assistant",
        "parts": [{"type": "text", "content": IsStr}],
        "finish_reason": "stop",
    }


def test_contrib_openai_v2_default_spans_are_llm_calls(
    receiver: RunningReceiver, server: DemoServer, tmp_path: Path
) -> None:
    """By default the contrib instrumentation keeps content off spans (in log events): still an LLM call."""
    _run_openai_v2_caller(receiver, server.base_url, tmp_path, {})

    (span,) = receiver.spans()
    assert {key: span[key] for key in SUMMARY} == {
        "name": "chat gpt-4o-mini",
        "span_kind": "CLIENT",
        "kind": "llm",
        "message": "Chat Completion with 'gpt-4o-mini'",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "operation": "chat",
        "input_tokens": IsPositiveInt,
        "output_tokens": IsPositiveInt,
        "prompt_preview": None,
    }
    assert "gen_ai.input.messages" not in span["attributes"]


SUMMARY = (
    "name",
    "span_kind",
    "kind",
    "message",
    "model",
    "provider",
    "operation",
    "input_tokens",
    "output_tokens",
    "prompt_preview",
)
