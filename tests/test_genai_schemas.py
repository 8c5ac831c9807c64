"""The schema check used by the OpenAI tests rejects what the GenAI conventions reject."""

from __future__ import annotations

import pytest

from genai_schemas import schema_errors

TEXT = {"type": "text", "content": "hi"}


def test_valid_messages_pass():
    assert (
        schema_errors(
            {
                "gen_ai.system_instructions": [TEXT],
                "gen_ai.input.messages": [
                    {"role": "system", "parts": [TEXT]},
                    {"role": "user", "parts": [TEXT]},
                ],
                "gen_ai.output.messages": '[{"role": "assistant", "parts": [], "finish_reason": "stop"}]',
            }
        )
        == []
    )


@pytest.mark.parametrize(
    ("attribute", "value", "expected"),
    [
        ("gen_ai.output.messages", [{"role": "assistant", "parts": [TEXT], "finish_reason": None}], "None"),
        ("gen_ai.output.messages", [{"role": "assistant", "parts": [TEXT]}], "finish_reason"),
        ("gen_ai.input.messages", [{"parts": [TEXT]}], "role"),
        (
            "gen_ai.input.messages",
            [{"role": "user", "parts": [{"type": "blob", "modality": "image"}]}],
            "content",
        ),
        (
            "gen_ai.input.messages",
            [{"role": "user", "parts": [{"type": "file", "modality": "image"}]}],
            "file_id",
        ),
        ("gen_ai.input.messages", [{"role": "user", "parts": [{"type": "tool_call", "name": None}]}], "name"),
        (
            "gen_ai.output.messages",
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "server_tool_call", "name": "web_search"}],
                    "finish_reason": "stop",
                }
            ],
            "server_tool_call",
        ),
        ("gen_ai.system_instructions", [{"content": "no type"}], "type"),
        ("gen_ai.input.messages", '[{"role": "user", "parts": [', "not JSON"),
    ],
)
def test_invalid_messages_are_reported(attribute, value, expected):
    errors = schema_errors({attribute: value})
    assert errors
    assert expected in "\n".join(errors)
