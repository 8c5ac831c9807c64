"""Fixtures for the OTLP tests: a store path and a receiver serving it on a free local port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from otlp_helpers import RunningReceiver, running_receiver


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "received.sqlite"


@pytest.fixture
def receiver(store_path: Path) -> Iterator[RunningReceiver]:
    with running_receiver(store_path) as running:
        yield running
