"""The OTLP/HTTP receiver: `POST /v1/traces` (and the GenAI log records of `POST /v1/logs`) into a spyglass
store, as Starlette routes.

Any OpenTelemetry SDK or Collector can send here (protobuf or JSON, gzip or not). Received spans go through
the same `SqliteSpanProcessor` as spyglass's own, after `normalize()` has given other instrumentations' GenAI
spans the attributes the viewer reads. Log records are kept only where they are GenAI events of a span (a
conversation sent apart from its span): they are joined to it, whichever comes first (`_joiner.py`).

What the receiver refuses, it refuses with a reason: 400 for a malformed body, 401 without the token, 413
past the size limit (counted while reading, never buffered whole), 415 for another content type, 503 with
`Retry-After` when the store cannot take the spans now. Success means committed: a request is answered 200
only once its spans are in the file (concurrent requests share one transaction), so a receiver killed at any
moment loses no span it acknowledged; a sender told 503 retries, and a span sent twice is stored once.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace import Event, ReadableSpan
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from spyglass._arguments import is_postgres_url
from spyglass._scrubbing import Scrubber
from spyglass._scrubbing_options import ScrubbingOptions
from spyglass.receiver._decode import PayloadError, decoded_spans, parse_json, parse_protobuf
from spyglass.receiver._joiner import LogJoiner, is_genai, span_key
from spyglass.receiver._logs import SpanEvent, SpanKey, parse_logs_json, parse_logs_protobuf, span_events
from spyglass.receiver._waiting import from_waiting, hex_ids, to_waiting
from spyglass.store import SqliteSpanProcessor
from spyglass.store._backends import open_store, store_processor
from spyglass.store._waiting_events import WaitingWork

logger = logging.getLogger("spyglass")

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_BACKLOG = 50_000  # spans received and not yet written; past it, senders are asked to retry
DEFAULT_COMMIT_TIMEOUT = 5.0  # seconds a request waits for its spans to be committed, then 503
RETRY_AFTER_SECONDS = 2
WAITING_RECORDS_SECONDS = 3600.0  # log records whose span has not come in this long are dropped and counted

_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
# The rest of a refused body is not read: the connection cannot serve another request after it.
_CLOSE = {"Connection": "close"}
_Received = TypeVar("_Received", ReadableSpan, SpanEvent)
_GRPC_STATUS = {400: 3, 401: 16, 413: 8, 415: 3, 503: 14}  # google.rpc.Code for the Status body
_RETRY = {"Retry-After": str(RETRY_AFTER_SECONDS)}
# Many concurrent requests' spans go in one transaction: the commit, not the rows, is what costs.
_BATCH_SIZE = 4096


class _Refused(Exception):
    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers or {}


class Receiver:
    """Receives OTLP/HTTP trace exports into the store at `store_path`.

    Args:
        store_path: the spyglass store file (created if missing).
        token: when set, requests must carry `Authorization: Bearer <token>`.
        max_body_bytes: the largest request body, compressed or not, in bytes.
        max_backlog: spans received and not yet written at most; past it, requests get 503 + `Retry-After`.
        commit_timeout: seconds a request waits for its spans to be committed; past it (the store locked or
            full), 503 + `Retry-After` (the spans stay queued: the sender's retry is stored once).
        processor: the store writer to use instead of a new `SqliteSpanProcessor(store_path)`.

    Example:
        ```python
        from starlette.applications import Starlette
        receiver = Receiver("traces.sqlite")
        app = Starlette(routes=receiver.routes, on_shutdown=[receiver.close])
        ```
    """

    def __init__(
        self,
        store_path: str | os.PathLike[str],
        *,
        token: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_backlog: int = DEFAULT_MAX_BACKLOG,
        commit_timeout: float = DEFAULT_COMMIT_TIMEOUT,
        processor: SqliteSpanProcessor | None = None,
    ) -> None:
        if max_body_bytes < 1 or max_backlog < 1 or commit_timeout <= 0:
            raise ValueError("max_body_bytes, max_backlog and commit_timeout must be positive")
        # A file, or a PostgreSQL URL kept as text.
        self.store_path: Path | str = (
            store_path if isinstance(store_path, str) and is_postgres_url(store_path) else Path(store_path)
        )
        # Opened on the first spans received: serving the viewer of a store that does not exist yet must not
        # create it.
        self._processor = processor
        self._token = token.encode() if token else None
        self._max_body_bytes = max_body_bytes
        self._max_backlog = max_backlog
        self._commit_timeout = commit_timeout
        self._lock = threading.Lock()
        self._open_lock = threading.Lock()
        self.received_spans = 0
        self.received_span_events = 0  # GenAI log records joined (or waiting to be joined) to a span
        self._joiner = LogJoiner()
        self._store_reader: Any = None
        # What other programs send is scrubbed as spyglass's own spans are: a shared store holds no secret
        # because one sender did not scrub (a plain OpenTelemetry SDK recording prompts with keys in them).
        self._scrubber = Scrubber(ScrubbingOptions())
        self.routes: list[BaseRoute] = [
            Route("/v1/traces", self.traces, methods=["POST"]),
            Route("/v1/logs", self.logs, methods=["POST"]),
        ]

    @property
    def processor(self) -> SqliteSpanProcessor:
        """The store writer, opened (creating the store if needed) on first use."""
        if self._processor is None:
            with self._open_lock:
                if self._processor is None:
                    processor = store_processor(self.store_path, batch_size=_BATCH_SIZE)
                    # The store says so when records could not be joined: the viewer shows it.
                    service = "spyglass receiver"
                    processor.report_losses(
                        lambda: {"receiver": self._joiner.dropped_events},
                        unit="log record",
                        service_name=service,
                    )
                    # Spans the store could not take at all (its sender was answered 503 for them).
                    processor.report_losses(lambda: {"store": processor.dropped_spans}, service_name=service)
                    processor.keep_waiting_events_for(WAITING_RECORDS_SECONDS)
                    self._processor = processor
        return self._processor

    @property
    def backlog(self) -> int:
        """Spans received and not yet written (or dropped) by the store's writer."""
        if self._processor is None:
            return 0
        return self._processor.stats()["waiting_spans"]

    @property
    def dropped_span_events(self) -> int:
        """GenAI log records not joined to their span: past the joiner's bounds in bytes (see `LogJoiner`)."""
        return self._joiner.dropped_events

    def close(self) -> None:
        """Write what is queued and close the store."""
        if self._processor is not None:
            self._processor.shutdown()
        if self._store_reader is not None:
            self._store_reader.close()

    async def traces(self, request: Request) -> Response:
        """`POST /v1/traces`: an `ExportTraceServiceRequest`, answered as the OTLP/HTTP spec says."""
        return await self._export(request, self._ingest, ExportTraceServiceResponse())

    async def logs(self, request: Request) -> Response:
        """`POST /v1/logs`: an `ExportLogsServiceRequest`; its GenAI events join their spans."""
        return await self._export(request, self._ingest_logs, ExportLogsServiceResponse())

    async def _export(
        self,
        request: Request,
        ingest: Callable[[bytes, bool], None],
        success: ExportTraceServiceResponse | ExportLogsServiceResponse,
    ) -> Response:
        as_json = _media_type(request) == _JSON
        try:
            self._check_token(request)
            media_type = _media_type(request)
            if media_type not in (_PROTOBUF, _JSON):
                raise _Refused(
                    415, f"Content-Type must be {_PROTOBUF} or {_JSON}, got {media_type or 'none'!r}"
                )
            body = await self._read_body(request)
            await run_in_threadpool(ingest, body, as_json)
        except _Refused as refused:
            return _error(refused.status, refused.reason, as_json, refused.headers)
        except ClientDisconnect:
            return Response(status_code=400)
        if as_json:
            return Response("{}", media_type=_JSON)
        return Response(success.SerializeToString(), media_type=_PROTOBUF)

    def _check_token(self, request: Request) -> None:
        if self._token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self._token):
            raise _Refused(
                401, "this receiver needs 'Authorization: Bearer <token>'", {"WWW-Authenticate": "Bearer"}
            )

    async def _read_body(self, request: Request) -> bytes:
        limit = self._max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _Refused(413, f"the body is {declared} bytes; this receiver takes {limit} at most", _CLOSE)
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip"):
            raise _Refused(415, f"Content-Encoding {encoding!r} is not supported: send gzip or none")
        chunks = _gunzip(request.stream(), limit) if encoding == "gzip" else request.stream()
        body = bytearray()
        async for chunk in chunks:
            body += chunk
            if len(body) > limit:
                raise _Refused(413, f"the body is over {limit} bytes, the most this receiver takes", _CLOSE)
        return bytes(body)

    def _ingest(self, body: bytes, as_json: bool) -> None:
        spans = self._decode(lambda: decoded_spans(parse_json(body) if as_json else parse_protobuf(body)))
        if not spans:
            return
        self._check_backlog(len(spans))
        stored = self._records_in_the_store(spans)
        with self._lock:
            joined, with_records = self._joiner.spans_received(spans, stored)
        self._commit(joined, WaitingWork((), [hex_ids(key) for key in with_records]))
        self.received_spans += len(spans)

    def _ingest_logs(self, body: bytes, as_json: bool) -> None:
        events = self._decode(
            lambda: span_events(parse_logs_json(body) if as_json else parse_logs_protobuf(body))
        )
        if not events:
            return
        self._check_backlog(len(events))
        with self._lock:
            spans, waiting = self._joiner.events_received(events)
        # Kept in the store before the answer: acknowledged records survive this receiver, and another
        # receiver of the store may get their span.
        now = time.time_ns()
        keep = [to_waiting(event, now) for event in self._scrubbed(waiting)]
        self._commit(spans, WaitingWork(keep, ()))
        self.received_span_events += len(events)

    def _records_in_the_store(self, spans: list[ReadableSpan]) -> dict[SpanKey, list[Event]]:
        """Records kept in the store for these GenAI spans (by this receiver before a restart, or another)."""
        keys = [span_key(span) for span in spans if is_genai(span) and not self._joiner.waits_for(span)]
        if not keys:
            return {}
        try:
            found = self._reader().waiting_events([hex_ids(key) for key in keys])
        except Exception as exc:  # the spans go in without them; the records expire and are counted
            logger.warning("spyglass receiver: cannot read the records waiting in the store: %s", exc)
            return {}
        return {(int(t, 16), int(s, 16)): from_waiting(texts) for (t, s), texts in found.items()}

    def _reader(self) -> Any:
        if self._store_reader is None:
            self.processor  # creates the store if needed (under the same lock: not inside it)  # noqa: B018
            with self._open_lock:
                if self._store_reader is None:
                    self._store_reader = open_store(self.store_path)
        return self._store_reader

    def _scrubbed(self, span_events: list[SpanEvent]) -> list[SpanEvent]:
        """The records scrubbed as a span's events are, in one pass (they go to the store as they are)."""
        if not span_events:
            return []
        holder = ReadableSpan(name="", events=tuple(span_event.event for span_event in span_events))
        events = self._scrubber.scrub_span(holder).events  # none at all only if even failing closed failed
        return [
            SpanEvent(span_event.span, event) for span_event, event in zip(span_events, events, strict=False)
        ]

    @staticmethod
    def _decode(decode: Callable[[], list[_Received]]) -> list[_Received]:
        try:
            return decode()
        except PayloadError as exc:
            raise _Refused(400, str(exc)) from None
        except RecursionError:
            raise _Refused(400, "the body is nested too deeply") from None

    def _check_backlog(self, received: int) -> None:
        if self.backlog + received > self._max_backlog:
            raise _Refused(503, "the store is behind; retry later", _RETRY)

    def _commit(self, spans: list[ReadableSpan], waiting: WaitingWork) -> None:
        """Hand spans (and the log records waiting for theirs) to the store; return once they are committed."""
        if not spans and not waiting.keep and not waiting.joined:
            return
        commit = self.processor.submit([self._scrubber.scrub_span(span) for span in spans], waiting=waiting)
        # A resent span that was stored already is ignored by the store, so retrying the whole batch is safe.
        if commit is None:
            raise _Refused(503, "the store's memory bound is reached; retry later", _RETRY)
        if not commit.wait(self._commit_timeout):
            raise _Refused(503, "the store could not commit the spans in time; retry later", _RETRY)


def receiver_routes(
    store_path: str | os.PathLike[str],
    *,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> list[BaseRoute]:
    """The routes of an OTLP/HTTP receiver writing to `store_path`: `POST /v1/traces` and `/v1/logs`.

    Mount them in any Starlette app (the viewer does); see `Receiver` for what they answer.

    Example:
        ```python
        app = Starlette(routes=[*viewer_routes, *receiver_routes(".spyglass/spans.sqlite")])
        ```
    """
    return Receiver(store_path, token=token, max_body_bytes=max_body_bytes).routes


async def _gunzip(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    produced = 0
    try:
        async for chunk in chunks:
            data = chunk
            while data:
                # max_length bounds what one step may inflate to: a small bomb cannot fill memory.
                out = decompressor.decompress(data, limit + 1 - produced)
                produced += len(out)
                yield out
                if produced > limit:
                    return
                data = decompressor.unconsumed_tail
        if not decompressor.eof:
            raise _Refused(400, "the gzip body is truncated")
    except zlib.error as exc:
        raise _Refused(400, f"the body is not valid gzip: {exc}") from None


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _error(status: int, reason: str, as_json: bool, headers: dict[str, str]) -> Response:
    code = _GRPC_STATUS.get(status, 2)
    if status >= 500:
        logger.debug("spyglass receiver: %d %s", status, reason)
    if as_json:
        return Response(json.dumps({"code": code, "message": reason}), status, headers, media_type=_JSON)
    return Response(_status_message(code, reason), status, headers, media_type=_PROTOBUF)


def _status_message(code: int, message: str) -> bytes:
    """A `google.rpc.Status` {code, message}, the body OTLP/HTTP errors carry, encoded by hand."""
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def receiver_app(
    store_path: str | os.PathLike[str],
    *,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_backlog: int = DEFAULT_MAX_BACKLOG,
) -> Starlette:
    """A Starlette app that only receives: what `spyglass serve` runs. The store is closed when it stops."""
    receiver = Receiver(store_path, token=token, max_body_bytes=max_body_bytes, max_backlog=max_backlog)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await run_in_threadpool(receiver.close)

    app = Starlette(routes=receiver.routes, lifespan=lifespan)
    app.state.receiver = receiver
    return app
