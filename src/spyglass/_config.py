"""`configure()`: one OpenTelemetry tracer and meter provider per process, with spyglass's sinks attached.

The providers are replaced as a whole on each `configure()` call (tests and notebooks call it repeatedly),
so everything that emits reads them from `STATE` at call time. The OpenTelemetry *global* providers can be
set only once per process, so the globals we install are thin proxies that follow `STATE`: other
instrumentations (httpx, FastAPI...) then send their spans to the same sinks.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.util.types import Attributes

from ._errors import ConfigError, log_internal_error
from ._scrubbing import Scrubber, ScrubbingOptions, ScrubbingSpanProcessor
from .exporters.otlp import otlp_metric_readers, otlp_span_processors
from .version import __version__

INSTRUMENTATION_NAME = "spyglass"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_flag(name: str, default: bool) -> bool:
    """Read a boolean environment variable; an unreadable value is a configuration error, not a guess."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean: use true or false")


@dataclass
class Settings:
    """What `configure()` decided; read by the instrumentation at call time."""

    service_name: str
    capture_content: bool
    console: bool
    store: Path | None
    max_attribute_length: int


@dataclass
class _State:
    settings: Settings | None = None
    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    tracer: trace.Tracer = field(default_factory=lambda: trace.NoOpTracer())
    meter: metrics.Meter = field(default_factory=lambda: metrics.NoOpMeter(INSTRUMENTATION_NAME))
    metrics_enabled: bool = False  # no reader, no point in recording measurements
    generation: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)


STATE = _State()


def configure(
    *,
    service_name: str | None = None,
    console: bool | dict[str, Any] | None = None,
    capture_content: bool | None = None,
    store: str | os.PathLike[str] | bool | None = None,
    additional_span_processors: Sequence[SpanProcessor] = (),
    metric_readers: Sequence[MetricReader] = (),
    resource_attributes: Attributes = None,
    max_attribute_length: int | None = None,
    scrubbing: ScrubbingOptions | bool = True,
    otlp_endpoint: str | None = None,
    otlp_headers: Mapping[str, str] | str | None = None,
    otlp_protocol: str | None = None,
    set_global_providers: bool = True,
) -> None:
    """Set up tracing for this process: where spans go and what they hold.

    Sensible local defaults: spans print to the terminal and are written to the local store; nothing
    leaves the machine. Calling it again replaces the previous configuration (its spans are flushed first).

    Args:
        service_name: the `service.name` resource attribute. Default: `OTEL_SERVICE_NAME`, else the name of
            the running script.
        console: print spans live in the terminal (default True; `SPYGLASS_CONSOLE`). A dict gives options
            to the console (`verbose`, `colors`, `min_level`...).
        capture_content: record prompts and answers (default True; `SPYGLASS_CAPTURE_CONTENT`, or the
            OpenTelemetry `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`).
        store: path of the local SQLite store, or False for none (default `SPYGLASS_STORE`, else
            `.spyglass/spans.sqlite` in the working directory).
        additional_span_processors: more OpenTelemetry span processors that receive every span (your own
            exporters, an in-memory exporter in tests).
        metric_readers: OpenTelemetry metric readers for the GenAI metrics.
        resource_attributes: extra resource attributes (`OTEL_RESOURCE_ATTRIBUTES` is read as well).
        max_attribute_length: longest string attribute kept whole, in characters (default 131072).
        scrubbing: redact secrets (API keys, bearer tokens, passwords...) from every span before any sink
            sees it (default True). `ScrubbingOptions(...)` adds patterns, an allow-list or a callback;
            False turns it off.
        otlp_endpoint: also send spans and the GenAI metrics over OTLP to this base URL
            (`http://localhost:4318`); default: the standard `OTEL_EXPORTER_OTLP_*` variables, and no OTLP
            without them. Batched in the background: a slow or absent endpoint never slows a call.
        otlp_headers: headers for OTLP requests (a mapping, or `key=value,key2=value2`).
        otlp_protocol: `http/protobuf` (default) or `grpc`.
        set_global_providers: also make these the OpenTelemetry global providers, so other
            instrumentations' spans reach the same sinks (default True).

    Example:
        ```python
        import spyglass
        spyglass.configure(service_name='my-app', console=False)
        ```
    """
    settings = _resolve_settings(service_name, console, capture_content, store, max_attribute_length)
    resource = Resource.create({"service.name": settings.service_name, **dict(resource_attributes or {})})
    tracer_provider = TracerProvider(resource=resource)
    scrubbing_processor = _scrubbing_processor(scrubbing)
    if scrubbing_processor is not None:  # first: every sink after it sees scrubbed spans
        tracer_provider.add_span_processor(scrubbing_processor)
    for processor in _sink_processors(settings, console):
        tracer_provider.add_span_processor(processor)
    for processor in otlp_span_processors(otlp_endpoint, otlp_headers, otlp_protocol):
        tracer_provider.add_span_processor(processor)
    for processor in additional_span_processors:
        tracer_provider.add_span_processor(processor)
    metric_readers = [*metric_readers, *otlp_metric_readers(otlp_endpoint, otlp_headers, otlp_protocol)]
    meter_provider = MeterProvider(resource=resource, metric_readers=metric_readers)

    with STATE.lock:
        old_tracer_provider, old_meter_provider = STATE.tracer_provider, STATE.meter_provider
        STATE.settings = settings
        STATE.tracer_provider = tracer_provider
        STATE.meter_provider = meter_provider
        STATE.tracer = tracer_provider.get_tracer(INSTRUMENTATION_NAME, __version__)
        STATE.meter = meter_provider.get_meter(INSTRUMENTATION_NAME, __version__)
        STATE.metrics_enabled = bool(metric_readers)
        STATE.generation += 1
    for old in (old_tracer_provider, old_meter_provider):
        if old is not None:
            old.shutdown()
    if set_global_providers:
        _install_global_proxies()


def _resolve_settings(
    service_name: str | None,
    console: bool | dict[str, Any] | None,
    capture_content: bool | None,
    store: str | os.PathLike[str] | bool | None,
    max_attribute_length: int | None,
) -> Settings:
    if service_name is None:
        service_name = os.environ.get("OTEL_SERVICE_NAME") or _default_service_name()
    if not isinstance(service_name, str) or not service_name:
        raise ConfigError(f"service_name must be a non-empty string, got {service_name!r}")
    if capture_content is None:
        otel_default = env_flag("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", True)
        capture_content = env_flag("SPYGLASS_CAPTURE_CONTENT", otel_default)
    if console is None:
        console = env_flag("SPYGLASS_CONSOLE", True)
    if not isinstance(console, bool | dict):
        raise ConfigError(f"console must be True, False or a dict of console options, got {console!r}")
    if max_attribute_length is None:
        max_attribute_length = 128 * 1024
    if not isinstance(max_attribute_length, int) or max_attribute_length < 64:
        raise ConfigError(f"max_attribute_length must be an int >= 64, got {max_attribute_length!r}")
    return Settings(
        service_name=service_name,
        capture_content=bool(capture_content),
        console=console is not False,
        store=_resolve_store(store),
        max_attribute_length=max_attribute_length,
    )


def _resolve_store(store: str | os.PathLike[str] | bool | None) -> Path | None:
    if store is None:
        raw = os.environ.get("SPYGLASS_STORE")
        if raw is not None and raw.strip().lower() in _FALSE:
            return None
        return Path(raw) if raw else Path(".spyglass") / "spans.sqlite"
    if store is False:
        return None
    if store is True:
        return _resolve_store(None)
    if isinstance(store, str | os.PathLike):
        return Path(store)
    raise ConfigError(f"store must be a path or False, got {store!r}")


def _default_service_name() -> str:
    import __main__

    main_file = getattr(__main__, "__file__", None)
    if main_file:
        return Path(main_file).stem
    return "python"


def _scrubbing_processor(scrubbing: ScrubbingOptions | bool) -> SpanProcessor | None:
    if scrubbing is False:
        return None
    if scrubbing is True:
        scrubbing = ScrubbingOptions()
    if not isinstance(scrubbing, ScrubbingOptions):
        raise ConfigError(f"scrubbing must be True, False or ScrubbingOptions(...), got {scrubbing!r}")
    return ScrubbingSpanProcessor(Scrubber(scrubbing))


def _sink_processors(settings: Settings, console: bool | dict[str, Any] | None) -> list[SpanProcessor]:
    """The console and the store, when present in this installation (each is optional)."""
    processors: list[SpanProcessor] = []
    if settings.console:
        options = console if isinstance(console, dict) else {}
        try:
            from .exporters.console import ConsoleSpanProcessor
        except ImportError:
            pass
        else:
            try:
                processors.append(ConsoleSpanProcessor(**options))
            except TypeError as exc:
                raise ConfigError(f"console options {options!r} are not valid: {exc}") from None
    if settings.store is not None:
        try:
            from .store import SqliteSpanProcessor
        except ImportError:
            pass
        else:
            processors.append(SqliteSpanProcessor(settings.store))
    return processors


def settings() -> Settings:
    """The current settings, configuring with defaults on first use."""
    current = STATE.settings
    if current is None:
        with STATE.lock:
            if STATE.settings is None:
                configure()
            current = STATE.settings
    assert current is not None
    return current


def force_flush(timeout_millis: int = 30_000) -> bool:
    """Hand every finished span and metric to its sinks now; True when all were flushed in time."""
    ok = True
    if STATE.tracer_provider is not None:
        ok = STATE.tracer_provider.force_flush(timeout_millis) and ok
    if STATE.meter_provider is not None:
        ok = STATE.meter_provider.force_flush(timeout_millis) and ok
    return ok


def shutdown() -> None:
    """Flush and close every sink. Spans made after this are not recorded until `configure()` again."""
    with STATE.lock:
        tracer_provider, meter_provider = STATE.tracer_provider, STATE.meter_provider
        STATE.tracer_provider = STATE.meter_provider = None
        STATE.tracer = trace.NoOpTracer()
        STATE.meter = metrics.NoOpMeter(INSTRUMENTATION_NAME)
        STATE.metrics_enabled = False
        STATE.generation += 1
    for provider in (tracer_provider, meter_provider):
        if provider is not None:
            try:
                provider.shutdown()
            except Exception:
                log_internal_error("shutdown")


atexit.register(force_flush, 5_000)


# --- global proxies ------------------------------------------------------------------------------------------

_globals_installed = False


class _ProxyTracerProvider(trace.TracerProvider):
    """The OpenTelemetry global tracer provider: hands out tracers that follow `STATE` across configure()."""

    def get_tracer(self, instrumenting_module_name: str, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _ProxyTracer(instrumenting_module_name, args, kwargs)


class _ProxyTracer(trace.Tracer):
    def __init__(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._name, self._args, self._kwargs = name, args, kwargs
        self._generation = -1
        self._tracer: trace.Tracer = trace.NoOpTracer()

    def _current(self) -> trace.Tracer:
        if self._generation != STATE.generation:
            provider = STATE.tracer_provider
            self._tracer = (
                provider.get_tracer(self._name, *self._args, **self._kwargs)
                if provider
                else trace.NoOpTracer()
            )
            self._generation = STATE.generation
        return self._tracer

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._current().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._current().start_as_current_span(*args, **kwargs)


class _ProxyMeterProvider(metrics.MeterProvider):
    def get_meter(self, name: str, *args: Any, **kwargs: Any) -> metrics.Meter:
        provider = STATE.meter_provider
        return provider.get_meter(name, *args, **kwargs) if provider else metrics.NoOpMeter(name)


def _install_global_proxies() -> None:
    global _globals_installed
    if _globals_installed:
        return
    _globals_installed = True
    # set_*_provider refuses (with a warning log) when the application set its own first: theirs wins.
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(_ProxyTracerProvider())
    if isinstance(metrics.get_meter_provider(), metrics._internal._ProxyMeterProvider):
        metrics.set_meter_provider(_ProxyMeterProvider())
