"""The console: real OpenTelemetry spans carrying the contract's attributes, rendered to exact text."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from inline_snapshot import snapshot
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import AttributeValue
from rich.console import Console

import spyglass.exporters
from spyglass import _attribute_names as names
from spyglass._errors import ConfigError, reset_reported_errors
from spyglass.exporters import ConsoleSpanProcessor

T0 = int(datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc).timestamp()) * 1_000_000_000
MS = 1_000_000

SYSTEM = json.dumps([{"type": "text", "content": "You are a helpful assistant."}])
USER = {"role": "user", "parts": [{"type": "text", "content": "What's the weather in Paris?"}]}
CALL = {
    "role": "assistant",
    "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
    "finish_reason": "tool_calls",
}
RESULT = {
    "role": "tool",
    "parts": [{"type": "tool_call_response", "id": "call_1", "response": "18°C, sunny"}],
}
ANSWER = {
    "role": "assistant",
    "parts": [{"type": "text", "content": "It is 18°C and sunny in Paris."}],
    "finish_reason": "stop",
}


@dataclass
class Screen:
    """A tracer whose spans print into a string console."""

    tracer: trace.Tracer
    file: io.StringIO
    provider: TracerProvider

    @property
    def text(self) -> str:
        return self.file.getvalue()

    def span(
        self,
        message: str,
        attributes: Mapping[str, AttributeValue],
        *,
        start_ms: int,
        end_ms: int | None,
        parent: trace.Span | None = None,
    ) -> trace.Span:
        """A span from `start_ms` to `end_ms` after T0 (left open when `end_ms` is None)."""
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer.start_span(
            message,
            context=context,
            kind=SpanKind.CLIENT,
            attributes={names.MSG: message, **attributes},
            start_time=T0 + start_ms * MS,
        )
        if end_ms is not None:
            span.end(end_time=T0 + end_ms * MS)
        return span


def make_screen(width: int = 100, **options: Any) -> Screen:
    file = io.StringIO()
    console = Console(file=file, width=width, color_system=None)
    provider = TracerProvider()
    provider.add_span_processor(ConsoleSpanProcessor(console=console, tz=timezone.utc, **options))
    return Screen(provider.get_tracer("test"), file, provider)


def llm(
    *,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]] | None = None,
    kind: str = names.KIND_LLM,
    **extra: AttributeValue,
) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        names.KIND: kind,
        names.OPERATION_NAME: "chat",
        names.REQUEST_MODEL: "gpt-4o",
        names.RESPONSE_MODEL: "gpt-4o-2024-08-06",
        names.SYSTEM_INSTRUCTIONS: SYSTEM,
        names.INPUT_MESSAGES: json.dumps(inputs),
    }
    if outputs is not None:
        attributes[names.OUTPUT_MESSAGES] = json.dumps(outputs)
    attributes.update(extra)
    return attributes


def usage(tokens_in: int, tokens_out: int, cost: float | None) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        names.USAGE_INPUT_TOKENS: tokens_in,
        names.USAGE_OUTPUT_TOKENS: tokens_out,
        names.USAGE_SOURCE: "api",
    }
    if cost is None:
        attributes |= {names.COST_STATUS: "unknown", names.COST_REASON: "model not in the price table"}
    else:
        attributes |= {names.COST_STATUS: "known", names.COST_USD: cost}
    return attributes


USER_SPAN = {names.KIND: names.KIND_SPAN}


def test_user_span_around_a_chat_call() -> None:
    screen = make_screen()
    outer = screen.span("Asking OpenAI", USER_SPAN, start_ms=0, end_ms=None)
    screen.span(
        "Chat Completion with 'gpt-4o'",
        llm(inputs=[USER], outputs=[ANSWER], **usage(52, 12, 0.00123)),
        start_ms=5,
        end_ms=1205,
        parent=outer,
    )
    outer.end(end_time=T0 + 1300 * MS)

    assert screen.text == snapshot("""\
12:00:00.000 > Asking OpenAI
12:00:00.005   > Chat Completion with 'gpt-4o'
12:00:01.205   OK Chat Completion with 'gpt-4o' · 1.20s · gpt-4o-2024-08-06 · 52→12 tokens ·
                  $0.00123
                 system    You are a helpful assistant.
                 user      What's the weather in Paris?
                 assistant It is 18°C and sunny in Paris.
12:00:01.300 OK Asking OpenAI · 1.30s
""")


def test_tool_call_round_trip() -> None:
    screen = make_screen()
    screen.span(
        "Chat Completion with 'gpt-4o'",
        llm(inputs=[USER], outputs=[CALL], **usage(80, 17, 0.000371)),
        start_ms=0,
        end_ms=640,
    )
    screen.span(
        "Chat Completion with 'gpt-4o'",
        llm(
            inputs=[USER, CALL, RESULT],
            outputs=[ANSWER],
            **usage(1090, 14, None),
            **{names.USAGE_CACHE_READ_INPUT_TOKENS: 1024},
        ),
        start_ms=700,
        end_ms=1500,
    )

    assert screen.text == snapshot("""\
12:00:00.000 > Chat Completion with 'gpt-4o'
12:00:00.640 OK Chat Completion with 'gpt-4o' · 640ms · gpt-4o-2024-08-06 · 80→17 tokens · $0.000371
               system    You are a helpful assistant.
               user      What's the weather in Paris?
               assistant get_weather(city="Paris")
12:00:00.700 > Chat Completion with 'gpt-4o'
12:00:01.500 OK Chat Completion with 'gpt-4o' · 800ms · gpt-4o-2024-08-06 ·
                1,090→14 tokens (cached 1,024) · cost unknown
               system    You are a helpful assistant.
                         … 1 earlier message
               assistant get_weather(city="Paris")
               tool      get_weather → 18°C, sunny
               assistant It is 18°C and sunny in Paris.
""")


def test_verbose_shows_the_whole_conversation_and_every_attribute() -> None:
    screen = make_screen(verbose="verbose")
    screen.span(
        "Chat Completion with 'gpt-4o'",
        llm(inputs=[USER, CALL, RESULT], outputs=[ANSWER], **usage(90, 14, 0.0003)),
        start_ms=0,
        end_ms=800,
    )

    assert screen.text == snapshot("""\
12:00:00.000 > Chat Completion with 'gpt-4o'
12:00:00.800 OK Chat Completion with 'gpt-4o' · 800ms · gpt-4o-2024-08-06 · 90→14 tokens · $0.000300
               system    You are a helpful assistant.
               user      What's the weather in Paris?
               assistant get_weather(city="Paris")
               tool      get_weather → 18°C, sunny
               assistant It is 18°C and sunny in Paris.
               gen_ai.operation.name=chat
               gen_ai.request.model=gpt-4o
               gen_ai.response.model=gpt-4o-2024-08-06
               gen_ai.usage.input_tokens=90
               gen_ai.usage.output_tokens=14
               spyglass.cost.status=known
               spyglass.cost.usd=0.0003
               spyglass.kind=llm
               spyglass.usage.source=api
""")


def test_quiet_prints_only_outcome_lines() -> None:
    screen = make_screen(verbose="quiet")
    outer = screen.span("Asking OpenAI", USER_SPAN, start_ms=0, end_ms=None)
    screen.span(
        "Chat Completion with 'gpt-4o'",
        llm(inputs=[USER], outputs=[ANSWER], **usage(52, 12, None)),
        start_ms=5,
        end_ms=1205,
        parent=outer,
    )
    outer.end(end_time=T0 + 1300 * MS)

    assert screen.text == snapshot("""\
12:00:01.205   OK Chat Completion with 'gpt-4o' · 1.20s · gpt-4o-2024-08-06 · 52→12 tokens ·
                  cost unknown
12:00:01.300 OK Asking OpenAI · 1.30s
""")


def test_stream_spans() -> None:
    """The stream span starts after the request span ended, and still nests under the caller's span."""
    screen = make_screen()
    outer = screen.span("Asking OpenAI to write some code", USER_SPAN, start_ms=0, end_ms=None)
    request = llm(inputs=[USER], **{names.REQUEST_STREAM: True})
    del request[names.RESPONSE_MODEL]
    screen.span("Chat Completion with 'gpt-4o'", request, start_ms=1, end_ms=301, parent=outer)
    stream = llm(kind=names.KIND_LLM_STREAM, inputs=[], outputs=[ANSWER], **usage(52, 12, 0.00025))
    stream |= {
        names.USAGE_SOURCE: "estimated",
        names.RESPONSE_TIME_TO_FIRST_CHUNK: 0.25,
        names.STREAM_CHUNKS: 42,
        names.STREAM_OUTCOME: names.STREAM_CLOSED_EARLY,
    }
    del stream[names.SYSTEM_INSTRUCTIONS], stream[names.INPUT_MESSAGES]  # a stream span holds the output
    message = "streaming response from 'gpt-4o' took 2.40s"
    screen.span(message, stream, start_ms=302, end_ms=2702, parent=outer)
    outer.end(end_time=T0 + 2800 * MS)

    assert screen.text == snapshot("""\
12:00:00.000 > Asking OpenAI to write some code
12:00:00.001   > Chat Completion with 'gpt-4o'
12:00:00.301   OK Chat Completion with 'gpt-4o' · 300ms · gpt-4o
                 system    You are a helpful assistant.
                 user      What's the weather in Paris?
12:00:00.302   > streaming response from 'gpt-4o' took 2.40s
12:00:02.702   OK streaming response from 'gpt-4o' took 2.40s · 2.40s · gpt-4o-2024-08-06 ·
                  ~52→12 tokens · $0.000250 · first chunk 250ms · 42 chunks · closed early
                 assistant It is 18°C and sunny in Paris.
12:00:02.800 OK Asking OpenAI to write some code · 2.80s
""")


def test_a_span_under_an_ended_parent_keeps_its_depth() -> None:
    screen = make_screen(verbose="quiet")
    outer = screen.span("outer", USER_SPAN, start_ms=0, end_ms=None)
    request = screen.span("request", USER_SPAN, start_ms=1, end_ms=2, parent=outer)
    screen.span("stream", USER_SPAN, start_ms=3, end_ms=4, parent=request)
    outer.end(end_time=T0 + 5 * MS)

    assert screen.text == snapshot("""\
12:00:00.002   OK request · 1.0ms
12:00:00.004     OK stream · 1.0ms
12:00:00.005 OK outer · 5.0ms
""")


def test_a_span_whose_parent_was_never_seen_is_at_depth_zero() -> None:
    screen = make_screen(verbose="quiet")
    remote = SpanContext(trace_id=1, span_id=2, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    screen.span("handling a request", USER_SPAN, start_ms=0, end_ms=10, parent=NonRecordingSpan(remote))

    assert screen.text == "12:00:00.010 OK handling a request · 10ms\n"


def test_error_span() -> None:
    screen = make_screen()
    span = screen.span(
        "Chat Completion with 'gpt-5'",
        llm(inputs=[USER], **{names.REQUEST_MODEL: "gpt-5"}),
        start_ms=0,
        end_ms=None,
    )
    try:
        raise LookupError("The model `gpt-5` does not exist or you do not have access to it.")
    except LookupError as exc:
        span.record_exception(exc, timestamp=T0 + 400 * MS)
        span.set_status(Status(StatusCode.ERROR, str(exc)))
    span.set_attributes({names.ERROR_TYPE: "model_not_found", names.HTTP_RESPONSE_STATUS_CODE: 404})
    span.set_attribute(names.RESPONSE_MODEL, "gpt-5")
    span.end(end_time=T0 + 410 * MS)

    assert screen.text == snapshot("""\
12:00:00.000 > Chat Completion with 'gpt-5'
12:00:00.410 ERROR Chat Completion with 'gpt-5' · 410ms · gpt-5
               system    You are a helpful assistant.
               user      What's the weather in Paris?
               LookupError [model_not_found, HTTP 404]: The model `gpt-5` does not exist or you do
               not have access to it.
""")


def test_error_type_equal_to_the_exception_class_is_not_repeated() -> None:
    screen = make_screen(verbose="quiet")
    span = screen.span("Asking OpenAI", USER_SPAN, start_ms=0, end_ms=None)
    span.record_exception(TimeoutError("timed out"))
    span.set_status(Status(StatusCode.ERROR))
    span.set_attribute(names.ERROR_TYPE, "TimeoutError")
    span.end(end_time=T0 + 30_000 * MS)

    assert screen.text == snapshot("""\
12:00:30.000 ERROR Asking OpenAI · 30.00s
               TimeoutError: timed out
""")


def log(screen: Screen, level: str, number: int, message: str) -> None:
    attributes = {names.KIND: names.KIND_LOG, names.LEVEL: level, names.LEVEL_NUM: number}
    screen.span(message, attributes, start_ms=number, end_ms=number)


def write_logs(screen: Screen) -> None:
    for level, number in (("debug", 5), ("info", 9), ("warn", 13), ("error", 17)):
        log(screen, level, number, f"a {level} message")


def test_logs_print_once_with_their_level() -> None:
    screen = make_screen(min_level="debug")
    write_logs(screen)

    assert screen.text == snapshot("""\
12:00:00.005 debug: a debug message
12:00:00.009 info: a info message
12:00:00.013 warn: a warn message
12:00:00.017 error: a error message
""")


def test_min_level_hides_lower_logs() -> None:
    screen = make_screen(min_level="warn")
    write_logs(screen)

    assert screen.text == snapshot("""\
12:00:00.013 warn: a warn message
12:00:00.017 error: a error message
""")


def test_log_levels_are_styled() -> None:
    file = io.StringIO()
    provider = TracerProvider()
    console = Console(file=file, width=100, color_system="standard")
    provider.add_span_processor(ConsoleSpanProcessor(console=console, tz=timezone.utc, min_level="debug"))
    write_logs(Screen(provider.get_tracer("test"), file, provider))

    assert file.getvalue() == snapshot("""\
\x1b[2m12:00:00.005\x1b[0m \x1b[1;2mdebug:\x1b[0m \x1b[2ma debug message\x1b[0m
\x1b[2m12:00:00.009\x1b[0m \x1b[1minfo:\x1b[0m a info message
\x1b[2m12:00:00.013\x1b[0m \x1b[1;33mwarn:\x1b[0m \x1b[33ma warn message\x1b[0m
\x1b[2m12:00:00.017\x1b[0m \x1b[1;31merror:\x1b[0m \x1b[31ma error message\x1b[0m
""")


def test_a_long_outcome_line_breaks_between_items() -> None:
    screen = make_screen(width=80, verbose="quiet")
    attributes = llm(inputs=[USER], **usage(52, 12, None))
    screen.span("Chat Completion gpt-4o", attributes, start_ms=0, end_ms=10)  # "tokens" ends at column 80
    screen.span("Chat Completion gpt", attributes, start_ms=0, end_ms=10)  # room left for " ·"

    assert screen.text == snapshot("""\
12:00:00.010 OK Chat Completion gpt-4o · 10ms · gpt-4o-2024-08-06 · 52→12 tokens
                cost unknown
12:00:00.010 OK Chat Completion gpt · 10ms · gpt-4o-2024-08-06 · 52→12 tokens ·
                cost unknown
""")


def test_long_text_and_arguments_are_folded() -> None:
    screen = make_screen(width=60)
    long_text = "word " * 200
    call = {
        "role": "assistant",
        "parts": [{"type": "tool_call", "id": "c", "name": "search", "arguments": {"query": "x" * 100}}],
    }
    user = {"role": "user", "parts": [{"type": "text", "content": long_text}]}
    screen.span("chat", llm(inputs=[user], outputs=[call]), start_ms=0, end_ms=10)

    assert screen.text == snapshot("""\
12:00:00.000 > chat
12:00:00.010 OK chat · 10ms · gpt-4o-2024-08-06
               system    You are a helpful assistant.
               user      word word word word word word word
                         word word word word word word word
                         word word word word word word word…
               assistant search(query="xxxxxxxxxxxxxxxxxxxx…
""")


def test_images_and_other_parts() -> None:
    screen = make_screen()
    user = {
        "role": "user",
        "parts": [
            {"type": "text", "content": "What is in this picture?"},
            {
                "type": "blob_reference",
                "modality": "image",
                "mime_type": "image/png",
                "size": 12345,
                "sha256": "abcd" * 16,
            },
            {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"},
        ],
    }
    answer = {
        "role": "assistant",
        "parts": [
            {"type": "reasoning", "content": "It looks feline."},
            {"type": "refusal", "content": "I cannot identify people."},
        ],
        "finish_reason": "content_filter",
    }
    screen.span("chat", llm(inputs=[user], outputs=[answer]), start_ms=0, end_ms=10)

    assert screen.text == snapshot("""\
12:00:00.000 > chat
12:00:00.010 OK chat · 10ms · gpt-4o-2024-08-06
               system    You are a helpful assistant.
               user      What is in this picture?
                         [image 12 KB sha256:abcdabcd…]
                         [image https://example.com/cat.png]
               assistant thinking: It looks feline.
                         refused: I cannot identify people.
                         finish reason: content_filter
""")


def test_content_that_does_not_parse_is_shown_raw() -> None:
    screen = make_screen()
    attributes = llm(inputs=[USER]) | {
        names.INPUT_MESSAGES: '[{"role": "user", "parts": [...[truncated 9 chars]'
    }
    del attributes[names.SYSTEM_INSTRUCTIONS]
    screen.span("chat", attributes, start_ms=0, end_ms=10)

    assert screen.text == snapshot("""\
12:00:00.000 > chat
12:00:00.010 OK chat · 10ms · gpt-4o-2024-08-06
               messages  [{"role": "user", "parts": [...[truncated 9 chars]
""")


def test_terminal_control_codes_are_shown_not_obeyed() -> None:
    screen = make_screen(verbose="quiet")
    screen.span("clear \x1b[2J screen\nnext", USER_SPAN, start_ms=0, end_ms=1)

    assert screen.text == "12:00:00.001 OK clear ␛[2J screen␊next · 1.0ms\n"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for variable in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLORTERM"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    return monkeypatch


def print_one_span(processor: ConsoleSpanProcessor) -> None:
    provider = TracerProvider()
    provider.add_span_processor(processor)
    span = provider.get_tracer("test").start_span("Asking OpenAI", attributes={names.MSG: "Asking OpenAI"})
    span.end()


def test_colour_on_a_terminal(terminal_env: pytest.MonkeyPatch) -> None:
    file = FakeTerminal()
    print_one_span(ConsoleSpanProcessor(file=file))

    assert "\x1b[" in file.getvalue()
    assert "✓ Asking OpenAI" in re.sub(r"\x1b\[[0-9;]*m", "", file.getvalue())


def test_no_color_removes_every_escape_code(terminal_env: pytest.MonkeyPatch) -> None:
    terminal_env.setenv("NO_COLOR", "1")
    file = FakeTerminal()
    print_one_span(ConsoleSpanProcessor(file=file))

    assert "\x1b" not in file.getvalue()
    assert "OK Asking OpenAI" in file.getvalue()


def test_no_colour_when_not_a_terminal(terminal_env: pytest.MonkeyPatch) -> None:
    file = io.StringIO()
    print_one_span(ConsoleSpanProcessor(file=file))

    assert "\x1b" not in file.getvalue()
    assert "OK Asking OpenAI" in file.getvalue()


def test_colors_never_and_always(terminal_env: pytest.MonkeyPatch) -> None:
    never, always = FakeTerminal(), io.StringIO()
    print_one_span(ConsoleSpanProcessor(file=never, colors="never"))
    print_one_span(ConsoleSpanProcessor(file=always, colors="always"))

    assert "\x1b" not in never.getvalue()
    assert "\x1b[" in always.getvalue()


def test_default_output_is_stdout_at_the_time_of_writing(capsys: pytest.CaptureFixture[str]) -> None:
    processor = ConsoleSpanProcessor()
    print_one_span(processor)

    assert "Asking OpenAI" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"verbose": "loud"}, "verbose='loud' is not one of 'quiet', 'normal', 'verbose'"),
        ({"colors": "yes"}, "colors='yes' is not one of 'auto', 'always', 'never'"),
        ({"min_level": "warning"}, "min_level='warning' is not one of 'debug', 'info', 'warn', 'error'"),
        ({"console": Console(), "colors": "never"}, "pass either console= or file=/colors=, not both"),
    ],
)
def test_bad_options_fail_at_construction(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        ConsoleSpanProcessor(**options)


class BrokenFile(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("disk full")


def test_failures_never_reach_the_program_and_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    reset_reported_errors()
    processor = ConsoleSpanProcessor(console=Console(file=BrokenFile(), width=80))
    print_one_span(processor)
    print_one_span(processor)

    records = [record for record in caplog.records if record.name == "spyglass"]
    assert len(records) == 1
    assert "the console" in records[0].getMessage()
    assert records[0].exc_info is not None
    assert str(records[0].exc_info[1]) == "disk full"


def test_concurrent_threads_keep_each_block_whole() -> None:
    screen = make_screen()
    barrier = threading.Barrier(8)

    def work(number: int) -> None:
        barrier.wait()
        for round_ in range(5):
            question = {"role": "user", "parts": [{"type": "text", "content": f"question {number}.{round_}"}]}
            outer = screen.span(f"task {number}", USER_SPAN, start_ms=0, end_ms=None)
            screen.span(f"call {number}.{round_}", llm(inputs=[question]), start_ms=1, end_ms=2, parent=outer)
            outer.end(end_time=T0 + 3 * MS)

    threads = [threading.Thread(target=work, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    lines = screen.text.splitlines()
    assert len(lines) == 8 * 5 * 6
    for number in range(8):
        for round_ in range(5):
            at = lines.index(f"12:00:00.002   OK call {number}.{round_} · 1.0ms · gpt-4o-2024-08-06")
            assert lines[at + 1 : at + 3] == [
                "                 system    You are a helpful assistant.",
                f"                 user      question {number}.{round_}",
            ]


def test_concurrent_async_tasks_nest_by_their_own_context() -> None:
    screen = make_screen(verbose="quiet")

    async def task(name: str) -> None:
        with screen.tracer.start_as_current_span(name, attributes={names.MSG: name, **USER_SPAN}):
            for step in range(3):
                await asyncio.sleep(0)
                with screen.tracer.start_as_current_span(
                    "step", attributes={names.MSG: f"{name} step {step}"}
                ):
                    await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(task("alpha"), task("beta"))

    asyncio.run(main())

    lines = [re.sub(r"^\S+ ", "", re.sub(r" · \S+$", "", line)) for line in screen.text.splitlines()]
    assert lines[:2] == ["  OK alpha step 0", "  OK beta step 0"]  # interleaved, each line named
    assert sorted(lines) == sorted(
        [f"  OK {name} step {step}" for name in ("alpha", "beta") for step in range(3)]
        + ["OK alpha", "OK beta"]
    )


def test_api_span_shows_the_http_status() -> None:
    screen = make_screen(verbose="quiet")
    attributes = {names.KIND: names.KIND_API, names.HTTP_RESPONSE_STATUS_CODE: 200}
    screen.span("OpenAI API GET /models", attributes, start_ms=0, end_ms=120)

    assert screen.text == "12:00:00.120 OK OpenAI API GET /models · 120ms · HTTP 200\n"


# --- a real Rich Live in a pseudo-terminal ---------------------------------------------------------------

LIVE_PROGRAM = """
from datetime import timezone
from opentelemetry.sdk.trace import TracerProvider
from rich.console import Console
from rich.live import Live
from rich.text import Text
from spyglass._attribute_names import KIND, MSG
from spyglass.exporters import ConsoleSpanProcessor

provider = TracerProvider()
provider.add_span_processor(ConsoleSpanProcessor(tz=timezone.utc))
tracer = provider.get_tracer("live")
with Live(Text("live: 0 chunks\\nlive footer"), console=Console(), auto_refresh=False) as live:
    for i in range(1, 4):
        with tracer.start_as_current_span(f"step {i}", attributes={KIND: "span", MSG: f"step {i}"}):
            live.update(Text(f"live: {i} chunks\\nlive footer"), refresh=True)
print("done")
"""


def run_in_terminal(program: str, columns: int = 80) -> str:
    """Run `program` with a pseudo-terminal as its stdout and stderr, and return all it wrote."""
    import fcntl
    import termios

    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    source = Path(spyglass.exporters.__file__).parents[2]
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": "24"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    for variable in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE"):
        env.pop(variable, None)
    child = subprocess.Popen(
        [sys.executable, "-c", program], stdin=follower, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    output = b"".join(_read_until_closed(leader, deadline=time.monotonic() + 30))
    os.close(leader)
    assert child.wait(timeout=30) == 0, output.decode(errors="replace")
    return output.decode()


def _read_until_closed(fd: int, deadline: float) -> Iterator[bytes]:
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return
        if not data:
            return
        yield data


def screen_lines(output: str) -> list[str]:
    """The text a terminal would show (scrollback included), for the codes Rich's Live uses."""
    rows: list[list[str]] = [[]]
    row = column = 0
    for token in re.findall(r"\x1b\[[0-9;?]*[A-Za-z]|\r|\n|[^\x1b\r\n]", output):
        if token == "\r":
            column = 0
        elif token == "\n":
            row += 1
            rows.extend([] for _ in range(row + 1 - len(rows)))
        elif token.endswith("A") and token.startswith("\x1b["):
            row = max(0, row - int(token[2:-1] or 1))
        elif token == "\x1b[2K":
            rows[row] = []
        elif token.startswith("\x1b"):
            continue  # colours, cursor visibility
        else:
            line = rows[row]
            line.extend(" " * (column - len(line)))
            line[column : column + 1] = [token]
            column += 1
    return ["".join(line).rstrip() for line in rows if "".join(line).strip()]


def test_lines_print_above_a_running_rich_live() -> None:
    lines = screen_lines(run_in_terminal(LIVE_PROGRAM))

    ours = [re.sub(r"^\d\d:\d\d:\d\d\.\d\d\d ", "", line) for line in lines[:6]]
    assert [re.sub(r" · [\d.]+m?s$", "", line) for line in ours] == [
        "▶ step 1",
        "✓ step 1",
        "▶ step 2",
        "✓ step 2",
        "▶ step 3",
        "✓ step 3",
    ]
    assert lines[6:] == ["live: 3 chunks", "live footer", "done"]


def test_embeddings_show_input_tokens_and_a_tiny_cost_reads_as_such() -> None:
    screen = make_screen()
    attributes = {
        names.KIND: names.KIND_LLM,
        names.OPERATION_NAME: "embeddings",
        names.REQUEST_MODEL: "text-embedding-3-small",
        names.USAGE_INPUT_TOKENS: 4,
        names.USAGE_SOURCE: "api",
        names.COST_STATUS: "known",
        names.COST_USD: 0.00000008,
    }
    screen.span("Embedding Creation with 'text-embedding-3-small'", attributes, start_ms=0, end_ms=6)

    assert screen.text == snapshot("""\
12:00:00.000 > Embedding Creation with 'text-embedding-3-small'
12:00:00.006 OK Embedding Creation with 'text-embedding-3-small' · 6.0ms · text-embedding-3-small ·
                4 input tokens · <$0.000001
""")


def test_system_messages_of_the_history_stay_in_sight_in_compact_mode() -> None:
    # Chat Completions keep the system message in gen_ai.input.messages (it is part of the history)
    system = {"role": "system", "parts": [{"type": "text", "content": "You are a weather bot."}]}
    attributes = llm(inputs=[system, USER, CALL, RESULT], outputs=[ANSWER])
    del attributes[names.SYSTEM_INSTRUCTIONS]
    screen = make_screen()
    screen.span("Chat Completion with 'gpt-4o'", attributes, start_ms=0, end_ms=800)

    assert screen.text == snapshot("""\
12:00:00.000 > Chat Completion with 'gpt-4o'
12:00:00.800 OK Chat Completion with 'gpt-4o' · 800ms · gpt-4o-2024-08-06
               system    You are a weather bot.
                         … 1 earlier message
               assistant get_weather(city="Paris")
               tool      get_weather → 18°C, sunny
               assistant It is 18°C and sunny in Paris.
""")
