"""Other instrumentations' GenAI spans, given the attributes spyglass's console, store and viewer read.

Received spans are left as they are and gain what is missing from docs/spans.md: `gen_ai.input.messages`,
`gen_ai.output.messages`, `gen_ai.system_instructions`, `gen_ai.usage.*`, `gen_ai.request.model`,
`gen_ai.provider.name`, `gen_ai.operation.name`, `spyglass.kind = "llm"` and a `spyglass.msg`. The sources:

- OpenLLMetry: `gen_ai.prompt.N.role/content/tool_calls...`, `gen_ai.completion.N.*`,
  `gen_ai.usage.prompt_tokens/completion_tokens`;
- OpenInference: `llm.input_messages.N.message.role/content/contents/tool_calls...`, `llm.output_messages...`,
  `llm.model_name`, `llm.provider`, `llm.token_count.prompt/completion`;
- the GenAI semantic-convention events on the span: `gen_ai.system.message`, `gen_ai.user.message`,
  `gen_ai.assistant.message`, `gen_ai.tool.message`, `gen_ai.choice` (as the contrib openai-v2
  instrumentation emits them), and the older `gen_ai.content.prompt` / `gen_ai.content.completion`;
- spans already in the current convention (`gen_ai.input.messages`), which only need `spyglass.kind`/`msg`,
  or whose conversation came in a `gen_ai.client.inference.operation.details` event (as log records
  joined to the span: the contrib instrumentation's `event_only` mode), whose `gen_ai.*` attributes it gains.

An existing attribute is never overwritten, and spans spyglass made (with `spyglass.kind`) are left alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import Event
from opentelemetry.util.types import AttributeValue

from spyglass import _attribute_names as names

_OPERATION_LABELS = {
    "chat": "Chat Completion",
    "text_completion": "Completion",
    "embeddings": "Embedding Creation",
    "generate_content": "Content Generation",
    "image_generation": "Image Generation",
}
_LLM_OPERATIONS = frozenset(_OPERATION_LABELS)
_OPENINFERENCE_LLM_KINDS = frozenset({"LLM", "EMBEDDING"})

_OPENLLMETRY = re.compile(r"^gen_ai\.(prompt|completion)\.(\d+)\.(.+)$")
_OPENINFERENCE = re.compile(r"^llm\.(input|output)_messages\.(\d+)\.message\.(.+)$")
_TOOL_CALL_OPENLLMETRY = re.compile(r"^tool_calls\.(\d+)\.(id|name|arguments)$")
_TOOL_CALL_OPENINFERENCE = re.compile(
    r"^tool_calls\.(\d+)\.tool_call\.(id|function\.name|function\.arguments)$"
)
_CONTENT_OPENINFERENCE = re.compile(r"^contents\.(\d+)\.message_content\.(type|text|image\.image\.url)$")
_DETAILS_EVENT = "gen_ai.client.inference.operation.details"
_ROLE_EVENT = re.compile(r"^gen_ai\.(system|user|assistant|tool)\.message$")

Message = dict[str, Any]
Part = dict[str, Any]


@dataclass
class _Conversation:
    system: list[Part] = field(default_factory=list)
    inputs: list[Message] = field(default_factory=list)
    outputs: list[Message] = field(default_factory=list)

    def add_input(self, role: str, parts: list[Part]) -> None:
        if role in ("system", "developer"):
            self.system.extend(parts)
        else:
            self.inputs.append({"role": role, "parts": parts})

    def __bool__(self) -> bool:
        return bool(self.system or self.inputs or self.outputs)


def normalize(
    name: str, attributes: Mapping[str, AttributeValue], events: Sequence[Event] = ()
) -> dict[str, AttributeValue]:
    """The attributes to add to a received span so spyglass shows it as an LLM call; {} for other spans.

    Example:
        ```python
        normalize("openai.chat", {"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "Hi"})
        # {"gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"Hi"}]}]', ...}
        ```
    """
    if names.KIND in attributes:
        return {}
    own = attributes
    details = _operation_details(events)
    if details:
        attributes = {**details, **own}  # the span's own attributes come first
    conversation = _from_openllmetry(attributes) or _from_openinference(attributes) or _from_events(events)
    already_current = names.INPUT_MESSAGES in attributes or names.OUTPUT_MESSAGES in attributes
    operation = _operation(attributes, has_messages=bool(conversation) or already_current)
    if operation is None:
        return {}
    found: dict[str, AttributeValue] = {**details, names.OPERATION_NAME: operation}
    if conversation:
        if conversation.system:
            found[names.SYSTEM_INSTRUCTIONS] = _dump(conversation.system)
        if conversation.inputs:
            found[names.INPUT_MESSAGES] = _dump(conversation.inputs)
        if conversation.outputs:
            found[names.OUTPUT_MESSAGES] = _dump(conversation.outputs)
            reasons = [str(message.get("finish_reason") or "") for message in conversation.outputs]
            if any(reasons):
                found[names.RESPONSE_FINISH_REASONS] = tuple(reasons)
    model = _first_str(attributes, names.REQUEST_MODEL, "llm.model_name", names.RESPONSE_MODEL)
    if model is not None:
        found[names.REQUEST_MODEL] = model
    provider = _first_str(attributes, names.PROVIDER_NAME, "gen_ai.system", "llm.provider", "llm.system")
    if provider is not None:
        found[names.PROVIDER_NAME] = provider
    for target, sources in (
        (names.USAGE_INPUT_TOKENS, ("gen_ai.usage.prompt_tokens", "llm.token_count.prompt")),
        (names.USAGE_OUTPUT_TOKENS, ("gen_ai.usage.completion_tokens", "llm.token_count.completion")),
    ):
        tokens = _first_int(attributes, target, *sources)
        if tokens is not None:
            found[target] = tokens
    label = _OPERATION_LABELS.get(operation, operation.replace("_", " ").capitalize())
    found[names.KIND] = names.KIND_LLM
    found[names.MSG] = f"{label} with {model!r}" if model else label
    return {key: value for key, value in found.items() if key not in own}


def _operation(attributes: Mapping[str, AttributeValue], *, has_messages: bool) -> str | None:
    operation = attributes.get(names.OPERATION_NAME)
    if isinstance(operation, str):
        return operation if operation in _LLM_OPERATIONS or has_messages else None
    request_type = attributes.get("llm.request.type")  # OpenLLMetry
    if request_type == "completion":
        return "text_completion"
    if request_type == "embedding":
        return "embeddings"
    openinference_kind = attributes.get("openinference.span.kind")
    if openinference_kind == "EMBEDDING":
        return "embeddings"
    if has_messages or request_type == "chat" or openinference_kind in _OPENINFERENCE_LLM_KINDS:
        return "chat"
    if "gen_ai.system" in attributes and names.REQUEST_MODEL in attributes:
        return "chat"
    return None


# --- OpenLLMetry ------------------------------------------------------------------------------------------


def _from_openllmetry(attributes: Mapping[str, AttributeValue]) -> _Conversation | None:
    fields: dict[tuple[str, int], dict[str, AttributeValue]] = {}
    for key, value in attributes.items():
        match = _OPENLLMETRY.match(key)
        if match:
            fields.setdefault((match[1], int(match[2])), {})[match[3]] = value
    if not fields:
        return None
    conversation = _Conversation()
    for (side, _), message in sorted(fields.items(), key=lambda item: (item[0][0] != "prompt", item[0][1])):
        role = _str(message.get("role")) or ("user" if side == "prompt" else "assistant")
        tool_calls = _indexed_tool_calls(message, _TOOL_CALL_OPENLLMETRY, {"id": "id", "name": "name"})
        if "function_call.name" in message:
            tool_calls.append(
                {"name": message["function_call.name"], "arguments": message.get("function_call.arguments")}
            )
        parts = _parts(role, message.get("content"), tool_calls, message.get("tool_call_id"))
        if side == "prompt":
            conversation.add_input(role, parts)
        else:
            conversation.outputs.append(_output(role, parts, message.get("finish_reason")))
    return conversation


# --- OpenInference ----------------------------------------------------------------------------------------


def _from_openinference(attributes: Mapping[str, AttributeValue]) -> _Conversation | None:
    fields: dict[tuple[str, int], dict[str, AttributeValue]] = {}
    for key, value in attributes.items():
        match = _OPENINFERENCE.match(key)
        if match:
            fields.setdefault((match[1], int(match[2])), {})[match[3]] = value
    if not fields:
        return None
    conversation = _Conversation()
    for (side, _), message in sorted(fields.items(), key=lambda item: (item[0][0] != "input", item[0][1])):
        role = _str(message.get("role")) or ("user" if side == "input" else "assistant")
        tool_calls = _indexed_tool_calls(
            message, _TOOL_CALL_OPENINFERENCE, {"id": "id", "function.name": "name"}
        )
        content: object = message.get("content")
        if content is None:
            content = _openinference_contents(message)
        parts = _parts(role, content, tool_calls, message.get("tool_call_id"))
        if side == "input":
            conversation.add_input(role, parts)
        else:
            conversation.outputs.append(_output(role, parts, None))
    return conversation


def _openinference_contents(message: Mapping[str, AttributeValue]) -> list[Part] | None:
    contents: dict[int, dict[str, AttributeValue]] = {}
    for key, value in message.items():
        match = _CONTENT_OPENINFERENCE.match(key)
        if match:
            contents.setdefault(int(match[1]), {})[match[2]] = value
    parts: list[Part] = []
    for _, content in sorted(contents.items()):
        if isinstance(content.get("text"), str):
            parts.append({"type": "text", "text": content["text"]})
        elif isinstance(content.get("image.image.url"), str):
            parts.append({"type": "image_url", "image_url": {"url": content["image.image.url"]}})
    return parts or None


def _indexed_tool_calls(
    message: Mapping[str, AttributeValue], pattern: re.Pattern[str], renames: Mapping[str, str]
) -> list[dict[str, Any]]:
    calls: dict[int, dict[str, Any]] = {}
    for key, value in message.items():
        match = pattern.match(key)
        if match:
            calls.setdefault(int(match[1]), {})[renames.get(match[2], "arguments")] = value
    return [call for _, call in sorted(calls.items())]


# --- semantic-convention events ---------------------------------------------------------------------------


def _operation_details(events: Sequence[Event]) -> dict[str, AttributeValue]:
    """The `gen_ai.*` attributes of `gen_ai.client.inference.operation.details` events, later ones first."""
    details: dict[str, AttributeValue] = {}
    for event in events:
        if event.name == _DETAILS_EVENT:
            details.update(
                (key, value) for key, value in (event.attributes or {}).items() if key.startswith("gen_ai.")
            )
    return details


def _from_events(events: Sequence[Event]) -> _Conversation | None:
    conversation = _Conversation()
    for event in events:
        attributes: Mapping[str, Any] = event.attributes or {}
        body = _event_body(attributes)
        if event.name == "gen_ai.content.prompt":
            for message in _json_list(attributes.get("gen_ai.prompt")):
                role = _str(message.get("role")) or "user"
                parts = _parts(
                    role, message.get("content"), _tool_calls(message), message.get("tool_call_id")
                )
                conversation.add_input(role, parts)
        elif event.name == "gen_ai.content.completion":
            for message in _json_list(attributes.get("gen_ai.completion")):
                role = _str(message.get("role")) or "assistant"
                parts = _parts(role, message.get("content"), _tool_calls(message), None)
                conversation.outputs.append(_output(role, parts, message.get("finish_reason")))
        elif match := _ROLE_EVENT.match(event.name):
            role = _str(body.get("role")) or match[1]
            parts = _parts(role, body.get("content"), _tool_calls(body), body.get("id"))
            conversation.add_input(role, parts)
        elif event.name == "gen_ai.choice":
            message = _json_dict(body.get("message"))
            role = _str(message.get("role")) or "assistant"
            parts = _parts(role, message.get("content"), _tool_calls(message), None)
            conversation.outputs.append(_output(role, parts, body.get("finish_reason")))
    return conversation or None


def _event_body(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """An event's body: a JSON `body`/`gen_ai.event.content` attribute, else the attributes themselves."""
    for key in ("body", "gen_ai.event.content", "event.body"):
        if key in attributes:
            body = _json_dict(attributes[key])
            if body:
                return body
    body = dict(attributes)
    for key, value in attributes.items():  # flattened `message.content`, `message.role`...
        if key.startswith("message."):
            body.setdefault("message", {})
            if isinstance(body["message"], dict):
                body["message"][key.removeprefix("message.")] = value
    return body


def _tool_calls(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    calls = []
    for call in _json_list(message.get("tool_calls")):
        function = _json_dict(call.get("function"))
        calls.append(
            {
                "id": call.get("id"),
                "name": function.get("name", call.get("name")),
                "arguments": function.get("arguments", call.get("arguments")),
            }
        )
    return calls


# --- building messages ------------------------------------------------------------------------------------


def _parts(role: str, content: object, tool_calls: list[dict[str, Any]], tool_call_id: object) -> list[Part]:
    if role == "tool":
        return [{"type": "tool_call_response", "id": _str(tool_call_id), "response": _text(content)}]
    parts = _content_parts(content)
    for call in tool_calls:
        parts.append(
            {
                "type": "tool_call",
                "id": _str(call.get("id")),
                "name": _str(call.get("name")),
                "arguments": _arguments(call.get("arguments")),
            }
        )
    return parts


def _content_parts(content: object) -> list[Part]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        parsed = _json(content) if content.lstrip().startswith("[") else None
        if not isinstance(parsed, list):
            return [{"type": "text", "content": content}]
        content = parsed
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list | tuple):
        return [{"type": "text", "content": str(content)}]
    parts: list[Part] = []
    for item in content:
        if isinstance(item, str):
            parts.append({"type": "text", "content": item})
        elif isinstance(item, dict):
            parts.append(_content_part(item))
    return parts


def _content_part(item: Mapping[str, Any]) -> Part:
    """An OpenAI-style content part (`text`, `image_url`, `input_text`...) in the docs/spans.md form."""
    kind = item.get("type")
    if isinstance(item.get("text"), str):
        return {"type": "text", "content": item["text"]}
    if isinstance(item.get("content"), str) and kind in (None, "text", "reasoning", "refusal"):
        return {"type": kind or "text", "content": item["content"]}
    image = item.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if isinstance(url, str) and not url.startswith("data:"):
        return {"type": "uri", "modality": "image", "uri": url}
    if isinstance(url, str):
        return {"type": "blob_reference", "modality": "image", "mime_type": url[5:].split(";", 1)[0]}
    return {"type": str(kind or "unknown")}


def _output(role: str, parts: list[Part], finish_reason: object) -> Message:
    message: Message = {"role": role, "parts": parts}
    if isinstance(finish_reason, str) and finish_reason:
        message["finish_reason"] = finish_reason
    return message


def _arguments(raw: object) -> object:
    if isinstance(raw, str):
        parsed = _json(raw)
        return raw if parsed is None else parsed
    return raw


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    return "" if content is None else _dump(content)


# --- small readers ----------------------------------------------------------------------------------------


def _json(raw: str) -> object | None:
    try:
        parsed: object = json.loads(raw)
        return parsed
    except ValueError:
        return None


def _json_dict(value: object) -> dict[str, Any]:
    if isinstance(value, str):
        value = _json(value)
    return value if isinstance(value, dict) else {}


def _json_list(value: object) -> list[dict[str, Any]]:
    if isinstance(value, str):
        value = _json(value)
    if isinstance(value, list | tuple):
        return [item if isinstance(item, dict) else _json_dict(item) for item in value]
    return []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _first_str(attributes: Mapping[str, AttributeValue], *keys: str) -> str | None:
    for key in keys:
        value = _str(attributes.get(key))
        if value is not None:
            return value
    return None


def _first_int(attributes: Mapping[str, AttributeValue], *keys: str) -> int | None:
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
