"""Pure rendering for the console: a span (and its nesting depth) in, Rich renderables out.

Nothing here prints or keeps state, so tests render spans into a string console and compare text.

A span prints a start line when it starts (`▶ message`) and an outcome line when it ends
(`✓ message · 1.20s · model · tokens · cost`), followed for LLM spans by the conversation, then any
error, then (verbose) all attributes. A log prints one line when it ends.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode
from rich.console import RenderableType
from rich.text import Text

from spyglass import _attribute_names as names
from spyglass.exporters._console_conversation import CONTENT_KEYS, FoldLimits, conversation
from spyglass.exporters._console_text import (
    Hanging,
    clean,
    format_cost,
    format_count,
    format_duration,
)

Verbosity = Literal["quiet", "normal", "verbose"]
LogLevel = Literal["debug", "info", "warn", "error"]

LOG_LEVELS: dict[str, int] = {"debug": 5, "info": 9, "warn": 13, "error": 17}
_LEVEL_STYLES = {"debug": "dim", "info": "", "warn": "yellow", "error": "red"}
_LLM_KINDS = (names.KIND_LLM, names.KIND_LLM_STREAM)
_TIME_WIDTH = len("00:00:00.000")
_INDENT = 2
_MAX_LINE_LINES = 6  # a start or outcome line; longer messages are cut with …
_MAX_INDENT_DEPTH = 12  # past this, deeper spans line up: a runaway recursion should not push text off-screen


@dataclass(frozen=True)
class RenderOptions:
    """What to show and how: verbosity, colour-free marks, and the time zone of the timestamps."""

    verbosity: Verbosity = "normal"
    plain: bool = False  # no colour: spell statuses as OK / ERROR instead of relying on green and red
    tz: tzinfo | None = None  # None: local time


def render_start(span: ReadableSpan, depth: int, options: RenderOptions) -> RenderableType:
    """The line printed when a span starts: `12:00:00.000   ▶ Asking OpenAI`."""
    mark = Text(">" if options.plain else "▶", style="dim")
    return _line(span.start_time, depth, mark, Text(_message(span)), options)


def render_end(span: ReadableSpan, depth: int, options: RenderOptions) -> list[RenderableType]:
    """The outcome line of an ended span, then its conversation, error and (verbose) attributes."""
    attributes = _attributes(span)
    if attributes.get(names.KIND) == names.KIND_LOG:
        return _render_log(span, depth, attributes, options)
    blocks: list[RenderableType] = [_outcome_line(span, depth, attributes, options)]
    indent = _body_indent(depth)
    is_llm = attributes.get(names.KIND) in _LLM_KINDS
    if is_llm and options.verbosity != "quiet":
        verbose = options.verbosity == "verbose"
        limits = FoldLimits(text=12, call=4) if verbose else FoldLimits(text=3, call=1)
        blocks += conversation(attributes, limits=limits, compact=not verbose, indent=indent)
    blocks += _error_block(span, attributes, indent, _error_lines(options))
    if options.verbosity == "verbose":
        blocks += _attribute_block(attributes, indent, skip=CONTENT_KEYS if is_llm else ())
    return blocks


def log_level_passes(span: ReadableSpan, min_level: LogLevel) -> bool:
    """Whether a log span is at `min_level` or above (spans that are not logs always pass)."""
    attributes = _attributes(span)
    if attributes.get(names.KIND) != names.KIND_LOG:
        return True
    return _level_number(attributes) >= LOG_LEVELS[min_level]


def is_log(span: ReadableSpan) -> bool:
    """Whether the span is a log record (printed once, when it ends)."""
    return _attributes(span).get(names.KIND) == names.KIND_LOG


# --- lines --------------------------------------------------------------------------------------------------


def _line(
    timestamp: int | None, depth: int, mark: Text, rest: Text | list[Text], options: RenderOptions
) -> Hanging:
    indent = " " * (_INDENT * min(depth, _MAX_INDENT_DEPTH))
    prefix = Text.assemble((format_time(timestamp, options.tz), "dim"), " ", indent, mark, " ")
    return Hanging(prefix, rest, _MAX_LINE_LINES)


def _body_indent(depth: int) -> int:
    """Where the lines under an outcome line start: under the mark, two cells in."""
    return _TIME_WIDTH + 1 + _INDENT * min(depth, _MAX_INDENT_DEPTH) + 2


def format_time(timestamp: int | None, tz: tzinfo | None) -> str:
    """`HH:MM:SS.mmm` of a nanosecond epoch timestamp."""
    if timestamp is None:
        return "--:--:--.---"
    seconds, nanos = divmod(timestamp, 1_000_000_000)
    clock = datetime.fromtimestamp(seconds, tz).strftime("%H:%M:%S")
    return f"{clock}.{nanos // 1_000_000:03d}"


def _outcome_line(
    span: ReadableSpan, depth: int, attributes: Mapping[str, Any], options: RenderOptions
) -> Hanging:
    failed = span.status.status_code is StatusCode.ERROR
    if options.plain:
        mark = Text("ERROR" if failed else "OK", style="bold red" if failed else "green")
    else:
        mark = Text("✗" if failed else "✓", style="bold red" if failed else "green")
    message = Text(_message(span), style="red" if failed else "")
    details = [Text(_duration(span), style="dim"), *_details(attributes)]
    return _line(span.end_time, depth, mark, [message, *details], options)


def _render_log(
    span: ReadableSpan, depth: int, attributes: Mapping[str, Any], options: RenderOptions
) -> list[RenderableType]:
    level = _level_name(attributes)
    style = _LEVEL_STYLES.get(level, "")
    mark = Text(f"{level}:", style=f"bold {style}".strip())
    blocks: list[RenderableType] = [
        _line(span.start_time, depth, mark, Text(_message(span), style=style), options)
    ]
    indent = _body_indent(depth)
    blocks += _error_block(span, attributes, indent, _error_lines(options))
    if options.verbosity == "verbose":
        blocks += _attribute_block(attributes, indent, skip=())
    return blocks


# --- outcome details ----------------------------------------------------------------------------------------


def _details(attributes: Mapping[str, Any]) -> list[Text]:
    kind = attributes.get(names.KIND)
    if kind in _LLM_KINDS:
        return [_model(attributes), _tokens(attributes), _cost(attributes), *_stream_details(attributes)]
    status_code = attributes.get(names.HTTP_RESPONSE_STATUS_CODE)
    if kind == names.KIND_API and isinstance(status_code, int):
        return [Text(f"HTTP {status_code}", style="dim")]
    return []


def _model(attributes: Mapping[str, Any]) -> Text:
    model = attributes.get(names.RESPONSE_MODEL) or attributes.get(names.REQUEST_MODEL)
    return Text(clean(str(model), one_line=True), style="blue") if model else Text()


def _tokens(attributes: Mapping[str, Any]) -> Text:
    """`52→12 tokens (cached 10, reasoning 5)`; `~` in front when a tokenizer estimated them."""
    tokens_in = attributes.get(names.USAGE_INPUT_TOKENS)
    tokens_out = attributes.get(names.USAGE_OUTPUT_TOKENS)
    if not isinstance(tokens_in, int) and not isinstance(tokens_out, int):
        return Text()
    approx = "~" if attributes.get(names.USAGE_SOURCE) == "estimated" else ""
    shown_in = format_count(tokens_in) if isinstance(tokens_in, int) else "?"
    shown_out = format_count(tokens_out) if isinstance(tokens_out, int) else "?"
    extras = [
        f"{label} {format_count(value)}"
        for label, key in (
            ("cached", names.USAGE_CACHE_READ_INPUT_TOKENS),
            ("reasoning", names.USAGE_REASONING_OUTPUT_TOKENS),
        )
        if isinstance(value := attributes.get(key), int) and value
    ]
    suffix = f" ({', '.join(extras)})" if extras else ""
    if tokens_out is None and attributes.get(names.OPERATION_NAME) == "embeddings":
        return Text(f"{approx}{shown_in} input tokens{suffix}")  # embeddings have no output tokens
    return Text(f"{approx}{shown_in}→{shown_out} tokens{suffix}")


def _cost(attributes: Mapping[str, Any]) -> Text:
    cost = attributes.get(names.COST_USD)
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        return Text(format_cost(float(cost)), style="green")
    if attributes.get(names.COST_STATUS) == "unknown":
        return Text("cost unknown", style="dim")
    return Text()


def _stream_details(attributes: Mapping[str, Any]) -> list[Text]:
    details: list[Text] = []
    first_chunk = attributes.get(names.RESPONSE_TIME_TO_FIRST_CHUNK)
    if isinstance(first_chunk, (int, float)) and not isinstance(first_chunk, bool):
        details.append(Text(f"first chunk {format_duration(int(first_chunk * 1e9))}", style="dim"))
    chunks = attributes.get(names.STREAM_CHUNKS)
    if isinstance(chunks, int):
        details.append(Text(f"{format_count(chunks)} chunk{'' if chunks == 1 else 's'}", style="dim"))
    outcome = attributes.get(names.STREAM_OUTCOME)
    if isinstance(outcome, str) and outcome not in (names.STREAM_COMPLETED, names.STREAM_ERROR):
        details.append(Text(clean(outcome.replace("_", " "), one_line=True), style="yellow"))
    return details


def _duration(span: ReadableSpan) -> str:
    if span.start_time is None or span.end_time is None:
        return "?"
    return format_duration(max(0, span.end_time - span.start_time))


# --- error and attributes -----------------------------------------------------------------------------------


def _error_block(
    span: ReadableSpan, attributes: Mapping[str, Any], indent: int, max_lines: int
) -> list[RenderableType]:
    """`RateLimitError [rate_limit_exceeded, HTTP 429]: Rate limit reached…`, in red, when the span failed."""
    exception = next((event for event in span.events if event.name == "exception"), None)
    if span.status.status_code is not StatusCode.ERROR and exception is None:
        return []
    event_attributes: Mapping[str, Any] = (exception.attributes or {}) if exception is not None else {}
    exc_type = str(event_attributes.get("exception.type", "") or "")
    exc_class = exc_type.rsplit(".", 1)[-1]
    exc_message = str(event_attributes.get("exception.message", "") or span.status.description or "")
    error_type = str(attributes.get(names.ERROR_TYPE, "") or "")
    # The codes go before the message, which can be long and is the part that gets folded away.
    codes = [error_type] if error_type and error_type not in (exc_type, exc_class) else []
    status_code = attributes.get(names.HTTP_RESPONSE_STATUS_CODE)
    if isinstance(status_code, int) and attributes.get(names.KIND) != names.KIND_API:
        codes.append(f"HTTP {status_code}")
    head = " ".join(part for part in (exc_class or "error", f"[{', '.join(codes)}]" if codes else "") if part)
    text = f"{head}: {exc_message}" if exc_message else head
    return [Hanging(Text(" " * indent), Text(clean(text), style="red"), max_lines)]


def _error_lines(options: RenderOptions) -> int:
    return 8 if options.verbosity == "verbose" else 2


def _attribute_block(
    attributes: Mapping[str, Any], indent: int, *, skip: tuple[str, ...]
) -> list[RenderableType]:
    shown = sorted(key for key in attributes if key not in skip and key != names.MSG)
    if not shown:
        return []
    return [
        Hanging(
            Text.assemble(" " * indent, (clean(key, one_line=True), "dim"), ("=", "dim")),
            Text(clean(_show_value(attributes[key])), style="dim"),
            3,
        )
        for key in shown
    ]


def _show_value(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (tuple, list)):
        return json.dumps(list(value), ensure_ascii=False)
    return str(value)


# --- attribute access ---------------------------------------------------------------------------------------


def _attributes(span: ReadableSpan) -> Mapping[str, Any]:
    return span.attributes or {}


def _message(span: ReadableSpan) -> str:
    message = _attributes(span).get(names.MSG)
    return clean(str(message) if message is not None else span.name, one_line=True)


def _level_name(attributes: Mapping[str, Any]) -> str:
    level = attributes.get(names.LEVEL)
    if isinstance(level, str) and level in LOG_LEVELS:
        return level
    number = _level_number(attributes)
    name = "debug"
    for candidate, floor in LOG_LEVELS.items():
        if number >= floor:
            name = candidate
    return name


def _level_number(attributes: Mapping[str, Any]) -> int:
    number = attributes.get(names.LEVEL_NUM)
    if isinstance(number, int) and not isinstance(number, bool):
        return number
    level = attributes.get(names.LEVEL)
    return LOG_LEVELS.get(level, LOG_LEVELS["info"]) if isinstance(level, str) else LOG_LEVELS["info"]
