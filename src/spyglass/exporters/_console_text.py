"""Small text helpers for the console: safe strings, folding long text, number formats.

Everything the console shows may come from a user or a model, so every string passes through `clean()`
before it reaches the terminal.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.text import Text

ELLIPSIS = "…"

# Rich strips a few control codes but lets ESC through, so model output could move the cursor or clear
# the screen; show C0 controls and DEL as their Unicode "control picture" instead.
_CONTROL_PICTURES = {code: chr(0x2400 + code) for code in range(32)} | {127: "\u2421"}
_MULTILINE_PICTURES = {code: pic for code, pic in _CONTROL_PICTURES.items() if code not in (9, 10)}


def clean(value: str, *, one_line: bool = False) -> str:
    """`value` without terminal control codes; with `one_line`, newlines and tabs become visible too."""
    return value.translate(_CONTROL_PICTURES if one_line else _MULTILINE_PICTURES)


class Hanging:
    """`prefix`, then `body` wrapped in the width left, later lines indented under the body.

    A body given as a sequence of texts is joined with ` · `, breaking lines between items rather than
    inside them, so `cost unknown` is never split. With `max_lines`, the body is cut to that many lines,
    the last ending in `…`. Lines carry no trailing padding, so plain output stays clean when piped.
    """

    def __init__(self, prefix: Text, body: Text | Sequence[Text], max_lines: int | None = None) -> None:
        self.prefix = prefix
        self.body = body
        self.max_lines = max_lines

    def unwrapped_lines(self, max_width: int) -> list[tuple[Text, Text]] | None:
        """The lines `__rich_console__` renders, as (prefix or padding, body line), when every line of the
        body already fits beside the prefix in `max_width` cells, so Rich's wrapping would change nothing;
        None when some line would wrap or be cut."""
        prefix_width, width, body = self._layout(max_width)
        plain = body.plain
        if "\t" in plain or len(plain) > (self.max_lines or 1) * width or _breaks(self.prefix.plain):
            return None  # tabs are expanded, and `fold` cuts a long text by its length first
        pieces = body.split("\n", allow_blank=True) if "\n" in plain else [body]
        if self.max_lines is not None and len(pieces) > self.max_lines:
            return None
        lines = []
        for index, piece in enumerate(pieces):
            if prefix_width + piece.cell_len > max_width:
                return None
            text = piece.plain
            if text != text.rstrip():
                piece = piece.copy() if piece is body else piece
                piece.rstrip()
            lines.append((self.prefix if index == 0 else Text(" " * prefix_width), piece))
        return lines

    def _layout(self, max_width: int) -> tuple[int, int, Text]:
        """The prefix's width, the width left for the body, and the body as one text (items packed)."""
        prefix_width = self.prefix.cell_len
        # On a terminal too narrow for the indentation, let Rich wrap rather than print one cell a line.
        width = max(max_width - prefix_width, min(20, max_width), 1)
        body = self.body if isinstance(self.body, Text) else pack(self.body, width)
        return prefix_width, width, body

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        prefix_width, width, body = self._layout(options.max_width)
        padding = Text(" " * prefix_width)
        newline = Segment.line()
        # Yield segments rather than Text: Rich would wrap each line again.
        for index, line in enumerate(fold(console, body, width, self.max_lines)):
            yield from Text.assemble(self.prefix if index == 0 else padding, line).render(console)
            yield newline


def _breaks(text: str) -> bool:
    return "\n" in text or "\t" in text


def fold(console: Console, text: Text, width: int, max_lines: int | None) -> list[Text]:
    """`text` wrapped to `width` cells; with `max_lines`, cut to that many lines ending in `…`."""
    cut = False
    if max_lines is not None:
        # Wrapping a 100 KB tool result to keep three lines would be slow: the kept lines hold at most
        # max_lines * width characters, so cut there first.
        limit = max_lines * width + 1
        cut = len(text) > limit
        if cut:
            text = text[:limit]
    lines = list(text.wrap(console, width, overflow="fold"))
    for line in lines:
        line.rstrip()
    if max_lines is not None and (cut or len(lines) > max_lines):
        lines = lines[: max(1, max_lines)]
        last = lines[-1]
        last.truncate(width - 1)
        last.append(ELLIPSIS)
    return lines


def pack(items: Iterable[Text], width: int, separator: str = " · ") -> Text:
    """The non-empty `items` joined by a dim separator, with a line break before an item that won't fit."""
    packed = Text()
    line_width = 0
    line_end = separator.rstrip()
    for item in items:
        if not item:
            continue
        if packed and line_width + len(separator) + item.cell_len > width:
            if line_width + len(line_end) <= width:
                packed.append(line_end, style="dim")
            packed.append("\n")
            line_width = 0
        elif packed:
            packed.append(separator, style="dim")
            line_width += len(separator)
        packed.append_text(item)
        line_width += item.cell_len
        if line_width > width:  # an item longer than a line wraps; carry on after its last part
            line_width %= width
    return packed


def format_duration(nanoseconds: int) -> str:
    """`0.4ms`, `12ms`, `1.23s`, `75.0s`."""
    ms = nanoseconds / 1_000_000
    if ms < 10:
        return f"{ms:.1f}ms"
    if ms < 1000:
        return f"{ms:.0f}ms"
    seconds = ms / 1000
    return f"{seconds:.2f}s" if seconds < 60 else f"{seconds:.1f}s"


def format_cost(usd: float) -> str:
    """Three significant digits and at least cents: `$0.00123`, `$0.500`, `$12.35`; `<$0.000001` below a
    millionth of a dollar (as the viewer shows it), where a row of zeros only hides the digits."""
    if usd <= 0 or not math.isfinite(usd):
        return f"${usd:.2f}" if math.isfinite(usd) else f"${usd}"
    if usd < 0.000001:
        return "<$0.000001"
    decimals = max(2, 2 - math.floor(math.log10(usd)))
    return f"${usd:.{decimals}f}"


def format_bytes(size: int) -> str:
    """`812 B`, `12 KB`, `1.5 MB` (powers of 1024)."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def format_count(value: int) -> str:
    """`1,234`."""
    return f"{value:,}"


def compact_json(value: object) -> str:
    """`value` as one line of JSON, or its `str()` when it is not JSON-serialisable."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    except (TypeError, ValueError):
        return str(value)
