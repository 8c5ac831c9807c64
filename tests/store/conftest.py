"""Fixtures for the store tests: a store path, tracing into it, stores opened and closed for the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_cluster import cluster, pg_url
from store_helpers import Tracing

from spyglass.store import SpanStore
from spyglass.store._backends import open_store as open_any_store

__all__ = ["cluster", "pg_url"]  # fixtures for the tests run on both backends


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "traces.sqlite"


@pytest.fixture
def tracing(store_path: Path) -> Iterator[Tracing]:
    tracing = Tracing(store_path)
    yield tracing
    tracing.shutdown()


@pytest.fixture
def make_tracing(store_path: Path) -> Iterator[Callable[..., Tracing]]:
    made: list[Tracing] = []

    def make(path: Path | None = None, **options: Any) -> Tracing:
        made.append(Tracing(path or store_path, **options))
        return made[-1]

    yield make
    for tracing in made:
        tracing.shutdown()


@pytest.fixture
def open_store(store_path: Path) -> Iterator[Callable[..., SpanStore]]:
    opened: list[SpanStore] = []

    def open_(path: Path | None = None, **options: Any) -> SpanStore:
        opened.append(open_any_store(path or store_path, **options))
        return opened[-1]

    yield open_
    for store in opened:
        store.close()
