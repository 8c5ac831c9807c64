"""Benchmark: spans/s stored through `spyglass serve` into PostgreSQL with 1 and 2 receivers, next to SQLite;
and the viewer's list and trace-open times on a million-span PostgreSQL store, next to SQLite's.

Starts a throwaway PostgreSQL cluster (Debian's binaries, as `nobody` when root, fsync on), then

- `ingest`: for each store and receiver count, N `spyglass serve` processes, and `--senders` threads per
  receiver posting protobuf batches of `--batch` spans (~600 bytes of attributes each) over keep-alive
  connections for `--seconds`. A request is answered once its spans are committed, so acknowledged spans/s
  is the stored rate. Also the CPU seconds the receivers and the PostgreSQL server spent, per 1,000 spans:
  on a small machine the rate is bounded by CPU, not by locks. Each run writes into an empty store (a new
  file, a new database), twice per receiver count; with 2 receivers, once more into the store just filled.
- `viewer`: builds a `--spans` store of each kind through the writer's own batch code (multi-row statements
  of 500 spans, transactions of 2,000; the same traces as `store_bench.build_store`), then times the
  viewer's requests over HTTP (`viewer_bench.viewer_timings`).

    python bench/postgres_bench.py [ingest|viewer|all] [--seconds 10] [--batch 200] [--senders 4]
        [--spans 1000000]
"""

from __future__ import annotations

import argparse
import glob
import http.client
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_cluster(base: Path) -> tuple[int, list[str]]:
    bin_dir = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]).parent
    as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    if as_user:
        os.chown(base, 65534, 65534)
    port = free_port()
    subprocess.run(
        [
            *as_user,
            str(bin_dir / "initdb"),
            "-D",
            str(base / "data"),
            "-U",
            "bench",
            "--auth=trust",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c max_connections=100"
    subprocess.run(
        [
            *as_user,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(base / "data"),
            "-o",
            options,
            "-l",
            str(base / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    return port, [*as_user, str(bin_dir / "pg_ctl"), "-D", str(base / "data"), "-m", "fast", "stop"]


def request_body(rng: random.Random, count: int) -> bytes:
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    trace_id = rng.getrandbits(128).to_bytes(16, "big")
    for index in range(count):
        span = scope_spans.spans.add()
        span.trace_id, span.span_id = trace_id, (rng.getrandbits(64) | 1).to_bytes(8, "big")
        span.name = f"chat gpt-4o {index}"
        span.start_time_unix_nano = time.time_ns()
        span.end_time_unix_nano = span.start_time_unix_nano + 1_000_000
        span.attributes.append(KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="gpt-4o")))
        span.attributes.append(KeyValue(key="payload", value=AnyValue(string_value="lorem ipsum " * 50)))
    return request.SerializeToString()


def sender(port: int, seed: int, batch: int, until: float, acknowledged: list[int]) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while time.monotonic() < until:
        conn.request(
            "POST", "/v1/traces", request_body(rng, batch), {"Content-Type": "application/x-protobuf"}
        )
        response = conn.getresponse()
        response.read()
        if response.status == 200:
            acknowledged.append(batch)
    conn.close()


def postgres_cpu_seconds(postmaster: int) -> dict[str, float]:
    """CPU seconds so far of the bench cluster's processes (the postmaster and its children; other clusters on
    the machine are not counted), by pid; a connection's process ends with it."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[str, float] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            data = Path(stat).read_text()
        except OSError:
            continue
        pid = stat.split("/")[2]
        fields = data[data.rindex(")") + 2 :].split()
        if int(pid) == postmaster or int(fields[1]) == postmaster:
            found[pid] = (int(fields[11]) + int(fields[12])) / tick
    return found


class CpuSampler:
    """The CPU the server's processes spent while it ran, sampled every 0.2 s (so that the processes of
    connections closed before the end are counted up to their last sample)."""

    def __init__(self, postmaster: int) -> None:
        self._postmaster = postmaster
        self._seen: dict[str, tuple[float, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def seconds(self) -> float:
        return sum(last - first for first, last in self._seen.values())

    def _sample(self) -> None:
        while not self._stop.is_set():
            for pid, now in postgres_cpu_seconds(self._postmaster).items():
                first, _ = self._seen.get(pid, (now, now))
                self._seen[pid] = (first, now)
            self._stop.wait(0.2)


def run(store: str, receivers: int, args: argparse.Namespace) -> tuple[float, float, float]:
    """Spans/s stored, and CPU ms per 1,000 spans of the receivers and of the PostgreSQL server."""
    before = os.times()
    with CpuSampler(args.postmaster) as server:
        rate, stored = _run(store, receivers, args)
    after = os.times()
    receivers_cpu = (
        after.children_user + after.children_system - before.children_user - before.children_system
    )
    per_thousand = 1000_000 / max(stored, 1)
    return rate, receivers_cpu * per_thousand, server.seconds * per_thousand


def _run(store: str, receivers: int, args: argparse.Namespace) -> tuple[float, int]:
    ports = [free_port() for _ in range(receivers)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "spyglass", "serve", "--store", store, "--port", str(port)],
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        for port in ports:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
        acknowledged: list[int] = []
        start = time.monotonic()
        until = start + args.seconds
        threads = [
            threading.Thread(target=sender, args=(port, index * 1000 + n, args.batch, until, acknowledged))
            for index, port in enumerate(ports)
            for n in range(args.senders)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(acknowledged) / (time.monotonic() - start), sum(acknowledged)
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)


def ingest(port: int, base: Path, args: argparse.Namespace) -> None:
    print(f"load before: {os.getloadavg()[0]:.2f}", flush=True)
    import psycopg

    for receivers in (1, 2, 1, 2):
        # Each run into an empty store, as SQLite's into a new file: PostgreSQL's cost per span grows as the
        # store fills (see "a store already holding spans" below), which would favour whichever ran first.
        database = f"bench_{time.monotonic_ns()}"
        with psycopg.connect(f"postgresql://bench@127.0.0.1:{port}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {database}")
        sqlite_store = str(base / f"{database}.sqlite")
        pg_store = f"postgresql://bench@127.0.0.1:{port}/{database}"
        for name, store in (("sqlite", sqlite_store), ("postgresql", pg_store)):
            rate, receivers_ms, server_ms = run(store, receivers, args)
            server = f", server {server_ms:5.0f}" if name == "postgresql" else ""
            print(
                f"{name:10} receivers={receivers}  {rate:8.0f} spans/s stored  "
                f"(CPU ms per 1,000 spans: receivers {receivers_ms:5.0f}{server}; load {os.getloadavg()[0]:.2f})",
                flush=True,
            )
        if receivers == 2:  # the same store again, now holding the spans of the run before
            rate, receivers_ms, server_ms = run(pg_store, receivers, args)
            print(
                f"{'':10} again on that store: {rate:8.0f} spans/s stored  (CPU ms per 1,000 spans: "
                f"receivers {receivers_ms:5.0f}, server {server_ms:5.0f}; load {os.getloadavg()[0]:.2f})",
                flush=True,
            )


def build_postgres_store(url: str, spans: int) -> float:
    """`store_bench.build_store` into PostgreSQL: the same traces, through the PostgreSQL writer's batches."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from store_bench import BIG_TRACE_ID, _trace_spans

    from spyglass.store.postgres import _ingest, _schema

    rng = random.Random(1)
    resource = Resource.create({"service.name": "bench"})
    scope = InstrumentationScope("bench", "1.0")
    resources: dict[str, int] = {}
    now = time.time_ns() - spans * 10_000_000
    started = time.perf_counter()
    with _schema.connect(url, migrate=True) as conn:
        batch: list[Any] = []
        for trace_index in range(spans // 5):
            batch.extend(_trace_spans(rng, trace_index, now + trace_index * 50_000_000, resource, scope))
            if len(batch) >= 2000:
                _ingest.write_batch(conn, batch, resources)
                batch = []
        _ingest.write_batch(conn, batch, resources)
        elapsed = time.perf_counter() - started
        big_trace: list[Any] = []
        for index in range(1000):
            big_trace.extend(_trace_spans(rng, index, now, resource, scope, trace_id=BIG_TRACE_ID))
        _ingest.write_batch(conn, big_trace, resources)
        conn.execute("VACUUM ANALYZE")  # what autovacuum does soon after a bulk load
    return elapsed


def viewer(port: int, base: Path, args: argparse.Namespace) -> None:
    from store_bench import build_store
    from viewer_bench import viewer_timings

    pg_store = f"postgresql://bench@127.0.0.1:{port}/postgres"
    sqlite_store = base / "big.sqlite"
    print(f"built SQLite: {args.spans:,} spans in {build_store(sqlite_store, args.spans):.0f} s", flush=True)
    print(f"built PostgreSQL: {args.spans:,} spans in {build_postgres_store(pg_store, args.spans):.0f} s")
    timings = {}
    for name, store in (("SQLite", sqlite_store), ("PostgreSQL", pg_store)):
        stats, timings[name] = viewer_timings(store, args.repeat)
        print(
            f"{name}: {stats['spans']:,} spans in {stats['traces']:,} traces; load {os.getloadavg()[0]:.2f}"
        )
    print("\n| request | SQLite median ms | PostgreSQL median ms |\n|---|---|---|")
    for (request, sqlite_ms), (_, pg_ms) in zip(timings["SQLite"], timings["PostgreSQL"], strict=True):
        print(f"| {request} | {sqlite_ms:.1f} | {pg_ms:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", nargs="?", choices=["ingest", "viewer", "all"], default="ingest")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="spyglass-pg-bench-"))
    port, stop = start_cluster(base)
    args.postmaster = int((base / "data" / "postmaster.pid").read_text().split()[0])
    try:
        if args.part in ("ingest", "all"):
            ingest(port, base, args)
        if args.part in ("viewer", "all"):
            viewer(port, base, args)
    finally:
        subprocess.run(stop, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
