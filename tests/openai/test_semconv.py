"""What the GenAI conventions define beyond the basics: reasoning level, conversation and previous response
ids, built-in tools as server tool calls, file parts, and the metrics of GenAI operations only."""

from __future__ import annotations

import base64
import hashlib
import json

import openai
import pytest
from openai.types.responses import Response

from genai_schemas import assert_valid_messages
from spyglass import _attribute_names as names
from spyglass.integrations.openai._endpoints import RESPONSES

MESSAGES = [
    {"role": "developer", "content": "Answer in one word."},
    {"role": "user", "content": "Capital of France?"},
]


def calls(captured):
    return [s for s in captured.spans() if names.OPERATION_NAME in s["attributes"]]


def test_chat_reasoning_effort_is_the_requested_reasoning_level(api, captured):
    api.call(lambda c: c.chat.completions.create, model="o3-mini", messages=MESSAGES, reasoning_effort="low")
    (call,) = calls(captured)
    assert call["attributes"]["gen_ai.request.reasoning.level"] == "low"
    # a developer message is part of the history: it stays in the input messages, with its role
    assert [m["role"] for m in call["attributes"]["gen_ai.input.messages"]] == ["developer", "user"]
    assert "gen_ai.system_instructions" not in call["attributes"]


def test_responses_reasoning_previous_response_and_conversation(api, captured):
    api.call(
        lambda c: c.responses.create,
        model="o3",
        instructions="Be brief.",
        input=[{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}],
        reasoning={"effort": "high"},
        previous_response_id="resp_0123456789",
    )
    api.call(lambda c: c.responses.create, model="o3", input="Hi again", conversation="conv_5j66UpCpwteGg4")
    first, second = calls(captured)
    assert first["attributes"]["gen_ai.request.reasoning.level"] == "high"
    assert first["attributes"]["gen_ai.request.previous_response.id"] == "resp_0123456789"
    # instructions are given apart from the history; the system item of `input` is history
    assert first["attributes"]["gen_ai.system_instructions"] == [{"type": "text", "content": "Be brief."}]
    assert [m["role"] for m in first["attributes"]["gen_ai.input.messages"]] == ["system", "user"]
    assert second["attributes"]["gen_ai.conversation.id"] == "conv_5j66UpCpwteGg4"
    assert "gen_ai.request.previous_response.id" not in second["attributes"]


def test_responses_conversation_object_gives_its_id(api, captured):
    api.call(lambda c: c.responses.create, model="o3", input="Hi", conversation={"id": "conv_abc"})
    (call,) = calls(captured)
    assert call["attributes"]["gen_ai.conversation.id"] == "conv_abc"


def test_file_and_image_parts_follow_the_schemas(api, captured):
    pdf = b"%PDF-1.4 a small document"
    data_url = "data:application/pdf;base64," + base64.b64encode(pdf).decode()
    api.call(
        lambda c: c.responses.create,
        model="gpt-4.1",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Summarise these"},
                    {"type": "input_file", "file_id": "file-abc", "filename": "a.pdf"},
                    {"type": "input_file", "file_url": "https://example.com/b.pdf"},
                    {"type": "input_file", "file_data": data_url, "filename": "c.pdf"},
                    {"type": "input_image", "file_id": "file-img", "detail": "auto"},
                ],
            }
        ],
    )
    (call,) = calls(captured)
    assert call["attributes"]["gen_ai.input.messages"][0]["parts"][1:] == [
        {"type": "file", "modality": "file", "file_id": "file-abc", "filename": "a.pdf"},
        {"type": "uri", "modality": "file", "uri": "https://example.com/b.pdf"},
        {
            "type": "blob_reference",  # inline bytes are never stored: their size and hash stand for them
            "modality": "file",
            "mime_type": "application/pdf",
            "size": len(pdf),
            "sha256": hashlib.sha256(pdf).hexdigest(),
            "filename": "c.pdf",
        },
        {"type": "file", "modality": "image", "file_id": "file-img"},
    ]


IMAGE = b"\x89PNG" + bytes(range(256)) * 200  # 51 kB

RESPONSE_WITH_BUILT_IN_TOOLS = {
    "id": "resp_tools",
    "object": "response",
    "created_at": 1_700_000_000,
    "model": "gpt-4.1-2025-04-14",
    "status": "completed",
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "output": [
        {
            "type": "web_search_call",
            "id": "ws_1",
            "status": "completed",
            "action": {"type": "search", "query": "weather in Paris"},
        },
        {
            "type": "file_search_call",
            "id": "fs_1",
            "status": "completed",
            "queries": ["refund policy"],
            "results": [{"file_id": "file-1", "filename": "policy.md", "score": 0.9, "text": "30 days"}],
        },
        {
            "type": "image_generation_call",
            "id": "ig_1",
            "status": "completed",
            "result": base64.b64encode(IMAGE).decode(),
        },
        {
            "type": "computer_call",
            "id": "cu_1",
            "call_id": "call_cu_1",
            "status": "completed",
            "pending_safety_checks": [],
            "action": {"type": "click", "button": "left", "x": 10, "y": 20},
        },
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Sunny, 24°C.", "annotations": []}],
        },
    ],
}


def test_built_in_responses_tools_are_server_tool_calls():
    response = Response.model_validate(RESPONSE_WITH_BUILT_IN_TOOLS)  # the SDK's own parsed object
    attributes: dict = {}
    RESPONSES.response(response, attributes, True, 128 * 1024)
    assert_valid_messages(attributes)
    (message,) = json.loads(attributes["gen_ai.output.messages"])
    web, files, files_result, image_call, image, computer, text = message["parts"]
    assert web == {
        "type": "server_tool_call",
        "id": "ws_1",
        "name": "web_search",
        "server_tool_call": {
            "type": "web_search",
            "status": "completed",
            "action": {"type": "search", "query": "weather in Paris"},
        },
    }
    assert files["name"] == "file_search"
    assert files["server_tool_call"]["queries"] == ["refund policy"]
    assert files_result == {
        "type": "server_tool_call_response",
        "id": "fs_1",
        "server_tool_call_response": {
            "type": "file_search",
            "results": [{"file_id": "file-1", "filename": "policy.md", "score": 0.9, "text": "30 days"}],
        },
    }
    assert image_call["name"] == "image_generation" and "result" not in image_call["server_tool_call"]
    # bigger than a detail may be: the size and hash are the whole image's
    assert image == {
        "type": "blob_reference",
        "modality": "image",
        "size": len(IMAGE),
        "sha256": hashlib.sha256(IMAGE).hexdigest(),
    }
    # the computer-use tool is run by the caller's code: a tool call, like a function call
    assert (
        computer["type"] == "tool_call" and computer["id"] == "call_cu_1" and computer["name"] == "computer"
    )
    assert computer["arguments"]["action"] == {"type": "click", "button": "left", "x": 10, "y": 20}
    assert text == {"type": "text", "content": "Sunny, 24°C."}
    assert message["finish_reason"] == "tool_call"


def test_metrics_only_for_genai_operations_and_time_per_chunk_for_streams(api, captured):
    api.call(lambda c: c.models.list)
    chunks = api.call(
        lambda c: c.chat.completions.create,
        model="gpt-4o",
        messages=[{"role": "user", "content": "Tell me a story"}],
        stream=True,
    )
    with pytest.raises(openai.NotFoundError):
        api.call(lambda c: c.files.retrieve, file_id="file-missing")
    metrics = captured.metrics()
    durations = metrics["gen_ai.client.operation.duration"]
    assert [p["attributes"]["gen_ai.operation.name"] for p in durations] == ["chat"]  # not models.list
    assert sum(p["count"] for p in durations) == 1
    (per_chunk,) = metrics["gen_ai.client.operation.time_per_output_chunk"]
    # one value per chunk after the first (spyglass asks for no usage chunk of its own)
    (stream,) = [s for s in captured.spans() if s["attributes"]["spyglass.kind"] == "llm_stream"]
    assert stream["attributes"]["spyglass.stream.chunk_count"] == len(chunks)
    assert per_chunk["count"] == len(chunks) - 1
    assert per_chunk["attributes"]["gen_ai.operation.name"] == "chat"
    assert per_chunk["bucket_boundaries"][:3] == (0.01, 0.02, 0.04)
    assert 0 <= per_chunk["sum"] <= (stream["end_time"] - stream["start_time"]) / 1e9
