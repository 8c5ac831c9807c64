"""Real OpenAI responses, recorded by other projects, replayed through the instrumented SDK: what the spans
record must match what the recordings say (ids, models, token counts, finish reasons, tool calls, text)."""

from __future__ import annotations

import inspect
import json
from typing import Any

import openai
import pytest

import spyglass
from genai_schemas import assert_valid_messages
from recordings import cassette_names, load_cassette, replay

ENDPOINTS = {
    "/chat/completions": lambda c: c.chat.completions.create,
    "/embeddings": lambda c: c.embeddings.create,
    "/responses": lambda c: c.responses.create,
}


def replayable(name: str) -> bool:
    routes = {i.route for i in load_cassette(name) if i.method == "POST"}
    return bool(routes) and routes <= set(ENDPOINTS)


CASSETTES = [name for name in cassette_names() if replayable(name)]


def sse_payloads(body: bytes) -> list[dict[str, Any]]:
    payloads = []
    for line in body.decode().splitlines():
        if line.startswith("data:") and line[5:].strip() != "[DONE]":
            payloads.append(json.loads(line[5:]))
    return payloads


def expected_from_chat(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """What a chat response (or its stream chunks) says, in span terms."""
    texts: dict[int, str] = {}
    finish: dict[int, str] = {}
    tools: dict[int, dict[int, list[Any]]] = {}
    usage = None
    for payload in payloads:
        usage = payload.get("usage") or usage
        for choice in payload.get("choices", []):
            index = choice["index"]
            part = choice.get("delta") or choice.get("message") or {}
            texts[index] = texts.get(index, "") + (part.get("content") or "")
            if choice.get("finish_reason"):
                finish[index] = choice["finish_reason"]
            for call in part.get("tool_calls") or []:
                entry = tools.setdefault(index, {}).setdefault(
                    call.get("index", len(tools.get(index, {}))), [None, None, ""]
                )
                entry[0] = call.get("id") or entry[0]
                entry[1] = call["function"].get("name") or entry[1]
                entry[2] += call["function"].get("arguments") or ""
    expected: dict[str, Any] = {
        "gen_ai.response.id": payloads[0]["id"],
        "gen_ai.response.model": payloads[0]["model"],
        "gen_ai.response.finish_reasons": tuple(finish[i] for i in sorted(finish)),
        "texts": [texts[i] for i in sorted(texts)],
        "tool_calls": {
            i: [(c[0], c[1], json.loads(c[2])) for _, c in sorted(calls.items())]
            for i, calls in tools.items()
        },
    }
    if usage:
        expected["gen_ai.usage.input_tokens"] = usage["prompt_tokens"]
        expected["gen_ai.usage.output_tokens"] = usage["completion_tokens"]
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
        if cached is not None:
            expected["gen_ai.usage.cache_read.input_tokens"] = cached
    return expected


def expected_from_response(response: dict[str, Any]) -> dict[str, Any]:
    usage = response.get("usage") or {}
    expected = {
        "gen_ai.response.id": response["id"],
        "gen_ai.response.model": response["model"],
        "gen_ai.usage.input_tokens": usage.get("input_tokens"),
        "gen_ai.usage.output_tokens": usage.get("output_tokens"),
    }
    reasoning = (usage.get("output_tokens_details") or {}).get("reasoning_tokens")
    if reasoning:
        expected["gen_ai.usage.reasoning.output_tokens"] = reasoning
    texts = [
        c.get("text", "")
        for item in response.get("output", [])
        if item.get("type") == "message"
        for c in item.get("content", [])
        if c.get("type") == "output_text"
    ]
    expected["text"] = "".join(texts)
    expected["tool_calls"] = [
        (item["call_id"], item["name"], json.loads(item["arguments"]))
        for item in response.get("output", [])
        if item.get("type") == "function_call"
    ]
    return expected


def call_kwargs(method: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The recorded body as keyword arguments; ones this SDK version does not know go in `extra_body`."""
    known = set(inspect.signature(method).parameters)
    kwargs = {k: v for k, v in body.items() if k in known}
    extra = {k: v for k, v in body.items() if k not in known}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


def last_span(captured) -> dict[str, Any]:
    """The call's span: the one GenAI operation of the call (a stream's own span is only its streaming phase)."""
    spans = [s for s in captured.spans() if s["attributes"].get("spyglass.kind") == "llm"]
    return spans[-1]


def text_parts(span) -> list[str]:
    return [
        "".join(p["content"] for p in m["parts"] if p["type"] == "text")
        for m in span["attributes"].get("gen_ai.output.messages", [])
    ]


def tool_parts(span, index: int = 0) -> list[tuple[Any, Any, Any]]:
    messages = span["attributes"].get("gen_ai.output.messages", [])
    if len(messages) <= index:
        return []
    return [
        (p["id"], p["name"], p["arguments"]) for p in messages[index]["parts"] if p["type"] == "tool_call"
    ]


@pytest.mark.parametrize("name", CASSETTES)
def test_replayed_recording_is_recorded_faithfully(name, captured):
    with (
        replay(name) as server,
        openai.OpenAI(api_key="sk-replay", base_url=server.base_url, max_retries=0) as client,
    ):
        with spyglass.instrument_openai(client):
            for interaction in server.interactions:
                if interaction.route not in ENDPOINTS:
                    continue
                captured.clear()
                check_interaction(client, interaction)


def check_interaction(client: openai.OpenAI, interaction: Any) -> None:
    method = ENDPOINTS[interaction.route](client)
    body = interaction.request_json()
    response = interaction.response
    if response.status >= 400:
        error = response.json().get("error") or {}
        with pytest.raises(openai.APIStatusError) as raised:
            result = method(**call_kwargs(method, body))
        assert raised.value.status_code == response.status
        span = last_span(check_interaction.captured)
        assert span["status"] == "ERROR"
        assert span["attributes"]["error.type"] == (error.get("code") or type(raised.value).__qualname__)
        return
    result = method(**call_kwargs(method, body))
    if body.get("stream"):
        for _ in result:
            pass
    span = last_span(check_interaction.captured)
    attributes = span["attributes"]
    for finished in check_interaction.captured.finished():  # every span, before the next clear()
        assert_valid_messages(dict(finished.attributes or {}))
    if interaction.route == "/chat/completions":
        payloads = sse_payloads(response.body) if body.get("stream") else [response.json()]
        expected = expected_from_chat(payloads)
        assert text_parts(span) == expected.pop("texts")
        for index, calls in expected.pop("tool_calls").items():
            assert tool_parts(span, index) == calls
        if "gen_ai.usage.input_tokens" not in expected:  # a stream recorded without its usage chunk
            assert attributes["spyglass.usage.source"] == "unavailable"
    elif interaction.route == "/responses":
        if body.get("stream"):
            final = next(p for p in sse_payloads(response.body) if p.get("type") == "response.completed")
            expected = expected_from_response(final["response"])
        else:
            expected = expected_from_response(response.json())
        assert "".join(text_parts(span)) == expected.pop("text")
        assert tool_parts(span) == expected.pop("tool_calls")
    else:
        recorded = response.json()
        expected = {
            "gen_ai.response.model": recorded["model"],
            "gen_ai.usage.input_tokens": recorded["usage"]["prompt_tokens"],
        }
        vector = recorded["data"][0]["embedding"]
        if isinstance(vector, list):
            expected["gen_ai.embeddings.dimension.count"] = len(vector)
    for key, value in expected.items():
        assert attributes.get(key) == value, key
    assert span["status"] == "UNSET"


@pytest.fixture(autouse=True)
def _share_captured(captured):
    check_interaction.captured = captured  # type: ignore[attr-defined]
    yield
    del check_interaction.captured  # type: ignore[attr-defined]


def test_every_recording_of_a_covered_endpoint_is_replayed():
    assert len(CASSETTES) >= 70
