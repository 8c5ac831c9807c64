"""The viewer's threads: the thread list and a thread's page, their JSON API, and a thread as OTLP JSON.

A thread is the traces of one conversation (`SpanStore.list_threads`). Its page shows the model calls of
all its traces as one timeline, so the API sends those calls' spans only (not each trace's every span), for
at most `MAX_TRACES` traces; a trace's page asks for the calls of the `EARLIER_TRACES` traces before it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from spyglass.store import SpanRecord, SpanStore, TraceSummary
from spyglass.viewer._filters import FilterError, TraceFilter
from spyglass.viewer._otlp import otlp_json

MAX_TRACES = 500  # traces of one thread sent to its page at most (the newest are left out past it)
EARLIER_TRACES = 20  # traces before a trace whose calls its page compares with (`?before=`)

Page = Callable[..., Response]
StoreOf = Callable[[Request], Awaitable[SpanStore]]
JsonResponse = Callable[..., Response]


def thread_routes(
    page: Page,
    store_of: StoreOf,
    *,
    json_response: JsonResponse,
    json_error: Callable[[int, str], Response],
    int_param: Callable[..., Any],
    max_page: int,
) -> list[BaseRoute]:
    """The routes, given the app's own helpers (its page renderer, store and JSON responses)."""

    async def threads_view(request: Request) -> Response:
        await store_of(request)
        return page(request, "threads.html", page_name="threads")

    async def thread_view(request: Request) -> Response:
        store = await store_of(request)
        thread_id = request.path_params["thread_id"]
        summary = await run_in_threadpool(store.get_thread_summary, thread_id)
        if summary is None:
            raise HTTPException(
                404, f"There is no thread {thread_id} in this store (its traces may have been deleted)."
            )
        return page(request, "thread.html", page_name="thread", thread=summary)

    async def api_threads(request: Request) -> Response:
        store = await store_of(request)
        where = _thread_filter(request)
        limit = int_param(request, "limit", 50, upper=max_page)
        before = int_param(request, "before", None)

        def query() -> dict[str, Any]:
            cursor = store.current_cursor()  # before listing, so the stream misses nothing written meanwhile
            threads = store.list_threads(limit, before=before, **where.store_kwargs())
            next_before = threads[-1]["last_start_ns"] if len(threads) == limit else None
            return {"threads": threads, "next_before": next_before, "cursor": cursor}

        return json_response(await run_in_threadpool(query), headers={"cache-control": "no-store"})

    async def api_thread(request: Request) -> Response:
        store = await store_of(request)
        thread_id = request.path_params["thread_id"]
        before = int_param(request, "before", None)
        if (
            before is not None
        ):  # a trace's page: the calls just before it, for what changed since the last one
            calls = await run_in_threadpool(
                lambda: store.get_thread_calls(thread_id, traces=EARLIER_TRACES, before=before)
            )
            return json_response({"spans": calls}, headers={"cache-control": "no-store"})
        found = await run_in_threadpool(_thread_with_calls, store, thread_id)
        if found is None:
            return json_error(404, f"no thread {thread_id}")
        return json_response(found, headers={"cache-control": "no-store"})

    async def api_thread_otlp(request: Request) -> Response:
        store = await store_of(request)
        thread_id = request.path_params["thread_id"]

        def records() -> list[SpanRecord]:
            return [
                span for trace in store.get_thread(thread_id) for span in store.get_trace(trace["trace_id"])
            ]

        spans = await run_in_threadpool(records)
        if not spans:
            return json_error(404, f"no thread {thread_id}")
        text, left_out = await run_in_threadpool(otlp_json, spans)
        name = "".join(c for c in thread_id if c.isascii() and (c.isalnum() or c in "-_.")) or "thread"
        headers = {
            "cache-control": "no-store",
            "content-disposition": f'attachment; filename="thread-{name[:80]}.otlp.json"',
            "x-spyglass-running-spans-left-out": str(left_out),
        }
        return Response(text, media_type="application/json", headers=headers)

    return [
        Route("/threads", threads_view),
        Route("/thread/{thread_id:path}", thread_view),
        Route("/api/threads", api_threads),
        Route("/api/threads/{thread_id:path}/otlp", api_thread_otlp),
        Route("/api/threads/{thread_id:path}", api_thread),
    ]


def _thread_filter(request: Request) -> TraceFilter:
    where = TraceFilter.from_params(request.query_params)
    if where.attribute is not None:
        raise FilterError("attr filters traces, not threads: open the trace list to filter by an attribute")
    return where


def _thread_with_calls(store: SpanStore, thread_id: str) -> dict[str, Any] | None:
    """The thread, its traces (oldest first) and the spans of their model calls, read in one go."""
    cursor = store.current_cursor()
    summary = store.get_thread_summary(thread_id)
    if summary is None:
        return None
    traces: list[TraceSummary] = store.get_thread(thread_id)
    return {
        "thread": summary,
        "traces": traces[:MAX_TRACES],
        "left_out": max(len(traces) - MAX_TRACES, 0),
        "spans": store.get_thread_calls(thread_id, traces=MAX_TRACES),
        "cursor": cursor,
    }
