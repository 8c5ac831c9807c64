"""Conversations in the OpenTelemetry GenAI message-parts format, from OpenAI request bodies and responses.

Pure functions: request bodies are plain dicts (the SDK has already turned the caller's objects into JSON
data); responses are the SDK's parsed objects, read attribute by attribute (`model_dump` is far slower).
Inline base64 media is never copied: a `blob_reference` part records its size and SHA-256 instead (the
conventions' `blob` part must carry the bytes themselves). Every message validates against the conventions'
JSON schemas (tests/fixtures/genai-schemas): system messages of a chat history stay in the input messages,
built-in Responses tools are `server_tool_call` parts, and an output message always has a finish reason.
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


# The finish reason of a choice the API gave none for (the schemas require a string): why it has none.
FINISH_UNKNOWN = "unknown"  # the response ended without saying why
FINISH_ERROR = "error"  # the call or the stream failed before the model finished
FINISH_CANCELLED = "cancelled"  # the caller stopped reading the stream before the model finished

# Responses output items run by the caller's code, like function calls: `tool_call` parts. Every other `*_call`
# item is a tool OpenAI runs itself (web_search, file_search, code_interpreter, image_generation, mcp...).
_CLIENT_TOOL_CALLS = frozenset({"computer_call", "local_shell_call", "shell_call", "apply_patch_call"})
# Fields of a built-in tool call that hold its results: they go in a `server_tool_call_response` part.
_SERVER_TOOL_RESULTS = ("results", "outputs", "output", "result", "tools")
_MAX_DETAIL_ITEMS = 32  # list items kept in a built-in tool call's details
# The part types the schemas define (with required fields): an unmapped part never takes one of these names.
_SCHEMA_PART_TYPES = frozenset(
    {
        "text",
        "tool_call",
        "tool_call_response",
        "server_tool_call",
        "server_tool_call_response",
        "blob",
        "file",
        "uri",
        "reasoning",
    }
)


def finish_reason(value: Any, fallback: str) -> str:
    """The API's finish reason, or `fallback` when it gave none (never None, never the string 'None')."""
    # 'None' is how a server that stringified a missing value says it gave none.
    return value if isinstance(value, str) and value and value != "None" else fallback


def text_part(text: Any, limit: int) -> Part:
    return {"type": "text", "content": truncate(text if isinstance(text, str) else str(text), limit)}


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def tool_call_response_part(call_id: Any, response: str) -> Part:
    return {"type": "tool_call_response", "id": _id(call_id), "response": response}


def tool_call_part(call_id: Any, name: Any, arguments: Any) -> Part:
    """A tool call; the schemas require a string name, so a call streamed without one says `unknown`."""
    return {
        "type": "tool_call",
        "id": _id(call_id),
        "name": name if isinstance(name, str) and name else "unknown",
        "arguments": arguments,
    }


def parse_arguments(arguments: Any, limit: int) -> Any:
    """Tool-call arguments as JSON when they parse, else the raw (truncated) string."""
    if not isinstance(arguments, str):
        return arguments
    try:
        return json.loads(arguments)
    except ValueError:
        return truncate(arguments, limit)


def media_reference(data: Any, modality: str, mime_type: str | None) -> Part:
    """A reference to inline base64 media: its decoded size and hash, never the data itself.

    Not a `blob` part: the schemas require a blob to carry its bytes in `content`.
    """
    part: Part = {"type": "blob_reference", "modality": modality}
    if mime_type:
        part["mime_type"] = mime_type
    if not isinstance(data, str):
        return part
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


def data_url_reference(value: Any, modality: str) -> Part:
    """A reference to a `data:` URL (or bare base64), with the MIME type the URL names."""
    text = value if isinstance(value, str) else ""
    if text.startswith("data:"):
        header, _, data = text.partition(",")
        return media_reference(data, modality, header[5:].split(";")[0] or None)
    return media_reference(text, modality, None)


def _file_part(file_id: Any, filename: Any, file_data: Any, file_url: Any, modality: str) -> Part:
    """A file given by id (`file`), by URL (`uri`) or inline (`blob_reference`)."""
    part: Part
    if isinstance(file_id, str) and file_id:
        part = {"type": "file", "modality": modality, "file_id": file_id}
    elif isinstance(file_url, str) and file_url:
        part = {"type": "uri", "modality": modality, "uri": file_url}
    else:
        part = data_url_reference(file_data, modality) if file_data else {"type": "blob_reference"}
        part["modality"] = modality
    if isinstance(filename, str) and filename:
        part["filename"] = filename
    return part


def _other_part(item: Any, limit: int) -> Part:
    """A content part of a type not mapped here: its type (a custom part, as the schemas allow), or its text
    when it is a bare value or claims a type the schemas define without its fields."""
    kind = get(item, "type")
    if isinstance(kind, str) and kind and kind not in _SCHEMA_PART_TYPES:
        return {"type": kind}
    return text_part(item if isinstance(item, str) else dumps(item), limit)


def _items(value: Any) -> list[Any] | tuple[Any, ...]:
    return value if isinstance(value, list | tuple) else ()


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
            parts.append(image_url_part(url) if isinstance(url, str) else _other_part(item, limit))
        elif kind == "input_audio":
            audio = get(item, "input_audio", {})
            fmt = get(audio, "format")
            parts.append(media_reference(get(audio, "data", ""), "audio", f"audio/{fmt}" if fmt else None))
        elif kind == "file":
            file = get(item, "file", {})
            parts.append(
                _file_part(get(file, "file_id"), get(file, "filename"), get(file, "file_data"), None, "file")
            )
        else:
            parts.append(_other_part(item, limit))
    return parts


def _tool_call_parts(tool_calls: Any, limit: int) -> list[Part]:
    parts: list[Part] = []
    for call in tool_calls or ():
        function = get(call, "function")
        if function is None:  # custom tools carry `custom` instead of `function`
            custom = get(call, "custom", {})
            arguments = truncate(str(get(custom, "input", "")), limit)
            parts.append(tool_call_part(get(call, "id"), get(custom, "name"), arguments))
            continue
        arguments = parse_arguments(get(function, "arguments"), limit)
        parts.append(tool_call_part(get(call, "id"), get(function, "name"), arguments))
    return parts


def chat_input(messages: Iterable[Any], limit: int) -> list[Message]:
    """Chat messages as input messages, in the order the model saw them.

    System and developer messages are part of the chat history, so they stay here (with their role); the
    conventions keep `gen_ai.system_instructions` for instructions given apart from the history.
    """
    conversation: list[Message] = []
    for message in messages:
        role = get(message, "role")
        content = get(message, "content")
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
                        tool_call_response_part(get(message, "tool_call_id"), truncate(text or "", limit))
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
                arguments = parse_arguments(get(function_call, "arguments"), limit)
                parts.append(tool_call_part(None, get(function_call, "name"), arguments))
        entry: Message = {"role": role if isinstance(role, str) and role else "user", "parts": parts}
        if isinstance(get(message, "name"), str):
            entry["name"] = get(message, "name")
        conversation.append(entry)
    return conversation


def chat_output_message(message: Any, finish_reason: str, limit: int) -> Message:
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
            tool_call_part(
                None, get(function_call, "name"), parse_arguments(get(function_call, "arguments"), limit)
            )
        )
    audio = get(message, "audio")
    if audio is not None:
        if get(audio, "transcript"):
            parts.append(text_part(get(audio, "transcript"), limit))
        if get(audio, "data"):
            parts.append(media_reference(get(audio, "data"), "audio", None))
    role = get(message, "role")
    return {
        "role": role if isinstance(role, str) and role else "assistant",
        "parts": parts,
        "finish_reason": finish_reason,
    }


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
    if not isinstance(items, list | tuple):
        return system, [{"role": "user", "parts": [_other_part(items, limit)]}]
    conversation: list[Message] = []
    for item in items:
        kind = get(item, "type")
        role = get(item, "role")
        if isinstance(kind, str) and kind.endswith("_call_output"):
            output = get(item, "output")
            conversation.append(
                {
                    "role": "tool",
                    "parts": [
                        tool_call_response_part(
                            get(item, "call_id"),
                            truncate(output if isinstance(output, str) else dumps(output), limit),
                        )
                    ],
                }
            )
        elif kind == "reasoning":
            conversation.append({"role": "assistant", "parts": _reasoning_parts(item, limit)})
        elif isinstance(role, str) and role:  # system and developer messages too: they are the history
            conversation.append(
                {"role": role, "parts": _responses_content_parts(get(item, "content"), limit)}
            )
        elif isinstance(kind, str) and (kind.endswith("_call") or kind.startswith("mcp_")):
            conversation.append({"role": "assistant", "parts": _responses_item_parts(item, kind, limit)})
        else:
            conversation.append({"role": "user", "parts": [_other_part(item, limit)]})
    return system, conversation


def _responses_content_parts(content: Any, limit: int) -> list[Part]:
    if isinstance(content, str):
        return [text_part(content, limit)]
    if content is not None and not isinstance(content, list | tuple):
        return [_other_part(content, limit)]
    parts: list[Part] = []
    for item in content or ():
        kind = get(item, "type")
        if kind in ("input_text", "output_text", "text"):
            parts.append(text_part(get(item, "text", ""), limit))
        elif kind == "refusal":
            parts.append({"type": "refusal", "content": truncate(str(get(item, "refusal", "")), limit)})
        elif kind == "input_image":
            url = get(item, "image_url")
            if isinstance(url, str) and url:
                parts.append(image_url_part(url))
            else:
                parts.append(_file_part(get(item, "file_id"), None, None, None, "image"))
        elif kind == "input_file":
            file_id, filename = get(item, "file_id"), get(item, "filename")
            parts.append(_file_part(file_id, filename, get(item, "file_data"), get(item, "file_url"), "file"))
        elif kind == "input_audio":
            audio = get(item, "input_audio", {})
            parts.append(media_reference(get(audio, "data", ""), "audio", None))
        else:
            parts.append(_other_part(item, limit))
    return parts


def _reasoning_parts(item: Any, limit: int) -> list[Part]:
    texts = [get(s, "text", "") for s in _items(get(item, "summary"))]
    texts += [get(c, "text", "") for c in _items(get(item, "content"))]
    return [
        {
            "type": "reasoning",
            "content": truncate("\n".join(t for t in texts if isinstance(t, str) and t), limit),
        }
    ]


def _responses_item_parts(item: Any, kind: str, limit: int) -> list[Part]:
    """A tool call item of the Responses API: the caller's own tools, or a built-in one OpenAI runs."""
    if kind in ("function_call", "custom_tool_call"):
        arguments = get(item, "arguments") if kind == "function_call" else get(item, "input")
        return [tool_call_part(get(item, "call_id"), get(item, "name"), parse_arguments(arguments, limit))]
    tool = kind.removesuffix("_call")
    details = _plain(item, limit)
    item_id = details.pop("id", None)
    details.pop("type", None)
    if kind in _CLIENT_TOOL_CALLS:
        call_id = details.pop("call_id", item_id)
        return [tool_call_part(call_id, tool, details)]
    image = None
    if kind == "image_generation_call":  # base64 image: referenced from the item itself, not its cut copy
        details.pop("result", None)
        image = get(item, "result")
    results = {key: details.pop(key) for key in _SERVER_TOOL_RESULTS if key in details}
    call_id = item_id if isinstance(item_id, str) else None
    parts: list[Part] = [
        {
            "type": "server_tool_call",
            "id": call_id,
            "name": tool,
            "server_tool_call": {"type": tool, **details},
        }
    ]
    if results:
        response = {"type": tool, **results}
        parts.append(
            {"type": "server_tool_call_response", "id": call_id, "server_tool_call_response": response}
        )
    if image:
        parts.append(media_reference(image, "image", None))
    return parts


def _plain(item: Any, limit: int) -> dict[str, Any]:
    """A tool call item as plain JSON data, long texts cut and long lists shortened."""
    if hasattr(item, "model_dump"):
        data = item.model_dump(mode="json", exclude_none=True, warnings=False)
    else:
        data = dict(item) if isinstance(item, dict) else {}
    bounded = _bounded(data, max(limit // 8, 256))
    return bounded if isinstance(bounded, dict) else {}


def _bounded(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return truncate(value, limit)
    if isinstance(value, dict):
        return {str(key): _bounded(item, limit) for key, item in value.items()}
    if isinstance(value, list | tuple):
        kept = [_bounded(item, limit) for item in value[:_MAX_DETAIL_ITEMS]]
        if len(value) > _MAX_DETAIL_ITEMS:
            kept.append(f"...[{len(value) - _MAX_DETAIL_ITEMS} more]")
        return kept
    return value if value is None or isinstance(value, bool | int | float) else str(value)


def responses_output(output: Any, status: str | None, limit: int) -> list[Message]:
    """The output items of a Response, gathered into one assistant message."""
    parts: list[Part] = []
    for item in output or ():
        kind = get(item, "type")
        if kind == "message":
            parts.extend(_responses_content_parts(get(item, "content"), limit))
        elif kind == "reasoning":
            parts.extend(p for p in _reasoning_parts(item, limit) if p["content"])
        elif isinstance(kind, str) and (kind.endswith("_call") or kind.startswith("mcp_")):
            parts.extend(_responses_item_parts(item, kind, limit))
        else:
            parts.append(_other_part(item, limit))
    if not parts:
        return []
    return [{"role": "assistant", "parts": parts, "finish_reason": responses_finish_reason(status, parts)}]


def responses_finish_reason(status: str | None, parts: list[Part]) -> str:
    """The Responses API has no finish reason: derive the conventions' one from the status and the output."""
    if status == "incomplete":
        return "length"
    if status == "failed":
        return FINISH_ERROR
    if status == "cancelled":
        return FINISH_CANCELLED
    if any(p.get("type") == "tool_call" for p in parts):
        return "tool_call"
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
