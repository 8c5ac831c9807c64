"""A local OpenAI-compatible server with canned, deterministic answers, for `spyglass demo` and tests.

Point a real `openai` client at it (`base_url=server.base_url`, any API key): it speaks HTTP on
127.0.0.1 with bodies, streams and errors shaped like the real API's, and never touches the network.

    with serve() as server:
        client = openai.OpenAI(api_key="test", base_url=server.base_url)
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
        server.requests[-1].body  # what the SDK sent

Endpoints (under `/v1`): `POST /chat/completions`, `POST /completions`, `POST /embeddings`,
`POST /images/generations`, `POST /images/edits`, `POST /responses`, `GET /models`,
`GET /models/{id}`, and `GET /demo-images/{name}.png` for image URLs. Anything else is a 404 with an
OpenAI error body. Every response carries an `x-request-id: req_...` header.

The same request always gets the same bytes back: ids are hashes of the request, `created` is fixed,
token counts follow the rule in `spyglass.demo._util` (words and punctuation marks), prompts of 1024+
tokens report cached tokens in blocks of 128, and `reasoning_effort` / `reasoning` adds reasoning tokens.

Faults, selected by the requested `model` (so no special client code is needed):

- `error-400`: 400 `invalid_request_error`, code `invalid_value`, param `model`.
- `error-401`: 401 `invalid_request_error`, code `invalid_api_key`.
- `error-404` and any model starting with `missing-`: 404 `invalid_request_error`, code `model_not_found`.
- `error-429`: 429 type `requests`, code `rate_limit_exceeded`, headers `retry-after: 0` and
  `retry-after-ms: 1` (so SDK retries do not sleep).
- `error-500`: 500 `server_error`. Any other `error-<4xx|5xx>` answers with that status.
- `midstream-error`: a stream sends a few events, then an error event carrying `{"error": {...}}` (the
  SDK raises `openai.APIError` mid-iteration); chat and completions send `data: {"error": ...}`, the
  Responses API `event: error`. Not streamed: a 500 `server_error`.
- `midstream-disconnect`: a stream sends a few events, then the connection is dropped without `[DONE]`
  (not streamed: half of the JSON body, then the drop).
- `echo-credentials`: 401 `invalid_api_key` whose message repeats the key the client sent (its
  `Authorization` bearer token or Azure `api-key` header) and the full URL; an Azure client's
  `/deployments/echo-credentials/...` path, which has no route, gets the same answer.
- `slow-<ms>`: waits that many milliseconds before answering normally.
- `no-stream-options`: a request carrying `stream_options` gets 400 "Unrecognized request argument
  supplied: stream_options", as some OpenAI-compatible servers do; `create_app(reject_stream_options=True)`
  does that for every model.

Any other model gets a normal answer whose `model` field echoes the requested name.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spyglass.demo._chat import chat_completion, chat_stream
from spyglass.demo._completions import completion, completion_stream
from spyglass.demo._embeddings import embeddings
from spyglass.demo._faults import (
    ECHO_CREDENTIALS,
    MIDSTREAM_ERROR,
    ApiError,
    bad_request,
    echoed_credentials,
    fault_for_model,
    invalid_url,
    stream_options_rejected,
)
from spyglass.demo._images import image_response, png_bytes
from spyglass.demo._models import model_list, model_object
from spyglass.demo._multipart import UploadedFile, parse_form
from spyglass.demo._recording import RecordedRequest, RequestRecorder
from spyglass.demo._responses import response, response_stream
from spyglass.demo._sse import EventStream, FramesResponse, quiet_deliberate_disconnects
from spyglass.demo._util import dumps

__all__ = [
    "DemoServer",
    "FramesResponse",
    "RecordedRequest",
    "UploadedFile",
    "create_app",
    "recording_app",
    "run",
    "serve",
]

Body = dict[str, Any]
Endpoint = Callable[[Request], Awaitable[Response | FramesResponse]]

_STARTUP_TIMEOUT_S = 10.0
_READY_POLL_S = 0.002
_SHUTDOWN_TIMEOUT_S = 5  # then requests still running (a client that never reads) are cancelled


def create_app(*, reject_stream_options: bool = False) -> Starlette:
    """The demo server's ASGI app; `reject_stream_options` makes it refuse `stream_options` (400)."""
    routes = [
        Route("/v1/chat/completions", _streamable(chat_completion, chat_stream), methods=["POST"]),
        Route("/v1/completions", _streamable(completion, completion_stream), methods=["POST"]),
        Route("/v1/embeddings", _streamable(embeddings), methods=["POST"]),
        Route("/v1/responses", _streamable(response, response_stream), methods=["POST"]),
        Route("/v1/images/generations", _image_generation, methods=["POST"]),
        Route("/v1/images/edits", _image_edit, methods=["POST"]),
        Route("/v1/models", _models, methods=["GET"]),
        Route("/v1/models/{model_id:path}", _model, methods=["GET"]),
        Route("/v1/demo-images/{name}.png", _demo_image, methods=["GET"]),
    ]
    app = recording_app(routes)
    app.state.reject_stream_options = reject_stream_options
    return app


def recording_app(routes: list[Route]) -> Starlette:
    """A Starlette app over `routes` that records requests in `app.state.requests` and answers unknown
    paths with an OpenAI 404. `serve()` exposes the records as `DemoServer.requests`."""
    requests: list[RecordedRequest] = []
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestRecorder, log=requests)],
        exception_handlers={404: _not_found, 405: _not_found},
    )
    app.state.requests = requests
    return app


@dataclass(frozen=True)
class DemoServer:
    """A running server: where to reach it and what it has received."""

    app: Starlette
    host: str
    port: int

    @property
    def base_url(self) -> str:
        """The `base_url` for an `openai` client, e.g. `http://127.0.0.1:54321/v1`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (clear it with `.requests.clear()`)."""
        records: list[RecordedRequest] = getattr(self.app.state, "requests", [])
        return records


@contextmanager
def serve(app: Starlette | None = None, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[DemoServer]:
    """Run `app` (default: `create_app()`) with uvicorn in a background thread while the block runs.

    `port=0` picks a free port. The server accepts connections when the block starts, and is shut down
    (its thread joined) when it ends.
    """
    app = app if app is not None else create_app()
    quiet_deliberate_disconnects()
    sock = _bind(host, port)
    server = uvicorn.Server(_config(app, host, sock.getsockname()[1]))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="spyglass-demo", daemon=True
    )
    thread.start()
    try:
        _wait_until_started(server, thread)
        yield DemoServer(app=app, host=host, port=sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


def run(host: str = "127.0.0.1", port: int = 8000, *, reject_stream_options: bool = False) -> None:
    """Run the demo server in the foreground until interrupted (for the CLI)."""
    quiet_deliberate_disconnects()
    app = create_app(reject_stream_options=reject_stream_options)
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)


def _config(app: Starlette, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=_SHUTDOWN_TIMEOUT_S,
    )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP (not 0) makes asyncio set TCP_NODELAY on accepted connections: without it, a response
    # written in two parts waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _wait_until_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the spyglass demo server did not start")
        time.sleep(_READY_POLL_S)


# --- endpoints ---------------------------------------------------------------------------------------------


def _streamable(
    build: Callable[[Body], Body], build_stream: Callable[[Body], EventStream] | None = None
) -> Endpoint:
    """An endpoint answering `build(body)`, or `build_stream(body)` when the request asks to stream."""

    async def endpoint(request: Request) -> Response | FramesResponse:
        body = await _json_body(request)
        if isinstance(body, ApiError):
            return body.response()
        refusal = await _apply_faults(request, body)
        if refusal is not None:
            return refusal
        midstream = fault_for_model(str(body.get("model"))).midstream
        if build_stream is not None and body.get("stream"):
            return _stream_response(build_stream(body), midstream)
        return _json_response(build(body), midstream)

    return endpoint


async def _apply_faults(request: Request, body: Body) -> Response | None:
    """The error response a fault asks for, after any delay it asks for; None to answer normally."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return bad_request("you must provide a model parameter").response()
    fault = fault_for_model(model)
    rejects = fault.reject_stream_options or request.app.state.reject_stream_options
    if rejects and "stream_options" in body:
        return stream_options_rejected().response()
    if fault.error is not None:
        return fault.error.response()
    if model == ECHO_CREDENTIALS:
        return echoed_credentials(request.headers, request.method, str(request.url)).response()
    if fault.delay_ms:
        await _pause(request, fault.delay_ms / 1000)
    return None


async def _pause(request: Request, seconds: float) -> None:
    """Wait `seconds`, or less if the client hangs up first (a timed-out client leaves no work behind)."""
    with anyio.move_on_after(seconds):
        while (await request.receive())["type"] != "http.disconnect":
            pass


def _stream_response(stream: EventStream, midstream: str | None) -> FramesResponse:
    if midstream == "error":
        return FramesResponse(stream.broken())
    if midstream == "disconnect":
        return FramesResponse(stream.truncated(), disconnect=True)
    return FramesResponse(stream.complete())


def _json_response(payload: Body, midstream: str | None = None) -> Response | FramesResponse:
    content = dumps(payload).encode()
    if midstream == "error":
        return MIDSTREAM_ERROR.response()
    if midstream == "disconnect":
        return FramesResponse(
            [content[: len(content) // 2]], content_type="application/json", disconnect=True
        )
    return Response(content, media_type="application/json")


async def _json_body(request: Request) -> Body | ApiError:
    try:
        body = json.loads(await request.body())
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return bad_request(
            "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload."
        )
    return body


async def _image_generation(request: Request) -> Response | FramesResponse:
    body = await _json_body(request)
    if isinstance(body, ApiError):
        return body.response()
    return await _image_answer(request, body, input_images=0)


async def _image_edit(request: Request) -> Response | FramesResponse:
    form = parse_form(request.headers.get("content-type", ""), await request.body())
    images = [
        v for key in ("image", "image[]") for v in _as_list(form.get(key)) if isinstance(v, UploadedFile)
    ]
    if not images:
        return bad_request(
            "Missing required parameter: 'image'.", "image", "missing_required_parameter"
        ).response()
    body: Body = {key: value for key, value in form.items() if isinstance(value, str)}
    body.setdefault("model", "dall-e-2")
    if "n" in body:
        body["n"] = int(body["n"]) if body["n"].isdigit() else 1
    return await _image_answer(request, body, input_images=len(images))


async def _image_answer(request: Request, body: Body, *, input_images: int) -> Response | FramesResponse:
    body.setdefault("model", "dall-e-2")
    refusal = await _apply_faults(request, body)
    if refusal is not None:
        return refusal
    images_url = str(request.base_url).rstrip("/") + "/v1/demo-images"
    answer = image_response(body, images_url=images_url, input_images=input_images)
    return _json_response(answer, fault_for_model(str(body["model"])).midstream)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


async def _models(request: Request) -> Response:
    return Response(dumps(model_list()), media_type="application/json")


async def _model(request: Request) -> Response:
    model_id = request.path_params["model_id"]
    error = fault_for_model(model_id).error
    if error is not None:
        return error.response()
    return Response(dumps(model_object(model_id)), media_type="application/json")


async def _demo_image(request: Request) -> Response:
    return Response(png_bytes(request.path_params["name"]), media_type="image/png")


async def _not_found(request: Request, _exc: Exception) -> Response:
    if f"/deployments/{ECHO_CREDENTIALS}/" in request.url.path:
        return echoed_credentials(request.headers, request.method, str(request.url)).response()
    return invalid_url(request.method, request.url.path).response()
