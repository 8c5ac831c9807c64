"""`configure()`: one OpenTelemetry tracer and meter provider per process, with spyglass's sinks attached.

The providers are replaced as a whole on each `configure()` call (tests and notebooks call it repeatedly),
so everything that emits reads them from `STATE` at call time. The OpenTelemetry *global* providers can be
set only once per process, so the globals we install are thin proxies that follow `STATE`: other
instrumentations (httpx, FastAPI...) then send their spans to the same sinks.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.util.types import Attributes

from . import _otel_env as otel_env
from ._arguments import check_configure_arguments, check_store_path, is_postgres_url
from ._errors import ConfigError, log_internal_error
from ._otel_env import sdk_disabled
from ._pipeline import EXIT_TIMEOUT, BackgroundSpanProcessor, SpanPipeline, call_all, complete
from ._scrubbing import Scrubber, ScrubbingOptions, ScrubbingSpanProcessor
from ._snapshot import with_attributes
from .exporters.otlp import bounded_metric_reader, otlp_metric_readers, otlp_span_processors
from .version import __version__

logger = logging.getLogger("spyglass")

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
    store: Path | str | None  # a file, or a PostgreSQL URL
    max_attribute_length: int
    capture_content_allowed: bool = True
    """False when `spyglass run --no-capture-content` said no: nothing in the program turns capture back on."""


@dataclass
class _State:
    settings: Settings | None = None
    tracer_provider: TracerProvider | None = None  # ours; None when joined to the application's
    meter_provider: MeterProvider | None = None  # ours; None when joined to the application's
    pipeline: SpanPipeline | None = None  # scrubbing and the sinks, off the caller's thread
    scrubbing: ScrubbingSpanProcessor | None = None
    joined: TracerProvider | None = None  # the application's own provider, when spyglass joined it
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
    otlp_capture_content: bool | None = None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    set_global_providers: bool = True,
) -> None:
    """Set up tracing for this process: where spans go and what they hold.

    Sensible local defaults: spans print to the terminal and are written to the local store; nothing
    leaves the machine. Calling it again replaces the previous configuration (its spans are flushed first).

    When the application already has an OpenTelemetry SDK `TracerProvider` (set as the global provider, or
    given as `tracer_provider`), spyglass joins it rather than building its own: its sinks (console, store,
    OTLP) are added to that provider, so they see the application's own spans too, and the LLM spans go
    through the application's exporters under their proper parents.

    Args:
        service_name: the `service.name` resource attribute. Default: `OTEL_SERVICE_NAME`, else the name of
            the running script. (When joining the application's provider, its resource is kept.)
        console: print spans live in the terminal (default True; `SPYGLASS_CONSOLE`). A dict gives options
            to the console (`verbose`, `colors`, `min_level`...).
        capture_content: record prompts and answers (default True; `SPYGLASS_CAPTURE_CONTENT`, or the
            OpenTelemetry `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`).
        store: path of the local SQLite store, or False for none (default `SPYGLASS_STORE`, else
            `.spyglass/spans.sqlite` in the working directory).
        additional_span_processors: more OpenTelemetry span processors that receive every span (your own
            exporters, an in-memory exporter in tests). Their `on_start` runs where the span starts; their
            `on_end` runs on spyglass's pipeline thread, after scrubbing.
        metric_readers: OpenTelemetry metric readers for the GenAI metrics.
        resource_attributes: extra resource attributes (`OTEL_RESOURCE_ATTRIBUTES` is read as well).
        max_attribute_length: longest string attribute kept whole, in characters (default 131072, or the
            `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT` when it is smaller).
        scrubbing: redact secrets (API keys, bearer tokens, passwords...) from every span before any sink
            sees it (default True). `ScrubbingOptions(...)` adds patterns, an allow-list or a callback;
            False turns it off.
        otlp_endpoint: also send spans and the GenAI metrics over OTLP to this base URL
            (`http://localhost:4318`); default: the standard `OTEL_EXPORTER_OTLP_*` variables, and no OTLP
            without them. Batched in the background: a slow or absent endpoint never slows a call.
        otlp_headers: headers for OTLP requests (a mapping, or `key=value,key2=value2`).
        otlp_protocol: `http/protobuf` (default) or `grpc`.
        otlp_capture_content: send prompts and answers over OTLP too (default: what `capture_content` says;
            `SPYGLASS_OTLP_CAPTURE_CONTENT`). False keeps the conversation in the local sinks only.
        tracer_provider: an OpenTelemetry SDK tracer provider of the application's to join (default: the
            global one, when the application set an SDK provider).
        meter_provider: an OpenTelemetry SDK meter provider of the application's for the GenAI metrics.
        set_global_providers: also make these the OpenTelemetry global providers, so other
            instrumentations' spans reach the same sinks (default True).

    Example:
        ```python
        import spyglass
        spyglass.configure(service_name='my-app', console=False)
        ```
    """
    additional_span_processors, metric_readers = check_configure_arguments(
        service_name=service_name,
        console=console,
        capture_content=capture_content,
        store=store,
        additional_span_processors=additional_span_processors,
        metric_readers=metric_readers,
        resource_attributes=resource_attributes,
        max_attribute_length=max_attribute_length,
        scrubbing=scrubbing,
        otlp_endpoint=otlp_endpoint,
        otlp_headers=otlp_headers,
        otlp_protocol=otlp_protocol,
        otlp_capture_content=otlp_capture_content,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        set_global_providers=set_global_providers,
    )
    if _command_line is not None:
        service_name, console, capture_content, store = _command_line.apply(
            service_name, console, capture_content, store
        )
    settings = _resolve_settings(service_name, console, capture_content, store, max_attribute_length)
    if sdk_disabled():  # OTEL_SDK_DISABLED=true: nothing recorded, nothing written
        settings = replace(settings, console=False, store=None, capture_content=False)
        _install(
            settings, None, None, None, None, trace.NoOpTracer(), metrics.NoOpMeter(INSTRUMENTATION_NAME)
        )
        return
    otlp_content = (
        env_flag("SPYGLASS_OTLP_CAPTURE_CONTENT", True)
        if otlp_capture_content is None
        else bool(otlp_capture_content)
    )
    scrubbing_processor = _scrubbing_processor(scrubbing)
    app_provider = tracer_provider if tracer_provider is not None else _application_tracer_provider()
    limit = app_provider._span_limits.max_span_attribute_length if app_provider is not None else None
    if limit is not None and limit < settings.max_attribute_length:
        settings = replace(settings, max_attribute_length=max(64, limit))
    sinks, boundary_hooks = _sink_processors(settings, console)
    try:
        sinks += _otlp_sinks(
            otlp_endpoint, otlp_headers, otlp_protocol, settings.capture_content and otlp_content
        )
    except BaseException:
        _close_all(sinks)  # no sink built so far (a store's writer thread) outlives a failed call
        raise
    pipeline = SpanPipeline(
        sinks,
        prepare=_preparer(scrubbing_processor),
        app_processors=additional_span_processors,
        at_span_boundaries=boundary_hooks,
    )
    _keep_losses_in_the_store(pipeline, app_provider.resource if app_provider else None, settings)
    if app_provider is not None:
        _join(app_provider, meter_provider, settings, pipeline, scrubbing_processor, metric_readers)
        return
    resource = Resource.create({"service.name": settings.service_name, **dict(resource_attributes or {})})
    # The SDK's own exit hook would wait up to 30 s for an OTLP endpoint: ours is bounded (`_at_exit`).
    own_tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    own_tracer_provider.add_span_processor(pipeline)
    readers = [*metric_readers, *_otlp_metric_readers(otlp_endpoint, otlp_headers, otlp_protocol)]
    if meter_provider is None:
        own_meter_provider: MeterProvider | None = MeterProvider(
            resource=resource, metric_readers=readers, shutdown_on_exit=False
        )
        meter = own_meter_provider.get_meter(INSTRUMENTATION_NAME, __version__)  # type: ignore[union-attr]
    else:
        own_meter_provider = None
        meter = meter_provider.get_meter(INSTRUMENTATION_NAME, __version__)
    _install(
        settings,
        own_tracer_provider,
        own_meter_provider,
        pipeline,
        scrubbing_processor,
        own_tracer_provider.get_tracer(INSTRUMENTATION_NAME, __version__),
        meter,
        metrics_enabled=bool(readers) or meter_provider is not None,
    )
    if set_global_providers:
        _install_global_proxies()


def _keep_losses_in_the_store(pipeline: SpanPipeline, resource: Resource | None, settings: Settings) -> None:
    """The store keeps the pipeline's drop counts (`stats()`), so the viewer can say what is missing."""
    service_name = resource.attributes.get("service.name") if resource is not None else None
    for sink in pipeline.sinks:
        report = getattr(sink, "report_losses", None)
        if callable(report):
            report(pipeline.dropped, service_name=str(service_name or settings.service_name))


def _preparer(scrubbing: ScrubbingSpanProcessor | None) -> Callable[[ReadableSpan, bool], None]:
    """What the pipeline thread does to each span before any sink sees it: compute the attributes the caller's
    thread left to it, then scrub."""
    if scrubbing is None:
        return complete

    def prepare(span: ReadableSpan, started: bool) -> None:
        complete(span, started)
        scrubbing.scrub_span(span, started)

    return prepare


def _install(
    settings: Settings,
    tracer_provider: TracerProvider | None,
    meter_provider: MeterProvider | None,
    pipeline: SpanPipeline | None,
    scrubbing: ScrubbingSpanProcessor | None,
    tracer: trace.Tracer,
    meter: metrics.Meter,
    *,
    joined: TracerProvider | None = None,
    metrics_enabled: bool = False,
) -> None:
    """Make a configuration current, then close the previous one (its spans are flushed first)."""
    with STATE.lock:
        old = (STATE.tracer_provider, STATE.meter_provider, STATE.pipeline)
        STATE.settings = settings
        STATE.tracer_provider = tracer_provider
        STATE.meter_provider = meter_provider
        STATE.pipeline = pipeline
        STATE.scrubbing = scrubbing
        STATE.joined = joined
        STATE.tracer = tracer
        STATE.meter = meter
        STATE.metrics_enabled = metrics_enabled
        STATE.generation += 1
    _close(*old, timeout=_CLOSE_TIMEOUT)
    if pipeline is not None:
        # atexit runs the last registered first: ours must deliver before the sinks' own exit hooks close them.
        atexit.unregister(_at_exit)
        atexit.register(_at_exit)


_CLOSE_TIMEOUT = 5.0  # seconds a re-configure or shutdown() waits for the previous sinks, at most


def _close(
    tracer_provider: TracerProvider | None,
    meter_provider: MeterProvider | None,
    pipeline: SpanPipeline | None,
    *,
    timeout: float,
) -> None:
    deadline = time.monotonic() + timeout
    # The tracer provider's only processor is the pipeline: closing that closes all it holds.
    closing: list[Any] = [p for p in (pipeline, meter_provider) if p is not None]
    if closing:
        call_all(closing, "shutdown", deadline)


# --- joining the application's own OpenTelemetry -------------------------------------------------------------


def _application_tracer_provider() -> TracerProvider | None:
    """The SDK tracer provider the application made global, if any (ours are proxies, not SDK providers)."""
    provider = trace.get_tracer_provider()
    return provider if isinstance(provider, TracerProvider) else None


def _application_meter_provider() -> MeterProvider | None:
    provider = metrics.get_meter_provider()
    return provider if isinstance(provider, MeterProvider) else None


class _JoinedProcessor(SpanProcessor):
    """spyglass's processor inside the application's provider, placed first among its processors.

    It scrubs the spans spyglass makes before the application's own exporters see them (that content is
    ours to keep safe), and hands every span to the current pipeline, whose sinks the next `configure()`
    replaces: processors cannot be removed from an SDK provider, so this one stays and follows `STATE`.
    """

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pipeline = STATE.pipeline
        if pipeline is not None:
            pipeline.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        scope = span.instrumentation_scope
        if scope is not None and scope.name == INSTRUMENTATION_NAME:
            try:
                # The application's exporters come next, on this thread: they get the whole span, scrubbed.
                complete(span, False)
                scrubbing = STATE.scrubbing
                if scrubbing is not None:
                    scrubbing.scrub_span(span, False)
            except Exception:
                log_internal_error("spyglass spans in the application's provider")
        pipeline = STATE.pipeline
        if pipeline is not None:
            pipeline.on_end(span)


_joined_providers: weakref.WeakSet[TracerProvider] = weakref.WeakSet()


def _attach(provider: TracerProvider) -> None:
    if provider in _joined_providers:
        return
    _joined_providers.add(provider)
    processor = _JoinedProcessor()
    multi = getattr(provider, "_active_span_processor", None)
    current = getattr(multi, "_span_processors", None)
    if isinstance(current, tuple) and hasattr(multi, "_lock"):
        with multi._lock:  # type: ignore[union-attr]
            multi._span_processors = (processor, *current)  # type: ignore[union-attr]
    else:  # an SDK that changed its insides: last rather than first, the application's exporters unscrubbed
        provider.add_span_processor(processor)


def _join(
    provider: TracerProvider,
    meter_provider: MeterProvider | None,
    settings: Settings,
    pipeline: SpanPipeline | None,
    scrubbing: ScrubbingSpanProcessor | None,
    metric_readers: Sequence[MetricReader] = (),
) -> None:
    _attach(provider)
    meter_provider = meter_provider or _application_meter_provider()
    if metric_readers:
        logger.warning(
            "spyglass: joined the application's OpenTelemetry providers; configure(metric_readers=...) is "
            "ignored (add readers to the application's MeterProvider)"
        )
    meter = (
        meter_provider.get_meter(INSTRUMENTATION_NAME, __version__)
        if meter_provider is not None
        else metrics.NoOpMeter(INSTRUMENTATION_NAME)
    )
    _install(
        settings,
        None,
        None,
        pipeline,
        scrubbing,
        provider.get_tracer(INSTRUMENTATION_NAME, __version__),
        meter,
        joined=provider,
        metrics_enabled=meter_provider is not None,
    )


def join(tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None) -> bool:
    """Emit into the application's OpenTelemetry without sinks of our own: no console, no store.

    What `instrument_openai()` does when the application set up OpenTelemetry and never called
    `configure()`. Content is recorded only if `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` (or
    `SPYGLASS_CAPTURE_CONTENT`) says so: the spans go wherever the application exports them. False when
    there is no SDK provider to join.
    """
    provider = tracer_provider or _application_tracer_provider()
    if provider is None:
        return False
    if sdk_disabled():
        configure()
        return True
    limit = provider._span_limits.max_span_attribute_length or 128 * 1024
    content = env_flag("SPYGLASS_CAPTURE_CONTENT", bool(otel_env.capture_content()))
    settings = Settings(
        service_name=_default_service_name(),
        capture_content=content,
        console=False,
        store=None,
        max_attribute_length=max(64, min(limit, 128 * 1024)),
    )
    _join(provider, meter_provider, settings, None, ScrubbingSpanProcessor(Scrubber(ScrubbingOptions())))
    return True


def _resolve_settings(
    service_name: str | None,
    console: bool | dict[str, Any] | None,
    capture_content: bool | None,
    store: str | os.PathLike[str] | bool | None,
    max_attribute_length: int | None,
) -> Settings:
    """The settings from the arguments (already type-checked), then the environment, then the defaults."""
    if service_name is None:
        service_name = os.environ.get("OTEL_SERVICE_NAME") or _default_service_name()
    if capture_content is None:
        otel_default = otel_env.capture_content()
        capture_content = env_flag("SPYGLASS_CAPTURE_CONTENT", True if otel_default is None else otel_default)
    if console is None:
        console = env_flag("SPYGLASS_CONSOLE", True)
    if max_attribute_length is None:
        # Below the SDK's length limit, so that it never cuts a conversation's JSON in the middle.
        max_attribute_length = max(64, min(128 * 1024, otel_env.attribute_length_limit() or 128 * 1024))
    allowed = _command_line is None or _command_line.capture_content is not False
    return Settings(
        service_name=service_name,
        capture_content=capture_content and allowed,
        console=console is not False,
        store=_resolve_store(store),
        max_attribute_length=max_attribute_length,
        capture_content_allowed=allowed,
    )


def _resolve_store(store: str | os.PathLike[str] | bool | None) -> Path | str | None:
    """The store's file, a PostgreSQL URL (kept as text), or None for no store."""
    if is_postgres_url(store):
        return str(store)
    if store is None:
        raw = os.environ.get("SPYGLASS_STORE")
        if raw is not None and raw.strip().lower() in _FALSE:
            return None
        if not raw:
            return Path(".spyglass") / "spans.sqlite"
        if is_postgres_url(raw.strip()):
            return raw.strip()
        check_store_path("SPYGLASS_STORE", Path(raw))
        return Path(raw)
    if store is False:
        return None
    if store is True:
        return _resolve_store(None)
    if isinstance(store, str | os.PathLike):
        return Path(store)
    raise ConfigError(f"store must be a path or False, got {store!r}")


@dataclass(frozen=True)
class CommandLine:
    """What `spyglass run` was told. It wins over the traced program's own `configure()` (docs/cli.md)."""

    service_name: str | None = None
    """`--service-name`: wins over the program's."""
    default_service_name: str | None = None
    """The script or module name: used when neither the program nor OTEL_SERVICE_NAME gives one."""
    console: bool | None = None
    """`--console` keeps the program's console options; `--no-console` turns it off."""
    store: Path | str | Literal[False] | None = None
    """`--store PATH` or `--no-store` (False)."""
    capture_content: bool | None = None
    """`--no-capture-content` wins over everything; `--capture-content` not over a program's explicit False."""

    def apply(
        self,
        service_name: str | None,
        console: bool | dict[str, Any] | None,
        capture_content: bool | None,
        store: str | os.PathLike[str] | bool | None,
    ) -> tuple[str | None, bool | dict[str, Any] | None, bool | None, str | os.PathLike[str] | bool | None]:
        if self.service_name is not None:
            service_name = self.service_name
        elif service_name is None and not os.environ.get("OTEL_SERVICE_NAME"):
            service_name = self.default_service_name
        if self.console is False or (self.console is True and not isinstance(console, dict)):
            console = self.console
        if self.capture_content is False or (self.capture_content is True and capture_content is not False):
            capture_content = self.capture_content
        if self.store is not None:
            store = self.store
        return service_name, console, capture_content, store


_command_line: CommandLine | None = None


@contextmanager
def command_line(given: CommandLine) -> Iterator[None]:
    """Make `given` win over every `configure()` call while the block runs (the program `spyglass run` runs)."""
    global _command_line
    saved, _command_line = _command_line, given
    try:
        yield
    finally:
        _command_line = saved


def _default_service_name() -> str:
    import __main__

    main_file = getattr(__main__, "__file__", None)
    if main_file:
        return Path(main_file).stem
    return "python"


def _scrubbing_processor(scrubbing: ScrubbingOptions | bool) -> ScrubbingSpanProcessor | None:
    if scrubbing is False:
        return None
    if scrubbing is True:
        scrubbing = ScrubbingOptions()
    if not isinstance(scrubbing, ScrubbingOptions):
        raise ConfigError(f"scrubbing must be True, False or ScrubbingOptions(...), got {scrubbing!r}")
    return ScrubbingSpanProcessor(Scrubber(scrubbing))


def _sink_processors(
    settings: Settings, console: bool | dict[str, Any] | None
) -> tuple[list[SpanProcessor], list[Callable[[], None]]]:
    """The console and the store, when present in this installation (each is optional), and what the
    pipeline calls at each span boundary on the program's thread."""
    processors: list[SpanProcessor] = []
    boundary_hooks: list[Callable[[], None]] = []
    if settings.store is not None:
        try:
            from .store._backends import store_processor
        except ImportError:
            pass
        else:
            processors.append(store_processor(settings.store))
    if settings.console:
        options = console if isinstance(console, dict) else {}
        try:
            from .exporters.console import ConsoleSpanProcessor
        except ImportError:
            pass
        else:
            try:
                console_processor = ConsoleSpanProcessor(**options)
            except TypeError as exc:
                _close_all(processors)
                raise ConfigError(f"console options {options!r} are not valid: {exc}") from None
            # A queue of its own: a terminal that does not read (a full pipe) stalls nothing else. Its text
            # is written at span boundaries, so that it never cuts one of the program's own lines.
            pending = console_processor.write_at_span_boundaries()
            processors.append(
                BackgroundSpanProcessor(
                    [console_processor],
                    name="spyglass-console",
                    snapshot_starts=False,
                    idle=pending.write_due,
                )
            )
            boundary_hooks.append(pending.at_span_boundary)
    return processors, boundary_hooks


def _close_all(processors: Sequence[SpanProcessor]) -> None:
    call_all(processors, "shutdown", time.monotonic() + _CLOSE_TIMEOUT)


_CONTENT_ATTRIBUTES = frozenset(
    {"gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.output.messages"}
)


class _WithoutContent(SpanProcessor):
    """Hands its processor a copy of each ended span without the conversation (`otlp_capture_content=False`)."""

    def __init__(self, processor: SpanProcessor) -> None:
        self.processor = processor

    @property
    def dropped_spans(self) -> int:
        return int(getattr(self.processor, "dropped_spans", 0))

    def on_end(self, span: ReadableSpan) -> None:
        attributes = span.attributes or {}
        if any(key in attributes for key in _CONTENT_ATTRIBUTES):
            kept = {key: value for key, value in attributes.items() if key not in _CONTENT_ATTRIBUTES}
            span = with_attributes(span, kept)
        self.processor.on_end(span)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.processor.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self.processor.shutdown()


def _exporters_wanted(signal: otel_env.Signal, endpoint: str | None) -> tuple[bool, bool, bool]:
    """What `OTEL_{signal}_EXPORTER` asks for: (OTLP, OTLP to the default endpoint when none is set, the
    SDK's console exporter). OTLP is the default when an endpoint is set; `none` turns the variables off."""
    wanted = otel_env.exporters(signal)
    said_otlp = wanted is not None and "otlp" in wanted
    otlp = endpoint is not None or wanted is None or said_otlp
    return otlp, said_otlp, wanted is not None and "console" in wanted


def _otlp_sinks(
    endpoint: str | None, headers: Mapping[str, str] | str | None, protocol: str | None, content: bool
) -> list[SpanProcessor]:
    otlp, default_endpoint, console = _exporters_wanted("TRACES", endpoint)
    processors: list[SpanProcessor] = []
    if otlp:
        processors += otlp_span_processors(endpoint, headers, protocol, default_endpoint=default_endpoint)
    if console:
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

        processors.append(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stdout)))
    return processors if content else [_WithoutContent(p) for p in processors]


def _otlp_metric_readers(
    endpoint: str | None, headers: Mapping[str, str] | str | None, protocol: str | None
) -> list[MetricReader]:
    otlp, default_endpoint, console = _exporters_wanted("METRICS", endpoint)
    readers: list[MetricReader] = []
    if otlp:
        readers += otlp_metric_readers(endpoint, headers, protocol, default_endpoint=default_endpoint)
    if console:
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        readers.append(bounded_metric_reader(ConsoleMetricExporter(out=sys.stdout)))
    return readers


def settings() -> Settings:
    """The current settings: on first use, join the application's OpenTelemetry, else configure defaults."""
    current = STATE.settings
    if current is None:
        with STATE.lock:
            if STATE.settings is None and not join():
                configure()
            current = STATE.settings
    assert current is not None
    return current


def force_flush(timeout_millis: int = 30_000) -> bool:
    """Hand every finished span and metric to its sinks now; True when all were flushed in time.

    Returns within `timeout_millis` whatever the sinks do (a hanging endpoint, a locked store).
    """
    deadline = time.monotonic() + timeout_millis / 1000
    flushing: list[Any] = [p for p in (STATE.pipeline, STATE.meter_provider) if p is not None]
    if not flushing:
        return True
    return call_all(flushing, "force_flush", deadline)


def shutdown() -> None:
    """Flush and close every sink. Spans made after this are not recorded until `configure()` again.

    Waits 5 seconds at most for the sinks, whatever they do.
    """
    _install(
        STATE.settings or _disabled_settings(),
        None,
        None,
        None,
        None,
        trace.NoOpTracer(),
        metrics.NoOpMeter(INSTRUMENTATION_NAME),
    )


def _disabled_settings() -> Settings:
    return Settings(
        service_name=_default_service_name(),
        capture_content=False,
        console=False,
        store=None,
        max_attribute_length=128 * 1024,
    )


def stats() -> dict[str, int]:
    """Spans lost so far in this configuration, by where: `pipeline` (its queue was full), `store`,
    `console`, `otlp`. Zero everywhere is the normal case."""
    pipeline = STATE.pipeline
    return pipeline.dropped() if pipeline is not None else {}


def _at_exit() -> None:
    """Deliver what is queued within `EXIT_TIMEOUT` (1 s) whatever the sinks do, then say what was lost."""
    pipeline = STATE.pipeline
    if pipeline is None:
        return
    deadline = time.monotonic() + EXIT_TIMEOUT
    force_flush(int(EXIT_TIMEOUT * 1000))
    closing: list[Any] = [p for p in (pipeline, STATE.meter_provider) if p is not None]
    call_all(closing, "shutdown", max(deadline, time.monotonic() + 0.1))
    lost = {name: count for name, count in pipeline.dropped(still_queued=True).items() if count}
    if lost:
        detail = ", ".join(f"{name}: {count}" for name, count in lost.items())
        logger.warning("spyglass: %d spans were not recorded (%s)", sum(lost.values()), detail)


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
