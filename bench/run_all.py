"""Run every benchmark in this folder and collect their Markdown tables into one file with the machine's facts.

Runs `overhead.py` (all its modes), `memory.py`, and `store_bench.py`, `receiver_bench.py`,
`viewer_bench.py`, `viewer_page_bench.py` and `scrubbing_bench.py` when they are there; `peers.py` too
with `--peers` (its first run makes a virtual env per peer, a few minutes). The report opens with the
date, the commit, the machine (CPU model, cores, memory, load average) and the versions of Python and the
packages measured; each benchmark follows with its command, wall time and output. A benchmark that fails
is reported as such and the others still run; the exit code is then 1.

    python bench/run_all.py                   # the full run, into bench/RESULTS.md
    python bench/run_all.py --peers           # the same and the peers side by side
    python bench/run_all.py --quick           # a smoke run with few calls, into bench/RESULTS.quick.md
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PACKAGES = ["spyglass", "openai", "httpx2", "httpx", "opentelemetry-api", "opentelemetry-sdk"]


@dataclass(frozen=True)
class Benchmark:
    script: str
    title: str
    # For --quick: options that shrink the run, each kept only when the script has that option, so a
    # script that gains its own `--quick` or renames an option still runs.
    quick: tuple[tuple[str, ...], ...] = ()


BENCHMARKS = [
    Benchmark(
        "overhead.py",
        "Overhead per call (µs added to an OpenAI call)",
        (("--calls", "200"), ("--warmup", "50"), ("--rounds", "1")),
    ),
    Benchmark(
        "memory.py",
        "Resident memory over many calls",
        (("--calls", "4000"), ("--every", "1000")),
    ),
    Benchmark(
        "store_bench.py",
        "Span store: ingestion and queries",
        (("--ingest-spans", "5000"), ("--store-spans", "20000")),
    ),
    Benchmark(
        "receiver_bench.py",
        "OTLP receiver",
        (("--requests", "30"), ("--spans", "2000")),
    ),
    Benchmark(
        "viewer_bench.py",
        "Viewer: HTTP latency on a big store",
        (("--spans", "20000"), ("--repeat", "5")),
    ),
    Benchmark(
        "viewer_page_bench.py",
        "Viewer: pages in a real browser (10,000 traces, a 5,000-span trace)",
        (("--traces", "1000"), ("--steps", "200"), ("--repeat", "3")),
    ),
    Benchmark(
        "scrubbing_bench.py",
        "Scrubbing: CPU per LLM span",
        (("--spans", "200"), ("--rounds", "2")),
    ),
]
PEERS = Benchmark("peers.py", "The peers side by side (µs added, same openai per row pair)")


def quick_args(benchmark: Benchmark) -> list[str]:
    source = (BENCH / benchmark.script).read_text()
    if '"--quick"' in source:
        return ["--quick"]
    return [part for option in benchmark.quick if f'"{option[0]}"' in source for part in option]


def machine() -> list[str]:
    cpu = "unknown"
    memory = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
        with open("/proc/meminfo") as f:
            kib = next((int(line.split()[1]) for line in f if line.startswith("MemTotal:")), 0)
            memory = f"{kib / 1024**2:.1f} GiB"
    except OSError:
        cpu = platform.processor() or cpu
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    versions = []
    for package in PACKAGES:
        with contextlib.suppress(PackageNotFoundError):
            versions.append(f"{package} {version(package)}")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- commit: {commit or 'unknown'}",
        f"- CPU: {cpu}; {os.cpu_count()} cores; memory {memory}; load average at the start {load}",
        f"- OS: {platform.system()} {platform.release()} ({platform.machine()})",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), {sys.executable}",
        f"- packages: {', '.join(versions)}",
    ]


def run(command: list[str], timeout: float | None) -> tuple[int | None, str, str, float]:
    """Run one benchmark: its stderr (progress) goes to ours as it comes; return code, stdout, stderr, s.

    The benchmark gets a session of its own, so that past `timeout` it and the processes it started (a
    server, workers) are ended together; the code is then None.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    errors: list[str] = []
    outputs: list[str] = []

    def tee() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            errors.append(line)
            sys.stderr.write("    " + line)
            sys.stderr.flush()

    def read() -> None:
        assert process.stdout is not None
        outputs.append(process.stdout.read())

    threads = [threading.Thread(target=tee, daemon=True), threading.Thread(target=read, daemon=True)]
    for thread in threads:
        thread.start()
    code: int | None
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        code = None
    # Whatever is left of its session (a hung run, or a server it started and left behind holding our pipes).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for thread in threads:
        thread.join(5)
    return code, "".join(outputs), "".join(errors), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: few calls, figures not meaningful")
    parser.add_argument("--peers", action="store_true", help="also run peers.py (makes its envs once)")
    parser.add_argument("--output", type=Path, help="default bench/RESULTS.md (bench/RESULTS.quick.md quick)")
    parser.add_argument(
        "--timeout",
        type=float,
        help="end a benchmark that runs longer than this many seconds (default: 900 with --quick, none)",
    )
    parser.add_argument("--json-dir", type=Path, help="also have each benchmark that can write JSON here")
    args = parser.parse_args()
    timeout = args.timeout or (900.0 if args.quick else None)
    output = args.output or BENCH / ("RESULTS.quick.md" if args.quick else "RESULTS.md")

    lines = ["# spyglass benchmarks", ""]
    if args.quick:
        lines += [
            "**Quick smoke run (`--quick`): few calls and rounds, the figures are not meaningful.**",
            "",
        ]
    lines += [*machine(), ""]
    lines += ["Run with `python bench/run_all.py" + (" --quick" if args.quick else "")]
    lines[-1] += (" --peers" if args.peers else "") + "`; see bench/README.md for what each measures.\n"

    failed = []
    for benchmark in [*BENCHMARKS, *([PEERS] if args.peers else [])]:
        script = BENCH / benchmark.script
        if not script.exists():
            print(f"- {benchmark.script}: not there, skipped", file=sys.stderr)
            continue
        extra = quick_args(benchmark) if args.quick else []
        if args.json_dir and '"--json"' in script.read_text():
            args.json_dir.mkdir(parents=True, exist_ok=True)
            extra += ["--json", str(args.json_dir / f"{script.stem}.json")]
        command = [sys.executable, str(script.relative_to(REPO)), *extra]
        shown = " ".join(["python", *command[1:]])
        print(f"- {shown}", file=sys.stderr, flush=True)
        code, out, err, seconds = run(command, timeout)
        lines += [f"## {benchmark.title}", "", f"`{shown}`: {seconds:,.0f}s", ""]
        if code == 0 and any(line.startswith("|") for line in out.splitlines()):
            lines += [out.strip(), ""]
        elif code == 0:  # plain text: keep its alignment
            lines += ["```", out.strip(), "```", ""]
        else:
            failed.append(benchmark.script)
            tail = "\n".join(err.strip().splitlines()[-15:])
            why = f"Failed with exit code {code}" if code is not None else f"Ended after {timeout:,.0f}s"
            lines += [f"**{why}.**", "", "```", out.strip(), tail, "```", ""]
        output.write_text("\n".join(lines))  # what is done so far survives a later failure

    print(f"wrote {output.relative_to(REPO) if output.is_relative_to(REPO) else output}", file=sys.stderr)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
