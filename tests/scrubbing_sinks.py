"""Every sink on at once (console, store, OTLP to a local capturing server, in memory), and the raw bytes
each one holds, so a test can grep them for planted secrets."""

from __future__ import annotations

import gzip
import io
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import spyglass
from spyglass.demo.server import serve


@dataclass
class Sinks:
    store: Path
    terminal: io.StringIO
    memory: InMemorySpanExporter
    otlp_bodies: list[bytes] = field(default_factory=list)

    def flush(self) -> None:
        assert spyglass.force_flush(10_000)

    def store_bytes(self) -> bytes:
        """The store file and its companions (`-wal`, `-shm`), byte for byte: what a reader of the disk sees."""
        return b"".join(p.read_bytes() for p in sorted(self.store.parent.glob(self.store.name + "*")))

    def store_rows(self, query: str) -> list[Any]:
        with sqlite3.connect(f"file:{self.store}?mode=ro", uri=True) as conn:
            return conn.execute(query).fetchall()

    def otlp_bytes(self) -> bytes:
        return b"".join(self.otlp_bodies)

    def finished(self) -> tuple[ReadableSpan, ...]:
        return self.memory.get_finished_spans()

    def everything(self) -> dict[str, bytes]:
        return {
            "store files": self.store_bytes(),
            "console": self.terminal.getvalue().encode("utf-8", "surrogatepass"),
            "OTLP": self.otlp_bytes(),
        }


@contextmanager
def all_sinks(tmp_path: Path, **configure: Any) -> Iterator[Sinks]:
    bodies: list[bytes] = []

    async def capture(request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        bodies.append(body)
        return Response(b"", media_type="application/x-protobuf")

    paths = ("/v1/traces", "/v1/metrics", "/v1/logs")
    app = Starlette(routes=[Route(path, capture, methods=["POST"]) for path in paths])
    with serve(app) as receiver:
        sinks = Sinks(tmp_path / "spans.sqlite", io.StringIO(), InMemorySpanExporter(), bodies)
        spyglass.configure(
            console={"file": sinks.terminal, "colors": "never", "verbose": "verbose"},
            store=sinks.store,
            otlp_endpoint=f"http://127.0.0.1:{receiver.port}",
            additional_span_processors=[SimpleSpanProcessor(sinks.memory)],
            **configure,
        )
        try:
            yield sinks
            sinks.flush()
        finally:
            spyglass.shutdown()
