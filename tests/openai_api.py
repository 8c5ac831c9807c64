"""`Api`: the same OpenAI call through a sync or an async client, so one test body covers both."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import openai

import spyglass


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
