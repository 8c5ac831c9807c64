"""OTLP export: configuration from arguments and OTEL_* variables, and endpoints that are down, hang or fail."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from otlp_helpers import RunningReceiver, failing_server, hanging_server, refusing_port

import spyglass
import spyglass._otel_env as otel_env
from spyglass import ConfigError
from spyglass.exporters.otlp import (
    OtlpSpanProcessor,
    otlp_metric_readers,
    otlp_span_processors,
    parse_headers,
)

OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2")  # the exporter's own deadline, retries included


@pytest.fixture
def processors() -> Iterator[list[SpanProcessor]]:
    made: list[SpanProcessor] = []
    yield made
    for processor in made:
        processor.shutdown()


def _one(processors: list[SpanProcessor], *args: object, **kwargs: object) -> OtlpSpanProcessor:
    made = otlp_span_processors(*args, **kwargs)  # type: ignore[arg-type]
    processors.extend(made)
    (processor,) = made
    assert isinstance(processor, OtlpSpanProcessor)
    return processor


# --- configuration --------------------------------------------------------------------------------------------


def test_no_endpoint_means_no_otlp() -> None:
    assert otlp_span_processors(None, None, None) == []
    assert otlp_metric_readers(None, None, None) == []


def test_the_endpoint_argument_is_a_base_url(processors: list[SpanProcessor]) -> None:
    assert _one(processors, "http://collector:4318").endpoint == "http://collector:4318/v1/traces"
    assert _one(processors, "http://collector:4318/").endpoint == "http://collector:4318/v1/traces"
    assert _one(processors, "https://c.example/v1/traces").endpoint == "https://c.example/v1/traces"


def test_the_standard_variables_decide_without_arguments(
    monkeypatch: pytest.MonkeyPatch, processors: list[SpanProcessor]
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318")
    assert _one(processors, None, None, None).endpoint == "http://base:4318/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:9999/custom/path")
    assert _one(processors, None, None, None).endpoint == "http://traces:9999/custom/path"
    assert _one(processors, "http://argument:4318").endpoint == "http://argument:4318/v1/traces"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: otlp_span_processors("http://x:4318", None, "carrier-pigeon"), "is not an OTLP protocol"),
        (lambda: otlp_span_processors("http://x:4318", None, "http/json"), "does not send OTLP/JSON"),
        (lambda: otlp_span_processors("collector:4318"), "write it with its scheme"),
        (
            lambda: otlp_span_processors("http://x:4318", "api-key"),
            "is not a header: write 'name=value' pairs",
        ),
        (lambda: otlp_span_processors("http://x:4318", {"bad name": "v"}), "is not a valid header"),
    ],
)
def test_bad_values_say_what_to_change(call: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()  # type: ignore[operator]


def test_bad_variables_turn_export_off_with_a_warning_naming_them(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Variables set for a whole environment never crash the program: export is off, and the log says why."""
    monkeypatch.setattr(otel_env, "_warned", set())
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=1,oops")
    assert otlp_span_processors() == []
    assert "OTEL_EXPORTER_OTLP_HEADERS: 'oops' is not a header" in caplog.text
    assert "OTLP export of traces is off" in caplog.text
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_HEADERS")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")
    assert otlp_span_processors() == []
    assert "OTEL_EXPORTER_OTLP_ENDPOINT='collector:4318' is not an http(s) URL" in caplog.text


@pytest.mark.parametrize("protocol", ["udp", "http/json"])
def test_an_unusable_protocol_variable_falls_back_to_http_protobuf(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, protocol: str
) -> None:
    monkeypatch.setattr(otel_env, "_warned", set())
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", protocol)
    [processor] = otlp_span_processors()
    assert processor.endpoint == "http://x:4318/v1/traces"  # type: ignore[attr-defined]
    assert f"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL={protocol!r}" in caplog.text
    assert "sending over http/protobuf instead" in caplog.text
    processor.shutdown()


def test_grpc_without_its_exporter_says_what_to_install() -> None:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    try:
        import opentelemetry.exporter.otlp.proto.grpc  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("the gRPC exporter is installed here")
    with pytest.raises(ConfigError, match="pip install opentelemetry-exporter-otlp-proto-grpc"):
        otlp_span_processors("http://x:4317", None, "grpc")


def test_headers_are_parsed_as_the_specification_says() -> None:
    assert parse_headers("api-key=abc%3D%3D, X-Team = ml%2Cai ,,") == {"api-key": "abc==", "x-team": "ml,ai"}


# --- sending ----------------------------------------------------------------------------------------------------


def test_configured_spans_reach_the_receiver_scrubbed_with_headers(tmp_path: object) -> None:
    from otlp_helpers import running_receiver

    with running_receiver(tmp_path / "auth.sqlite", token="t0ken") as receiver:  # type: ignore[operator]
        processors = otlp_span_processors(receiver.endpoint, {"Authorization": "Bearer t0ken"})
        spyglass.configure(console=False, store=False, additional_span_processors=processors)
        try:
            with spyglass.span("calling {who}", who="OpenAI", api_key="sk-proj-abcdefghijklmnopqrstuvwxyz"):
                spyglass.info("the key is {key}", key="sk-proj-abcdefghijklmnopqrstuvwxyz")
        finally:
            spyglass.shutdown()

        spans = receiver.spans()
    assert [(span["name"], span["message"]) for span in spans] == [
        ("calling {who}", "calling OpenAI"),
        ("the key is {key}", "the key is [REDACTED]"),
    ]
    assert spans[0]["attributes"]["api_key"] == "[REDACTED: api_key]"
    assert "abcdefghijklmnop" not in str([span["attributes"] for span in spans])


def test_spans_are_flushed_on_demand(receiver: RunningReceiver, processors: list[SpanProcessor]) -> None:
    processor = _one(processors, receiver.endpoint)
    provider = _provider(processor)
    _make_spans(provider, 5)
    assert processor.force_flush(10_000)
    assert (processor.exported_spans, processor.dropped_spans, processor.failed_spans) == (5, 0, 0)
    assert len(receiver.spans()) == 5


# --- endpoints that do not answer well --------------------------------------------------------------------------


def _provider(processor: SpanProcessor) -> TracerProvider:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    return provider


def _make_spans(provider: TracerProvider, count: int) -> float:
    """The caller's time to make `count` spans, in seconds."""
    tracer = provider.get_tracer("tests")
    started = time.perf_counter()
    for index in range(count):
        with tracer.start_as_current_span(
            "work", attributes={"index": index, "gen_ai.request.model": "gpt-4o"}
        ):
            pass
    return time.perf_counter() - started


@pytest.fixture(params=["refused", "hanging", "500"])
def bad_endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "refused":
        with refusing_port() as port:
            yield f"http://127.0.0.1:{port}"
    elif request.param == "hanging":
        with hanging_server() as port:
            yield f"http://127.0.0.1:{port}"
    else:
        with failing_server(500) as port:
            yield f"http://127.0.0.1:{port}"


def test_a_bad_endpoint_never_slows_the_caller(bad_endpoint: str, caplog: pytest.LogCaptureFixture) -> None:
    count = 2000
    baseline = min(_make_spans(_provider(SpanProcessor()), count) for _ in range(3))
    (processor,) = otlp_span_processors(bad_endpoint, max_queue_size=100, shutdown_timeout=1.0)
    assert isinstance(processor, OtlpSpanProcessor)
    provider = _provider(processor)
    with caplog.at_level(logging.WARNING, logger="spyglass"):
        elapsed = _make_spans(provider, count)
        started = time.monotonic()
        provider.shutdown()
        shutdown_took = time.monotonic() - started

    assert elapsed < baseline * 5 + 0.5, (elapsed, baseline)
    assert shutdown_took < 1.0 + 0.5
    lost = processor.dropped_spans + processor.failed_spans
    assert processor.exported_spans == 0
    assert lost == count
    assert processor.dropped_spans > 0
    queue_full = [r for r in caplog.records if r.name == "spyglass" and "queue" in r.getMessage()]
    assert len(queue_full) == 1


def test_failed_exports_are_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    with failing_server(500) as port:
        (processor,) = otlp_span_processors(f"http://127.0.0.1:{port}")
        assert isinstance(processor, OtlpSpanProcessor)
        provider = _provider(processor)
        with caplog.at_level(logging.WARNING, logger="spyglass"):
            for _ in range(3):
                _make_spans(provider, 10)
                processor.force_flush(5_000)
            provider.shutdown()
    assert (processor.failed_spans, processor.dropped_spans, processor.exported_spans) == (30, 0, 0)
    failures = [r.getMessage() for r in caplog.records if r.name == "spyglass"]
    assert failures == [
        f"spyglass: could not send 10 spans to http://127.0.0.1:{port}/v1/traces (the exporter's "
        "log says why); later failures are counted in `failed_spans` on the processor, not logged again."
    ]


def test_shutdown_and_flush_return_in_time_when_the_endpoint_hangs() -> None:
    with hanging_server() as port:
        (processor,) = otlp_span_processors(f"http://127.0.0.1:{port}", shutdown_timeout=0.5)
        assert isinstance(processor, OtlpSpanProcessor)
        provider = _provider(processor)
        _make_spans(provider, 10)
        started = time.monotonic()
        assert processor.force_flush(300) is False
        flushed_in = time.monotonic() - started
        started = time.monotonic()
        provider.shutdown()
        shut_in = time.monotonic() - started
    assert flushed_in < 0.3 + 0.5
    assert shut_in < 0.5 + 0.5
