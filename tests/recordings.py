"""Replay real OpenAI API recordings (VCR cassettes) from a local server, for tests.

The cassettes live in the repository, in `tests/fixtures/openai-recordings/` (its README.md says where they
come from and under which licence), so a fresh clone needs nothing beside it. `replay(name)` serves a
cassette's recorded responses, in order, to whatever client is pointed at `ReplayServer.base_url`:

    with replay("otel-contrib/test_chat_completion_streaming.yaml") as server:
        client = openai.OpenAI(api_key="test", base_url=server.base_url, max_retries=0)
        ...

Each request gets the first not-yet-served interaction with the same method and path (ignoring the
`/v1` prefix and the query string), with the recorded status, content type, `x-request-id` and body.
gzip-compressed (`!!binary`) bodies are served decompressed. A request with no interaction left gets a
500 whose error message names the cassette.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spyglass.demo.server import DemoServer, FramesResponse, RecordedRequest, recording_app, serve

# Recorded headers that describe the original transfer rather than the response, so are not replayed.
_TRANSFER_HEADERS = frozenset(
    {"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive", "set-cookie"}
)
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


RECORDINGS_DIR = Path(__file__).resolve().parent / "fixtures" / "openai-recordings"


def recordings_dir() -> Path:
    """The recordings folder, inside the repository."""
    return RECORDINGS_DIR


def cassette_names() -> list[str]:
    """Every cassette, as a path relative to the recordings folder (e.g. `otel-contrib/test_x.yaml`)."""
    root = recordings_dir()
    return sorted(path.relative_to(root).as_posix() for path in root.glob("*/*.yaml"))


@dataclass(frozen=True)
class RecordedResponse:
    status: int
    headers: dict[str, str]
    """Lower-cased names; a header recorded several times keeps its first value."""
    body: bytes
    """Decompressed when the recording was gzip-compressed."""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/json")

    @property
    def is_stream(self) -> bool:
        return self.content_type.startswith("text/event-stream")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Interaction:
    method: str
    uri: str
    request_body: str | None
    response: RecordedResponse

    @property
    def route(self) -> str:
        """The request path without host, query and `/v1` prefix, e.g. `/chat/completions`."""
        return _route(urlsplit(self.uri).path)

    def request_json(self) -> Any:
        return json.loads(self.request_body) if self.request_body else None


def load_cassette(name: str) -> list[Interaction]:
    """The interactions of a cassette, `name` being relative to the recordings folder."""
    with (recordings_dir() / name).open("rb") as file:
        document = yaml.load(file, Loader=_Loader)
    return [_interaction(raw) for raw in document.get("interactions") or []]


def _interaction(raw: dict[str, Any]) -> Interaction:
    request, response = raw["request"], raw["response"]
    headers = _headers(response.get("headers") or {})
    body = response.get("body", {}).get("string", "")
    content = body if isinstance(body, bytes) else str(body).encode()
    if headers.get("content-encoding") == "gzip" or content[:2] == b"\x1f\x8b":
        content = gzip.decompress(content)
    request_body = request.get("body")
    if isinstance(request_body, bytes):
        request_body = request_body.decode("utf-8", errors="replace")
    return Interaction(
        method=str(request["method"]).upper(),
        uri=str(request["uri"]),
        request_body=request_body,
        response=RecordedResponse(int(response["status"]["code"]), headers, content),
    )


def _headers(raw: dict[str, Any]) -> dict[str, str]:
    headers = {}
    for name, value in raw.items():
        values = value if isinstance(value, list) else [value]
        if values:
            headers[str(name).lower()] = str(values[0])
    return headers


def _route(path: str) -> str:
    return path[len("/v1") :] if path == "/v1" or path.startswith("/v1/") else path


@dataclass
class ReplayServer:
    """A running replay of one cassette."""

    cassette: str
    server: DemoServer
    interactions: list[Interaction]
    served: list[Interaction] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.server.requests

    @property
    def unused(self) -> list[Interaction]:
        """Recorded interactions no request has asked for yet."""
        return [i for i in self.interactions if not any(i is s for s in self.served)]


@contextmanager
def replay(name: str) -> Iterator[ReplayServer]:
    """Serve the cassette `name` on 127.0.0.1 while the block runs."""
    interactions = load_cassette(name)
    served: list[Interaction] = []

    async def answer(request: Request) -> Response | FramesResponse:
        route = _route(request.url.path)
        used_ids = {id(i) for i in served}
        match = next(
            (
                i
                for i in interactions
                if id(i) not in used_ids and i.method == request.method and i.route == route
            ),
            None,
        )
        if match is None:
            return _no_match(name, request)
        served.append(match)
        return _replayed(match.response)

    app = recording_app([Route("/{path:path}", answer, methods=_METHODS)])
    with serve(app) as server:
        yield ReplayServer(cassette=name, server=server, interactions=interactions, served=served)


def _replayed(recorded: RecordedResponse) -> Response | FramesResponse:
    headers = {
        k: v for k, v in recorded.headers.items() if k not in _TRANSFER_HEADERS and k != "content-type"
    }
    if recorded.is_stream:
        return FramesResponse(
            _sse_frames(recorded.body),
            status=recorded.status,
            content_type=recorded.content_type,
            headers=headers,
        )
    return Response(
        recorded.body, status_code=recorded.status, headers={**headers, "content-type": recorded.content_type}
    )


def _sse_frames(body: bytes) -> list[bytes]:
    """The recorded stream cut after each blank line, so it arrives event by event as it did live."""
    frames = [frame + b"\n\n" for frame in body.split(b"\n\n")]
    frames[-1] = frames[-1][:-2]
    return [frame for frame in frames if frame]


def _no_match(cassette: str, request: Request) -> Response:
    message = (
        f"No recorded interaction left for {request.method} {request.url.path} in cassette {cassette!r} "
        f"({recordings_dir() / cassette})"
    )
    error = {"error": {"message": message, "type": "replay_error", "param": None, "code": None}}
    return Response(json.dumps(error), status_code=500, media_type="application/json")
