"""The viewer's routes that send or write on the page's behalf: replaying a recorded call, importing a file.

Each is a POST that must come from the viewer's own page (its Origin and this launch's token; the Host is
checked for every request). Replay is off unless the viewer was started with `--allow-replay`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from typing import Any
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from spyglass.importer import ImportFailed, import_otlp_bytes
from spyglass.viewer._replay_call import send_replay
from spyglass.viewer._replay_request import (
    ReplayRefused,
    checked_body,
    for_environment,
    key_belongs_to,
    rebuild,
)
from spyglass.viewer._security import write_refused
from spyglass.viewer._store import StoreHandle

MAX_IMPORT_BYTES = 64 * 1024 * 1024
_REPLAY_OFF = "Replay is off: start the viewer with `spyglass view --allow-replay` to send calls again."


def write_routes(
    handle: StoreHandle, *, token: str, allowed_hosts: Collection[str], allow_replay: bool
) -> list[BaseRoute]:
    def refused(request: Request) -> Response | None:
        why = write_refused(request, token, allowed_hosts)
        return _error(403, why) if why else None

    def recorded(request: Request) -> Any:
        """The span the path names, or None."""
        trace_id, span_id = request.path_params["trace_id"], request.path_params["span_id"]
        for record in handle.get().get_trace(trace_id):
            if record["span_id"] == span_id:
                return record
        return None

    async def replay_request(request: Request) -> Response:
        """The rebuilt request, for the page's editor (GET: it sends nothing)."""
        if not allow_replay:
            return _error(403, _REPLAY_OFF)
        record = await run_in_threadpool(recorded, request)
        if record is None:
            return _error(404, "no such span")
        try:
            rebuilt = rebuild(record["attributes"])
        except ReplayRefused as exc:
            return _error(400, str(exc))
        target = for_environment(rebuilt.target, os.environ)
        return JSONResponse(
            {
                "url": target.base_url + target.path,
                "key_sent": key_belongs_to(target, os.environ),
                "body": rebuilt.body,
                "notes": rebuilt.notes,
            },
            headers={"cache-control": "no-store"},
        )

    async def replay_send(request: Request) -> Response:
        if not allow_replay:
            return _error(403, _REPLAY_OFF)
        if (answer := refused(request)) is not None:
            return answer
        try:
            edited = json.loads(await request.body())
        except ValueError:
            return _error(400, "The request must be JSON.")
        record = await run_in_threadpool(recorded, request)
        if record is None:
            return _error(404, "no such span")
        try:
            # Where it goes comes from the stored span alone; the page only gives the body.
            target = for_environment(rebuild(record["attributes"]).target, os.environ)
            body = checked_body(edited.get("body") if isinstance(edited, dict) else None, target.path)
        except ReplayRefused as exc:
            return _error(400, str(exc))
        outcome = await run_in_threadpool(
            send_replay,
            str(handle.location),
            target,
            body,
            (record["trace_id"], record["span_id"]),
            dict(os.environ),
        )
        if outcome.trace_id is None:
            return _error(502, outcome.error or "The replay failed.")
        return JSONResponse(
            {
                "trace_id": outcome.trace_id,
                "span_id": outcome.span_id,
                "error": outcome.error,
                "key_sent": outcome.key_sent,
            }
        )

    async def import_file(request: Request) -> Response:
        if (answer := refused(request)) is not None:
            return answer
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_IMPORT_BYTES:
                return _error(
                    413, f"The file is over {MAX_IMPORT_BYTES // 2**20} MiB; use `spyglass import FILE`."
                )
        name = unquote(request.headers.get("x-spyglass-file-name", "")) or "The file"
        try:
            spans = await run_in_threadpool(import_otlp_bytes, bytes(body), handle.location, name)
        except ImportFailed as exc:
            return _error(400, str(exc))
        if not spans:
            return _error(400, f"{name} holds no spans; nothing was imported.")
        trace_ids = list(
            dict.fromkeys(format(span.context.trace_id, "032x") for span in spans if span.context)
        )
        return JSONResponse({"spans": len(spans), "trace_ids": trace_ids})

    return [
        Route("/api/replay/{trace_id}/{span_id}", replay_request, methods=["GET"]),
        Route("/api/replay/{trace_id}/{span_id}", replay_send, methods=["POST"]),
        Route("/api/import", import_file, methods=["POST"]),
    ]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers={"cache-control": "no-store"})
