"""`POST /v1/chat/completions`: canned chat answers, as one JSON body or as a stream of chunks.

The answer depends only on the request: a tool call when tools are offered and the user spoke last, a
reply quoting the tool result when a `tool` message is last, JSON valid for the schema when
`response_format` asks for it, and otherwise a sentence quoting the user's last message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spyglass.demo._faults import MIDSTREAM_ERROR
from spyglass.demo._schema import example_for_schema
from spyglass.demo._sse import EventStream, data_frame
from spyglass.demo._util import (
    CREATED,
    PER_MESSAGE_TOKENS,
    SYSTEM_FINGERPRINT,
    answer_key,
    cached_tokens,
    canned_answer,
    count_tokens,
    dumps,
    make_id,
    reasoning_tokens,
    split_chars,
    split_words,
    text_of,
    tool_result_answer,
    truncate_tokens,
)


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ChatChoice:
    index: int
    content: str | None
    tool_call: ToolCall | None
    finish_reason: str


Body = dict[str, Any]


def chat_completion(body: Body) -> Body:
    """The non-streamed `chat.completion` object."""
    choices = plan_choices(body)
    result: Body = {
        **_header(body, "chat.completion"),
        "choices": [_choice_json(choice) for choice in choices],
        "usage": usage(body, choices),
    }
    if body.get("service_tier"):
        result["service_tier"] = _service_tier(body)
    result["system_fingerprint"] = SYSTEM_FINGERPRINT
    return result


def chat_stream(body: Body) -> EventStream:
    """The `chat.completion.chunk` events of a streamed answer (without `[DONE]`)."""
    choices = plan_choices(body)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    per_choice = [_deltas(choice) for choice in choices]
    chunks = []
    # n>1 streams interleave the choices, one delta of each in turn, as the real API does.
    for step in range(max(len(deltas) for deltas in per_choice)):
        for choice, deltas in zip(choices, per_choice, strict=True):
            if step < len(deltas):
                delta, finish = deltas[step]
                chunks.append(_chunk(body, [_chunk_choice(choice.index, delta, finish)], include_usage))
    if include_usage:
        chunks.append({**_chunk(body, [], include_usage=False), "usage": usage(body, choices)})
    return EventStream(
        [data_frame(chunk) for chunk in chunks],
        error_frame=lambda _position: data_frame(MIDSTREAM_ERROR.body()),
        terminator=b"data: [DONE]\n\n",
    )


def plan_choices(body: Body) -> list[ChatChoice]:
    """What each of the `n` choices answers."""
    messages = body.get("messages") or []
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    tool_name, tool_schema = _tool_to_call(body, last)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    choices = []
    for index in range(max(1, int(body.get("n") or 1))):
        if tool_name is not None:
            arguments = dumps(example_for_schema(tool_schema))
            call = ToolCall(
                make_id("call_", "call", answer_key(body), index, length=24), tool_name, arguments
            )
            choices.append(ChatChoice(index, None, call, "tool_calls"))
            continue
        text = _answer_text(body, messages, last, index)
        finish = "stop"
        if isinstance(limit, int) and count_tokens(text) > limit:
            text, finish = truncate_tokens(text, limit), "length"
        choices.append(ChatChoice(index, text, None, finish))
    return choices


def usage(body: Body, choices: list[ChatChoice]) -> Body:
    prompt = prompt_tokens(body)
    reasoning = reasoning_tokens(body.get("reasoning_effort"))
    completion = reasoning + sum(_choice_tokens(choice) for choice in choices)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached_tokens(prompt), "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def prompt_tokens(body: Body) -> int:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    tokens = sum(PER_MESSAGE_TOKENS + count_tokens(text_of(m.get("content"))) for m in messages)
    if body.get("tools"):
        tokens += count_tokens(dumps(body["tools"]))
    return tokens


def _choice_tokens(choice: ChatChoice) -> int:
    if choice.tool_call is not None:
        return count_tokens(choice.tool_call.name) + count_tokens(choice.tool_call.arguments)
    return count_tokens(choice.content or "")


def _tool_to_call(body: Body, last: Body) -> tuple[str | None, Any]:
    """The function to call (name and parameters schema), or `(None, None)` to answer with text."""
    tools = [
        t for t in body.get("tools") or [] if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    choice = body.get("tool_choice")
    if not tools or last.get("role") != "user" or choice == "none":
        return None, None
    functions = [t["function"] for t in tools]
    chosen = functions[0]
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        wanted = choice["function"].get("name")
        chosen = next((f for f in functions if f.get("name") == wanted), chosen)
    return str(chosen.get("name", "tool")), chosen.get("parameters") or {}


def _answer_text(body: Body, messages: list[Any], last: Body, index: int) -> str:
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return dumps(example_for_schema((response_format.get("json_schema") or {}).get("schema")))
    if last.get("role") == "tool":
        return tool_result_answer(text_of(last.get("content")))
    prompt = _last_user_text(messages)
    if response_format.get("type") == "json_object":
        return dumps({"answer": canned_answer(prompt, index)})
    return canned_answer(prompt, index)


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def _header(body: Body, kind: str) -> Body:
    return {
        "id": make_id("chatcmpl-", "chat", answer_key(body)),
        "object": kind,
        "created": CREATED,
        "model": str(body.get("model", "")),
    }


def _service_tier(body: Body) -> str:
    tier = str(body.get("service_tier"))
    return "default" if tier == "auto" else tier


def _choice_json(choice: ChatChoice) -> Body:
    message: Body = {"role": "assistant", "content": choice.content, "refusal": None, "annotations": []}
    if choice.tool_call is not None:
        call = choice.tool_call
        message["tool_calls"] = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
        ]
    return {
        "index": choice.index,
        "message": message,
        "logprobs": None,
        "finish_reason": choice.finish_reason,
    }


def _deltas(choice: ChatChoice) -> list[tuple[Body, str | None]]:
    """The successive `(delta, finish_reason)` of one choice."""
    if choice.tool_call is not None:
        call = choice.tool_call
        opening = {
            "tool_calls": [
                {
                    "index": 0,
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": ""},
                }
            ]
        }
        fragments = [
            ({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}, None)
            for part in split_chars(call.arguments)
        ]
        return [
            ({"role": "assistant", "content": None}, None),
            (opening, None),
            *fragments,
            ({}, "tool_calls"),
        ]
    pieces = [({"content": piece}, None) for piece in split_words(choice.content or "")]
    return [
        ({"role": "assistant", "content": "", "refusal": None}, None),
        *pieces,
        ({}, choice.finish_reason),
    ]


def _chunk_choice(index: int, delta: Body, finish_reason: str | None) -> Body:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def _chunk(body: Body, choices: list[Body], include_usage: bool) -> Body:
    chunk = _header(body, "chat.completion.chunk")
    if body.get("service_tier"):
        chunk["service_tier"] = _service_tier(body)
    chunk["system_fingerprint"] = SYSTEM_FINGERPRINT
    chunk["choices"] = choices
    if include_usage:
        chunk["usage"] = None
    return chunk
