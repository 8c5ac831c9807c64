"""spyglass inside an application's own OpenTelemetry: the application's provider is joined, not duplicated,
and `opentelemetry-instrument` picks spyglass up. Each program runs in a process of its own, since
OpenTelemetry's global providers can be set only once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from spyglass.demo.server import DemoServer
from spyglass.store import SpanStore

APP_PROVIDER = """
import json, openai, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

import spyglass
"""

REPORT = """
spyglass.force_flush()
print("SPANS=" + json.dumps([
    {"name": s.name, "id": s.context.span_id, "parent": s.parent.span_id if s.parent else None,
     "scope": s.instrumentation_scope.name, "attributes": dict(s.attributes)}
    for s in exporter.get_finished_spans()
]))
"""

CALL = """
client = openai.OpenAI(api_key="sk-test-joining-key", base_url=sys.argv[1], max_retries=0)
spyglass.instrument_openai(client)
with trace.get_tracer("app").start_as_current_span("POST /checkout"):
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi there"}])
"""


def _run(tmp_path: Path, code: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(code), encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPYGLASS_"))}
    environment.update(env)
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _spans(run: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert run.returncode == 0, run.stderr
    [line] = [line for line in run.stdout.splitlines() if line.startswith("SPANS=")]
    spans: list[dict[str, Any]] = json.loads(line.removeprefix("SPANS="))
    return spans


def test_without_configure_the_llm_span_goes_to_the_applications_exporter(
    tmp_path: Path, server: DemoServer
) -> None:
    run = _run(tmp_path, APP_PROVIDER + CALL + REPORT, server.base_url)
    spans = _spans(run)
    by_name = {span["name"]: span for span in spans}
    assert set(by_name) == {"POST /checkout", "chat gpt-4o-mini"}
    assert by_name["chat gpt-4o-mini"]["parent"] == by_name["POST /checkout"]["id"]
    assert by_name["chat gpt-4o-mini"]["attributes"]["gen_ai.usage.output_tokens"] > 0
    # Content goes only where the application exports when the standard variable says so.
    assert "gen_ai.input.messages" not in by_name["chat gpt-4o-mini"]["attributes"]
    assert not (tmp_path / ".spyglass").exists()  # no file written
    assert run.stdout.splitlines() == [line for line in run.stdout.splitlines() if line.startswith("SPANS=")]


def test_the_content_variable_turns_content_on_when_joined(tmp_path: Path, server: DemoServer) -> None:
    run = _run(
        tmp_path,
        APP_PROVIDER + CALL + REPORT,
        server.base_url,
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="span_only",
    )
    [llm] = [span for span in _spans(run) if span["scope"] == "spyglass"]
    assert "Hi there" in llm["attributes"]["gen_ai.input.messages"]


def test_configure_adds_spyglass_sinks_to_the_applications_provider(
    tmp_path: Path, server: DemoServer
) -> None:
    store = tmp_path / "joined.sqlite"
    code = (
        APP_PROVIDER
        + f"spyglass.configure(store={str(store)!r}, console={{'colors': 'never'}})\n"
        + CALL
        + "with trace.get_tracer('app').start_as_current_span('nightly job password=hunter2'):\n    pass\n"
        + REPORT
    )
    run = _run(tmp_path, code, server.base_url)
    spans = _spans(run)
    names = {span["name"] for span in spans}
    assert {"POST /checkout", "chat gpt-4o-mini"} <= names  # the application's exporter got both
    [llm] = [span for span in spans if span["scope"] == "spyglass"]
    assert "Hi there" in llm["attributes"]["gen_ai.input.messages"]  # configure()'s default: content on
    # The console printed the application's own span and the LLM span.
    assert "POST /checkout" in run.stdout
    assert "Chat Completion with 'gpt-4o-mini'" in run.stdout
    # The store holds both, under one trace, the application's span scrubbed for spyglass's sinks.
    with SpanStore(store) as reader:
        checkout = [t for t in reader.list_traces(limit=10) if t["root_name"] == "POST /checkout"]
        assert len(checkout) == 1
        stored = reader.get_trace(checkout[0]["trace_id"])
    assert {span["name"] for span in stored} == {"POST /checkout", "chat gpt-4o-mini"}
    assert "hunter2" not in store.read_bytes().decode("latin-1")


def test_opentelemetry_instrument_traces_openai_through_spyglass_once(
    tmp_path: Path, server: DemoServer
) -> None:
    """The real `opentelemetry-instrument` command, with the contrib openai-v2 instrumentation installed too:
    one LLM span per call, spyglass's, and nothing written or printed by spyglass."""
    code = """
        import openai, sys
        client = openai.OpenAI(api_key="sk-test", base_url=sys.argv[1], max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    """
    spans = _instrumented(tmp_path, code, server)
    llm = [span for span in spans if "gen_ai.operation.name" in span["attributes"]]
    assert [span["attributes"].get("spyglass.kind") for span in llm] == ["llm"]  # spyglass's, and only it
    assert llm[0]["attributes"]["gen_ai.request.model"] == "gpt-4o-mini"
    assert not (tmp_path / ".spyglass").exists()


def test_disabling_spyglass_under_opentelemetry_instrument_leaves_the_contrib_one(
    tmp_path: Path, server: DemoServer
) -> None:
    code = """
        import openai, sys
        client = openai.OpenAI(api_key="sk-test", base_url=sys.argv[1], max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    """
    spans = _instrumented(tmp_path, code, server, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="spyglass_openai")
    llm = [span for span in spans if "gen_ai.operation.name" in span["attributes"]]
    assert len(llm) == 1
    assert "spyglass.kind" not in llm[0]["attributes"]  # the contrib instrumentation's span


def _instrumented(tmp_path: Path, code: str, server: DemoServer, **env: str) -> list[dict[str, Any]]:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(code), encoding="utf-8")
    command = Path(sys.executable).parent / "opentelemetry-instrument"
    if not command.exists():
        pytest.fail(f"{command} is missing: the test extra installs opentelemetry-distro")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPYGLASS_"))}
    environment.update(
        OTEL_TRACES_EXPORTER="console", OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none", **env
    )
    run = subprocess.run(
        [str(command), sys.executable, str(script), server.base_url],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "already instrumented" not in run.stderr
    decoder, text, spans, index = json.JSONDecoder(), run.stdout, [], 0
    while True:
        index = text.find("{", index)
        if index < 0:
            return spans
        span, index = decoder.raw_decode(text, index)
        spans.append(span)
