"""The viewer as a Starlette app: HTML pages, a JSON API over `SpanStore`, and live changes as SSE.

Pages are plain templates; the browser fills them from the JSON API with small scripts in `static/`.
Everything is served from this app (no CDN), so the page works offline under a strict CSP.

Example:
    ```python
    app = create_app(".spyglass/spans.sqlite", token=secrets.token_urlsafe(), allowed_hosts=["127.0.0.1:8000"])
    uvicorn.run(app, host="127.0.0.1", port=8000)
    ```
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from spyglass.store import SpanStore, StoreError, TraceSummary
from spyglass.store.reader import JS_SAFE_INTEGER, WATERFALL_FIELDS
from spyglass.viewer import _format
from spyglass.viewer._filters import FilterError, TraceFilter, list_page
from spyglass.viewer._otlp import otlp_json
from spyglass.viewer._security import SecurityMiddleware, token_ok
from spyglass.viewer._store import StoreHandle
from spyglass.viewer._write_routes import write_routes

_HERE = Path(__file__).parent
POLL_SECONDS = 0.5  # how often a live page's stream looks for new writes
_KEEPALIVE_SECONDS = 15.0
_MAX_PAGE = 500


def create_app(
    store_path: str | os.PathLike[str],
    *,
    token: str,
    allowed_hosts: Collection[str],
    extra_routes: Sequence[BaseRoute] = (),
    poll_seconds: float = POLL_SECONDS,
    allow_replay: bool = False,
) -> Starlette:
    """The viewer for one store file.

    Args:
        store_path: the store to show; it may not exist yet (the page says so until it does).
        token: the secret the page must send back to delete traces; make a new one per launch.
        allowed_hosts: the `Host` header values to answer (`host:port`); see `local_hosts()`.
        extra_routes: more routes, checked before the viewer's own.
        poll_seconds: how often live pages look for new writes.
        allow_replay: let the page send a recorded call again (`spyglass view --allow-replay`).
    """
    handle = StoreHandle(store_path if isinstance(store_path, str) else Path(store_path))
    templates = Jinja2Templates(directory=_HERE / "templates")
    _format.register(templates.env)

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
        context = {
            "token": token,
            "store_path": str(handle.path),
            "status_code": status_code,
            "allow_replay": allow_replay,
            **context,
        }
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    async def store_of(request: Request) -> SpanStore:
        return await run_in_threadpool(handle.get)

    async def list_view(request: Request) -> Response:
        await store_of(request)
        return page(request, "list.html", page_name="traces")

    async def trace_view(request: Request) -> Response:
        store = await store_of(request)
        trace_id = request.path_params["trace_id"]
        summary = await run_in_threadpool(store.get_trace_summary, trace_id)
        if summary is None:
            raise HTTPException(
                404, f"There is no trace {trace_id} in this store (it may have been deleted)."
            )
        return page(request, "trace.html", page_name="trace", trace=summary)

    async def models_view(request: Request) -> Response:
        store = await store_of(request)
        models = await run_in_threadpool(_models_with_unknown_costs, store)
        return page(request, "models.html", page_name="models", models=models)

    async def api_traces(request: Request) -> Response:
        store = await store_of(request)
        where = _filter_from(request)
        limit = _int_param(request, "limit", 50, upper=_MAX_PAGE)
        before = _int_param(request, "before", None)

        def query() -> dict[str, Any]:
            cursor = store.current_cursor()  # before listing, so the stream misses nothing written meanwhile
            found = list_page(store, where, limit=limit, before=before)
            return {
                "traces": found.traces,
                "next_before": found.next_before,
                "scanned": found.scanned,
                "cursor": cursor,
            }

        return _JSResponse(await run_in_threadpool(query), headers={"cache-control": "no-store"})

    async def api_trace(request: Request) -> Response:
        store = await store_of(request)
        trace_id = request.path_params["trace_id"]

        def query() -> str | None:
            summary = store.get_trace_summary(trace_id)
            if summary is None:
                return None
            # The spans as the waterfall draws them, JSON from the store's SQL passed on as it is (a
            # 5,000-span trace's whole records, parsed and encoded again, took 4.9 MB and ~120 ms here),
            # and the whole record of the span the page opens at (others are fetched when selected).
            head = {
                "trace": summary,
                "cursor": store.current_cursor(),
                "default_span": store.get_default_span(trace_id),
                "fields": WATERFALL_FIELDS,
            }
            text = json.dumps(_js_safe(head), ensure_ascii=False, separators=(",", ":"))
            return f'{text[:-1]},"spans":{store.get_waterfall_json(trace_id)}}}'

        found = await run_in_threadpool(query)
        if found is None:
            return _json_error(404, f"no trace {trace_id}")
        return Response(found, media_type="application/json", headers={"cache-control": "no-store"})

    async def api_span(request: Request) -> Response:
        """One span's whole record (attributes, events, resource): what the page shows when it is selected."""
        store = await store_of(request)
        trace_id, span_id = request.path_params["trace_id"], request.path_params["span_id"]
        span = await run_in_threadpool(store.get_span, trace_id, span_id)
        if span is None:
            return _json_error(404, f"no span {span_id} in trace {trace_id}")
        return _JSResponse({"span": span}, headers={"cache-control": "no-store"})

    async def api_trace_otlp(request: Request) -> Response:
        store = await store_of(request)
        trace_id = request.path_params["trace_id"]
        records = await run_in_threadpool(store.get_trace, trace_id)
        if not records:
            return _json_error(404, f"no trace {trace_id}")
        text, left_out = await run_in_threadpool(otlp_json, records)
        name = "".join(c for c in trace_id if c in "0123456789abcdefABCDEF") or "trace"
        headers = {
            "cache-control": "no-store",
            "content-disposition": f'attachment; filename="trace-{name}.otlp.json"',
            "x-spyglass-running-spans-left-out": str(left_out),
        }
        return Response(text, media_type="application/json", headers=headers)

    async def api_delete_trace(request: Request) -> Response:
        if not token_ok(request, token):
            return _json_error(403, "missing or wrong X-Spyglass-Token")
        store = await store_of(request)
        deleted = await run_in_threadpool(store.delete_trace, request.path_params["trace_id"])
        if not deleted:
            return _json_error(404, "no such trace")
        return _JSResponse({"deleted": True})

    async def api_clear(request: Request) -> Response:
        if not token_ok(request, token):
            return _json_error(403, "missing or wrong X-Spyglass-Token")
        store = await store_of(request)
        await run_in_threadpool(store.clear)
        return _JSResponse({"cleared": True})

    async def api_models(request: Request) -> Response:
        store = await store_of(request)
        return _JSResponse({"models": await run_in_threadpool(_models_with_unknown_costs, store)})

    async def api_stats(request: Request) -> Response:
        store = await store_of(request)
        return _JSResponse({**await run_in_threadpool(store.stats), "path": str(handle.path)})

    async def api_losses(request: Request) -> Response:
        store = await store_of(request)
        return _JSResponse({"losses": await run_in_threadpool(store.losses)})

    async def api_events(request: Request) -> Response:
        store = await store_of(request)
        where = _filter_from(request)
        start = request.headers.get("last-event-id") or request.query_params.get("cursor")
        cursor = _parse_int(start, "cursor") if start else await run_in_threadpool(store.current_cursor)
        return StreamingResponse(
            _event_stream(handle, where, cursor, poll_seconds),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def store_error(request: Request, exc: Exception) -> Response:
        handle.reset()
        message = str(exc)
        if request.url.path.startswith("/api/"):
            return _json_error(503, message)
        return page(request, "message.html", 503, title="The store cannot be read", message=message)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            return _json_error(exc.status_code, exc.detail)
        title = "Not found" if exc.status_code == 404 else f"Error {exc.status_code}"
        return page(request, "message.html", exc.status_code, title=title, message=exc.detail)

    async def filter_error(request: Request, exc: Exception) -> Response:
        return _json_error(400, str(exc))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        handle.close()

    from spyglass.viewer._thread_views import thread_routes  # it takes the helpers below from this module

    routes: list[BaseRoute] = [
        *extra_routes,
        *thread_routes(
            page,
            store_of,
            json_response=_JSResponse,
            json_error=_json_error,
            int_param=_int_param,
            max_page=_MAX_PAGE,
        ),
        Route("/", list_view),
        Route("/models", models_view),
        Route("/trace/{trace_id}", trace_view),
        Route("/api/traces", api_traces),
        Route("/api/traces/{trace_id}", api_trace),
        Route("/api/traces/{trace_id}", api_delete_trace, methods=["DELETE"]),
        Route("/api/traces/{trace_id}/otlp", api_trace_otlp),
        Route("/api/traces/{trace_id}/spans/{span_id}", api_span),
        Route("/api/clear", api_clear, methods=["POST"]),
        Route("/api/models", api_models),
        Route("/api/stats", api_stats),
        Route("/api/losses", api_losses),
        Route("/api/events", api_events),
        *write_routes(handle, token=token, allowed_hosts=allowed_hosts, allow_replay=allow_replay),
        Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityMiddleware, allowed_hosts=allowed_hosts)],
        exception_handlers={StoreError: store_error, HTTPException: http_error, FilterError: filter_error},
        lifespan=lifespan,
    )
    app.state.store = handle
    return app


async def _event_stream(
    handle: StoreHandle, where: TraceFilter, cursor: int, poll_seconds: float
) -> AsyncIterator[str]:
    """Server-sent events: `changes` with the traces written since the cursor that belong in this view."""
    yield "retry: 2000\n\n"
    idle = 0.0
    while True:
        try:
            payload = await run_in_threadpool(_changes_for, handle, where, cursor)
        except StoreError as exc:
            handle.reset()
            yield f"event: store-error\ndata: {json.dumps({'message': str(exc)})}\n\n"
            await anyio.sleep(max(poll_seconds, 2.0))
            continue
        if payload is not None:
            cursor = payload["cursor"]
            yield f"id: {cursor}\nevent: changes\ndata: {json.dumps(_js_safe(payload))}\n\n"
            idle = 0.0
            if payload["more"]:
                continue
        elif idle >= _KEEPALIVE_SECONDS:
            yield ": keepalive\n\n"
            idle = 0.0
        waited_since = anyio.current_time()
        await handle.wait_for_change(poll_seconds)  # a PostgreSQL store wakes it when a writer commits
        idle += anyio.current_time() - waited_since


def _changes_for(handle: StoreHandle, where: TraceFilter, cursor: int) -> dict[str, Any] | None:
    store = handle.get()
    changes = store.changes_since(cursor, limit=200)
    if changes["cursor"] == cursor and not changes["traces"] and not changes["deleted"]:
        return None
    shown: list[TraceSummary] = []
    removed = list(changes["deleted"])
    for trace in changes["traces"]:
        if where.is_empty() or where.matches(store, trace):
            shown.append(trace)
        else:
            removed.append(trace["trace_id"])  # it may have stopped matching (a pending trace failed...)
    return {
        "cursor": changes["cursor"],
        "traces": shown,
        "removed": removed,
        "cleared": changes["cleared"],
        "more": changes["more"],
    }


def _models_with_unknown_costs(store: SpanStore) -> list[dict[str, Any]]:
    """`model_summary()` with `cost_usd` None where no call of the model has a known cost.

    The store sums costs with SQL `total()`, so a model no price was known for reads 0.0; one trace with a
    cost (`min_cost=0` skips traces whose cost is NULL) tells a real $0 from "unknown".
    """
    models: list[dict[str, Any]] = []
    for stats in store.model_summary():
        unknown = not stats["cost_usd"] and not store.list_traces(1, model=stats["model"], min_cost=0)
        models.append({**stats, "cost_usd": None if unknown else stats["cost_usd"]})
    return models


def _filter_from(request: Request) -> TraceFilter:
    return TraceFilter.from_params(request.query_params)


def _int_param(request: Request, name: str, default: int | None, *, upper: int | None = None) -> Any:
    raw = request.query_params.get(name)
    if not raw:
        return default
    value = _parse_int(raw, name)
    return min(value, upper) if upper is not None else value


def _parse_int(raw: str, name: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise FilterError(f"{name} must be an integer, got {raw!r}") from None


def _js_safe(value: Any) -> Any:
    """Integers JavaScript cannot hold exactly (nanosecond timestamps) become decimal strings."""
    if isinstance(value, dict):
        return {key: _js_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_js_safe(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > JS_SAFE_INTEGER:
        return str(value)
    return value


class _JSResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return super().render(_js_safe(content))


def _json_error(status: int, message: str) -> JSONResponse:
    return _JSResponse({"error": message}, status_code=status, headers={"cache-control": "no-store"})
