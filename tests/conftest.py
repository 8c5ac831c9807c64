"""Shared fixtures: spans captured in memory, and a real local OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

import spyglass
from spyglass.demo.server import DemoServer, create_app, serve
from spyglass.testing import CapturedSpans, capture_spans

sys.path.insert(0, str(Path(__file__).parent))  # tests/recordings.py, tests/openai_api.py

from openai_api import Api


@pytest.fixture
def captured() -> Iterator[CapturedSpans]:
    with capture_spans() as captured:
        yield captured


@pytest.fixture(scope="session")
def server() -> Iterator[DemoServer]:
    with serve() as running:
        yield running


@pytest.fixture(scope="session")
def strict_server() -> Iterator[DemoServer]:
    """A server that rejects `stream_options`, as some OpenAI-compatible servers do."""
    with serve(create_app(reject_stream_options=True)) as running:
        yield running


@pytest.fixture
def client(server: DemoServer, captured: CapturedSpans) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key="sk-test-key", base_url=server.base_url, max_retries=0) as client:
        with spyglass.instrument_openai(client):
            yield client


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest, server: DemoServer, captured: CapturedSpans) -> Api:
    return Api(request.param, server.base_url)
