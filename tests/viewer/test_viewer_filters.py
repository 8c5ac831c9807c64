"""The live stream's filter checks agree with the store's own filters, trace by trace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from viewer_helpers import Tracing

from spyglass.store import SpanStore
from spyglass.viewer._filters import TraceFilter


@pytest.fixture
def store(filled_store: Path, tracing: Tracing) -> Iterator[SpanStore]:
    tracing.chat_trace("Café crème", prompt="Où est le café? Crème brûlée", answer="Ici.")
    tracing.flush()
    with SpanStore(filled_store, readonly=True) as store:
        yield store


@pytest.mark.parametrize(
    "params",
    [
        {"q": "sunny"},
        {"q": "weather par"},
        {"q": "cafe creme"},
        {"q": "BRULEE"},
        {"q": "geographer ask"},
        {"q": "paris", "status": "ok"},
        {"q": "nothing-like-this"},
        {"model": "gpt-4o", "min_tokens": "20"},
        {"status": "error"},
        {"service": "checkout", "min_cost": "0.0006"},
        {"attr": "error.type=model_not_found"},
    ],
)
def test_matches_agrees_with_list_traces(store: SpanStore, params: dict[str, str]) -> None:
    where = TraceFilter.from_params(params)
    everything = store.list_traces(limit=100)
    if where.attribute is None:
        expected = {trace["trace_id"] for trace in store.list_traces(limit=100, **where.store_kwargs())}
        assert {trace["trace_id"] for trace in everything if where.matches(store, trace)} == expected
    else:
        assert [trace["message"] for trace in everything if where.matches(store, trace)] == ["A failing call"]
