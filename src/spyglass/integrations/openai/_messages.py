"""Conversations in the OpenTelemetry GenAI message-parts format, from OpenAI request bodies and responses.

Pure functions: request bodies are plain dicts (the SDK has already turned the caller's objects into JSON
data); responses are the SDK's parsed objects, read attribute by attribute (`model_dump` is far slower).
Inline base64 media is never copied: a part records its size and SHA-256 instead.
"""

from __future__ import annotations

import binascii
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from ..._encoding import truncate

Part = dict[str, Any]
Message = dict[str, Any]


def get(obj: Any, key: str, default: Any = None) -> Any:
    """Read `key` from a dict or an attribute from an object, whichever `obj` is."""
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def text_part(text: Any, limit: int) -> Part:
    return {"type": "text", "content": truncate(text if isinstance(text, str) else str(text), limit)}


def parse_arguments(arguments: Any, limit: int) -> Any:
    """Tool-call arguments as JSON when they parse, else the raw (truncated) string."""
    if not isinstance(arguments, str):
        return arguments
    try:
        return json.loads(arguments)
    except ValueError:
        return truncate(arguments, limit)


def media_reference(data: str, modality: str, mime_type: str | None) -> Part:
    """A reference to inline base64 media: its decoded size and hash, never the data itself."""
    part: Part = {"type": "blob", "modality": modality}
    if mime_type:
        part["mime_type"] = mime_type
    try:
        raw = binascii.a2b_base64(data)
    except (binascii.Error, ValueError):
        part["size"] = len(data)
        return part
    part["size"] = len(raw)
    part["sha256"] = hashlib.sha256(raw).hexdigest()
    return part


def image_url_part(url: str) -> Part:
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        mime_type = header[5:].split(";")[0] or None
        return media_reference(data, "image", mime_type)
    return {"type": "uri", "modality": "image", "uri": url}


# --- Chat Completions --------------------------------------------------------------------------------------


def _content_parts(content: Any, limit: int) -> list[Part]:
    """The parts of a chat message's `content`: a string, or a list of typed content parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [text_part(content, limit)]
    parts: list[Part] = []
    for item in content if isinstance(content, list) else [content]:
        kind = get(item, "type")
        if kind in ("text", "input_text", "output_text"):
            parts.append(text_part(get(item, "text", ""), limit))
        elif kind == "refusal":
            parts.append({"type": "refusal", "content": truncate(str(get(item, "refusal", "")), limit)})
        elif kind == "image_url":
            url = get(get(item, "image_url", {}), "url", "")
            parts.append(image_url_part(url))
        elif kind == "input_audio":
            audio = get(item, "input_audio", {})
            fmt = get(audio, "format")
            parts.append(media_reference(get(audio, "data", ""), "audio", f"audio/{fmt}" if fmt else None))
        elif kind == "file":
            file = get(item, "file", {})
            part: Part = {"type": "file", "modality": "file"}
            if get(file, "file_id"):
                part["file_id"] = get(file, "file_id")
            if get(file, "filename"):
                part["filename"] = get(file, "filename")
            if get(file, "file_data"):
                part.update(media_reference(str(get(file, "file_data")).partition(",")[2], "file", None))
                part["type"] = "blob"
            parts.append(part)
        else:
            parts.append({"type": str(kind)})
    return parts


def _tool_call_parts(tool_calls: Any, limit: int) -> list[Part]:
    parts: list[Part] = []
    for call in tool_calls or ():
        function = get(call, "function")
        if function is None:  # custom tools carry `custom` instead of `function`
            custom = get(call, "custom", {})
            parts.append(
                {
                    "type": "tool_call",
                    "id": get(call, "id"),
                    "name": get(custom, "name"),
                    "arguments": truncate(str(get(custom, "input", "")), limit),
                }
            )
            continue
        parts.append(
            {
                "type": "tool_call",
                "id": get(call, "id"),
                "name": get(function, "name"),
                "arguments": parse_arguments(get(function, "arguments"), limit),
            }
        )
    return parts


def chat_input(messages: Iterable[Any], limit: int) -> tuple[list[Part], list[Message]]:
    """Split chat messages into (system instructions, input messages).

    The leading system/developer messages are the instructions; a system message later in the conversation
    stays in place, so the order of what the model saw is kept.
    """
    system: list[Part] = []
    conversation: list[Message] = []
    for message in messages:
        role = get(message, "role")
        content = get(message, "content")
        if role in ("system", "developer") and not conversation:
            system.extend(_content_parts(content, limit))
            continue
        if role == "tool":
            text = (
                content
                if isinstance(content, str)
                else " ".join(
                    p.get("content", "") for p in _content_parts(content, limit) if p.get("type") == "text"
                )
            )
            conversation.append(
                {
                    "role": "tool",
                    "parts": [
                        {
                            "type": "tool_call_response",
                            "id": get(message, "tool_call_id"),
                            "response": truncate(text or "", limit),
                        }
                    ],
                }
            )
            continue
        parts = _content_parts(content, limit)
        if role == "assistant":
            refusal = get(message, "refusal")
            if refusal:
                parts.append({"type": "refusal", "content": truncate(str(refusal), limit)})
            parts.extend(_tool_call_parts(get(message, "tool_calls"), limit))
            function_call = get(message, "function_call")
            if function_call:
                parts.append(
                    {
                        "type": "tool_call",
                        "id": None,
                        "name": get(function_call, "name"),
                        "arguments": parse_arguments(get(function_call, "arguments"), limit),
                    }
                )
        entry: Message = {"role": role or "user", "parts": parts}
        if get(message, "name"):
            entry["name"] = get(message, "name")
        conversation.append(entry)
    return system, conversation


def chat_output_message(message: Any, finish_reason: str | None, limit: int) -> Message:
    """One choice of a Chat Completion (its `.message`) as an output message."""
    parts: list[Part] = []
    reasoning = get(message, "reasoning_content") or get(message, "reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append({"type": "reasoning", "content": truncate(reasoning, limit)})
    content = get(message, "content")
    if content:
        parts.append(text_part(content, limit))
    refusal = get(message, "refusal")
    if refusal:
        parts.append({"type": "refusal", "content": truncate(str(refusal), limit)})
    parts.extend(_tool_call_parts(get(message, "tool_calls"), limit))
    function_call = get(message, "function_call")
    if function_call:
        parts.append(
            {
                "type": "tool_call",
                "id": None,
                "name": get(function_call, "name"),
                "arguments": parse_arguments(get(function_call, "arguments"), limit),
            }
        )
    audio = get(message, "audio")
    if audio is not None:
        if get(audio, "transcript"):
            parts.append(text_part(get(audio, "transcript"), limit))
        if get(audio, "data"):
            parts.append(media_reference(get(audio, "data"), "audio", None))
    return {"role": get(message, "role") or "assistant", "parts": parts, "finish_reason": finish_reason}


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """The tools offered to the model, flattened to `{type, name, description, parameters}`."""
    definitions: list[dict[str, Any]] = []
    for tool in tools or ():
        kind = get(tool, "type", "function")
        function = get(tool, "function")
        source = function if function is not None else tool
        definition: dict[str, Any] = {"type": kind}
        for key in ("name", "description", "parameters", "strict"):
            value = get(source, key)
            if value is not None:
                definition[key] = value
        definitions.append(definition)
    return definitions


# --- Responses API -------------------------------------------------------------------------------------------


def responses_input(instructions: Any, items: Any, limit: int) -> tuple[list[Part], list[Message]]:
    """(system instructions, input messages) of a Responses API request."""
    system = [text_part(instructions, limit)] if isinstance(instructions, str) and instructions else []
    if items is None:
        return system, []
    if isinstance(items, str):
        return system, [{"role": "user", "parts": [text_part(items, limit)]}]
    conversation: list[Message] = []
    for item in items:
        kind = get(item, "type")
        role = get(item, "role")
        if kind == "function_call_output" or kind == "custom_tool_call_output":
            output = get(item, "output")
            conversation.append(
                {
                    "role": "tool",
                    "parts": [
                        {
                            "type": "tool_call_response",
                            "id": get(item, "call_id"),
                            "response": truncate(
                                output if isinstance(output, str) else json.dumps(output), limit
                            ),
                        }
                    ],
                }
            )
        elif kind in ("function_call", "custom_tool_call"):
            arguments = get(item, "arguments") if kind == "function_call" else get(item, "input")
            conversation.append(
                {
                    "role": "assistant",
                    "parts": [
                        {
                            "type": "tool_call",
                            "id": get(item, "call_id"),
                            "name": get(item, "name"),
                            "arguments": parse_arguments(arguments, limit),
                        }
                    ],
                }
            )
        elif kind == "reasoning":
            conversation.append({"role": "assistant", "parts": _reasoning_parts(item, limit)})
        elif role is not None:
            parts = _responses_content_parts(get(item, "content"), limit)
            if role in ("system", "developer") and not conversation:
                system.extend(parts)
            else:
                conversation.append({"role": role, "parts": parts})
        else:
            conversation.append({"role": "user", "parts": [{"type": str(kind)}]})
    return system, conversation


def _responses_content_parts(content: Any, limit: int) -> list[Part]:
    if isinstance(content, str):
        return [text_part(content, limit)]
    parts: list[Part] = []
    for item in content or ():
        kind = get(item, "type")
        if kind in ("input_text", "output_text", "text"):
            parts.append(text_part(get(item, "text", ""), limit))
        elif kind == "refusal":
            parts.append({"type": "refusal", "content": truncate(str(get(item, "refusal", "")), limit)})
        elif kind == "input_image":
            url = get(item, "image_url")
            if url:
                parts.append(image_url_part(url))
            else:
                parts.append({"type": "file", "modality": "image", "file_id": get(item, "file_id")})
        elif kind == "input_file":
            part: Part = {"type": "file", "modality": "file"}
            for key in ("file_id", "filename", "file_url"):
                if get(item, key):
                    part[key] = get(item, key)
            parts.append(part)
        elif kind == "input_audio":
            audio = get(item, "input_audio", {})
            parts.append(media_reference(get(audio, "data", ""), "audio", None))
        else:
            parts.append({"type": str(kind)})
    return parts


def _reasoning_parts(item: Any, limit: int) -> list[Part]:
    texts = [get(s, "text", "") for s in get(item, "summary") or ()]
    texts += [get(c, "text", "") for c in get(item, "content") or ()]
    return [{"type": "reasoning", "content": truncate("\n".join(t for t in texts if t), limit)}]


def responses_output(output: Any, status: str | None, limit: int) -> list[Message]:
    """The output items of a Response, gathered into one assistant message."""
    parts: list[Part] = []
    for item in output or ():
        kind = get(item, "type")
        if kind == "message":
            parts.extend(_responses_content_parts(get(item, "content"), limit))
        elif kind in ("function_call", "custom_tool_call"):
            arguments = get(item, "arguments") if kind == "function_call" else get(item, "input")
            parts.append(
                {
                    "type": "tool_call",
                    "id": get(item, "call_id"),
                    "name": get(item, "name"),
                    "arguments": parse_arguments(arguments, limit),
                }
            )
        elif kind == "reasoning":
            parts.extend(p for p in _reasoning_parts(item, limit) if p["content"])
        elif kind == "image_generation_call" and get(item, "result"):
            parts.append(media_reference(get(item, "result"), "image", None))
        else:
            parts.append({"type": "tool_call", "id": get(item, "id"), "name": str(kind), "arguments": None})
    if not parts:
        return []
    return [{"role": "assistant", "parts": parts, "finish_reason": responses_finish_reason(status, parts)}]


def responses_finish_reason(status: str | None, parts: list[Part]) -> str:
    """The Responses API has no finish reason; derive the Chat Completions one from status and output."""
    if status == "incomplete":
        return "length"
    if status == "failed":
        return "error"
    if any(p.get("type") == "tool_call" for p in parts):
        return "tool_calls"
    return "stop"


# --- Completions, embeddings, images ---------------------------------------------------------------------------


def prompt_messages(prompt: Any, limit: int) -> list[Message]:
    """A legacy completion prompt, or embeddings input: strings as text parts, token arrays as counts."""
    if prompt is None:
        return []
    items = [prompt] if isinstance(prompt, str) else list(prompt)
    if items and all(isinstance(x, int) for x in items):
        return [{"role": "user", "parts": [{"type": "tokens", "count": len(items)}]}]
    parts: list[Part] = []
    for item in items:
        if isinstance(item, str):
            parts.append(text_part(item, limit))
        elif isinstance(item, list):
            parts.append({"type": "tokens", "count": len(item)})
        else:
            parts.append(text_part(str(item), limit))
    return [{"role": "user", "parts": parts}]


def image_output(data: Any, output_format: str | None, limit: int) -> list[Message]:
    parts: list[Part] = []
    mime = f"image/{output_format}" if output_format else "image/png"
    for image in data or ():
        if get(image, "revised_prompt"):
            parts.append(text_part(get(image, "revised_prompt"), limit))
        if get(image, "url"):
            parts.append({"type": "uri", "modality": "image", "uri": get(image, "url")})
        elif get(image, "b64_json"):
            parts.append(media_reference(get(image, "b64_json"), "image", mime))
    return [{"role": "assistant", "parts": parts, "finish_reason": "stop"}] if parts else []


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def dumps_bounded(messages: list[Any], limit: int) -> str:
    """JSON of a list of messages (or parts) no longer than `limit`, and still valid JSON.

    Over the limit, the middle of long lists is replaced by a marker saying how much was left out (the
    start and the end of a conversation are what people read), then long texts are cut further.
    """
    text = dumps(messages)
    if len(text) <= limit:
        return text
    keep = 64
    while keep >= 1:
        text = dumps(_elide(messages, keep, None))
        if len(text) <= limit:
            return text
        keep //= 4
    per_text = max(limit // 16, 32)
    while per_text >= 32:
        text = dumps(_elide(messages, 1, per_text))
        if len(text) <= limit:
            return text
        per_text //= 4
    return truncate(text, limit)  # no longer valid JSON: readers show it as text


def _elide(items: list[Any], keep: int, text_limit: int | None) -> list[Any]:
    """Keep `keep` items at each end of `items` (and of each message's parts), cutting texts to `text_limit`."""
    if len(items) > 2 * keep:
        omitted = len(items) - 2 * keep
        is_messages = bool(items) and isinstance(items[0], dict) and "parts" in items[0]
        marker_part = {
            "type": "text",
            "content": f"...[{omitted} {'messages' if is_messages else 'parts'} omitted]",
        }
        marker = {"role": "omitted", "parts": [marker_part]} if is_messages else marker_part
        items = [*items[:keep], marker, *items[-keep:]]
    result = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("parts"), list):
            item = {**item, "parts": _elide(item["parts"], keep, text_limit)}
        elif text_limit is not None and isinstance(item, dict) and isinstance(item.get("content"), str):
            item = {**item, "content": truncate(item["content"], text_limit)}
        result.append(item)
    return result
