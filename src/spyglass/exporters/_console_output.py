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
from collections.abc import Iterable, Sequence
from typing import IO, Literal, cast

from rich.console import Console, RenderableType
from rich.style import Style
from rich.text import Text

from spyglass.exporters._console_text import Hanging

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
        self._ansi_key: tuple[int, str | None, bool] | None = None  # width, colours: what it was built for
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
        console, width = self._ansi_renderer()
        text = one_line_ansi(renderables, console, width)
        if text is not None:
            return text
        console.print(*renderables)
        text = self._ansi_buffer.getvalue()
        self._ansi_buffer.seek(0)
        self._ansi_buffer.truncate()
        return text

    def _ansi_renderer(self) -> tuple[Console, int]:
        """A console like ours that renders into a string, rebuilt when the terminal is resized; and its
        width."""
        target = self.console
        current = self._ansi_console
        # Reading a Console's width looks at the environment and the terminal each time: once per render.
        key = (target.width, target.color_system, target.no_color)
        if current is None or key != self._ansi_key:
            self._ansi_key = key
            current = Console(
                file=self._ansi_buffer,
                width=key[0],
                color_system=cast("_ColorSystemName | None", target.color_system),
                no_color=target.no_color,
                force_terminal=True,
                legacy_windows=False,
                highlight=False,
            )
            self._ansi_console = current
        return current, key[0]


def one_line_ansi(renderables: Sequence[RenderableType], console: Console, width: int) -> str | None:
    """What `console.print(*renderables)` writes (`width`: the console's), when every renderable is a
    `Hanging` whose lines all fit (nearly every console line); None otherwise, and Rich prints them.

    Rich's print goes through wrapping, cropping and its render pipeline for each line: most of the
    console's cost per span. A line that fits needs none of that, only each piece's style codes, which is
    what Rich's own `_render_buffer` writes for it (the console tests compare both ways).
    """
    color_system = console._color_system
    if console.no_color and color_system:
        return None  # Rich strips the colours but keeps the rest of each style: not worth copying
    lines = []
    for renderable in renderables:
        if not isinstance(renderable, Hanging):
            return None
        unwrapped = renderable.unwrapped_lines(width)
        if unwrapped is None:
            return None
        lines += unwrapped
    out: list[str] = []
    append = out.append
    styles: dict[tuple[object, object], Style] = {}
    for line in lines:
        # Rich renders `Text.assemble(prefix, body)`; each part's styles cover only that part, so rendering
        # the parts one after the other gives the same segments without building the joined text.
        for part in line:
            for text, style in _segments(part, console, styles):
                append(style.render(text, color_system=color_system) if style else text)
        append("\n")
    return "".join(out)


def _segments(
    text: Text, console: Console, styles: dict[tuple[object, object], Style]
) -> Iterable[tuple[str, Style | None]]:
    """The (text, style) pieces Rich's render gives `text` inside a joined line: its own style all along,
    each span's style combined with it on top. Spans that nest or are empty go through Rich itself."""
    plain = text.plain
    spans = text._spans
    null = Style.null()
    if not spans:  # alone Rich would leave out the text's style; joined, the style is a span of its own
        return ((plain, console.get_style(text.style, default=null) if text.style else None),)
    position = 0
    for span in spans:
        if span.start < position or span.end <= span.start or span.end > len(plain):
            return ((segment.text, segment.style) for segment in text.render(console))
        position = span.end
    base = text.style
    pieces: list[tuple[str, Style | None]] = []
    position = 0
    for start, end, span_style in spans:
        if start > position:
            pieces.append((plain[position:start], _combined(console, styles, base, None)))
        pieces.append((plain[start:end], _combined(console, styles, base, span_style)))
        position = end
    if position < len(plain):
        pieces.append((plain[position:], _combined(console, styles, base, None)))
    return pieces


def _combined(
    console: Console, styles: dict[tuple[object, object], Style], base: object, top: object
) -> Style:
    key = (base, top)
    style = styles.get(key)
    if style is None:
        null = Style.null()
        style = console.get_style(base, default=null)  # type: ignore[arg-type]
        if top is not None:
            style = Style.combine((style, console.get_style(top, default=null)))  # type: ignore[arg-type]
        styles[key] = style
    return style


def live_proxy_for(file: IO[str]) -> IO[str] | None:
    """The Rich FileProxy now standing in for `file` as `sys.stdout` or `sys.stderr`, if any."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and getattr(stream, "rich_proxied_file", None) is file:
            return stream
    return None
