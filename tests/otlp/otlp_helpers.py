"""Helpers for the OTLP tests: a real receiver on a free port, misbehaving endpoints, reading the store back."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spyglass.demo.server import serve
from spyglass.receiver import Receiver
from spyglass.store import SpanRecord, SpanStore


@dataclass
class RunningReceiver:
    """A receiver served by uvicorn on 127.0.0.1: where to send, and its store."""

    receiver: Receiver
    port: int

    @property
    def endpoint(self) -> str:
        """The base URL, as in OTEL_EXPORTER_OTLP_ENDPOINT."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def traces_url(self) -> str:
        return f"{self.endpoint}/v1/traces"

    def spans(self) -> list[SpanRecord]:
        """Every stored span, flushed first, ordered by name."""
        assert self.receiver.processor.force_flush(10_000)
        return stored_spans(self.receiver.store_path)

    def span(self, name: str) -> SpanRecord:
        matching = [span for span in self.spans() if span["name"] == name]
        assert len(matching) == 1, [span["name"] for span in self.spans()]
        return matching[0]


_RECEIVER_PROCESS = """
import sys, uvicorn
from spyglass.receiver.app import receiver_app
uvicorn.run(receiver_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="error")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("the receiver exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("the receiver never listened")


def start_receiver_process(location: Path | str) -> tuple[subprocess.Popen[bytes], int]:
    """A receiver in a process of its own (to be SIGKILLed), listening on a free port, writing to `location`."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", _RECEIVER_PROCESS, str(location), str(port)])
    wait_until_listening(port, process)
    return process, port


def genai_span_request(trace_id: str, span_id: str) -> dict[str, Any]:
    """OTLP/JSON for one chat span of another instrumentation, its conversation not on it."""
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "chat gpt-4o",
        "kind": 3,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
        ],
    }
    return {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {}, "spans": [span]}]}]}


@contextmanager
def running_receiver(store_path: Path, **options: Any) -> Iterator[RunningReceiver]:
    receiver = Receiver(store_path, **options)
    try:
        with serve(Starlette(routes=receiver.routes)) as server:
            yield RunningReceiver(receiver, server.port)
    finally:
        receiver.close()


def stored_spans(store_path: Path) -> list[SpanRecord]:
    with SpanStore(store_path, readonly=True) as store:
        spans = [
            span for trace in store.list_traces(limit=10_000) for span in store.get_trace(trace["trace_id"])
        ]
    return sorted(spans, key=lambda span: (span["name"], span["start_ns"]))


@contextmanager
def refusing_port() -> Iterator[int]:
    """A port nothing listens on: connections are refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    yield port


@contextmanager
def hanging_server() -> Iterator[int]:
    """A port that accepts connections and reads requests, and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            accepted.append(conn)  # kept open and unread: the client waits for an answer that never comes

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


@contextmanager
def failing_server(status: int = 500) -> Iterator[int]:
    """An HTTP server that answers every OTLP export with `status`."""

    async def fail(request: Request) -> Response:
        await request.body()
        return Response(b"", status_code=status)

    with serve(Starlette(routes=[Route("/v1/traces", fail, methods=["POST"])])) as server:
        yield server.port


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def post(url: str, body: bytes | Iterable[bytes], headers: Mapping[str, str] | None = None) -> Answer:
    """POST with http.client: an iterable body is sent chunked, without a Content-Length."""
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=30)
    try:
        sent_headers = {"Content-Type": "application/x-protobuf", **(headers or {})}
        chunked = not isinstance(body, bytes)
        conn.request("POST", parsed.path, body=body, headers=sent_headers, encode_chunked=chunked)
        response = conn.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    except (ConnectionResetError, BrokenPipeError):
        return Answer(0, {}, b"")  # the server answered and closed before the whole body went out
    finally:
        conn.close()


def post_json(url: str, document: object, headers: Mapping[str, str] | None = None) -> Answer:
    return post(url, json.dumps(document).encode(), {"Content-Type": "application/json", **(headers or {})})


def otlp_json(*spans: dict[str, Any], resource: dict[str, Any] | None = None) -> dict[str, Any]:
    """An OTLP/JSON export request of `spans` (one resource, one scope)."""
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": attributes(resource or {"service.name": "json-sender"})},
                "scopeSpans": [{"scope": {"name": "tests", "version": "1"}, "spans": list(spans)}],
            }
        ]
    }


def json_span(name: str = "hello", *, span_id: str = "00f067aa0ba902b7", **fields: Any) -> dict[str, Any]:
    return {
        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
        "spanId": span_id,
        "name": name,
        "kind": 3,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001500000000",
        **fields,
    }


def attributes(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """OTLP/JSON attributes for plain values (str, bool, int, float, list)."""
    return [{"key": key, "value": any_value(value)} for key, value in values.items()]


def any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value(item) for item in value]}}
    raise TypeError(value)


def protobuf_request(count: int = 3, **span_attributes: Any) -> bytes:
    """A protobuf export request of `count` spans, encoded by the official OpenTelemetry encoder."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    for index in range(count):
        with tracer.start_as_current_span(f"span {index}", attributes={"index": index, **span_attributes}):
            pass
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans()).SerializeToString()
