"""Other instrumentations' GenAI spans gain the docs/spans.md attributes, received over OTLP/JSON."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.sdk.trace import Event
from otlp_helpers import RunningReceiver, attributes, json_span, otlp_json, post_json

from spyglass.receiver import normalize


def _received(receiver: RunningReceiver, **fields: Any) -> dict[str, Any]:
    assert post_json(receiver.traces_url, otlp_json(json_span("llm call", **fields))).status == 200
    span = receiver.span("llm call")
    added = {
        key: value for key, value in span["attributes"].items() if not key.startswith(("llm.", "openinf"))
    }
    for key in ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"):
        if key in added:
            added[key] = json.loads(added[key])
    return added


def test_openinference_attributes(receiver: RunningReceiver) -> None:
    added = _received(
        receiver,
        attributes=attributes(
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o",
                "llm.provider": "openai",
                "llm.input_messages.0.message.role": "system",
                "llm.input_messages.0.message.content": "Be brief.",
                "llm.input_messages.1.message.role": "user",
                "llm.input_messages.1.message.contents.0.message_content.type": "text",
                "llm.input_messages.1.message.contents.0.message_content.text": "What is this?",
                "llm.input_messages.1.message.contents.1.message_content.type": "image",
                "llm.input_messages.1.message.contents.1.message_content.image.image.url": "https://x/cat.png",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_1",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "look",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"at": "cat"}',
                "llm.token_count.prompt": 30,
                "llm.token_count.completion": 5,
            }
        ),
    )
    assert added == {
        "gen_ai.operation.name": "chat",
        "gen_ai.system_instructions": [{"type": "text", "content": "Be brief."}],
        "gen_ai.input.messages": [
            {
                "role": "user",
                "parts": [
                    {"type": "text", "content": "What is this?"},
                    {"type": "uri", "modality": "image", "uri": "https://x/cat.png"},
                ],
            }
        ],
        "gen_ai.output.messages": [
            {
                "role": "assistant",
                "parts": [{"type": "tool_call", "id": "call_1", "name": "look", "arguments": {"at": "cat"}}],
            }
        ],
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.provider.name": "openai",
        "gen_ai.usage.input_tokens": 30,
        "gen_ai.usage.output_tokens": 5,
        "spyglass.kind": "llm",
        "spyglass.msg": "Chat Completion with 'gpt-4o'",
    }


def test_semantic_convention_events(receiver: RunningReceiver) -> None:
    def event(name: str, body: dict[str, Any]) -> dict[str, Any]:
        # Structured values arrive as JSON strings (or kvlists, which the receiver keeps as JSON).
        pairs = [
            {"key": key, "value": {"stringValue": value if isinstance(value, str) else json.dumps(value)}}
            for key, value in body.items()
        ]
        return {"name": name, "timeUnixNano": "1700000000100000000", "attributes": pairs}

    added = _received(
        receiver,
        attributes=attributes(
            {
                "gen_ai.system": "openai",
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
            }
        ),
        events=[
            event("gen_ai.system.message", {"content": "Be brief."}),
            event("gen_ai.user.message", {"content": "Weather in Paris?"}),
            event(
                "gen_ai.assistant.message",
                {
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
                    ]
                },
            ),
            event("gen_ai.tool.message", {"content": "sunny", "id": "c1"}),
            {
                "name": "gen_ai.choice",
                "timeUnixNano": "1700000000200000000",
                "attributes": [
                    {"key": "index", "value": {"intValue": "0"}},
                    {"key": "finish_reason", "value": {"stringValue": "stop"}},
                    {
                        "key": "message",
                        "value": {
                            "kvlistValue": {"values": attributes({"role": "assistant", "content": "Sunny."})}
                        },
                    },
                ],
            },
        ],
    )
    assert added == {
        "gen_ai.system": "openai",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.system_instructions": [{"type": "text", "content": "Be brief."}],
        "gen_ai.input.messages": [
            {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
            {
                "role": "assistant",
                "parts": [{"type": "tool_call", "id": "c1", "name": "weather", "arguments": {}}],
            },
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "sunny"}]},
        ],
        "gen_ai.output.messages": [
            {"role": "assistant", "parts": [{"type": "text", "content": "Sunny."}], "finish_reason": "stop"}
        ],
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.provider.name": "openai",
        "spyglass.kind": "llm",
        "spyglass.msg": "Chat Completion with 'gpt-4o-mini'",
    }


def test_openllmetry_tool_calls_and_older_usage_names() -> None:
    added = normalize(
        "openai.chat",
        {
            "llm.request.type": "chat",
            "gen_ai.system": "OpenAI",
            "gen_ai.request.model": "gpt-4",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": '[{"type": "text", "text": "Add 2 and 3"}]',
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.finish_reason": "tool_calls",
            "gen_ai.completion.0.tool_calls.0.id": "call_9",
            "gen_ai.completion.0.tool_calls.0.name": "add",
            "gen_ai.completion.0.tool_calls.0.arguments": '{"a": 2, "b": 3}',
            "gen_ai.usage.prompt_tokens": 11,
            "gen_ai.usage.completion_tokens": 7,
        },
    )
    assert {
        key: json.loads(value) if key.endswith("messages") else value for key, value in added.items()
    } == {
        "gen_ai.operation.name": "chat",
        "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "Add 2 and 3"}]}],
        "gen_ai.output.messages": [
            {
                "role": "assistant",
                "parts": [
                    {"type": "tool_call", "id": "call_9", "name": "add", "arguments": {"a": 2, "b": 3}}
                ],
                "finish_reason": "tool_calls",
            }
        ],
        "gen_ai.response.finish_reasons": ("tool_calls",),
        "gen_ai.provider.name": "OpenAI",
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 7,
        "spyglass.kind": "llm",
        "spyglass.msg": "Chat Completion with 'gpt-4'",
    }


def test_older_content_events_and_spans_that_are_not_llm_calls() -> None:
    prompt = Event(
        "gen_ai.content.prompt", {"gen_ai.prompt": json.dumps([{"role": "user", "content": "Hi"}])}
    )
    added = normalize("chat", {"gen_ai.operation.name": "chat"}, [prompt])
    assert json.loads(str(added["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": "Hi"}]}
    ]
    assert added["spyglass.msg"] == "Chat Completion"
    assert normalize("GET /", {"http.request.method": "GET"}) == {}
    assert normalize("execute_tool add", {"gen_ai.operation.name": "execute_tool"}) == {}
    assert normalize("ours", {"spyglass.kind": "span", "gen_ai.prompt.0.content": "x"}) == {}
