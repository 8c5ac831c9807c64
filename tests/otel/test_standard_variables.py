"""Each row of the table in docs/otel.md#every-standard-variable: what spyglass does with the standard
OpenTelemetry variables. None of them may stop the program."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spyglass
import spyglass._otel_env as otel_env
from spyglass._config import STATE, settings
from spyglass.demo.server import DemoServer
from spyglass.exporters.otlp import OtlpSpanProcessor
from spyglass.testing import capture_spans


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(__import__("os").environ):
        if name.startswith("OTEL_") or name.startswith("SPYGLASS_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(otel_env, "_warned", set())
    yield
    spyglass.shutdown()


def _sinks() -> list[object]:
    assert STATE.pipeline is not None
    sinks: list[object] = []
    for sink in STATE.pipeline.sinks:
        sinks.append(getattr(sink, "processor", sink))
    return sinks


def test_sdk_disabled_records_nothing_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    exporter = InMemorySpanExporter()
    store = tmp_path / "store" / "spans.sqlite"
    spyglass.configure(store=store, additional_span_processors=[SimpleSpanProcessor(exporter)])
    with spyglass.span("not recorded"):
        spyglass.info("nor this")
    assert spyglass.force_flush()
    assert exporter.get_finished_spans() == ()
    assert not store.parent.exists()


def test_service_name_and_resource_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=dev")
    with capture_spans() as captured:
        spyglass.info("hello")
        [span] = captured.finished()
    assert span.resource.attributes["service.name"] == "checkout"
    assert span.resource.attributes["deployment.environment"] == "dev"


def test_traces_exporter_none_turns_the_endpoint_variable_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    spyglass.configure(console=False, store=False)
    assert not any(isinstance(sink, OtlpSpanProcessor) for sink in _sinks())
    spyglass.configure(console=False, store=False, otlp_endpoint="http://127.0.0.1:1")  # the argument wins
    assert any(isinstance(sink, OtlpSpanProcessor) for sink in _sinks())


def test_traces_exporter_otlp_said_explicitly_uses_the_default_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    spyglass.configure(console=False, store=False)
    [otlp] = [sink for sink in _sinks() if isinstance(sink, OtlpSpanProcessor)]
    assert otlp.endpoint == "http://localhost:4318/v1/traces"


def test_traces_exporter_console_prints_the_sdk_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console,zipkin")
    spyglass.configure(console=False, store=False)
    spyglass.info("hello {who}", who="you")
    assert spyglass.force_flush()
    printed = json.loads(capsys.readouterr().out)
    assert printed["name"] == "hello {who}"


def test_traces_exporter_unknown_value_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    spyglass.configure(console=False, store=False)
    assert "OTEL_TRACES_EXPORTER='zipkin': zipkin not supported" in caplog.text


def test_metrics_exporter_none_and_export_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    spyglass.configure(console=False, store=False)
    assert not STATE.metrics_enabled
    monkeypatch.delenv("OTEL_METRICS_EXPORTER")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "1234")
    spyglass.configure(console=False, store=False)
    assert STATE.metrics_enabled
    assert STATE.meter_provider is not None
    [reader] = STATE.meter_provider._metric_readers  # type: ignore[attr-defined]
    assert reader._export_interval_millis == 1234  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["otlp", "console", "none"])
def test_logs_exporter_is_accepted(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", value)
    with capture_spans() as captured:
        spyglass.info("still recorded")
        assert len(captured.finished()) == 1


def test_batch_span_processor_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "77")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "250")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "11")
    monkeypatch.setenv("OTEL_BSP_EXPORT_TIMEOUT", "900")
    spyglass.configure(console=False, store=False)
    [otlp] = [sink for sink in _sinks() if isinstance(sink, OtlpSpanProcessor)]
    batch = otlp._batch._batch_processor  # type: ignore[attr-defined]
    assert (batch._max_queue_size, batch._schedule_delay_millis) == (77, 250)
    assert (batch._max_export_batch_size, batch._export_timeout_millis) == (11, 900)


@pytest.mark.parametrize(
    ("value", "captured"),
    [
        ("true", True),
        ("TRUE", True),
        ("span_only", True),
        ("span_and_event", True),
        ("event_only", True),
        ("SPAN_ONLY", True),
        ("false", False),
        ("no_content", False),
        ("NO_CONTENT", False),
        ("maybe", True),  # not understood: logged, and spyglass's own default applies
    ],
)
def test_capture_content_variable_accepts_every_contrib_value(
    monkeypatch: pytest.MonkeyPatch, value: str, captured: bool
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value)
    spyglass.configure(console=False, store=False)
    assert settings().capture_content is captured


@pytest.mark.parametrize(
    "variable", ["OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT"]
)
def test_attribute_length_limit_keeps_conversations_valid_json(
    monkeypatch: pytest.MonkeyPatch, server: DemoServer, variable: str
) -> None:
    monkeypatch.setenv(variable, "300")
    with capture_spans() as captured:
        with openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0) as client:
            spyglass.instrument_openai(client)
            client.chat.completions.create(
                model="gpt-4o",
                messages=[
                    {"role": "system", "content": "be brief " * 100},
                    {"role": "user", "content": "x" * 2000},
                ],
            )
        [span] = captured.finished()
    for key in ("gen_ai.input.messages", "gen_ai.output.messages"):
        value = span.attributes[key]  # type: ignore[index]
        assert isinstance(value, str) and len(value) <= 300
        json.loads(value)


def test_sampler_variable_is_read_by_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    with capture_spans() as captured:
        spyglass.info("sampled out")
        assert captured.finished() == ()
