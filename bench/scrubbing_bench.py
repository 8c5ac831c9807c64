"""What scrubbing costs per span: the time the scrubbing processor takes on realistic LLM spans. A script.

Each case builds spans the way the OpenAI wrappers do (request attributes at start, the response's at the
end, an exception event for a failed call) on a TracerProvider with no processor, then times only the
scrubbing processor's `on_start` and `on_end` on them (the calling thread's CPU time, `time.thread_time_ns`,
around a loop over `--spans` spans; the best of `--rounds` rounds), and the whole-span entry point
`Scrubber.scrub_span` on ended spans when this checkout has it. Prints a Markdown table of microseconds per
span. Run it with `PYTHONPATH=<an older checkout>/src` to measure that one with the same spans.

    python bench/scrubbing_bench.py [--spans 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, Span, TracerProvider

from spyglass._scrubbing import Scrubber, ScrubbingOptions, ScrubbingSpanProcessor

TEXT = (
    "the report shows revenue grew in the third quarter while costs held steady across regions and the "
    "team expects a similar trend next year if the new product line ships on time; please summarise it "
    "for the board, with figures: north 12%, south 7%, east 3% and west 9%."
)
WORDS = TEXT.split()

STACKTRACE = "".join(
    f'  File "/srv/app/pipeline/step_{i}.py", line {40 + i}, in run\n    result = client.chat.completions'
    ".create(model=model, messages=messages)\n"
    for i in range(12)
)


def prose(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(WORDS, k=words))


def messages(rng: random.Random, turns: int, words: int) -> str:
    history = []
    for turn in range(turns):
        role = "user" if turn % 2 == 0 else "assistant"
        history.append({"role": role, "parts": [{"type": "text", "content": prose(rng, words)}]})
    return json.dumps(history, separators=(",", ":"), ensure_ascii=False)


def start_attributes(rng: random.Random, turns: int, words: int) -> dict[str, Any]:
    return {
        "gen_ai.provider.name": "openai",
        "server.address": "api.openai.com",
        "server.port": 443,
        "spyglass.openai.path": "/chat/completions",
        "spyglass.kind": "llm",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "openai.api.type": "chat_completions",
        "spyglass.msg": "Chat Completion with 'gpt-4o'",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.tool.definitions": json.dumps(
            [
                {
                    "type": "function",
                    "name": "get_weather",
                    "description": "Get the weather for a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                }
            ]
        ),
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": prose(rng, 40)}]),
        "gen_ai.input.messages": messages(rng, turns, words),
    }


def end_attributes(rng: random.Random) -> dict[str, Any]:
    return {
        "spyglass.openai.request_id": f"req_{rng.getrandbits(128):032x}",
        "gen_ai.response.id": f"chatcmpl-{rng.getrandbits(120):030x}",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "openai.response.system_fingerprint": "fp_50cad350e4",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": prose(rng, 120)}]}],
            separators=(",", ":"),
        ),
        "spyglass.usage.source": "api",
        "gen_ai.usage.input_tokens": rng.randint(200, 3000),
        "gen_ai.usage.output_tokens": rng.randint(50, 800),
        "spyglass.cost.usd": rng.random() / 100,
        "spyglass.cost.status": "known",
    }


Case = Callable[[random.Random, TracerProvider], tuple[Span, Callable[[], None]]]


def chat(turns: int, words: int, secret: str = "") -> Case:
    def make(rng: random.Random, provider: TracerProvider) -> tuple[Span, Callable[[], None]]:
        attributes = start_attributes(rng, turns, words)
        if secret:
            attributes["gen_ai.input.messages"] = attributes["gen_ai.input.messages"].replace(
                "board", f"board, my key is {secret}", 1
            )
        span = provider.get_tracer("bench").start_span("chat gpt-4o", attributes=attributes)

        def finish() -> None:
            span.set_attributes(end_attributes(rng))
            span.end()

        return span, finish  # type: ignore[return-value]

    return make


def failed_call(rng: random.Random, provider: TracerProvider) -> tuple[Span, Callable[[], None]]:
    span = provider.get_tracer("bench").start_span("chat gpt-4o", attributes=start_attributes(rng, 2, 60))

    def finish() -> None:
        message = "Error code: 429 - Rate limit reached for gpt-4o in organization org-abc on tokens per min"
        span.set_attributes({"error.type": "rate_limit_exceeded", "http.response.status_code": 429})
        span.add_event(
            "exception",
            {
                "exception.type": "openai.RateLimitError",
                "exception.message": message,
                "exception.stacktrace": f"Traceback (most recent call last):\n{STACKTRACE}{message}",
                "exception.escaped": "True",
            },
        )
        span.end()

    return span, finish  # type: ignore[return-value]


CASES: dict[str, Case] = {
    "chat, 4 turns (~2 KB of messages)": chat(4, 60),
    "chat, 40 turns (~20 KB of messages)": chat(40, 60),
    "failed call (exception event)": failed_call,
    "chat with a key in the prompt": chat(4, 60, secret="sk-proj-" + "A1b2C3d4" * 6),
}


def timed(calls: Callable[[], None]) -> int:
    """CPU nanoseconds of this thread spent in `calls`: other processes on a busy machine count less."""
    start = time.thread_time_ns()
    calls()
    return time.thread_time_ns() - start


def measure(case: Case, spans: int, rounds: int) -> dict[str, float]:
    rng = random.Random(7)
    provider = TracerProvider()
    best: dict[str, float] = {}
    for _ in range(rounds):
        processor = ScrubbingSpanProcessor(Scrubber(ScrubbingOptions()))
        made = [case(rng, provider) for _ in range(spans)]
        start_ns = timed(lambda p=processor, m=made: [p.on_start(span) for span, _ in m])
        for _, finish in made:
            finish()
        end_ns = timed(lambda p=processor, m=made: [p.on_end(span) for span, _ in m])
        figures = {
            "on_start": start_ns / spans / 1000,
            "on_end": end_ns / spans / 1000,
            "on_start + on_end": (start_ns + end_ns) / spans / 1000,
        }
        scrub_span = getattr(processor._scrubber, "scrub_span", None)
        if scrub_span is not None:
            fresh = [finish_fresh(case, rng, provider) for _ in range(spans)]
            whole_ns = timed(lambda scrub=scrub_span, f=fresh: [scrub(s) for s in f])
            figures["scrub_span (ended span, whole)"] = whole_ns / spans / 1000
        for name, value in figures.items():
            best[name] = min(best.get(name, value), value)
    return best


def finish_fresh(case: Case, rng: random.Random, provider: TracerProvider) -> ReadableSpan:
    span, finish = case(rng, provider)
    finish()
    return span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for name, case in CASES.items():
        print(f"measuring: {name}", file=sys.stderr)
        rows.append((name, measure(case, args.spans, args.rounds)))
    columns = list(rows[0][1])
    print(f"CPU microseconds per span, best of {args.rounds} rounds of {args.spans} spans.\n")
    print("| span | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name, figures in rows:
        print(f"| {name} | " + " | ".join(f"{figures[c]:.1f}" for c in columns) + " |")


if __name__ == "__main__":
    main()
