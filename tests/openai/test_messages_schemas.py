"""Whatever a request body holds, the messages spyglass records from it validate against the GenAI schemas."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from genai_schemas import schema_errors
from spyglass.integrations.openai._endpoints import CHAT, RESPONSES

LIMIT = 128 * 1024

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
part_types = st.sampled_from(
    [
        "text",
        "input_text",
        "image_url",
        "input_image",
        "input_audio",
        "file",
        "input_file",
        "refusal",
        "blob",
        None,
    ]
)
content_parts = st.fixed_dictionaries(
    {"type": part_types},
    optional={
        "text": scalars,
        "image_url": st.one_of(scalars, st.fixed_dictionaries({"url": scalars})),
        "file": st.dictionaries(st.sampled_from(["file_id", "filename", "file_data"]), scalars),
        "file_id": scalars,
        "file_url": scalars,
        "file_data": scalars,
        "input_audio": st.dictionaries(st.sampled_from(["data", "format"]), scalars),
    },
)
roles = st.sampled_from(["system", "developer", "user", "assistant", "tool", "function", ""]) | scalars
chat_messages = st.fixed_dictionaries(
    {"role": roles},
    optional={
        "content": scalars | st.lists(content_parts | json_values, max_size=4),
        "name": scalars,
        "tool_call_id": scalars,
        "refusal": scalars,
        "tool_calls": st.lists(
            st.fixed_dictionaries(
                {"id": scalars},
                optional={
                    "function": st.dictionaries(st.sampled_from(["name", "arguments"]), scalars),
                    "custom": json_values,
                },
            ),
            max_size=2,
        ),
        "function_call": st.dictionaries(st.sampled_from(["name", "arguments"]), scalars),
    },
)
item_types = st.sampled_from(
    [
        "message",
        "function_call",
        "function_call_output",
        "web_search_call",
        "computer_call",
        "reasoning",
        "mcp_call",
        None,
    ]
)
response_items = st.fixed_dictionaries(
    {"type": item_types},
    optional={
        "role": roles,
        "content": scalars | st.lists(content_parts, max_size=3),
        "call_id": scalars,
        "name": scalars,
        "arguments": scalars,
        "output": json_values,
        "action": json_values,
        "summary": st.lists(st.fixed_dictionaries({"text": st.text(max_size=10)}), max_size=2),
    },
)


def recorded(endpoint, body) -> dict:
    attributes: dict = {}
    endpoint.request(body, attributes, True, LIMIT)
    return attributes


@settings(max_examples=200, deadline=None)
@given(st.lists(chat_messages, max_size=6))
def test_any_chat_history_gives_valid_input_messages(messages):
    attributes = recorded(CHAT, {"model": "m", "messages": messages})
    assert schema_errors(attributes) == [], json.dumps(messages, default=str)[:2000]


@settings(max_examples=200, deadline=None)
@given(scalars, st.one_of(scalars, st.lists(response_items, max_size=6)))
def test_any_responses_input_gives_valid_messages(instructions, items):
    attributes = recorded(RESPONSES, {"model": "m", "instructions": instructions, "input": items})
    assert schema_errors(attributes) == [], json.dumps(items, default=str)[:2000]


statuses = st.sampled_from(["completed", "incomplete", "failed", "cancelled", "in_progress", None]) | scalars


@settings(max_examples=200, deadline=None)
@given(st.lists(response_items, max_size=6), statuses)
def test_any_responses_output_gives_valid_output_messages(items, status):
    attributes: dict = {}
    RESPONSES.response(
        {"id": "resp_1", "model": "m", "output": items, "status": status}, attributes, True, LIMIT
    )
    assert schema_errors(attributes) == [], json.dumps(items, default=str)[:2000]
    assert "None" not in attributes.get("gen_ai.response.finish_reasons", ())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.fixed_dictionaries({"message": chat_messages, "finish_reason": scalars}), max_size=3))
def test_any_chat_choices_give_valid_output_messages(choices):
    attributes: dict = {}
    CHAT.response({"id": "c", "model": "m", "choices": choices}, attributes, True, LIMIT)
    assert schema_errors(attributes) == [], json.dumps(choices, default=str)[:2000]
    assert all(
        isinstance(r, str) and r not in ("", "None")
        for r in attributes.get("gen_ai.response.finish_reasons", ())
    )
