"""Memory over many calls: the process's resident memory after every 10,000 instrumented calls must stay flat.

Each mode runs in a fresh process with the in-process transport of `overhead.py`: `none` (uninstrumented),
`discard` (spans made and handed to an exporter that keeps nothing: the tracer's own footprint), `default`
(the default configuration, console off: spans go to the local store). Four calls in five are chat
calls, the fifth a 50-chunk stream (a stream costs the SDK six chat calls' time). The modes run side by side,
as many at once as there are cores: memory, not time, is measured.

    python bench/memory.py --calls 100000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))

import overhead

STREAM_EVERY = 5


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker(mode: str, calls: int, every: int) -> list[tuple[int, float]]:
    import openai

    httpx = overhead._transport_module()
    with tempfile.TemporaryDirectory() as store_dir:
        if mode != "none":
            import spyglass

            if mode == "discard":
                from opentelemetry.sdk.trace import ReadableSpan
                from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

                class Discard(SpanExporter):
                    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
                        return SpanExportResult.SUCCESS

                spyglass.configure(
                    console=False, store=False, additional_span_processors=[SimpleSpanProcessor(Discard())]
                )
            else:
                spyglass.configure(console=False, store=os.path.join(store_dir, "spans.sqlite"))
            spyglass.instrument_openai()
        client = openai.OpenAI(
            api_key="sk-bench",
            base_url="http://bench.local/v1",
            max_retries=0,
            http_client=httpx.Client(transport=httpx.MockTransport(overhead._handler(httpx))),
        )
        samples = []
        for i in range(1, calls + 1):
            overhead._sync_call(client, "stream_50" if i % STREAM_EVERY == 0 else "sync_chat")
            if i % every == 0:
                samples.append((i, _rss_mib()))
        if mode != "none":
            import spyglass

            spyglass.shutdown()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--modes", nargs="*", default=["none", "discard", "default"])
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.calls, args.every)))
        return

    def run(mode: str) -> list[tuple[int, float]]:
        command = [sys.executable, __file__, "--worker", mode, "--calls", str(args.calls)]
        out = subprocess.run(
            [*command, "--every", str(args.every)], check=True, capture_output=True, text=True
        )
        print(f"{mode} done", file=sys.stderr)
        return [tuple(sample) for sample in json.loads(out.stdout.strip().splitlines()[-1])]

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = dict(zip(args.modes, pool.map(run, args.modes), strict=True))
    print(
        f"Resident memory (MiB) after N calls (4 chat calls to 1 stream of 50 chunks), {args.calls:,} calls"
    )
    print()
    print(
        "| mode | "
        + " | ".join(f"{n:,}" for n, _ in results[args.modes[0]])
        + " | growth after the first sample |"
    )
    print("|---" * (len(results[args.modes[0]]) + 2) + "|")
    summary = {}
    for mode, samples in results.items():
        growth = samples[-1][1] - samples[0][1]
        summary[mode] = {"samples": samples, "growth_mib": growth}
        print(f"| {mode} | " + " | ".join(f"{rss:.1f}" for _, rss in samples) + f" | {growth:+.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
