"""How much time spyglass adds to an OpenAI call, measured against the same call uninstrumented.

Method: the real `openai` SDK with an in-process HTTP transport (no sockets: what is measured is the SDK and
the tracer, not the network); each (case, mode) runs in a fresh process, warms up, then times every call;
rounds are interleaved so that machine noise hits every mode alike; the figure per mode is the median of the
per-round medians. Content capture is on.

Each call is timed by the wall clock (the headline figure) and by the CPU time of the calling thread (a
cross-check that other processes on a shared machine disturb much less; with an in-process transport the
call never waits on I/O, and work done on spyglass's background threads is rightly not counted).

Modes: `none` (uninstrumented), `memory` (spans to an in-memory exporter through a SimpleSpanProcessor,
console and store off: the setup the peers were measured with), `default` (the default configuration
with the console off: spans also go to the local store).

    python bench/overhead.py                 # all cases, 3 rounds of 2000 calls
    python bench/overhead.py --calls 500 --rounds 1 --cases sync_chat
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

CASES = ["sync_chat", "async_chat", "stream_50", "stream_50_usage", "embeddings", "images", "responses"]
STREAMS = ("stream_50", "stream_50_usage")
CHUNKS = 50
MODES = ["none", "memory", "default"]

CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "A limerick about logging..."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 30, "completion_tokens": 40, "total_tokens": 70},
}
EMBEDDING = {
    "object": "list",
    "model": "text-embedding-3-small",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.01] * 256}],
    "usage": {"prompt_tokens": 5, "total_tokens": 5},
}
IMAGE = {"created": 1, "data": [{"url": "https://example.com/image.png", "revised_prompt": "R2D2"}]}
RESPONSE = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1,
    "model": "gpt-4.1-2025-04-14",
    "status": "completed",
    "output": [
        {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hello there", "annotations": []}],
        }
    ],
    "usage": {
        "input_tokens": 10,
        "output_tokens": 5,
        "total_tokens": 15,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    },
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
}
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Please write me a limerick about Python logging."},
]


def _stream_body(include_usage: bool) -> bytes:
    chunks = []
    for i in range(50):
        chunk = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "delta": {"content": f"word{i} "}, "finish_reason": None}],
        }
        if include_usage:
            chunk["usage"] = None
        chunks.append(chunk)
    chunks[-1]["choices"][0]["finish_reason"] = "stop"
    if include_usage:
        chunks.append(
            {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt-4o-2024-08-06",
                "choices": [],
                "usage": {"prompt_tokens": 30, "completion_tokens": 50, "total_tokens": 80},
            }
        )
    return ("".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n").encode()


def _transport_module() -> Any:
    try:
        import httpx2 as httpx  # openai 3
        import openai

        if int(openai.__version__.split(".")[0]) >= 3:
            return httpx
    except ImportError:
        pass
    import httpx

    return httpx


def _handler(httpx: Any) -> Any:
    bodies = {
        "/v1/chat/completions": json.dumps(CHAT).encode(),
        "/v1/embeddings": json.dumps(EMBEDDING).encode(),
        "/v1/images/generations": json.dumps(IMAGE).encode(),
        "/v1/responses": json.dumps(RESPONSE).encode(),
    }
    streams = {True: _stream_body(True), False: _stream_body(False)}
    json_headers = {"content-type": "application/json", "x-request-id": "req_bench"}
    sse_headers = {"content-type": "text/event-stream", "x-request-id": "req_bench"}

    def handle(request: Any) -> Any:
        path = request.url.path
        if path == "/v1/chat/completions" and b'"stream":true' in request.content.replace(b" ", b""):
            usage = b'"include_usage":true' in request.content.replace(b" ", b"")
            return httpx.Response(200, content=streams[usage], headers=sse_headers)
        return httpx.Response(200, content=bodies[path], headers=json_headers)

    return handle


def _setup(mode: str, store_dir: str) -> None:
    if mode == "none":
        return
    import spyglass

    if mode == "memory":
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        spyglass.configure(
            console=False,
            store=False,
            additional_span_processors=[SimpleSpanProcessor(InMemorySpanExporter())],
        )
    else:
        spyglass.configure(console=False, store=os.path.join(store_dir, "spans.sqlite"))
    spyglass.instrument_openai()


def _sync_call(client: Any, case: str) -> None:
    if case == "sync_chat":
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    elif case == "stream_50":
        for _ in client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True):
            pass
    elif case == "stream_50_usage":  # the caller asks for usage itself: spyglass adds no chunk of its own
        stream_options = {"include_usage": True}
        for _ in client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options=stream_options
        ):
            pass
    elif case == "embeddings":
        client.embeddings.create(model="text-embedding-3-small", input="The food was delicious")
    elif case == "images":
        client.images.generate(model="dall-e-3", prompt="R2D2 in a desert")
    elif case == "responses":
        client.responses.create(model="gpt-4.1", input="Tell me a joke")


def worker(case: str, mode: str, calls: int, warmup: int) -> tuple[list[int], list[int]]:
    """Run in a fresh process: time `calls` calls; their wall-clock and caller-thread CPU durations in ns."""
    import asyncio

    import openai

    httpx = _transport_module()
    with tempfile.TemporaryDirectory() as store_dir:
        _setup(mode, store_dir)
        handler = _handler(httpx)
        timings: list[int] = []
        cpu_timings: list[int] = []
        if case == "async_chat":

            async def run() -> None:
                client = openai.AsyncOpenAI(
                    api_key="sk-bench",
                    base_url="http://bench.local/v1",
                    max_retries=0,
                    http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
                )
                for i in range(warmup + calls):
                    start, cpu = time.perf_counter_ns(), time.thread_time_ns()
                    await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
                    if i >= warmup:
                        timings.append(time.perf_counter_ns() - start)
                        cpu_timings.append(time.thread_time_ns() - cpu)

            asyncio.run(run())
        else:
            client = openai.OpenAI(
                api_key="sk-bench",
                base_url="http://bench.local/v1",
                max_retries=0,
                http_client=httpx.Client(transport=httpx.MockTransport(handler)),
            )
            for i in range(warmup + calls):
                start, cpu = time.perf_counter_ns(), time.thread_time_ns()
                _sync_call(client, case)
                if i >= warmup:
                    timings.append(time.perf_counter_ns() - start)
                    cpu_timings.append(time.thread_time_ns() - cpu)
        if mode != "none":
            import spyglass

            spyglass.shutdown()
    return timings, cpu_timings


def _run_worker(case: str, mode: str, calls: int, warmup: int) -> tuple[list[int], list[int]]:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", case, mode, "--calls", str(calls), "--warmup", str(warmup)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def per_chunk(stream_added: float, sync_chat_added: float | None) -> float:
    """What a stream adds per chunk, the issue's way: (stream added - sync chat added) / 50, so that the
    cost of the call's own span is not spread over its chunks; without a sync chat figure, added / 50."""
    return (stream_added - (sync_chat_added or 0.0)) / CHUNKS


def _quantile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", nargs="*", default=CASES, choices=CASES)
    parser.add_argument("--modes", nargs="*", default=MODES, choices=MODES)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.calls, args.warmup)))
        return

    medians: dict[tuple[str, str], list[float]] = {}
    p90s: dict[tuple[str, str], list[float]] = {}
    cpu_medians: dict[tuple[str, str], list[float]] = {}
    for round_number in range(args.rounds):
        jobs = [(case, mode) for case in args.cases for mode in args.modes]
        random.Random(round_number).shuffle(jobs)
        for case, mode in jobs:
            timings, cpu_timings = _run_worker(case, mode, args.calls, args.warmup)
            medians.setdefault((case, mode), []).append(statistics.median(timings) / 1000)
            cpu_medians.setdefault((case, mode), []).append(statistics.median(cpu_timings) / 1000)
            p90s.setdefault((case, mode), []).append(_quantile(timings, 0.9) / 1000)
        print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)

    import openai

    print(
        f"spyglass overhead: openai {openai.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} cores; {args.rounds} rounds x {args.calls} calls; µs"
    )
    print()
    header = "| case | uninstrumented median (p90) |"
    for mode in args.modes:
        if mode != "none":
            header += f" + {mode}: median (p90) | + {mode}: caller CPU |"
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    results: dict[str, Any] = {}
    for case in sorted(args.cases, key=CASES.index):  # sync_chat first: the per-chunk figures need it
        base = statistics.median(medians[(case, "none")])
        base90 = statistics.median(p90s[(case, "none")])
        row = f"| {case} | {base:,.0f} ({base90:,.0f}) |"
        results[case] = {"none": {"median": base, "p90": base90}}
        for mode in args.modes:
            if mode == "none":
                continue
            added = statistics.median(medians[(case, mode)]) - base
            added90 = statistics.median(p90s[(case, mode)]) - base90
            added_cpu = statistics.median(cpu_medians[(case, mode)]) - statistics.median(
                cpu_medians[(case, "none")]
            )
            results[case][mode] = {"added_median": added, "added_p90": added90, "added_cpu": added_cpu}
            row += f" +{added:,.1f} (+{added90:,.1f}) |"
            if case in STREAMS:
                sync_added = results.get("sync_chat", {}).get(mode, {}).get("added_median")
                row = row[:-1] + f" = {per_chunk(added, sync_added):.2f}/chunk |"
            row += f" +{added_cpu:,.1f} |"
        print(row)
    if any(case in STREAMS for case in args.cases):
        print()
        print(
            "Per chunk: (stream added - sync chat added) / 50, as the issue's peer table counts it. "
            "`stream_50` is a caller that does not ask for usage: spyglass asks for it, so the SDK also "
            "parses the usage chunk spyglass hides; in `stream_50_usage` the caller asks for it itself."
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
