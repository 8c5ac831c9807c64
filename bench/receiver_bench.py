"""Benchmark of OTLP in spyglass: the receiver's sustained rate, and what export costs the caller. A script.

1. Receiver: a receiver process (`receiver_app` under uvicorn, pinned to one core) and a client process
   posting protobuf batches of realistic GenAI spans (chat spans with a conversation, ~1.5 KB each) over
   `--senders` keep-alive connections at once. A request is answered once its spans are committed, so the
   accepted rate is the stored rate. Reports it, the receiver process's CPU per span (so spans/s per core
   of receiver CPU) and its resident memory as the flood goes on.
2. Export overhead on the caller's thread: the time to start and end a span with no processor, and with
   the OTLP processor pointed at an unreachable endpoint (queue filling; queue full, spans dropped), plus
   the bare `on_end` call.

    python bench/receiver_bench.py [--requests 300] [--batch 100] [--senders 8] [--spans 20000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from spyglass.exporters.otlp import otlp_span_processors
from spyglass.store import SpanStore

RESOURCE = Resource.create({"service.name": "bench-client", "deployment.environment": "bench"})
SCOPE = InstrumentationScope("opentelemetry.instrumentation.openai_v2", "2.4b0")
QUESTIONS = ["What is the capital of France?", "Summarise this ticket for me.", "Write a haiku about SQLite."]


def genai_span(rng: random.Random, trace_id: int, start: int) -> ReadableSpan:
    question = rng.choice(QUESTIONS) + " " + " ".join(rng.choice(QUESTIONS) for _ in range(3))
    answer = "Here is a considered answer. " * rng.randint(8, 20)
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": f"chatcmpl-{rng.getrandbits(64):x}",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": rng.randint(10, 400),
        "gen_ai.usage.output_tokens": rng.randint(10, 400),
        "gen_ai.request.temperature": 0.2,
        "server.address": "api.openai.com",
        "server.port": 443,
        "gen_ai.input.messages": json.dumps(
            [
                {"role": "system", "parts": [{"type": "text", "content": "You are a helpful assistant."}]},
                {"role": "user", "parts": [{"type": "text", "content": question}]},
            ]
        ),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]
        ),
    }
    return ReadableSpan(
        name="chat gpt-4o-mini",
        context=SpanContext(trace_id, rng.getrandbits(64) or 1, False, TraceFlags(TraceFlags.SAMPLED)),
        resource=RESOURCE,
        attributes=attributes,
        kind=SpanKind.CLIENT,
        start_time=start,
        end_time=start + rng.randint(200_000_000, 3_000_000_000),
        instrumentation_scope=SCOPE,
    )


def encoded_batches(requests: int, batch: int) -> list[bytes]:
    rng = random.Random(7)
    start = time.time_ns()
    bodies = []
    for _ in range(requests):
        trace_id = rng.getrandbits(128) or 1
        spans = [
            genai_span(rng, trace_id if i % 4 else (rng.getrandbits(128) or 1), start) for i in range(batch)
        ]
        bodies.append(encode_spans(spans).SerializeToString())
    return bodies


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


RECEIVER_PROCESS = """
import os, sys, uvicorn
from spyglass.receiver import receiver_app
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {0})
uvicorn.run(receiver_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning",
            access_log=False)
"""


def bench_receiver(requests: int, batch: int, senders: int) -> None:
    bodies = encoded_batches(requests, batch)
    total = requests * batch
    size = sum(map(len, bodies)) / total
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "bench.sqlite"
        port = free_port()
        server = subprocess.Popen([sys.executable, "-c", RECEIVER_PROCESS, str(store), str(port)])
        try:
            _wait_for(port)
            if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
                os.sched_setaffinity(0, {1})
            _post_all(port, bodies[:senders])  # warm up: the store is created, the code paths are hot
            memory = [_rss_mb(server.pid)]
            cpu_before = _cpu_seconds(server.pid)
            started = time.perf_counter()
            refused = 0
            chunk = max(len(bodies) // 4, 1)
            for start in range(senders, len(bodies), chunk):
                refused += _post_all(port, bodies[start : start + chunk], senders)
                memory.append(_rss_mb(server.pid))
            accepted = time.perf_counter() - started
            deadline = time.monotonic() + 300
            while _stored(store) < total and time.monotonic() < deadline:  # a receiver that answers early
                time.sleep(0.05)
            written = time.perf_counter() - started
            cpu = _cpu_seconds(server.pid) - cpu_before
            stored = _stored(store)
        finally:
            server.terminate()
            server.wait()
    measured = total - senders * batch
    print(f"receiver: {requests} requests x {batch} GenAI spans (~{size:.0f} B each, protobuf), one core,")
    print(f"  {senders} senders at once")
    print(f"  acknowledged: {measured / accepted:>9,.0f} spans/s  ({accepted:.2f} s, {refused} 503)")
    print(
        f"  stored:       {measured / written:>9,.0f} spans/s  ({written:.2f} s until all were in the store)"
    )
    print(
        f"  receiver CPU per span:    {cpu / measured * 1e6:>9.1f} us  ({measured / cpu:,.0f} spans/s per core)"
    )
    print(f"  receiver RSS (MB) along the flood: {' -> '.join(f'{mb:.0f}' for mb in memory)}")
    print(f"  stored: {stored} of {total}")


def _post_all(port: int, bodies: list[bytes], senders: int = 1) -> int:
    """Post every body, `senders` at a time, retrying 503s as an exporter would; the number of 503s."""
    pending = list(reversed(bodies))
    refused = [0]
    lock = threading.Lock()

    def send() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            while True:
                with lock:
                    if not pending:
                        return
                    body = pending.pop()
                while True:
                    conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
                    response = conn.getresponse()
                    response.read()
                    if response.status != 503:
                        assert response.status == 200, response.status
                        break
                    with lock:
                        refused[0] += 1
                    time.sleep(float(response.getheader("Retry-After", "1")))
        finally:
            conn.close()

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return refused[0]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the receiver did not start")


def _stored(store: Path) -> int:
    if not store.exists():
        return 0
    with SpanStore(store, readonly=True) as reader:
        return reader.stats()["spans"]


def bench_export_overhead(spans: int) -> None:
    print(f"\nexport overhead on the caller's thread ({spans} spans, best of 5)")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        unreachable = f"http://127.0.0.1:{sock.getsockname()[1]}"
    baseline = _span_cost(None, spans)
    print(f"  no processor:                                   {baseline * 1e6:6.2f} us/span")
    for label, queue in (
        ("unreachable endpoint, queue filling", spans * 10),
        ("unreachable, queue full: dropped", 64),
    ):
        (processor,) = otlp_span_processors(unreachable, max_queue_size=queue, shutdown_timeout=0.5)
        cost = _span_cost(processor, spans)
        print(f"  OTLP, {label:<41} {cost * 1e6:6.2f} us/span  (+{(cost - baseline) * 1e6:.2f})")
        rng = random.Random(1)
        made = [genai_span(rng, rng.getrandbits(128) or 1, time.time_ns()) for _ in range(spans)]
        started = time.perf_counter()
        for span in made:
            processor.on_end(span)
        print(
            f"  {'':>6}bare on_end, {label:<35} {(time.perf_counter() - started) / spans * 1e6:6.2f} us/span"
        )
        processor.shutdown()


def _span_cost(processor: SpanProcessor | None, spans: int) -> float:
    best = float("inf")
    for _ in range(5):
        provider = TracerProvider(shutdown_on_exit=False)
        if processor is not None:
            provider.add_span_processor(processor)
        tracer = provider.get_tracer("bench")
        started = time.perf_counter()
        for index in range(spans // 5):
            with tracer.start_as_current_span(
                "chat gpt-4o-mini", attributes={"gen_ai.request.model": "m", "i": index}
            ):
                pass
        best = min(best, (time.perf_counter() - started) / (spans // 5))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--spans", type=int, default=20_000)
    args = parser.parse_args()
    bench_receiver(args.requests, args.batch, args.senders)
    bench_export_overhead(args.spans)


if __name__ == "__main__":
    main()
