"""The recordings replayer: every cassette loads, and replays go through the real `openai` SDK intact."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anyio
import openai
import pytest

from recordings import cassette_names, load_cassette, recordings_dir, replay

ALL_CASSETTES = cassette_names()


@pytest.fixture
def client_for() -> Iterator[object]:
    clients: list[openai.OpenAI] = []

    def make(base_url: str) -> openai.OpenAI:
        client = openai.OpenAI(api_key="test", base_url=base_url, max_retries=0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_recordings_folder_is_found() -> None:
    assert (recordings_dir() / "README.md").is_file()
    assert len(ALL_CASSETTES) >= 80
    assert {name.split("/")[0] for name in ALL_CASSETTES} == {"otel-contrib", "openllmetry"}


def test_recordings_live_in_the_repository_with_their_licences() -> None:
    tests_dir = Path(__file__).resolve().parent
    assert recordings_dir().is_relative_to(tests_dir)
    for folder in ("otel-contrib", "openllmetry"):
        assert "Apache License" in (recordings_dir() / folder / "LICENSE").read_text()
    readme = (recordings_dir() / "README.md").read_text()
    assert "466ae4c" in readme and "93429cf" in readme


@pytest.mark.parametrize("name", ALL_CASSETTES)
def test_every_cassette_loads(name: str) -> None:
    interactions = load_cassette(name)
    assert interactions
    for interaction in interactions:
        assert interaction.method in {"GET", "POST"}
        assert interaction.route.startswith("/")
        response = interaction.response
        assert 200 <= response.status < 600
        if response.content_type.startswith("application/json"):
            assert isinstance(response.json(), dict)
        if response.is_stream:
            assert response.body.startswith((b"data: ", b"event: "))


def test_gzip_bodies_are_decompressed() -> None:
    [interaction, *_] = load_cassette("openllmetry/test_prompt_caching__test_openai_prompt_caching.yaml")
    assert interaction.response.json()["object"] == "chat.completion"


def test_sync_chat(client_for) -> None:
    name = "otel-contrib/test_chat_completion_with_content.yaml"
    [recorded] = load_cassette(name)
    expected = recorded.response.json()
    with replay(name) as server:
        client = client_for(server.base_url)
        raw = client.chat.completions.with_raw_response.create(**recorded.request_json())
        completion = raw.parse()
        assert raw.headers["x-request-id"] == recorded.response.headers["x-request-id"]
        assert server.requests[0].body == recorded.request_json()
        assert server.unused == []
    assert completion.id == expected["id"]
    assert completion.model == expected["model"]
    assert completion.choices[0].message.content == expected["choices"][0]["message"]["content"]
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == expected["usage"]["prompt_tokens"]
    assert completion.usage.completion_tokens == expected["usage"]["completion_tokens"]


def test_cached_tokens_from_a_gzip_recording(client_for) -> None:
    name = "openllmetry/test_prompt_caching__test_openai_prompt_caching.yaml"
    interactions = load_cassette(name)
    with replay(name) as server:
        client = client_for(server.base_url)
        completions = [client.chat.completions.create(**i.request_json()) for i in interactions]
    cached = [c.usage.prompt_tokens_details.cached_tokens for c in completions]  # type: ignore[union-attr]
    assert cached == [
        i.response.json()["usage"]["prompt_tokens_details"]["cached_tokens"] for i in interactions
    ]
    assert 1024 in cached


def test_streaming_chat_with_usage_chunk(client_for) -> None:
    name = "otel-contrib/test_chat_completion_streaming.yaml"
    [recorded] = load_cassette(name)
    with replay(name) as server:
        client = client_for(server.base_url)
        chunks = list(client.chat.completions.create(**recorded.request_json()))
    assert {chunk.id for chunk in chunks} == {"chatcmpl-ASYMZ4oSykiIFK4lXLReDiKyAjsQl"}
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == '"This is a test."'
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (12, 5)
    assert all(c.usage is None for c in chunks[:-1])


def test_streaming_chat_without_usage_chunk(client_for) -> None:
    name = "otel-contrib/test_chat_completion_streaming_not_complete.yaml"
    [recorded] = load_cassette(name)
    with replay(name) as server:
        client = client_for(server.base_url)
        chunks = list(client.chat.completions.create(**recorded.request_json()))
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "This is a test."


def test_streamed_parallel_tool_calls(client_for) -> None:
    name = "otel-contrib/test_chat_completion_multiple_tools_streaming_with_content.yaml"
    [recorded] = load_cassette(name)
    with replay(name) as server:
        client = client_for(server.base_url)
        chunks = list(client.chat.completions.create(**recorded.request_json()))
    arguments: dict[int, str] = {}
    ids: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                ids.setdefault(call.index, call.id or "")
                arguments[call.index] = arguments.get(call.index, "") + (call.function.arguments or "")
    assert ids == {0: "call_fHCjJqt9Pysde6vcJcvbXGBx", 1: "call_3J9foSw3CUb48lrqIXoTky6U"}
    assert [json.loads(arguments[i])["location"] for i in (0, 1)] == ["Seattle, WA", "San Francisco, CA"]


def test_async_streaming_multiple_choices() -> None:
    name = "otel-contrib/test_async_chat_completion_multiple_choices_streaming.yaml"
    [recorded] = load_cassette(name)

    async def main() -> set[int]:
        with replay(name) as server:
            client = openai.AsyncOpenAI(api_key="test", base_url=server.base_url, max_retries=0)
            async with client:
                stream = await client.chat.completions.create(**recorded.request_json())
                return {choice.index async for chunk in stream for choice in chunk.choices}

    assert anyio.run(main) == {0, 1}


def test_embeddings(client_for) -> None:
    name = "otel-contrib/test_embeddings_with_content.yaml"
    [recorded] = load_cassette(name)
    expected = recorded.response.json()
    with replay(name) as server:
        client = client_for(server.base_url)
        result = client.embeddings.create(**recorded.request_json())
    assert result.model == expected["model"]
    assert result.usage.prompt_tokens == expected["usage"]["prompt_tokens"]
    assert result.data[0].embedding == expected["data"][0]["embedding"]


def test_model_not_found(client_for) -> None:
    name = "otel-contrib/test_chat_completion_404.yaml"
    [recorded] = load_cassette(name)
    with replay(name) as server:
        client = client_for(server.base_url)
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.create(**recorded.request_json())
    assert caught.value.status_code == 404
    assert caught.value.code == "model_not_found"
    assert caught.value.request_id == recorded.response.headers["x-request-id"]


def test_responses_stream(client_for) -> None:
    name = "otel-contrib/test_responses_create_streaming[content_mode0].yaml"
    [recorded] = load_cassette(name)
    with replay(name) as server:
        client = client_for(server.base_url)
        events = list(client.responses.create(**recorded.request_json()))
    assert events[0].type == "response.created"
    completed = events[-1]
    assert completed.type == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert completed.response.id == "resp_0415a3de5d3015560069e2f3f4b3088192949253e91aff1eb3"
    assert completed.response.output_text == "This is a test."
    assert completed.response.usage is not None
    assert (completed.response.usage.input_tokens, completed.response.usage.output_tokens) == (22, 6)


def test_responses_reasoning_replays_in_order(client_for) -> None:
    name = "openllmetry/test_responses__test_responses_reasoning.yaml"
    interactions = load_cassette(name)
    with replay(name) as server:
        client = client_for(server.base_url)
        results = [client.responses.create(**i.request_json()) for i in interactions]
    assert [r.id for r in results] == [i.response.json()["id"] for i in interactions]
    assert [r.usage.output_tokens_details.reasoning_tokens for r in results] == [320, 64]  # type: ignore[union-attr]


def test_unmatched_request_names_the_cassette(client_for) -> None:
    name = "otel-contrib/test_chat_completion_with_content.yaml"
    [recorded] = load_cassette(name)
    with replay(name) as server:
        client = client_for(server.base_url)
        client.chat.completions.create(**recorded.request_json())
        with pytest.raises(openai.InternalServerError, match=r"test_chat_completion_with_content\.yaml"):
            client.chat.completions.create(**recorded.request_json())
        with pytest.raises(openai.InternalServerError, match="No recorded interaction"):
            client.embeddings.create(model="text-embedding-3-small", input="x")
