"""Benchmark of the SQLite span store: ingestion rate, writer CPU, caller stalls, query latency. A script.

Measures spans/second from one process and from four processes writing one file (through the real
TracerProvider + SqliteSpanProcessor path, until force_flush returns); the writer thread's CPU per span (the
process's CPU minus the caller thread's), which gives spans/s per core; the caller's time per trivial span
with the store on and off, interleaved in one process (p50, p99, max: the writer takes the GIL from the
caller); then builds a store of one million spans with the writer's own conversion and batch code and times
the viewer's queries on it, a 5,000-span trace included.

    python bench/store_bench.py [--ingest-spans 50000] [--store-spans 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from spyglass import _attribute_names as names
from spyglass.store import SpanStore, SqliteSpanProcessor
from spyglass.store._ingest import ResourceIds, write_batch
from spyglass.store._rows import span_to_row
from spyglass.store._schema import open_for_writing

MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini", "text-embedding-3-small")
WORDS = [
    "apple",
    "river",
    "quantum",
    "ledger",
    "violet",
    "harbor",
    "cosmic",
    "parcel",
    "refund",
    "summary",
    "invoice",
    "haiku",
]


def llm_attributes(rng: random.Random, index: int) -> dict[str, Any]:
    model = rng.choice(MODELS)
    prompt = " ".join(rng.choices(WORDS, k=12)) + f" request{index}"
    answer = " ".join(rng.choices(WORDS, k=30))
    return {
        names.KIND: names.KIND_LLM,
        names.MSG: f"Chat Completion with {model!r}",
        names.OPERATION_NAME: "chat",
        names.PROVIDER_NAME: "openai",
        names.REQUEST_MODEL: model,
        names.RESPONSE_MODEL: f"{model}-2024-08-06",
        names.SERVER_ADDRESS: "api.openai.com",
        names.SERVER_PORT: 443,
        names.OPENAI_PATH: "/chat/completions",
        names.USAGE_INPUT_TOKENS: rng.randint(10, 3000),
        names.USAGE_OUTPUT_TOKENS: rng.randint(1, 800),
        names.COST_USD: rng.random() / 100,
        names.COST_STATUS: "known",
        names.SYSTEM_INSTRUCTIONS: json.dumps([{"type": "text", "content": "You are a helpful assistant."}]),
        names.INPUT_MESSAGES: json.dumps([{"role": "user", "parts": [{"type": "text", "content": prompt}]}]),
        names.OUTPUT_MESSAGES: json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]
        ),
    }


# --- ingestion through the real SDK path -----------------------------------------------------------------


def ingest(path: str, spans: int, seed: int) -> None:
    """Traces of a user span around two LLM calls (three spans each), then wait until all are committed."""
    rng = random.Random(seed)
    processor = SqliteSpanProcessor(path, max_queue_size=max(spans * 2, 100_000))
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")
    for index in range(spans // 3):
        with tracer.start_as_current_span("job", attributes={names.KIND: "span", names.MSG: f"job {index}"}):
            for _ in range(2):
                with tracer.start_as_current_span(
                    "chat", kind=SpanKind.CLIENT, attributes=llm_attributes(rng, index)
                ):
                    pass
    processor.force_flush(600_000)  # shutdown alone gives the writer exit_timeout (1 s) at most
    provider.shutdown()
    if processor.dropped_spans:
        print(f"warning: {processor.dropped_spans} spans dropped", file=sys.stderr)


def writer_cpu_us(directory: Path, spans: int) -> float:
    """The writer's CPU per span, in µs: the process's CPU minus the caller thread's, from the first span to
    the end of force_flush (the caller sleeps in force_flush, so its thread time stays its own)."""
    rng = random.Random(3)
    processor = SqliteSpanProcessor(directory / "cpu.sqlite", max_queue_size=max(spans * 2, 100_000))
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")
    attributes = [llm_attributes(rng, index) for index in range(spans // 3)]
    process_started, caller_started = time.process_time(), time.thread_time()
    for index in range(spans // 3):
        with tracer.start_as_current_span("job", attributes={names.KIND: "span", names.MSG: f"job {index}"}):
            for _ in range(2):
                with tracer.start_as_current_span("chat", kind=SpanKind.CLIENT, attributes=attributes[index]):
                    pass
    caller = time.thread_time() - caller_started
    assert processor.force_flush(600_000)
    total = time.process_time() - process_started
    provider.shutdown()
    return (total - caller) / processor.written_spans * 1e6


def caller_latency(directory: Path, rounds: int = 30, block: int = 300) -> dict[str, list[float]]:
    """Time per trivial span on the caller's thread, store off and on, blocks interleaved in one process."""
    off = TracerProvider(shutdown_on_exit=False)
    on = TracerProvider(shutdown_on_exit=False)
    processor = SqliteSpanProcessor(directory / "latency.sqlite")
    on.add_span_processor(processor)
    timings: dict[str, list[float]] = {"store off": [], "store on": []}
    tracers = {"store off": off.get_tracer("bench"), "store on": on.get_tracer("bench")}
    for _ in range(rounds):
        for label, tracer in tracers.items():
            for index in range(block):
                started = time.perf_counter()
                with tracer.start_as_current_span("work", attributes={"index": index}):
                    pass
                timings[label].append((time.perf_counter() - started) * 1e6)
                time.sleep(0.0002)  # a program that does something between spans
    on.shutdown()
    return timings


def ingest_rate(directory: Path, spans: int, processes: int) -> float:
    path = str(directory / f"ingest-{processes}.sqlite")
    per_process = spans // processes
    started = time.perf_counter()
    if processes == 1:
        ingest(path, per_process, 0)
    else:
        context = multiprocessing.get_context("spawn")
        workers = [
            context.Process(target=ingest, args=(path, per_process, seed)) for seed in range(processes)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    elapsed = time.perf_counter() - started
    with SpanStore(path, readonly=True) as store:
        stored = store.stats()["spans"]
    return stored / elapsed


# --- a big store, built through the writer's conversion and batch code -----------------------------------


def build_store(path: Path, spans: int) -> float:
    rng = random.Random(1)
    resource = Resource.create({"service.name": "bench"})
    scope = InstrumentationScope("bench", "1.0")
    conn = open_for_writing(path, busy_timeout=5)
    resources = ResourceIds()
    now = time.time_ns() - spans * 10_000_000
    started = time.perf_counter()
    batch = []
    for trace_index in range(spans // 5):
        batch.extend(_trace_spans(rng, trace_index, now + trace_index * 50_000_000, resource, scope))
        if len(batch) >= 2000:
            write_batch(conn, batch, resources)
            batch = []
    write_batch(conn, batch, resources)
    elapsed = time.perf_counter() - started
    big_trace: list[Any] = []
    for index in range(1000):  # one 5,000-span trace: 1,000 of the 5-span shape, under one trace id
        big_trace.extend(_trace_spans(rng, index, now, resource, scope, trace_id=BIG_TRACE_ID))
    write_batch(conn, big_trace, resources)
    conn.close()
    return elapsed


BIG_TRACE_ID = 0x5000_5000_5000_5000_5000_5000_5000_5000


def _trace_spans(
    rng: random.Random,
    index: int,
    start: int,
    resource: Resource,
    scope: InstrumentationScope,
    trace_id: int | None = None,
) -> list[Any]:
    trace_id = trace_id or rng.getrandbits(128)
    root = SpanContext(trace_id, rng.getrandbits(64), is_remote=False, trace_flags=TraceFlags(1))
    rows = [
        span_to_row(
            ReadableSpan(
                "job",
                root,
                None,
                resource,
                {names.KIND: "span", names.MSG: f"job {index}"},
                start_time=start,
                end_time=start + 40_000_000,
                instrumentation_scope=scope,
            ),
            pending=False,
        )
    ]
    for child in range(4):
        context = SpanContext(trace_id, rng.getrandbits(64), is_remote=False, trace_flags=TraceFlags(1))
        failed = rng.random() < 0.02
        child_start = start + child * 9_000_000
        span = ReadableSpan(
            "chat",
            context,
            root,
            resource,
            llm_attributes(rng, index),
            kind=SpanKind.CLIENT,
            status=Status(StatusCode.ERROR, "rate limited") if failed else Status(StatusCode.OK),
            start_time=child_start,
            end_time=child_start + rng.randint(1, 8_000_000),
            instrumentation_scope=scope,
        )
        rows.append(span_to_row(span, pending=False))
    return rows


def latency_ms(query: Callable[[], object], repeat: int = 20) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        query()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingest-spans", type=int, default=60_000)
    parser.add_argument("--store-spans", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the stores here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        directory = args.keep or Path(temporary)
        directory.mkdir(parents=True, exist_ok=True)
        rows = _Table()
        for processes in (1, 4):
            rate = ingest_rate(directory, args.ingest_spans, processes)
            rows.append(
                (f"ingest, {processes} process{'es' if processes > 1 else ''} (spans/s)", f"{rate:,.0f}")
            )

        cpu = writer_cpu_us(directory, args.ingest_spans)
        rows.append(("store writer CPU per span (µs)", f"{cpu:.1f}"))
        rows.append(("spans/s per core of writer CPU", f"{1e6 / cpu:,.0f}"))
        for label, timings in caller_latency(directory).items():
            ordered = sorted(timings)
            p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
            rows.append(
                (
                    f"trivial span on the caller, {label}: p50 / p99 / max (µs)",
                    f"{p50:.0f} / {p99:.0f} / {ordered[-1]:.0f}",
                )
            )

        big = directory / "big.sqlite"
        big.unlink(missing_ok=True)
        build_seconds = build_store(big, args.store_spans)
        rows.append(
            (f"bulk build, {args.store_spans:,} spans (spans/s)", f"{args.store_spans / build_seconds:,.0f}")
        )
        rows.append(("store file size (MB)", f"{big.stat().st_size / 1e6:,.0f}"))
        rows.extend(query_latencies(big))


class _Table:
    """Prints each measure as soon as it is known (a 1M-span build takes minutes)."""

    def __init__(self) -> None:
        print("| measure | value |\n|---|---|", flush=True)

    def append(self, row: tuple[str, str]) -> None:
        print(f"| {row[0]} | {row[1]} |", flush=True)

    def extend(self, rows: list[tuple[str, str]]) -> None:
        for row in rows:
            self.append(row)


def query_latencies(path: Path) -> list[tuple[str, str]]:
    with SpanStore(path, readonly=True) as store:
        traces = store.list_traces(limit=1000)
        middle = store.list_traces(limit=1, before=traces[-1]["start_ns"] - 10**15)
        trace_ids = [trace["trace_id"] for trace in traces[::20]]
        ids = iter(trace_ids * 10)
        queries: list[tuple[str, Callable[[], object]]] = [
            ("list_traces(limit=50)", lambda: store.list_traces(limit=50)),
            (
                "list_traces(limit=50, before=<deep page>)",
                lambda: store.list_traces(limit=50, before=middle[0]["start_ns"] if middle else None),
            ),
            ("list_traces(status='error')", lambda: store.list_traces(limit=50, status="error")),
            ("list_traces(model='o3-mini')", lambda: store.list_traces(limit=50, model="o3-mini")),
            (
                "list_traces(min_cost=0.009, min_tokens=5000)",
                lambda: store.list_traces(limit=50, min_cost=0.009, min_tokens=5000),
            ),
            ("list_traces(search=<rare word>)", lambda: store.list_traces(limit=50, search="request123456")),
            ("list_traces(search=<common word>)", lambda: store.list_traces(limit=50, search="quantum")),
            ("get_trace(id)", lambda: store.get_trace(next(ids))),
            ("get_trace(<5,000-span trace>)", lambda: store.get_trace(format(BIG_TRACE_ID, "032x"))),
            (
                "get_trace_json(<5,000-span trace>)",
                lambda: store.get_trace_json(format(BIG_TRACE_ID, "032x")),
            ),
            ("changes_since(cursor - 10)", lambda: store.changes_since(store.current_cursor() - 10)),
            ("model_summary()", store.model_summary),
        ]
        return [
            (f"{name} (ms, median)", f"{latency_ms(query, 5 if 'summary' in name else 20):.2f}")
            for name, query in queries
        ]


if __name__ == "__main__":
    main()
