"""The GenAI client metrics: operation duration, token usage and time to first chunk.

Instruments are made once per `configure()` (the meter provider changes with it) and reused.
"""

from __future__ import annotations

from typing import Any

from ... import _attribute_names as names
from ..._config import STATE
from ..._errors import log_internal_error
from ._endpoints import Usage

# The bucket boundaries the GenAI semantic conventions advise.
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)

_instruments: tuple[int, Any, Any, Any] | None = None


def _get() -> tuple[Any, Any, Any]:
    global _instruments
    current = _instruments
    if current is None or current[0] != STATE.generation:
        meter = STATE.meter
        duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
        tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(_TOKEN_BUCKETS),
        )
        first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time from the request until the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
        current = _instruments = (STATE.generation, duration, tokens, first_chunk)
    return current[1], current[2], current[3]


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
