"""The GenAI client metrics: operation duration, token usage, time to first chunk and time per output chunk.

Instruments are made once per `configure()` (the meter provider changes with it) and reused. Only GenAI
operations (model calls) are measured: the callers skip other endpoints (`models.list`, files...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ... import _attribute_names as names
from ..._config import STATE
from ..._errors import log_internal_error
from ._endpoints import Usage

# The bucket boundaries the GenAI semantic conventions advise.
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)

_instruments: tuple[int, Any, Any, Any, Any] | None = None


def _get() -> tuple[Any, Any, Any, Any]:
    global _instruments
    current = _instruments
    if current is None or current[0] != STATE.generation:
        meter = STATE.meter
        duration = meter.create_histogram(
            names.METRIC_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
        tokens = meter.create_histogram(
            names.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(_TOKEN_BUCKETS),
        )
        first_chunk = meter.create_histogram(
            names.METRIC_TIME_TO_FIRST_CHUNK,
            unit="s",
            description="Time from the request until the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
        per_chunk = meter.create_histogram(
            names.METRIC_TIME_PER_OUTPUT_CHUNK,
            unit="s",
            description="Time between two chunks of a streamed response, for each chunk after the first.",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
        current = _instruments = (STATE.generation, duration, tokens, first_chunk, per_chunk)
    return current[1], current[2], current[3], current[4]


def record_duration(attributes: dict[str, Any], seconds: float) -> None:
    if not STATE.metrics_enabled:
        return
    try:
        _get()[0].record(seconds, attributes)
    except Exception:
        log_internal_error("openai.metrics.duration")


def record_tokens(attributes: dict[str, Any], usage: Usage | None) -> None:
    if usage is None or not STATE.metrics_enabled:
        return
    try:
        histogram = _get()[1]
        if usage.input_tokens is not None:
            histogram.record(usage.input_tokens, {**attributes, names.TOKEN_TYPE: "input"})
        if usage.output_tokens is not None:
            histogram.record(usage.output_tokens, {**attributes, names.TOKEN_TYPE: "output"})
    except Exception:
        log_internal_error("openai.metrics.tokens")


def record_time_to_first_chunk(attributes: dict[str, Any], seconds: float) -> None:
    if not STATE.metrics_enabled:
        return
    try:
        _get()[2].record(seconds, attributes)
    except Exception:
        log_internal_error("openai.metrics.first_chunk")


def record_time_per_output_chunk(attributes: dict[str, Any], arrivals_ns: Sequence[int]) -> None:
    """One value per chunk after the first: the time since the chunk before it (recorded when the stream
    ends, so the caller's loop only notes arrival times)."""
    if len(arrivals_ns) < 2 or not STATE.metrics_enabled:
        return
    try:
        record = _get()[3].record
        previous = arrivals_ns[0]
        for arrival in arrivals_ns[1:]:
            record((arrival - previous) / 1e9, attributes)
            previous = arrival
    except Exception:
        log_internal_error("openai.metrics.per_chunk")
