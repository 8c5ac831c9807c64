"""Sending spans and metrics to an OTLP endpoint (a Collector, Jaeger, Phoenix, a vendor) beside the local sinks.

`configure(otlp_endpoint=..., otlp_headers=..., otlp_protocol=...)` calls `otlp_span_processors()` and
`otlp_metric_readers()`; with no arguments the standard `OTEL_EXPORTER_OTLP_*` variables decide, and without
an endpoint nothing is sent. The official OpenTelemetry exporters do the sending (with their retries and
backoff) on a background thread, behind a bounded queue: a slow or dead endpoint costs the instrumented
program one queue append per span, never a wait. Spans that do not fit or fail to send are counted and
reported once through the `spyglass` logger.

Example:
    ```python
    import spyglass
    spyglass.configure(otlp_endpoint="http://collector:4318", otlp_headers={"x-api-key": "..."})
    ```
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from opentelemetry.context import Context
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from spyglass._errors import ConfigError
from spyglass._otel_env import positive_int, warn_once
from spyglass._utf8_spans import utf8_safe

logger = logging.getLogger("spyglass")

Protocol = Literal["http/protobuf", "grpc"]
PROTOCOLS: tuple[Protocol, ...] = ("http/protobuf", "grpc")

DEFAULT_MAX_QUEUE_SIZE = 2048
DEFAULT_SHUTDOWN_TIMEOUT = 5.0  # seconds: what exiting the program may wait for the endpoint, at most

_GRPC_PACKAGE = "opentelemetry-exporter-otlp-proto-grpc"
_HTTP_PACKAGE = "opentelemetry-exporter-otlp-proto-http"


def otlp_span_processors(
    endpoint: str | None = None,
    headers: Mapping[str, str] | str | None = None,
    protocol: str | None = None,
    *,
    max_queue_size: int | None = None,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    default_endpoint: bool = False,
) -> list[SpanProcessor]:
    """The span processors that send spans over OTLP, or none when no endpoint is configured.

    Args:
        endpoint: the base URL of the OTLP receiver, as in `OTEL_EXPORTER_OTLP_ENDPOINT`
            (`http://localhost:4318`; `/v1/traces` is added for HTTP). Default: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
            (a full URL, used as it is), else `OTEL_EXPORTER_OTLP_ENDPOINT`.
        headers: headers sent with every request, as a mapping or in the `key=value,key2=value2` form of
            `OTEL_EXPORTER_OTLP_HEADERS` (values URL-encoded). Default: `OTEL_EXPORTER_OTLP_TRACES_HEADERS`,
            else `OTEL_EXPORTER_OTLP_HEADERS`.
        protocol: `http/protobuf` (default) or `grpc` (needs `opentelemetry-exporter-otlp-proto-grpc`).
            Default: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`.
        max_queue_size: finished spans waiting to be sent at most; past it, new spans are dropped and counted.
            Default: `OTEL_BSP_MAX_QUEUE_SIZE`, else 2048.
        shutdown_timeout: seconds `shutdown()` waits for the last spans to be sent before giving up on them.
        default_endpoint: with no endpoint configured, send to the specification's default
            (`http://localhost:4318`, or `:4317` for gRPC) rather than nowhere (`OTEL_TRACES_EXPORTER=otlp`).

    The batching follows `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` and
    `OTEL_BSP_EXPORT_TIMEOUT` when they are set.

    Raises:
        ConfigError: an unknown protocol, a malformed headers string or endpoint, or the gRPC exporter missing.
    """
    target = _resolve("TRACES", endpoint, headers, protocol, default_endpoint)
    if target is None:
        return []
    if max_queue_size is None:
        max_queue_size = positive_int("OTEL_BSP_MAX_QUEUE_SIZE") or DEFAULT_MAX_QUEUE_SIZE
    if max_queue_size < 1:
        raise ConfigError(f"max_queue_size must be at least 1, got {max_queue_size!r}")
    exporter = _span_exporter(target)
    return [OtlpSpanProcessor(exporter, target.endpoint, max_queue_size, shutdown_timeout)]


def otlp_metric_readers(
    endpoint: str | None = None,
    headers: Mapping[str, str] | str | None = None,
    protocol: str | None = None,
    *,
    export_interval: float | None = None,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    default_endpoint: bool = False,
) -> list[MetricReader]:
    """The metric readers that send the GenAI metrics over OTLP every `export_interval` seconds, or none.

    The arguments and environment variables are those of `otlp_span_processors()` (with `METRICS` in the
    signal-specific names: `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`...). `export_interval` defaults to
    `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds), else 60 s.
    """
    target = _resolve("METRICS", endpoint, headers, protocol, default_endpoint)
    if target is None:
        return []
    exporter = _metric_exporter(target, timeout=shutdown_timeout)
    return [bounded_metric_reader(exporter, export_interval, shutdown_timeout)]


def bounded_metric_reader(
    exporter: MetricExporter,
    export_interval: float | None = None,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
) -> MetricReader:
    """A periodic reader for `exporter`, at `OTEL_METRIC_EXPORT_INTERVAL` unless told, bounded at shutdown."""
    if export_interval is None:
        export_interval = (positive_int("OTEL_METRIC_EXPORT_INTERVAL") or 60_000) / 1000
    return _BoundedMetricReader(exporter, int(export_interval * 1000), int(shutdown_timeout * 1000))


class OtlpSpanProcessor(SpanProcessor):
    """A `BatchSpanProcessor` around an OTLP exporter that never makes the caller wait.

    `on_end` appends to a bounded queue (or counts the span as dropped when it is full); the exporter sends
    batches on the processor's thread with its own retries. `force_flush` and `shutdown` return within their
    time limit even when the endpoint hangs.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        endpoint: str,
        max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> None:
        self._endpoint = endpoint
        self._max_queue_size = max_queue_size
        self._shutdown_timeout = shutdown_timeout
        self._lock = threading.Lock()
        self._accepted = 0  # spans handed to the batch processor
        self._handed = 0  # spans the batch processor handed to the exporter
        self._dropped = 0
        self._failed = 0
        self._exported = 0
        self._reported: set[str] = set()
        self._closed = False
        self._flush_thread: threading.Thread | None = None
        self._gave_up = False  # shutdown's time ran out: what is still out there is counted as dropped
        self._exporter = _CountingExporter(exporter, self)
        batch_size = positive_int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") or 512
        self._batch = BatchSpanProcessor(
            self._exporter,
            max_queue_size=max_queue_size,
            schedule_delay_millis=positive_int("OTEL_BSP_SCHEDULE_DELAY") or 1000,
            max_export_batch_size=min(batch_size, max_queue_size),
            export_timeout_millis=positive_int("OTEL_BSP_EXPORT_TIMEOUT") or 30_000,
        )

    @property
    def endpoint(self) -> str:
        """Where the spans go."""
        return self._endpoint

    @property
    def dropped_spans(self) -> int:
        """Spans not sent: the queue was full, or they were still queued when `shutdown()` gave up."""
        return self._dropped

    @property
    def failed_spans(self) -> int:
        """Spans the endpoint did not take after the exporter's retries (refused, timed out, an error)."""
        return self._failed

    @property
    def exported_spans(self) -> int:
        """Spans the endpoint accepted."""
        return self._exported

    wants_starts = False  # OTLP sends ended spans only: the pipeline need not queue starts for it

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            full = self._closed or self._accepted - self._handed >= self._max_queue_size
            if full:
                self._dropped += 1
            else:
                self._accepted += 1
        if full:
            self._report(
                "dropped",
                "spyglass: the OTLP export queue for %s is full (%d spans); dropping spans until the endpoint "
                "catches up. `dropped_spans` on the processor counts them.",
                self._endpoint,
                self._max_queue_size,
            )
            return
        self._batch.on_end(span)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Send what is queued; False when the endpoint did not take it all within `timeout_millis`."""
        # BatchSpanProcessor.force_flush ignores its timeout and blocks on the export: run it aside.
        with self._lock:
            thread = self._flush_thread
            if thread is None or not thread.is_alive():
                thread = threading.Thread(
                    target=self._batch.force_flush, name="spyglass-otlp-flush", daemon=True
                )
                self._flush_thread = thread
                thread.start()
        thread.join(timeout_millis / 1000)
        return not thread.is_alive() and self._accepted == self._exported + self._failed

    def shutdown(self) -> None:
        """Send what is queued within `shutdown_timeout` seconds, then stop; what is left is counted as dropped."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        # BatchSpanProcessor.shutdown() waits up to 30 s for a hanging endpoint: wait aside, for our limit.
        thread = threading.Thread(target=self._batch.shutdown, name="spyglass-otlp-shutdown", daemon=True)
        thread.start()
        thread.join(self._shutdown_timeout)
        if thread.is_alive():
            self._exporter.shutdown()  # stops the exporter's retries; the batch processor's call then does nothing
        with self._lock:
            self._gave_up = True
            left = self._accepted - self._exported - self._failed
            self._dropped += left
        if left:
            logger.warning(
                "spyglass: %d spans were not sent to %s before the %.1fs shutdown limit",
                left,
                self._endpoint,
                self._shutdown_timeout,
            )

    def _exporting(self, count: int) -> None:
        with self._lock:
            self._handed += count

    def _exported_batch(self, count: int, result: SpanExportResult | None) -> None:
        with self._lock:
            if self._gave_up:
                return
            if result is SpanExportResult.SUCCESS:
                self._exported += count
                return
            self._failed += count
        self._report(
            "failed",
            "spyglass: could not send %d spans to %s (the exporter's log says why); later failures are counted "
            "in `failed_spans` on the processor, not logged again.",
            count,
            self._endpoint,
        )

    def _report(self, key: str, message: str, *args: object) -> None:
        with self._lock:
            if key in self._reported:
                return
            self._reported.add(key)
        logger.warning(message, *args)


class _CountingExporter(SpanExporter):
    """Tells the processor how many spans left its queue and how many the endpoint took."""

    def __init__(self, exporter: SpanExporter, processor: OtlpSpanProcessor) -> None:
        self._exporter = exporter
        self._processor = processor
        self._lock = threading.Lock()
        self._shut = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self._processor._exporting(len(spans))
        if self._shut:  # shutdown gave up on the endpoint: what is left is counted, not sent
            return SpanExportResult.FAILURE
        result: SpanExportResult | None = None
        try:
            # One lone surrogate would make the encoder fail the whole batch.
            result = self._exporter.export([utf8_safe(span) for span in spans])
            return result
        finally:
            self._processor._exported_batch(len(spans), result)

    def shutdown(self) -> None:
        with self._lock:
            if self._shut:
                return
            self._shut = True
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._exporter.force_flush(timeout_millis)


class _BoundedMetricReader(PeriodicExportingMetricReader):
    """A periodic reader whose shutdown (the last export, at exit) waits `shutdown_timeout` at most."""

    def __init__(self, exporter: MetricExporter, interval_millis: int, shutdown_millis: int) -> None:
        super().__init__(
            exporter, export_interval_millis=interval_millis, export_timeout_millis=shutdown_millis
        )
        self._shutdown_millis = shutdown_millis

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        super().shutdown(timeout_millis=min(timeout_millis, self._shutdown_millis), **kwargs)


# --- resolving arguments and environment --------------------------------------------------------------------


class _Target:
    def __init__(self, endpoint: str, headers: dict[str, str], protocol: Protocol) -> None:
        self.endpoint, self.headers, self.protocol = endpoint, headers, protocol


def _resolve(
    signal: Literal["TRACES", "METRICS"],
    endpoint: str | None,
    headers: Mapping[str, str] | str | None,
    protocol: str | None,
    default_endpoint: bool = False,
) -> _Target | None:
    try:
        resolved_protocol = _resolve_protocol(signal, protocol)
        resolved_endpoint = _resolve_endpoint(signal, endpoint, resolved_protocol)
        if resolved_endpoint is None and default_endpoint:  # the specification's defaults
            base = "http://localhost:4317" if resolved_protocol == "grpc" else "http://localhost:4318"
            resolved_endpoint = _resolve_endpoint(signal, base, resolved_protocol)
        if resolved_endpoint is None:
            return None
        return _Target(resolved_endpoint, _resolve_headers(signal, headers), resolved_protocol)
    except ConfigError as exc:
        if not str(exc).startswith("OTEL_"):
            raise  # the program's own argument: its author is there to fix it
        # A variable set for the whole environment must not stop the program: no export, said once.
        warn_once(f"bad-env-{signal}-{exc}", "spyglass: %s; OTLP export of %s is off", exc, signal.lower())
        return None


def _resolve_protocol(signal: str, protocol: str | None) -> Protocol:
    """The protocol asked for. A wrong argument in the program's code is refused; a wrong environment
    variable (set for a whole fleet, often by someone else) is logged and http/protobuf used instead."""
    if protocol is not None:
        for known in PROTOCOLS:
            if protocol == known:
                return known
        if protocol == "http/json":
            raise ConfigError(
                f"otlp_protocol={protocol!r}: the OpenTelemetry Python exporter does not send OTLP/JSON; "
                "use 'http/protobuf' (any OTLP/HTTP receiver accepts it)"
            )
        raise ConfigError(
            f"otlp_protocol={protocol!r} is not an OTLP protocol: use 'http/protobuf' or 'grpc'"
        )
    for name in (f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        if value == "grpc":
            if _grpc_available():
                return "grpc"
            warn_once(
                "grpc-missing",
                "spyglass: %s=grpc needs the %s package, which is not installed: sending over http/protobuf "
                "instead (`pip install %s` for gRPC)",
                name,
                _GRPC_PACKAGE,
                _GRPC_PACKAGE,
            )
            return "http/protobuf"
        if value != "http/protobuf":
            warn_once(
                f"protocol-{value}",
                "spyglass: %s=%r: the OpenTelemetry Python SDK has no exporter for it; sending over "
                "http/protobuf instead (any OTLP/HTTP receiver accepts it)",
                name,
                value,
            )
        return "http/protobuf"
    return "http/protobuf"


def _grpc_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("opentelemetry.exporter.otlp.proto.grpc") is not None
    except (ImportError, ValueError):
        return False


def _resolve_endpoint(signal: str, endpoint: str | None, protocol: Protocol) -> str | None:
    path = f"/v1/{signal.lower()}"
    if endpoint is None:
        specific = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT", "").strip()
        if specific:
            _check_url(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT", specific)
            return specific  # the spec: a signal-specific endpoint is used as it is
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or None
        if endpoint is None:
            return None
        source = "OTEL_EXPORTER_OTLP_ENDPOINT"
    else:
        source = "otlp_endpoint"
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise ConfigError(f"{source} must be a URL such as 'http://localhost:4318', got {endpoint!r}")
    endpoint = endpoint.strip()
    _check_url(source, endpoint)
    if protocol == "grpc" or endpoint.rstrip("/").endswith(path):
        return endpoint
    return endpoint.rstrip("/") + path


def _check_url(source: str, url: str) -> None:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(
            f"{source}={url!r} is not an http(s) URL: write it with its scheme, e.g. 'http://localhost:4318'"
        )
    try:
        parsed.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError(f"{source}={url!r} has an invalid port") from None


def _resolve_headers(signal: str, headers: Mapping[str, str] | str | None) -> dict[str, str]:
    if headers is None:
        for name in (f"OTEL_EXPORTER_OTLP_{signal}_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"):
            raw = os.environ.get(name, "")
            if raw.strip():
                return parse_headers(raw, source=name)
        return {}
    if isinstance(headers, str):
        return parse_headers(headers, source="otlp_headers")
    if not isinstance(headers, Mapping):
        raise ConfigError(f"otlp_headers must be a mapping of names to values, got {headers!r}")
    result: dict[str, str] = {}
    for key, value in headers.items():
        if not isinstance(key, str) or not isinstance(value, str) or not _valid_header_name(key):
            raise ConfigError(
                f"otlp_headers: {key!r}: {value!r} is not a valid header (a name and a string value)"
            )
        result[key.lower()] = value
    return result


def parse_headers(raw: str, *, source: str = "headers") -> dict[str, str]:
    """Parse the `key1=value1,key2=value2` form of `OTEL_EXPORTER_OTLP_HEADERS` (values URL-encoded).

    Raises:
        ConfigError: an entry without `=`, or a name that is not a valid header name.
    """
    headers: dict[str, str] = {}
    for entry in raw.split(","):
        if not entry.strip():
            continue
        name, sep, value = entry.partition("=")
        name = urllib.parse.unquote(name).strip()
        if not sep or not _valid_header_name(name):
            raise ConfigError(
                f"{source}: {entry.strip()!r} is not a header: write 'name=value' pairs separated by commas, "
                "e.g. 'api-key=secret,x-team=ml' (URL-encode ',' and '=' inside values)"
            )
        headers[name.lower()] = urllib.parse.unquote(value).strip()
    return headers


def _valid_header_name(name: str) -> bool:
    allowed = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return bool(name) and all(char in allowed for char in name)


# --- the official exporters ---------------------------------------------------------------------------------


def _span_exporter(target: _Target) -> SpanExporter:
    if target.protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPSpanExporter as GrpcSpanExporter,
            )
        except ImportError:
            raise _missing(_GRPC_PACKAGE, "grpc") from None
        exporter: SpanExporter = GrpcSpanExporter(endpoint=target.endpoint, headers=target.headers)
        return exporter
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise _missing(_HTTP_PACKAGE, "http/protobuf") from None
    return OTLPSpanExporter(endpoint=target.endpoint, headers=target.headers)


def _metric_exporter(target: _Target, *, timeout: float) -> MetricExporter:
    if target.protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPMetricExporter as GrpcMetricExporter,
            )
        except ImportError:
            raise _missing(_GRPC_PACKAGE, "grpc") from None
        metric_exporter: MetricExporter = GrpcMetricExporter(
            endpoint=target.endpoint, headers=target.headers, timeout=timeout
        )
        return metric_exporter
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    except ImportError:
        raise _missing(_HTTP_PACKAGE, "http/protobuf") from None
    return OTLPMetricExporter(endpoint=target.endpoint, headers=target.headers, timeout=timeout)


def _missing(package: str, protocol: str) -> ConfigError:
    return ConfigError(
        f"OTLP over {protocol} needs the {package} package: `pip install {package}`"
        + (", or use otlp_protocol='http/protobuf'" if protocol == "grpc" else "")
    )
