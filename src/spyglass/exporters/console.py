"""`ConsoleSpanProcessor`: spans shown live in the terminal with Rich, as they start and as they end.

It is a span processor rather than an exporter because a slow call should be visible while it runs,
and exporters only see finished spans. Rendering lives in `_console_render` (pure, tested by text);
this module keeps the nesting depths, the lock, the level filter and the never-raise guard.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import tzinfo
from typing import IO, get_args

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from rich.console import Console, RenderableType
from rich.text import Text

from spyglass._errors import ConfigError, log_internal_error
from spyglass.exporters._console_output import (
    ColorMode,
    LiveAwareWriter,
    build_console,
    is_plain,
    live_proxy_for,
)
from spyglass.exporters._console_render import (
    LogLevel,
    RenderOptions,
    Verbosity,
    is_log,
    log_level_passes,
    render_end,
    render_start,
)
from spyglass.exporters._console_writes import PendingWrites

__all__ = ["ColorMode", "ConsoleSpanProcessor", "LogLevel", "Verbosity"]

_WHERE = "the console"  # how internal errors name us; the user's program never sees them


class ConsoleSpanProcessor(SpanProcessor):
    """Prints each span as it starts and ends, indented by nesting, with the conversation of LLM calls.

    While the program runs a Rich `Live` display (a progress bar, a streamed answer), lines go through
    the Live's stdout proxy and appear above the live area. Nothing here ever raises into the program:
    a failure is logged once on the `spyglass` logger.

    Example:
        ```python
        from opentelemetry.sdk.trace import TracerProvider
        from spyglass.exporters import ConsoleSpanProcessor

        provider = TracerProvider()
        provider.add_span_processor(ConsoleSpanProcessor(verbose="quiet"))
        ```

    Args:
        console: print through this Rich Console (then `file` and `colors` must be left unset).
        file: where to write; default: `sys.stdout` at the time of each write.
        verbose: `quiet` (one line per span), `normal` (+ the conversation of LLM calls),
            `verbose` (+ every attribute, and longer text before folding).
        colors: `auto` (colour on a terminal, unless `NO_COLOR` is set), `always` or `never`.
        min_level: logs below this level (`debug`, `info`, `warn`, `error`) are not shown.
        tz: time zone of the timestamps; default local time.
    """

    def __init__(
        self,
        *,
        console: Console | None = None,
        file: IO[str] | None = None,
        verbose: Verbosity = "normal",
        colors: ColorMode = "auto",
        min_level: LogLevel = "info",
        tz: tzinfo | None = None,
    ) -> None:
        _check_choice("verbose", verbose, Verbosity)
        _check_choice("colors", colors, ColorMode)
        _check_choice("min_level", min_level, LogLevel)
        if console is not None and (file is not None or colors != "auto"):
            raise ConfigError("ConsoleSpanProcessor: pass either console= or file=/colors=, not both")
        self._console = console if console is not None else build_console(file, colors)
        self._writer = LiveAwareWriter(self._console)
        self._options = RenderOptions(verbosity=verbose, plain=is_plain(self._console), tz=tz)
        self._min_level: LogLevel = min_level
        self._depths = _DepthTracker()
        self._lock = threading.Lock()
        self._pending: PendingWrites | None = None
        # Rendering imports a few of Rich's modules on first use (its Unicode width tables): have that
        # happen here, on the configuring thread, not on the console's while the program runs (a module
        # half-imported by one thread shows in `sys.modules` to the others).
        self._writer.render([Text("▶ ✓ ✗ … → · 表 😀", style="bold red")])

    @property
    def console(self) -> Console:
        """The Rich Console this processor prints through."""
        return self._console

    def write_at_span_boundaries(self) -> PendingWrites:
        """Keep rendered text for span boundaries instead of printing it at once (when this processor runs on
        a thread of its own: see `_console_writes`). The caller calls the returned object's hooks."""
        self._pending = PendingWrites(self._console)
        return self._pending

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            parent = span.parent
            depth = self._depths.enter(span.context.span_id, parent.span_id if parent else None)
            if self._options.verbosity == "quiet" or is_log(span):
                return
            self._print([render_start(span, depth, self._options)])
        except Exception:
            log_internal_error(_WHERE)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            context = span.context
            depth = self._depths.leave(context.span_id) if context is not None else 0
            if not log_level_passes(span, self._min_level):
                return
            self._print(render_end(span, depth, self._options))
        except Exception:
            log_internal_error(_WHERE)

    @property
    def dropped_spans(self) -> int:
        """Lines never printed: the output took nothing while too much waited (a pipe nobody reads)."""
        return self._pending.dropped if self._pending is not None else 0

    def stats(self) -> dict[str, int]:
        """`waiting_finished`: texts not printed yet (lost if the program ends now)."""
        return {"waiting_finished": self._pending.waiting if self._pending is not None else 0}

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        try:
            pending = self._pending
            if pending is not None:
                pending.write_all()
                return pending.waiting == 0
            self._console.file.flush()
        except Exception:
            log_internal_error(_WHERE)
        return True

    def _print(self, renderables: Sequence[RenderableType]) -> None:
        # One lock so a multi-line block (an outcome line and its conversation) is never split by
        # another thread's line.
        with self._lock:
            pending = self._pending
            if pending is not None and live_proxy_for(self._console.file) is None:
                pending.add(self._writer.render(renderables))
            else:  # printed at once; a Rich Live's proxy places whole lines above its area itself
                self._writer.print(renderables)


class _DepthTracker:
    """Nesting depth per span id, learnt from the parents seen so far.

    Ended spans are remembered for a while: a stream's span can start after its parent, the request
    span, has ended, and should still be indented under it.
    """

    _REMEMBER_ENDED = 1024

    def __init__(self) -> None:
        self._open: dict[int, int] = {}
        self._ended: OrderedDict[int, int] = OrderedDict()
        self._lock = threading.Lock()

    def enter(self, span_id: int, parent_id: int | None) -> int:
        with self._lock:
            parent_depth = self._depth_of(parent_id) if parent_id is not None else None
            depth = 0 if parent_depth is None else parent_depth + 1
            self._open[span_id] = depth
            return depth

    def leave(self, span_id: int) -> int:
        with self._lock:
            depth = self._open.pop(span_id, None)
            if depth is None:
                return self._ended.get(span_id, 0)
            self._ended[span_id] = depth
            if len(self._ended) > self._REMEMBER_ENDED:
                self._ended.popitem(last=False)
            return depth

    def _depth_of(self, span_id: int) -> int | None:
        depth = self._open.get(span_id)
        return depth if depth is not None else self._ended.get(span_id)


def _check_choice(name: str, value: object, choices: object) -> None:
    allowed = get_args(choices)
    if value not in allowed:
        raise ConfigError(
            f"ConsoleSpanProcessor: {name}={value!r} is not one of {', '.join(map(repr, allowed))}"
        )
