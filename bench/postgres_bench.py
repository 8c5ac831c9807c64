"""Benchmark: spans/s stored through `spyglass serve` into PostgreSQL with 1 and 2 receivers, next to SQLite.

Starts a throwaway PostgreSQL cluster (Debian's binaries, as `nobody` when root, fsync on), then for each
store and receiver count: N `spyglass serve` processes, and `--senders` threads per receiver posting protobuf
batches of `--batch` spans (~600 bytes of attributes each) over keep-alive connections for `--seconds`. A
request is answered once its spans are committed, so acknowledged spans/s is the stored rate.

    python bench/postgres_bench.py [--seconds 10] [--batch 200] [--senders 4]
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


def run(store: str, receivers: int, args: argparse.Namespace) -> float:
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
        return sum(acknowledged) / (time.monotonic() - start)
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--senders", type=int, default=4)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="spyglass-pg-bench-"))
    port, stop = start_cluster(base)
    try:
        for receivers in (1, 2):
            sqlite_store = str(base / f"bench-{receivers}.sqlite")
            pg_store = f"postgresql://bench@127.0.0.1:{port}/postgres"
            for name, store in (("sqlite", sqlite_store), ("postgresql", pg_store)):
                rate = run(store, receivers, args)
                print(f"{name:10} receivers={receivers}  {rate:8.0f} spans/s stored", flush=True)
    finally:
        subprocess.run(stop, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
