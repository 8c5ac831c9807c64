"""A real HTTP server that answers every request with bytes the built-in server sent, as a test shapes them.

The built-in server answers in chunked encoding, and only sends a usage chunk when asked. Two behaviours of
real servers need other shapes: a server that sends usage although the request did not ask for it, and a
stream delimited by the connection's close (HTTP/1.0 style, no length, no chunks) that stops early. The
relay gets a real answer from the built-in server, then serves it (or a cut of it) that way, over HTTP on
127.0.0.1.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx


def stream_bytes(base_url: str, path: str, body: dict[str, Any]) -> bytes:
    """The raw body of a streamed answer of the built-in server."""
    response = httpx.post(f"{base_url}{path}", json=body, headers={"authorization": "Bearer k"})
    response.raise_for_status()
    return response.content


def events(body: bytes) -> list[bytes]:
    """The SSE events of a body, each with its blank line."""
    return [event + b"\n\n" for event in body.split(b"\n\n") if event.strip()]


@dataclass
class Relay:
    base_url: str
    body: bytes = b""
    requests: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def relay(body: bytes = b"") -> Iterator[Relay]:
    """Serve `relay.body` to every POST, close-delimited; `relay.requests` holds the JSON bodies received."""
    state = Relay(base_url="", body=body)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # no Content-Length, no chunks: the body ends when the connection does

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            state.requests.append(json.loads(self.rfile.read(length) or b"{}"))
            self.send_response(200)
            self.send_header("content-type", "text/event-stream; charset=utf-8")
            self.send_header("x-request-id", "req_relay")
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
