"""The console's fast path for lines that need no wrapping writes exactly what Rich's own print writes.

`one_line_ansi` skips Rich's wrapping and print pipeline for renderables whose lines all fit; these tests
render the same renderables both ways, with hostile text (wide and zero-width characters, trailing
spaces, newlines, tabs, control pictures) in every colour system, and compare the bytes.
"""

from __future__ import annotations

import io
import json
from datetime import timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode
from rich.console import Console, RenderableType
from rich.text import Text

from spyglass import _attribute_names as names
from spyglass.exporters._console_output import one_line_ansi
from spyglass.exporters._console_render import RenderOptions, render_end, render_start
from spyglass.exporters._console_text import Hanging

COLOR_SYSTEMS = ["standard", "256", "truecolor", None]
STYLES = ["", "dim", "bold red", "green", "blue", "magenta", "cyan", "yellow", "red", "bold", "dim italic"]
LINE_PIECES = ["a", "word", " ", "  ", "表", "😀", "e\u0301", "\u200b", "·", "→", "…", "x" * 30, "␛"]
PIECES = [*LINE_PIECES, "\n", "\n"]


def _console(width: int, color_system: str | None) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        color_system=color_system,  # type: ignore[arg-type]
        force_terminal=True,
        legacy_windows=False,
        highlight=False,
    )
    return console, buffer


def _rich_writes(renderables: list[RenderableType], width: int, color_system: str | None) -> str:
    console, buffer = _console(width, color_system)
    console.print(*renderables)
    return buffer.getvalue()


def _fast_writes(renderables: list[RenderableType], width: int, color_system: str | None) -> str | None:
    console, _ = _console(width, color_system)
    return one_line_ansi(renderables, console, width)


def _text(parts: list[str], style: str, spans: list[tuple[int, int, str]]) -> Text:
    text = Text("".join(parts), style=style)
    for start, length, span_style in spans:  # nested, overlapping, empty or past the end: all allowed
        text.stylize(span_style, start, start + length)
    return text


def _texts(pieces: list[str]) -> st.SearchStrategy[Text]:
    return st.builds(
        _text,
        st.lists(st.sampled_from(pieces), max_size=8),
        st.sampled_from(STYLES),
        st.lists(st.tuples(st.integers(0, 40), st.integers(0, 12), st.sampled_from(STYLES[1:])), max_size=4),
    )


texts = _texts(PIECES)
hangings = st.builds(
    Hanging,
    st.builds(Text.assemble, _texts(LINE_PIECES), _texts(LINE_PIECES)),
    texts | st.lists(texts, max_size=5),
    st.none() | st.integers(0, 6),
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(hangings, min_size=1, max_size=4),
    st.integers(1, 40) | st.integers(80, 240),
    st.sampled_from(COLOR_SYSTEMS),
)
def test_the_fast_path_writes_what_rich_writes(
    renderables: list[RenderableType], width: int, color_system: str | None
) -> None:
    fast = _fast_writes(renderables, width, color_system)
    if fast is not None:
        assert fast == _rich_writes(renderables, width, color_system)


def _span(attributes: dict[str, object], failed: bool = False) -> object:
    provider = TracerProvider()
    span = provider.get_tracer("test").start_span("chat gpt-4o", attributes=attributes)  # type: ignore[arg-type]
    if failed:
        span.set_status(Status(StatusCode.ERROR, "RateLimitError: slow down"))
    span.end()
    return span


LLM = {
    names.KIND: names.KIND_LLM,
    names.MSG: "Chat Completion with 'gpt-4o'",
    names.OPERATION_NAME: "chat",
    names.REQUEST_MODEL: "gpt-4o",
    names.RESPONSE_MODEL: "gpt-4o-2024-08-06",
    names.INPUT_MESSAGES: json.dumps(
        [
            {"role": "system", "parts": [{"type": "text", "content": "You are a helpful assistant."}]},
            {"role": "user", "parts": [{"type": "text", "content": "Please write me a limerick."}]},
        ]
    ),
    names.OUTPUT_MESSAGES: json.dumps(
        [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "A limerick…"}],
                "finish_reason": "stop",
            }
        ]
    ),
    names.USAGE_INPUT_TOKENS: 30,
    names.USAGE_OUTPUT_TOKENS: 40,
    names.COST_STATUS: "known",
    names.COST_USD: 0.000475,
}


def test_a_model_call_renders_through_the_fast_path_exactly_as_rich_renders_it() -> None:
    """The lines of an everyday model call take the fast path at common widths (else it would save
    nothing), and write the very same bytes."""
    span = _span(LLM)
    for verbosity in ("quiet", "normal", "verbose"):
        options = RenderOptions(verbosity=verbosity, tz=timezone.utc)  # type: ignore[arg-type]
        for renderables in ([render_start(span, 2, options)], render_end(span, 2, options)):  # type: ignore[arg-type]
            for color_system in COLOR_SYSTEMS:
                for width in (80, 120, 200):
                    fast = _fast_writes(renderables, width, color_system)
                    if verbosity != "verbose":
                        assert fast is not None, (verbosity, width)
                    if fast is not None:
                        assert fast == _rich_writes(renderables, width, color_system)


def test_lines_that_must_wrap_are_left_to_rich() -> None:
    long_line = Hanging(Text("12:00:00.000 ▶ "), Text("word " * 40), 6)
    assert _fast_writes([long_line], 80, "truecolor") is None
    assert _fast_writes([long_line], 400, "truecolor") == _rich_writes([long_line], 400, "truecolor")
    assert _fast_writes([Text("not a Hanging")], 80, "truecolor") is None
    tabbed = Hanging(Text("12:00:00.000 ▶ "), Text("a\tb"), 6)  # Rich expands tabs as it wraps
    assert _fast_writes([tabbed], 80, "truecolor") is None
