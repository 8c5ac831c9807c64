"""The standard OpenTelemetry environment variables, read the way the OpenTelemetry SDK reads them.

A value spyglass cannot use is never a crash: the variables are often set for a whole fleet, by someone
other than the program's author. It is logged once (logger `spyglass`) with what was done instead.
docs/otel.md has the table of every variable and what spyglass does with it.
"""

from __future__ import annotations

import logging
import os
from typing import Literal

logger = logging.getLogger("spyglass")

Signal = Literal["TRACES", "METRICS", "LOGS"]

_KNOWN_EXPORTERS = {"otlp", "console", "none"}

# OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: the boolean of the older GenAI instrumentations, and
# the modes of the newer ones (opentelemetry-util-genai). spyglass records content on spans only, so every
# mode that records content anywhere turns it on.
_CONTENT_MODES = {
    "true": True,
    "1": True,
    "yes": True,
    "on": True,
    "span_only": True,
    "span_and_event": True,
    "event_only": True,
    "false": False,
    "0": False,
    "no": False,
    "off": False,
    "no_content": False,
}

_warned: set[str] = set()


def warn_once(key: str, message: str, *args: object) -> None:
    if key in _warned:
        return
    _warned.add(key)
    logger.warning(message, *args)


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def sdk_disabled() -> bool:
    """`OTEL_SDK_DISABLED=true`: record nothing, write nothing (the SDK's own reading: only `true` counts)."""
    value = _raw("OTEL_SDK_DISABLED")
    return value is not None and value.lower() == "true"


def exporters(signal: Signal) -> frozenset[str] | None:
    """`OTEL_{signal}_EXPORTER` as a set of names, or None when unset. Unknown names are logged and left out."""
    value = _raw(f"OTEL_{signal}_EXPORTER")
    if value is None:
        return None
    names = {part.strip().lower() for part in value.split(",") if part.strip()}
    unknown = names - _KNOWN_EXPORTERS
    if unknown:
        warn_once(
            f"exporter-{signal}",
            "spyglass: OTEL_%s_EXPORTER=%r: %s not supported by spyglass (it knows otlp, console and none); "
            "ignored",
            signal,
            value,
            ", ".join(sorted(unknown)),
        )
    return frozenset(names & _KNOWN_EXPORTERS)


def capture_content() -> bool | None:
    """`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`, or None when unset or not understood."""
    name = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
    value = _raw(name)
    if value is None:
        return None
    mode = _CONTENT_MODES.get(value.lower())
    if mode is None:
        warn_once(
            name,
            "spyglass: %s=%r is not understood (use true, false, span_only, event_only, span_and_event or "
            "no_content); spyglass's own default applies",
            name,
            value,
        )
    elif value.lower() == "event_only":
        warn_once(
            name + "-events",
            "spyglass: %s=event_only: spyglass records messages as span attributes, not as events; "
            "they are recorded on the span",
            name,
        )
    return mode


def positive_int(name: str) -> int | None:
    """A positive integer variable (milliseconds, sizes), or None when unset or not a positive integer."""
    value = _raw(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        warn_once(name, "spyglass: %s=%r is not a positive integer; the default applies", name, value)
        return None
    return number


def attribute_length_limit() -> int | None:
    """The span attribute value length limit the SDK would apply, or None for no limit."""
    return positive_int("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT") or positive_int(
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"
    )
