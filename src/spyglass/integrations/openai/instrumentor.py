"""`SpyglassOpenAIInstrumentor`: spyglass's OpenAI instrumentation as an OpenTelemetry instrumentor.

`opentelemetry-instrument python app.py` loads every `opentelemetry_instrumentor` entry point after the
agent has set up its SDK providers; ours (`spyglass_openai`) traces every OpenAI client into them, as
`instrument_openai()` does in an application that set up OpenTelemetry itself. The contrib
`opentelemetry-instrumentation-openai-v2` would trace the same calls a second time, so it is switched off:
spyglass's spans are the ones holding streamed answers, stream usage and cost.

Needs the `opentelemetry-instrumentation` package, which the agent brings.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from ..._config import STATE, join
from . import Instrumentation, instrument_openai

logger = logging.getLogger("spyglass")

_CONTRIB = "opentelemetry.instrumentation.openai_v2"


class SpyglassOpenAIInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Trace every OpenAI client through spyglass, into the given (or global) OpenTelemetry providers.

    Example:
        ```python
        from spyglass.integrations.openai.instrumentor import SpyglassOpenAIInstrumentor
        SpyglassOpenAIInstrumentor().instrument(tracer_provider=provider)
        ```
    """

    _handle: Instrumentation | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai >= 1.40",)

    def _instrument(self, **kwargs: Any) -> None:
        if STATE.settings is None:  # configure() not called: emit into the agent's providers
            join(kwargs.get("tracer_provider"), kwargs.get("meter_provider"))
        _switch_off_contrib()
        self._handle = instrument_openai()

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._handle is not None:
            self._handle.uninstrument()
            self._handle = None


def _switch_off_contrib() -> None:
    """Uninstrument the contrib OpenAI instrumentor, and keep it from instrumenting later.

    The agent loads the two entry points in no set order, so both cases are covered.
    """
    try:
        import importlib

        contrib = importlib.import_module(_CONTRIB).OpenAIInstrumentor()
    except Exception:  # not installed, or an incompatible version: nothing to switch off
        return
    try:
        if contrib.is_instrumented_by_opentelemetry:
            contrib.uninstrument()
        # The agent may load it after us: its instrument() then runs this instead of wrapping the SDK.
        contrib._instrument = _switched_off
        logger.info("spyglass: the contrib openai-v2 instrumentation is switched off; spyglass traces OpenAI")
    except Exception:
        logger.warning("spyglass: could not switch off the contrib openai-v2 instrumentation", exc_info=True)


def _switched_off(**kwargs: Any) -> None:
    logger.info("spyglass: the contrib openai-v2 instrumentation stays off; spyglass traces OpenAI")
