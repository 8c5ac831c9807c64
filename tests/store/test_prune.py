"""Pruning: the oldest whole traces go, by age of their last activity or by the size of the store."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pg_cluster import both_backends  # noqa: F401  # `store_path`: every test on both backends
from store_helpers import Tracing

from spyglass.store import SpanStore

HOUR_NS = 3600 * 10**9


def _old_trace(tracing: Tracing, name: str, *, ages_hours: list[float]) -> None:
    """A root and children whose spans ended `ages_hours` ago."""
    now = time.time_ns()
    root_start = now - int(max(ages_hours) * HOUR_NS) - 1000
    root = tracing.tracer.start_span(name, start_time=root_start)
    context = __import__("opentelemetry.trace", fromlist=["set_span_in_context"]).set_span_in_context(root)
    for index, age in enumerate(ages_hours):
        end = now - int(age * HOUR_NS)
        child = tracing.tracer.start_span(f"{name} step {index}", context=context, start_time=end - 1000)
        child.end(end_time=end)
    root.end(end_time=now - int(min(ages_hours) * HOUR_NS))


def _assert_whole(store: SpanStore) -> None:
    for trace in store.list_traces(limit=10_000):
        assert len(store.get_trace(trace["trace_id"])) == trace["span_count"]


def test_max_age_removes_whole_traces_idle_for_longer(
    make_tracing: Callable[..., Tracing], open_store: Callable[..., SpanStore]
) -> None:
    tracing = make_tracing(max_age=3600, prune_interval=0)
    _old_trace(tracing, "two days old", ages_hours=[50, 48])
    _old_trace(tracing, "three hours old", ages_hours=[3, 3])
    _old_trace(tracing, "started long ago, active now", ages_hours=[30, 0.01])
    _old_trace(tracing, "fresh", ages_hours=[0.1])
    tracing.flush()
    tracing.flush()  # the writer prunes after the batch that the first flush committed

    store = open_store()
    assert [trace["root_name"] for trace in store.list_traces()] == ["fresh", "started long ago, active now"]
    _assert_whole(store)
    assert store.stats()["spans"] == 2 + 3


def test_max_bytes_keeps_the_newest_whole_traces_within_the_limit(
    make_tracing: Callable[..., Tracing], open_store: Callable[..., SpanStore], store_path: Path | str
) -> None:
    max_bytes = 1_000_000
    tracing = make_tracing(max_bytes=max_bytes, prune_interval=0, batch_size=50)
    filler = "lorem ipsum dolor sit amet " * 80  # ~2 kB per prompt, stored in attributes and in the index
    for index in range(300):
        with tracing.user_span(f"job {index}"):
            tracing.llm_span(f"{index} {filler}")
            tracing.llm_span(f"{index} again {filler}")
        if index % 50 == 49:
            tracing.flush()
    tracing.flush()
    tracing.flush()

    store = open_store()
    assert store.stats()["bytes"] <= max_bytes
    names = [trace["root_name"] for trace in store.list_traces(limit=1000)]
    assert 10 < len(names) < 300
    assert names == [f"job {index}" for index in range(299, 299 - len(names), -1)]  # the newest, in order
    _assert_whole(store)
    tracing.shutdown()
    store.close()
    if isinstance(store_path, Path):  # PostgreSQL reuses freed space rather than shrinking its files
        assert store_path.stat().st_size <= max_bytes * 1.2  # freed pages went back to the file system


def test_span_store_prune(tracing: Tracing, open_store: Callable[..., SpanStore]) -> None:
    _old_trace(tracing, "old", ages_hours=[10])
    _old_trace(tracing, "new", ages_hours=[0.5])
    tracing.flush()
    store = open_store()
    assert store.prune(max_age=3600) == 1
    assert [trace["root_name"] for trace in store.list_traces()] == ["new"]
    assert store.changes_since(0)["deleted"] != []
