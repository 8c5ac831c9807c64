"""`POST /v1/responses`: canned Responses-API answers, as one `response` object or as named SSE events.

`input` may be a string or a list of items. The answer is a `function_call` item when function tools are
offered and the user spoke last, a message quoting the tool output when a `function_call_output` item is
last, JSON text for a `text.format` of type `json_schema`, and otherwise a sentence quoting the user.
`reasoning` adds a `reasoning` output item and `output_tokens_details.reasoning_tokens`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spyglass.demo._faults import MIDSTREAM_ERROR
from spyglass.demo._schema import example_for_schema
from spyglass.demo._sse import EventStream, event_frame
from spyglass.demo._util import (
    CREATED,
    PER_MESSAGE_TOKENS,
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

Body = dict[str, Any]


@dataclass(frozen=True)
class _Plan:
    """What the response holds, before it is rendered as a body or as events."""

    reasoning_item: Body | None
    message_id: str
    text: str | None
    call: Body | None  # the completed function_call item
    incomplete: bool


def response(body: Body) -> Body:
    """The non-streamed `response` object."""
    plan = _plan(body)
    return _response_object(body, plan, final=True)


def response_stream(body: Body) -> EventStream:
    """The SSE events of a streamed response, from `response.created` to `response.completed`."""
    plan = _plan(body)
    events = _Events()
    pending = _response_object(body, plan, final=False)
    events.add("response.created", response=pending)
    events.add("response.in_progress", response=pending)
    output_index = 0
    if plan.reasoning_item is not None:
        events.add("response.output_item.added", output_index=0, item=plan.reasoning_item)
        events.add("response.output_item.done", output_index=0, item=plan.reasoning_item)
        output_index = 1
    if plan.call is not None:
        _function_call_events(events, plan.call, output_index)
    else:
        _message_events(events, plan, output_index)
    final = _response_object(body, plan, final=True)
    events.add("response.incomplete" if plan.incomplete else "response.completed", response=final)
    return EventStream(events.frames, error_frame=_error_frame)


class _Events:
    """Accumulates named events, numbering them with `sequence_number`."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def add(self, kind: str, **fields: Any) -> None:
        payload = {"type": kind, "sequence_number": len(self.frames), **fields}
        self.frames.append(event_frame(kind, payload))


def _error_frame(position: int) -> bytes:
    error = MIDSTREAM_ERROR.body()["error"]
    assert isinstance(error, dict)
    # The real event carries code/message/param at the top level; the nested `error` makes the SDK raise.
    payload = {"type": "error", "sequence_number": position, **error, "error": error}
    return event_frame("error", payload)


def _message_events(events: _Events, plan: _Plan, output_index: int) -> None:
    item_id = plan.message_id
    text = plan.text or ""
    where = {"item_id": item_id, "output_index": output_index, "content_index": 0}
    events.add("response.output_item.added", output_index=output_index, item=_message_item(plan, done=False))
    events.add("response.content_part.added", **where, part=_text_part(""))
    for piece in split_words(text):
        events.add("response.output_text.delta", **where, delta=piece, logprobs=[])
    events.add("response.output_text.done", **where, text=text, logprobs=[])
    events.add("response.content_part.done", **where, part=_text_part(text))
    events.add("response.output_item.done", output_index=output_index, item=_message_item(plan, done=True))


def _function_call_events(events: _Events, call: Body, output_index: int) -> None:
    opening = {**call, "status": "in_progress", "arguments": ""}
    where = {"item_id": call["id"], "output_index": output_index}
    events.add("response.output_item.added", output_index=output_index, item=opening)
    for fragment in split_chars(call["arguments"]):
        events.add("response.function_call_arguments.delta", **where, delta=fragment)
    events.add("response.function_call_arguments.done", **where, arguments=call["arguments"])
    events.add("response.output_item.done", output_index=output_index, item=call)


def _plan(body: Body) -> _Plan:
    items = _input_items(body)
    last = items[-1] if items else {}
    effort = _reasoning_effort(body)
    reasoning_item = None
    if reasoning_tokens(effort):
        reasoning_item = {
            "id": make_id("rs_", "reasoning", answer_key(body), length=50, hex_digits=True),
            "type": "reasoning",
            "summary": [],
        }
    message_id = make_id("msg_", "message", answer_key(body), length=50, hex_digits=True)
    function = _function_to_call(body, last)
    if function is not None:
        name, schema = function
        call = {
            "id": make_id("fc_", "function_call", answer_key(body), length=50, hex_digits=True),
            "type": "function_call",
            "status": "completed",
            "arguments": dumps(example_for_schema(schema)),
            "call_id": make_id("call_", "call", answer_key(body), length=24),
            "name": name,
        }
        return _Plan(reasoning_item, message_id, None, call, incomplete=False)
    text = _answer_text(body, items, last)
    limit = body.get("max_output_tokens")
    incomplete = False
    if isinstance(limit, int) and count_tokens(text) > limit:
        incomplete = True
        text = truncate_tokens(text, limit)
    return _Plan(reasoning_item, message_id, text, None, incomplete)


def _input_items(body: Body) -> list[Body]:
    value = body.get("input")
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def _function_to_call(body: Body, last: Body) -> tuple[str, Any] | None:
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"]
    choice = body.get("tool_choice")
    if not tools or last.get("role") != "user" or choice == "none":
        return None
    chosen = tools[0]
    if isinstance(choice, dict) and choice.get("name"):
        chosen = next((t for t in tools if t.get("name") == choice["name"]), chosen)
    return str(chosen.get("name", "tool")), chosen.get("parameters") or {}


def _answer_text(body: Body, items: list[Body], last: Body) -> str:
    text_format = (body.get("text") or {}).get("format") or {}
    if text_format.get("type") == "json_schema":
        return dumps(example_for_schema(text_format.get("schema")))
    if last.get("type") == "function_call_output":
        output = last.get("output")
        return tool_result_answer(output if isinstance(output, str) else text_of(output))
    prompt = next((text_of(i.get("content")) for i in reversed(items) if i.get("role") == "user"), "")
    if text_format.get("type") == "json_object":
        return dumps({"answer": canned_answer(prompt)})
    return canned_answer(prompt)


def _reasoning_effort(body: Body) -> str | None:
    reasoning = body.get("reasoning")
    if not isinstance(reasoning, dict):
        return None
    return str(reasoning.get("effort") or "medium")


def _message_item(plan: _Plan, *, done: bool) -> Body:
    status = ("incomplete" if plan.incomplete else "completed") if done else "in_progress"
    content = [_text_part(plan.text or "")] if done else []
    return {
        "id": plan.message_id,
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    }


def _text_part(text: str) -> Body:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _output(plan: _Plan) -> list[Body]:
    output = [plan.reasoning_item] if plan.reasoning_item is not None else []
    output.append(plan.call if plan.call is not None else _message_item(plan, done=True))
    return output


def _usage(body: Body, plan: _Plan) -> Body:
    prompt = _input_tokens(body)
    reasoning = reasoning_tokens(_reasoning_effort(body))
    visible = count_tokens(plan.text or "")
    if plan.call is not None:
        visible = count_tokens(plan.call["name"]) + count_tokens(plan.call["arguments"])
    output = visible + reasoning
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached_tokens(prompt)},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + output,
    }


def _input_tokens(body: Body) -> int:
    tokens = count_tokens(str(body.get("instructions") or ""))
    for item in _input_items(body):
        content = item.get("content", item.get("output", item.get("arguments", "")))
        tokens += PER_MESSAGE_TOKENS + count_tokens(content if isinstance(content, str) else text_of(content))
    if body.get("tools"):
        tokens += count_tokens(dumps(body["tools"]))
    return tokens


def _response_object(body: Body, plan: _Plan, *, final: bool) -> Body:
    status = ("incomplete" if plan.incomplete else "completed") if final else "in_progress"
    given = body.get("reasoning")
    reasoning: dict[str, Any] = given if isinstance(given, dict) else {}
    tier = body.get("service_tier") or "default"
    return {
        "id": make_id("resp_", "response", answer_key(body), length=50, hex_digits=True),
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "background": bool(body.get("background", False)),
        "completed_at": CREATED + 1 if final and not plan.incomplete else None,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if final and plan.incomplete else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": str(body.get("model", "")),
        "output": _output(plan) if final else [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": "default" if tier == "auto" else tier,
        "store": body.get("store", True),
        "temperature": float(body.get("temperature", 1.0)),
        "text": {"format": (body.get("text") or {}).get("format") or {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_logprobs": body.get("top_logprobs", 0),
        "top_p": float(body.get("top_p", 1.0)),
        "truncation": body.get("truncation", "disabled"),
        "usage": _usage(body, plan) if final else None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }
