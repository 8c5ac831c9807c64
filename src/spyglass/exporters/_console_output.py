"""Where console lines go: building the Rich Console, and printing above a running Rich `Live`.

A Rich `Live` display (a progress bar, a streamed answer) redraws its area in place. While it runs it
swaps `sys.stdout` and `sys.stderr` for a `FileProxy` that prints each written line through the Live's
console, above the live area. But `Console.file` unwraps that proxy, so a second Console (ours, or the
global `rich.get_console()` when the Live has its own) writes straight to the terminal, under the live
area, and the next redraw scrambles both. So before printing we look for a proxy standing in for the
file we are about to write to; when there is one, we render our lines to ANSI text and write them
through it, and the Live's console places them above the live area.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from typing import IO, Literal, cast

from rich.console import Console, RenderableType

ColorMode = Literal["auto", "always", "never"]
_ColorSystemName = Literal["standard", "256", "truecolor", "windows"]


def build_console(file: IO[str] | None, colors: ColorMode) -> Console:
    """A Console writing to `file` (None: whatever `sys.stdout` is at each write).

    `auto` gives colour on a terminal unless `NO_COLOR` is set (Rich also honours `FORCE_COLOR`
    and `TTY_COMPATIBLE`). Without colour the output has no escape codes at all: Rich alone would still
    send bold and dim under `NO_COLOR`.
    """
    if colors == "never":
        return _plain_console(file)
    if colors == "always":
        console = Console(file=file, force_terminal=True, no_color=False, highlight=False)
        if console.color_system is None:
            console = Console(
                file=file, force_terminal=True, no_color=False, color_system="standard", highlight=False
            )
        return console
    console = Console(file=file, highlight=False)
    if console.color_system is None or console.no_color:
        return _plain_console(file)
    return console


def _plain_console(file: IO[str] | None) -> Console:
    return Console(file=file, color_system=None, no_color=True, highlight=False)


def is_plain(console: Console) -> bool:
    """Whether `console` shows no colour, so statuses must be spelled out."""
    return console.color_system is None or console.no_color


class LiveAwareWriter:
    """Prints renderables through a Console, going through a Rich Live's stdout proxy when one is active."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._ansi_console: Console | None = None
        self._ansi_buffer = io.StringIO()

    def print(self, renderables: Sequence[RenderableType]) -> None:
        """Print `renderables` as one block; callers serialise calls (the writer is not thread-safe)."""
        proxy = live_proxy_for(self.console.file)
        if proxy is None:
            self.console.print(*renderables)
            return
        proxy.write(self._to_ansi(renderables))

    def render(self, renderables: Sequence[RenderableType]) -> str:
        """`renderables` as the text our console would write (with its colours, at its width)."""
        return self._to_ansi(renderables)

    def _to_ansi(self, renderables: Sequence[RenderableType]) -> str:
        console = self._ansi_renderer()
        console.print(*renderables)
        text = self._ansi_buffer.getvalue()
        self._ansi_buffer.seek(0)
        self._ansi_buffer.truncate()
        return text

    def _ansi_renderer(self) -> Console:
        """A console like ours that renders into a string, rebuilt when the terminal is resized."""
        target = self.console
        current = self._ansi_console
        if (
            current is None
            or current.width != target.width
            or current.color_system != target.color_system
            or current.no_color != target.no_color
        ):
            current = Console(
                file=self._ansi_buffer,
                width=target.width,
                color_system=cast("_ColorSystemName | None", target.color_system),
                no_color=target.no_color,
                force_terminal=True,
                legacy_windows=False,
                highlight=False,
            )
            self._ansi_console = current
        return current


def live_proxy_for(file: IO[str]) -> IO[str] | None:
    """The Rich FileProxy now standing in for `file` as `sys.stdout` or `sys.stderr`, if any."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and getattr(stream, "rich_proxied_file", None) is file:
            return stream
    return None
