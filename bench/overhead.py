"""How much time spyglass adds to an OpenAI call, measured against the same call uninstrumented.

Method: the real `openai` SDK with an in-process HTTP transport (no sockets: what is measured is the SDK and
the tracer, not the network). Each (case, mode) runs in a fresh process, which times the call both ways: it
switches the instrumentation on and off between blocks of calls (`--block`, 20 by default) and times every
call, so the instrumented and the uninstrumented calls share one process, one memory layout and the same
minutes of machine noise. (Comparing separate processes does not work on a small VM: two processes running
the very same uninstrumented code differ by up to a third, more than the overhead being measured.) The
figure of a process is the median of its instrumented calls minus the median of its uninstrumented ones;
rounds are interleaved, and the figure reported is the median over the rounds. Content capture is on.

Each call is timed by the wall clock (the headline figure) and by the CPU time of the calling thread: what
the caller's thread itself spends. The work spyglass hands to its background threads (scrubbing, the
console, the store) still costs CPU under the GIL, so each block of calls is also timed by the CPU time of
the whole process, with the sinks flushed at the end of the block inside that measurement: the `total CPU`
column is that, per call, instrumented minus uninstrumented.

Modes: `memory` (spans to an in-memory exporter through a SimpleSpanProcessor, console and store off: the
setup the peers were measured with), `default` (the default `configure()`: the console, printing to
/dev/null as a terminal would be written to, and the local store), `store` (the default with the console
off).

    python bench/overhead.py                 # all cases, 3 rounds of 1000 calls each way
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
from collections.abc import Callable
from typing import Any

CASES = ["sync_chat", "async_chat", "stream_50", "stream_50_usage", "embeddings", "images", "responses"]
STREAMS = ("stream_50", "stream_50_usage")
# A 50-chunk stream costs the SDK about six chat calls: streams time a quarter of `--calls` (each still
# gives 50 chunks a call), so that a run stays within a few minutes.
CALLS_SCALE = {"stream_50": 0.25, "stream_50_usage": 0.25}
CHUNKS = 50
MODES = ["memory", "default", "store"]

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


def _setup(mode: str, store_dir: str) -> tuple[Callable[[bool], None], Callable[[], None]]:
    """Configure spyglass for `mode`; return the switch that instruments the OpenAI SDK or not, and the
    flush that hands every queued span to the sinks."""
    import spyglass

    store = os.path.join(store_dir, "spans.sqlite")
    if mode == "memory":
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        spyglass.configure(
            console=False, store=False, additional_span_processors=[SimpleSpanProcessor(exporter)]
        )
    elif mode == "default":
        exporter = None
        terminal = open(os.devnull, "w")  # noqa: SIM115 - open for the whole worker process
        spyglass.configure(console={"file": terminal, "colors": "always"}, store=store)
    else:
        exporter = None
        spyglass.configure(console=False, store=store)
    handles: list[Any] = []

    def switch(on: bool) -> None:
        if on:
            handles.append(spyglass.instrument_openai())
        elif handles:
            handles.pop().uninstrument()
            if exporter is not None:
                exporter.clear()

    def flush() -> None:
        spyglass.force_flush()

    return switch, flush


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


# "on", "off", "on_cpu", "off_cpu": per-call durations in ns; "on_process", "off_process": process CPU per
# block (ns per call), the sinks flushed at the end of the block.
Timings = dict[str, list[int]]


def worker(
    case: str,
    switch: Callable[[bool], None],
    calls: int,
    warmup: int,
    block: int = 20,
    *,
    alternate: bool = True,
    flush: Callable[[], None] | None = None,
) -> Timings:
    """Time `calls` calls instrumented and `calls` not, in blocks of `block` calls switched on and off by
    `switch`, after `warmup` calls each way. Run in a fresh process; returns wall and CPU durations in ns.

    `alternate=False` is for an instrumentation that cannot be switched off cleanly: every uninstrumented
    block comes first, then it is switched on once for the instrumented blocks."""
    import asyncio

    import openai

    scale = CALLS_SCALE.get(case, 1.0)
    calls, warmup = max(1, int(calls * scale)), int(warmup * scale)
    httpx = _transport_module()
    handler = _handler(httpx)
    timings: Timings = {"on": [], "off": [], "on_cpu": [], "off_cpu": [], "on_process": [], "off_process": []}
    per_way = -(-(warmup + calls) // block)  # blocks each way, rounded up
    blocks = 2 * per_way
    warmup_blocks = -(-warmup // block)  # each way

    def is_on(index: int) -> bool:
        return index % 2 == 1 if alternate else index >= per_way

    def counted(index: int, on: bool) -> bool:
        nth = index // 2 if alternate else index - (per_way if on else 0)  # this way's block number
        return nth >= warmup_blocks

    def record(index: int, on: bool, wall: int, cpu: int) -> None:
        if counted(index, on):
            timings["on" if on else "off"].append(wall)
            timings["on_cpu" if on else "off_cpu"].append(cpu)

    def record_block(index: int, on: bool, process_start: int, threads_start: dict[str, int]) -> None:
        if flush is not None:
            flush()
        if counted(index, on):
            timings["on_process" if on else "off_process"].append(
                (time.process_time_ns() - process_start) // block
            )
            if on:
                for name, cpu in _background_cpu().items():
                    timings.setdefault(f"thread:{name}", []).append(
                        (cpu - threads_start.get(name, 0)) // block
                    )

    if case == "async_chat":

        async def run() -> None:
            client = openai.AsyncOpenAI(
                api_key="sk-bench",
                base_url="http://bench.local/v1",
                max_retries=0,
                http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
            )
            for index in range(blocks):
                on = is_on(index)
                switch(on)
                process_start, threads_start = time.process_time_ns(), _background_cpu()
                for _ in range(block):
                    start, cpu = time.perf_counter_ns(), time.thread_time_ns()
                    await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
                    record(index, on, time.perf_counter_ns() - start, time.thread_time_ns() - cpu)
                record_block(index, on, process_start, threads_start)

        asyncio.run(run())
    else:
        client = openai.OpenAI(
            api_key="sk-bench",
            base_url="http://bench.local/v1",
            max_retries=0,
            http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        )
        for index in range(blocks):
            on = is_on(index)
            switch(on)
            process_start, threads_start = time.process_time_ns(), _background_cpu()
            for _ in range(block):
                start, cpu = time.perf_counter_ns(), time.thread_time_ns()
                _sync_call(client, case)
                record(index, on, time.perf_counter_ns() - start, time.thread_time_ns() - cpu)
            record_block(index, on, process_start, threads_start)
    switch(False)
    return timings


def _background_cpu() -> dict[str, int]:
    """CPU time so far (ns) of each of spyglass's own threads (the pipeline, the console, the store writer,
    the OTLP exporter): where the work handed off the caller's thread is done."""
    import threading

    cpu: dict[str, int] = {}
    for thread in threading.enumerate():
        if thread.ident is None or not thread.name.startswith("spyglass"):
            continue
        try:
            cpu[thread.name] = time.clock_gettime_ns(time.pthread_getcpuclockid(thread.ident))
        except (OSError, AttributeError):  # the thread just ended, or no per-thread clock here
            continue
    return cpu


def _spyglass_worker(case: str, mode: str, calls: int, warmup: int, block: int) -> Timings:
    with tempfile.TemporaryDirectory() as store_dir:
        switch, flush = _setup(mode, store_dir)
        timings = worker(case, switch, calls, warmup, block, flush=flush)
        import spyglass

        spyglass.shutdown()
    return timings


def figures(timings: Timings) -> dict[str, float]:
    """One process's figures, µs: the uninstrumented median and p90, and what instrumenting added."""
    on, off = timings["on"], timings["off"]
    return {
        "base": statistics.median(off) / 1000,
        "base_p90": _quantile(off, 0.9) / 1000,
        "added": (statistics.median(on) - statistics.median(off)) / 1000,
        "added_p90": (_quantile(on, 0.9) - _quantile(off, 0.9)) / 1000,
        "added_cpu": (statistics.median(timings["on_cpu"]) - statistics.median(timings["off_cpu"])) / 1000,
        "added_process": (
            (statistics.median(timings["on_process"]) - statistics.median(timings["off_process"])) / 1000
            if timings.get("on_process") and timings.get("off_process")
            else float("nan")
        ),
        **{
            key: statistics.median(values) / 1000
            for key, values in timings.items()
            if key.startswith("thread:") and values
        },
    }


def _run_worker(case: str, mode: str, calls: int, warmup: int, block: int) -> dict[str, float]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        case,
        mode,
        "--calls",
        str(calls),
        "--warmup",
        str(warmup),
    ]
    out = subprocess.run([*command, "--block", str(block)], check=True, capture_output=True, text=True)
    return figures(json.loads(out.stdout.strip().splitlines()[-1]))


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
    parser.add_argument("--calls", type=int, default=1000, help="calls timed each way, per process")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--block", type=int, default=20, help="calls between two switches")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", nargs="*", default=CASES, choices=CASES)
    parser.add_argument("--modes", nargs="*", default=MODES, choices=MODES)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_spyglass_worker(*args.worker, args.calls, args.warmup, args.block)))
        return

    per_round: dict[tuple[str, str], list[dict[str, float]]] = {}
    for round_number in range(args.rounds):
        jobs = [(case, mode) for case in args.cases for mode in args.modes]
        random.Random(round_number).shuffle(jobs)
        for case, mode in jobs:
            per_round.setdefault((case, mode), []).append(
                _run_worker(case, mode, args.calls, args.warmup, args.block)
            )
        print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)

    import openai

    print(
        f"spyglass overhead: openai {openai.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} cores; {args.rounds} rounds, each a process per case and "
        f"mode timing {args.calls} calls each way in blocks of {args.block}; median over the rounds; µs"
    )
    print()
    header = "| case | uninstrumented median (p90) |"
    for mode in args.modes:
        header += f" + {mode}: median (p90) | + {mode}: caller CPU | + {mode}: total CPU |"
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    results: dict[str, Any] = {}
    for case in sorted(args.cases, key=CASES.index):  # sync_chat first: the per-chunk figures need it
        rounds_of = {mode: per_round[(case, mode)] for mode in args.modes}
        every = [figure for mode in args.modes for figure in rounds_of[mode]]
        base = statistics.median(figure["base"] for figure in every)
        base90 = statistics.median(figure["base_p90"] for figure in every)
        row = f"| {case} | {base:,.0f} ({base90:,.0f}) |"
        results[case] = {"none": {"median": base, "p90": base90}}
        for mode in args.modes:
            added, added90, added_cpu, added_process = (
                statistics.median(figure[key] for figure in rounds_of[mode])
                for key in ("added", "added_p90", "added_cpu", "added_process")
            )
            results[case][mode] = {
                "added_median": added,
                "added_p90": added90,
                "added_cpu": added_cpu,
                "added_process": added_process,
            }
            row += f" {added:+,.1f} ({added90:+,.1f}) |"
            if case in STREAMS:
                sync_added = results.get("sync_chat", {}).get(mode, {}).get("added_median")
                row = row[:-1] + f" = {per_chunk(added, sync_added):+.2f}/chunk |"
            row += f" {added_cpu:+,.1f} | {added_process:+,.1f} |"
        print(row)
    _print_threads(args.cases, args.modes, per_round, results)
    if any(case in STREAMS for case in args.cases):
        print()
        print(
            "Per chunk: (stream added - sync chat added) / 50, as the issue's peer table counts it. "
            "`stream_50` is a caller that does not ask for usage; in `stream_50_usage` the caller asks for "
            "it itself."
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


def _print_threads(
    cases: list[str],
    modes: list[str],
    per_round: dict[tuple[str, str], list[dict[str, float]]],
    results: dict[str, Any],
) -> None:
    """Where the instrumented calls' CPU goes: the caller's thread, and each of spyglass's own threads."""
    names = sorted(
        {key for figures in per_round.values() for f in figures for key in f if key.startswith("thread:")}
    )
    if not names:
        return
    print()
    print("CPU per instrumented call by thread, µs (median over the rounds; the caller's is what it added):")
    print()
    header = (
        "| case | mode | caller | "
        + " | ".join(name.removeprefix("thread:spyglass-") for name in names)
        + " |"
    )
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for case in sorted(cases, key=CASES.index):
        for mode in modes:
            rounds = per_round[(case, mode)]
            row = f"| {case} | {mode} | {results[case][mode]['added_cpu']:+,.1f} |"
            for name in names:
                values = [f[name] for f in rounds if name in f]
                row += f" {statistics.median(values):,.1f} |" if values else " - |"
                if values:
                    results[case][mode][name] = statistics.median(values)
            print(row)


if __name__ == "__main__":
    main()
