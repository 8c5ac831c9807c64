"""The checks of `configure()`'s arguments, all made before anything is built.

A wrong value raises `ConfigError` naming the argument and what it accepts, so that a user's mistake never
surfaces later as an internal error, nor leaves a half-built sink (a store's writer thread) behind it.
"""

from __future__ import annotations

import inspect
import os
import reprlib
from collections.abc import Callable, Iterable, Mapping
from datetime import tzinfo
from pathlib import Path
from typing import Any, get_args

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from ._errors import ConfigError
from ._scrubbing import ScrubbingOptions

MIN_ATTRIBUTE_LENGTH = 64
_SPAN_PROCESSOR_METHODS = ("on_start", "on_end", "shutdown", "force_flush")
_ATTRIBUTE_TYPES = (str, bool, int, float)

_short = reprlib.Repr()
_short.maxstring = _short.maxother = 80


def shown(value: object) -> str:
    """`repr(value)` cut short: the message stays readable whatever the value (huge, or its repr raises)."""
    return _short.repr(value)


def check_configure_arguments(
    *,
    service_name: object,
    console: object,
    capture_content: object,
    store: object,
    additional_span_processors: object,
    metric_readers: object,
    resource_attributes: object,
    max_attribute_length: object,
    scrubbing: object,
    otlp_endpoint: object,
    otlp_headers: object,
    otlp_protocol: object,
    otlp_capture_content: object,
    tracer_provider: object,
    meter_provider: object,
    set_global_providers: object,
) -> tuple[list[SpanProcessor], list[MetricReader]]:
    """Check every argument's type (and the values that can be checked without building anything).

    Returns:
        The span processors and metric readers as lists (any iterable is accepted, and read only once).

    Raises:
        ConfigError: naming the first wrong argument and what it accepts.
    """
    if service_name is not None and (not isinstance(service_name, str) or not service_name.strip()):
        raise _wrong("service_name", "a non-empty string (or None for the default)", service_name)
    _check_console(console)
    _check_flag("capture_content", capture_content, optional=True)
    _check_store(store)
    processors = _check_span_processors(additional_span_processors)
    readers = _check_metric_readers(metric_readers)
    _check_resource_attributes(resource_attributes)
    if max_attribute_length is not None and (
        isinstance(max_attribute_length, bool)
        or not isinstance(max_attribute_length, int)
        or max_attribute_length < MIN_ATTRIBUTE_LENGTH
    ):
        raise _wrong(
            "max_attribute_length",
            f"an int >= {MIN_ATTRIBUTE_LENGTH} (or None for the default)",
            max_attribute_length,
        )
    if not isinstance(scrubbing, bool | ScrubbingOptions):
        raise _wrong("scrubbing", "True, False or ScrubbingOptions(...)", scrubbing)
    _check_otlp(otlp_endpoint, otlp_headers, otlp_protocol)
    _check_flag("otlp_capture_content", otlp_capture_content, optional=True)
    if tracer_provider is not None and not isinstance(tracer_provider, TracerProvider):
        raise _wrong("tracer_provider", "an OpenTelemetry SDK TracerProvider (or None)", tracer_provider)
    if meter_provider is not None and not isinstance(meter_provider, MeterProvider):
        raise _wrong("meter_provider", "an OpenTelemetry SDK MeterProvider (or None)", meter_provider)
    _check_flag("set_global_providers", set_global_providers, optional=False)
    return processors, readers


def _wrong(name: str, accepts: str, value: object) -> ConfigError:
    return ConfigError(f"{name} must be {accepts}, got {shown(value)}")


def _check_flag(name: str, value: object, *, optional: bool) -> None:
    # Strictly a bool: `'false'` or `0` would otherwise be read by truth value, the opposite of what was meant.
    if not isinstance(value, bool) and not (optional and value is None):
        raise _wrong(name, "True or False" + (" (or None for the default)" if optional else ""), value)


def _check_console(console: object) -> None:
    if console is None or isinstance(console, bool):
        return
    if not isinstance(console, dict):
        raise _wrong("console", "True, False or a dict of console options", console)
    try:
        from rich.console import Console

        from .exporters.console import ColorMode, ConsoleSpanProcessor, LogLevel, Verbosity
    except ImportError:  # pragma: no cover - an installation without the console
        return
    accepted = [name for name in inspect.signature(ConsoleSpanProcessor).parameters]
    for key in console:
        if key not in accepted:
            raise ConfigError(f"console: unknown option {shown(key)}; the options are {', '.join(accepted)}")
    choices = {"verbose": Verbosity, "colors": ColorMode, "min_level": LogLevel}
    for key, value in console.items():
        if key in choices and value not in get_args(choices[key]):
            raise _wrong(f"console[{key!r}]", " or ".join(map(repr, get_args(choices[key]))), value)
    checks: dict[str, tuple[Callable[[object], bool], str]] = {
        "console": (lambda value: isinstance(value, Console), "a rich.console.Console"),
        "file": (lambda value: callable(getattr(value, "write", None)), "a text file open for writing"),
        "tz": (lambda value: isinstance(value, tzinfo), "a datetime.tzinfo"),
    }
    for key, (is_valid, accepts) in checks.items():
        value = console.get(key)
        if value is not None and not is_valid(value):
            raise _wrong(f"console[{key!r}]", f"{accepts} (or None)", value)


def _check_store(store: object) -> None:
    if store is None or isinstance(store, bool):
        return
    if not isinstance(store, str | os.PathLike):
        raise _wrong("store", "a file path, True (the default store) or False (none)", store)
    text = os.fspath(store)
    if not isinstance(text, str) or not text.strip() or "\0" in text:
        raise _wrong("store", "a file path, True (the default store) or False (none)", store)
    if not is_postgres_url(text):  # a URL is checked when connecting
        check_store_path("store", Path(text))


def is_postgres_url(location: object) -> bool:
    """True for a PostgreSQL store URL (`postgresql://...` or `postgres://...`); anything else is a file."""
    return isinstance(location, str) and location.strip().lower().startswith(("postgresql://", "postgres://"))


def check_store_path(source: str, path: Path) -> None:
    """A store path names a file, not a folder, and is one the system accepts (checked before opening it)."""
    try:
        is_dir = path.is_dir()
    except OSError as exc:  # too long, for one
        raise ConfigError(f"{source}={shown(str(path))} cannot be a path here: {exc.strerror}") from None
    if is_dir:
        raise ConfigError(
            f"{source}={shown(str(path))} is a folder: give the store's file, e.g. {path / 'spans.sqlite'}"
        )


def _items(name: str, value: object, accepts: str) -> list[Any]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise _wrong(name, accepts, value)
    return list(value)


def _check_span_processors(value: object) -> list[SpanProcessor]:
    name = "additional_span_processors"
    processors = _items(name, value, "a list of OpenTelemetry span processors")
    for index, processor in enumerate(processors):
        # Duck-typed as the SDK does, but all four methods: a missing one would fail at the next span or at
        # the next configure(), which shuts the previous processors down.
        if not isinstance(processor, SpanProcessor) and not all(
            callable(getattr(processor, method, None)) for method in _SPAN_PROCESSOR_METHODS
        ):
            raise _wrong(
                f"{name}[{index}]",
                f"an OpenTelemetry SpanProcessor (with {', '.join(_SPAN_PROCESSOR_METHODS)})",
                processor,
            )
    return processors


def _check_metric_readers(value: object) -> list[MetricReader]:
    name = "metric_readers"
    readers = _items(name, value, "a list of OpenTelemetry MetricReader objects")
    registered = getattr(MeterProvider, "_all_metric_readers", ())
    for index, reader in enumerate(readers):
        if not isinstance(reader, MetricReader):
            raise _wrong(f"{name}[{index}]", "an OpenTelemetry MetricReader", reader)
        if reader in registered:
            raise ConfigError(
                f"{name}[{index}] ({shown(reader)}) already belongs to another MeterProvider (an earlier "
                "configure()?): a reader serves one provider, so give each configure() new readers"
            )
    return readers


def _check_resource_attributes(value: object) -> None:
    if value is None:
        return
    name = "resource_attributes"
    if not isinstance(value, Mapping):
        raise _wrong(name, "a dict of attribute names to values (or None)", value)
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise _wrong(f"{name} key", "a non-empty string", key)
        is_sequence = isinstance(item, list | tuple) and all(isinstance(i, _ATTRIBUTE_TYPES) for i in item)
        if not isinstance(item, _ATTRIBUTE_TYPES) and not is_sequence:
            raise _wrong(f"{name}[{key!r}]", "a str, bool, int or float, or a list of them", item)


def _check_otlp(endpoint: object, headers: object, protocol: object) -> None:
    if endpoint is not None and not isinstance(endpoint, str):
        raise _wrong("otlp_endpoint", "a URL string such as 'http://localhost:4318' (or None)", endpoint)
    if headers is not None and not isinstance(headers, str | Mapping):
        raise _wrong("otlp_headers", "a dict of header names to values, or 'key=value,key2=value2'", headers)
    if protocol is not None and not isinstance(protocol, str):
        raise _wrong("otlp_protocol", "'http/protobuf' or 'grpc' (or None)", protocol)
    # The OTLP module's own resolution, which builds nothing: headers are checked even without an endpoint.
    from .exporters.otlp import _resolve, _resolve_headers

    if headers is not None:
        _resolve_headers("TRACES", headers)
    _resolve("TRACES", endpoint, headers, protocol)
    _resolve("METRICS", endpoint, headers, protocol)
