"""An ASGI middleware that records every request it sees and stamps responses with `x-request-id`.

Tests read the records (`DemoServer.requests`) to check what the SDK actually sent. The request id is a
hash of the request, so the same request always gets the same id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spyglass.demo._multipart import parse_form
from spyglass.demo._util import make_id


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    """The parsed JSON body, the form fields of a multipart body, or None."""
    content: bytes
    """The raw body."""

    @property
    def json(self) -> Any:
        """The JSON body (None when the body was not JSON)."""
        return self.body if self.headers.get("content-type", "").startswith("application/json") else None


class RequestRecorder:
    """Appends a `RecordedRequest` to `log` for each HTTP request, then runs `app`."""

    def __init__(self, app: ASGIApp, log: list[RecordedRequest]) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        content = await _read_body(receive)
        record = _record(scope, content)
        self.log.append(record)
        request_id = make_id(
            "req_", record.method, record.path, record.query, content.hex(), length=32, hex_digits=True
        )
        await self.app(scope, _replay(content, receive), _with_request_id(send, request_id))


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(content: bytes, receive: Receive) -> Receive:
    """A `receive` that yields the buffered body once, then defers to the real one (disconnects)."""
    sent = False

    async def replaying() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": content, "more_body": False}
        return await receive()

    return replaying


def _with_request_id(send: Send, request_id: str) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(name.lower() == b"x-request-id" for name, _ in headers):
                headers.append((b"x-request-id", request_id.encode()))
            message = {**message, "headers": headers}
        await send(message)

    return sending


def _record(scope: Scope, content: bytes) -> RecordedRequest:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return RecordedRequest(
        method=scope["method"],
        path=scope["path"],
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=_parse_body(headers.get("content-type", ""), content),
        content=content,
    )


def _parse_body(content_type: str, content: bytes) -> Any:
    if not content:
        return None
    if content_type.startswith("multipart/form-data"):
        return parse_form(content_type, content)
    try:
        return json.loads(content)
    except ValueError:
        return None
