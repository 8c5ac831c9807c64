"""Shared fixtures: spans captured in memory, and a real local OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

import spyglass
from spyglass.demo.server import DemoServer, create_app, serve
from spyglass.testing import CapturedSpans, capture_spans

sys.path.insert(0, str(Path(__file__).parent))  # tests/recordings.py and other test helpers


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


class Api:
    """Runs the same call through a sync or an async client, so one test body covers both."""

    def __init__(self, mode: str, base_url: str, **client_kwargs: Any) -> None:
        self.mode = mode
        self.base_url = base_url
        self.client_kwargs = {"api_key": "sk-test-key", "max_retries": 0, **client_kwargs}

    def call(self, method: Callable[[Any], Any], **kwargs: Any) -> Any:
        """`method(client)(**kwargs)`; for a stream, read it to the end and return its chunks."""
        return self.run(lambda client: method(client)(**kwargs), consume=True)

    def run(self, action: Callable[[Any], Any], consume: bool = False) -> Any:
        if self.mode == "sync":
            with openai.OpenAI(base_url=self.base_url, **self.client_kwargs) as client:
                with spyglass.instrument_openai(client):
                    result = action(client)
                    if consume and isinstance(result, openai.Stream):
                        return list(result)
                    return result

        async def main() -> Any:
            async with openai.AsyncOpenAI(base_url=self.base_url, **self.client_kwargs) as client:
                with spyglass.instrument_openai(client):
                    result = action(client)
                    if inspect.isawaitable(result):
                        result = await result
                    if consume and isinstance(result, openai.AsyncStream):
                        return [chunk async for chunk in result]
                    return result

        return asyncio.run(main())


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest, server: DemoServer, captured: CapturedSpans) -> Api:
    return Api(request.param, server.base_url)
