"""Server-sent events: framing, and an ASGI response that sends prepared frames one by one.

The response can also end by dropping the connection (for the `midstream-disconnect` fault): it raises
`DeliberateDisconnect` after the last frame, which makes uvicorn close the socket without finishing the
chunked body. `quiet_deliberate_disconnects()` keeps uvicorn from logging that as an application error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
from starlette.types import Receive, Scope, Send

from spyglass.demo._util import dumps

DONE = b"data: [DONE]\n\n"
SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"


class DeliberateDisconnect(Exception):
    """Raised inside the app to make the server drop a connection mid-response."""


def data_frame(payload: Any) -> bytes:
    """`data: {...}` followed by a blank line."""
    return f"data: {dumps(payload)}\n\n".encode()


def event_frame(event: str, payload: Any) -> bytes:
    """A named event: `event: <name>` then `data: {...}`."""
    return f"event: {event}\ndata: {dumps(payload)}\n\n".encode()


class FramesResponse:
    """Sends a status, headers and a body in several chunks; optionally drops the connection at the end."""

    def __init__(
        self,
        frames: Sequence[bytes],
        *,
        status: int = 200,
        content_type: str = SSE_CONTENT_TYPE,
        headers: Mapping[str, str] | None = None,
        disconnect: bool = False,
    ) -> None:
        self.frames = frames
        self.status = status
        self.headers = {"content-type": content_type, "cache-control": "no-cache", **(headers or {})}
        self.disconnect = disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": self.status, "headers": raw_headers})
        for frame in self.frames:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
            # Let the event loop notice a client that hung up, so the server stops writing to it.
            await anyio.sleep(0)
        if self.disconnect:
            raise DeliberateDisconnect("midstream-disconnect: dropping the connection on purpose")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class _DropDeliberateDisconnects(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, DeliberateDisconnect):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


_FILTER = _DropDeliberateDisconnects()


def quiet_deliberate_disconnects() -> None:
    """Stop uvicorn's error log from reporting the disconnects we cause on purpose."""
    logger = logging.getLogger("uvicorn.error")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


class EventStream:
    """The frames of a streamed answer, plus how it ends normally and how a mid-stream error looks.

    `error_frame(position)` builds the error event sent in place of the frame at `position`.
    """

    def __init__(
        self, frames: list[bytes], *, error_frame: Callable[[int], bytes], terminator: bytes = b""
    ) -> None:
        self.frames = frames
        self.error_frame = error_frame
        self.terminator = terminator

    def complete(self) -> list[bytes]:
        return [*self.frames, self.terminator] if self.terminator else list(self.frames)

    def truncated(self, keep: int = 3) -> list[bytes]:
        """The first few frames only (for the `midstream-disconnect` fault)."""
        return self.frames[:keep]

    def broken(self, keep: int = 3) -> list[bytes]:
        """The first few frames and then the error frame (for the `midstream-error` fault)."""
        kept = self.frames[:keep]
        return [*kept, self.error_frame(len(kept))]
