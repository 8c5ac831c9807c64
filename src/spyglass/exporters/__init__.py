"""Where spyglass's spans go besides the OpenTelemetry pipeline: the live console."""

from __future__ import annotations

from spyglass.exporters.console import ColorMode, ConsoleSpanProcessor, LogLevel, Verbosity

__all__ = ["ColorMode", "ConsoleSpanProcessor", "LogLevel", "Verbosity"]
