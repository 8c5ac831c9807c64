"""A recorded chat or Responses call rebuilt as the request to send again, and where it may go.

Only what the span recorded can be rebuilt: its conversation (`gen_ai.input.messages`, system
instructions), tools, model and `gen_ai.request.*` parameters, turned back into the API's wire format.
What cannot come back (a part given by reference only, an inline image stored as its hash, messages left
out of a long conversation) is listed in `notes`, so the page can say so before anything is sent.

The destination is never taken from the page: it is the server the span names (`server.address`,
`server.port`) and the API path it recorded, and the page's body is checked against the parameters each
API takes, so an edit changes what is asked, not where it goes or how.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from spyglass import _attribute_names as names

CHAT_PATH = "/chat/completions"
RESPONSES_PATH = "/responses"

# Each API's parameters a replayed body may carry: the SDK's own keyword arguments that are wire fields,
# never its `extra_headers` / `extra_query` / `timeout` (which would change how and where it is sent).
_CHAT_KEYS = frozenset(
    [
        "model",
        "messages",
        "temperature",
        "top_p",
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "n",
        "stream",
        "reasoning_effort",
        "service_tier",
        "tools",
        "tool_choice",
        "response_format",
        "parallel_tool_calls",
        "logprobs",
        "top_logprobs",
        "user",
        "metadata",
        "store",
        "logit_bias",
        "modalities",
    ]
)
_RESPONSES_KEYS = frozenset(
    [
        "model",
        "input",
        "instructions",
        "temperature",
        "top_p",
        "max_output_tokens",
        "stream",
        "reasoning",
        "service_tier",
        "tools",
        "tool_choice",
        "text",
        "parallel_tool_calls",
        "previous_response_id",
        "metadata",
        "user",
        "truncation",
        "store",
        "include",
        "max_tool_calls",
        "top_logprobs",
    ]
)
ALLOWED_KEYS = {CHAT_PATH: _CHAT_KEYS, RESPONSES_PATH: _RESPONSES_KEYS}

# The path prefix a provider's OpenAI-compatible API lives under (the span records the path after it).
_PREFIXES = {
    "openrouter": "/api/v1",
    "groq": "/openai/v1",
    "gcp.gemini": "/v1beta/openai",
}
_DEFAULT_OPENAI_HOST = "api.openai.com"


class ReplayRefused(ValueError):
    """This span cannot be replayed, or the page's request is not one that may be sent; says why."""


@dataclass(frozen=True)
class Target:
    """Where a replay goes: the recorded server, and whether the environment's key belongs to it."""

    base_url: str  # e.g. http://127.0.0.1:8000/v1
    path: str  # /chat/completions or /responses
    host: str


@dataclass
class ReplayRequest:
    target: Target
    body: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def target_of(attributes: Mapping[str, Any]) -> Target:
    """The recorded server and path; refused for anything but a chat or Responses call to a usable host."""
    path = attributes.get(names.OPENAI_PATH)
    if path not in ALLOWED_KEYS:
        raise ReplayRefused("Only Chat Completions and Responses API calls can be replayed.")
    provider = attributes.get(names.PROVIDER_NAME)
    if provider == "azure.ai.openai":
        raise ReplayRefused("Azure OpenAI calls cannot be replayed (their deployment URL is not recorded).")
    host = attributes.get(names.SERVER_ADDRESS)
    port = attributes.get(names.SERVER_PORT)
    if not isinstance(host, str) or not host or not isinstance(port, int) or not 0 < port < 65536:
        raise ReplayRefused("The span does not record the server it called (server.address and port).")
    host = host.lower()
    if any(c in host for c in "/?#@ \\") or _is_link_local(host):
        raise ReplayRefused(f"The recorded server {host!r} is not one a replay is sent to.")
    # The base URL's scheme is not recorded: the default HTTPS port means HTTPS, anything else HTTP
    # (local servers). The path prefix is OpenAI's /v1 unless the provider is known to use another.
    scheme = "https" if port == 443 else "http"
    shown = f"[{host}]" if ":" in host else host
    netloc = shown if (scheme, port) in (("https", 443), ("http", 80)) else f"{shown}:{port}"
    prefix = _PREFIXES.get(str(provider), "/v1")
    return Target(f"{scheme}://{netloc}{prefix}", path, host)


def _is_link_local(host: str) -> bool:
    """Cloud metadata services answer on link-local addresses: a forged span must not point a replay there."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host == "metadata.google.internal"
    return address.is_link_local or address.is_multicast or address.is_unspecified


def key_belongs_to(target: Target, environ: Mapping[str, str]) -> bool:
    """Whether OPENAI_API_KEY may be sent to `target`: only to the scheme, host and port OPENAI_BASE_URL
    names (by default https://api.openai.com). A span anyone can write over OTLP must not be able to send
    the key elsewhere, nor to the right host over plain HTTP."""
    return bool(environ.get("OPENAI_API_KEY")) and _origin(_key_base_url(environ)) == _origin(target.base_url)


def for_environment(target: Target, environ: Mapping[str, str]) -> Target:
    """`target` under OPENAI_BASE_URL's own path when it is that server (a proxy's prefix is not recorded)."""
    base = _key_base_url(environ)
    if _origin(base) != _origin(target.base_url):
        return target
    return Target(base.rstrip("/"), target.path, target.host)


def _key_base_url(environ: Mapping[str, str]) -> str:
    return environ.get("OPENAI_BASE_URL") or f"https://{_DEFAULT_OPENAI_HOST}/v1"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:
        port = None
    return parts.scheme, (parts.hostname or "").lower(), port


def rebuild(attributes: Mapping[str, Any]) -> ReplayRequest:
    """The request a recorded call made, as far as its span recorded it."""
    target = target_of(attributes)
    notes: list[str] = []
    model = attributes.get(names.REQUEST_MODEL)
    if names.INPUT_MESSAGES not in attributes:
        raise ReplayRefused("The span has no recorded conversation (content capture was off).")
    messages = _parsed(attributes.get(names.INPUT_MESSAGES), notes, "input messages")
    system = _parsed(attributes.get(names.SYSTEM_INSTRUCTIONS), notes, "system instructions")
    tools = _parsed(attributes.get(names.TOOL_DEFINITIONS), notes, "tool definitions")
    body: dict[str, Any] = {"model": model if isinstance(model, str) else ""}
    if target.path == CHAT_PATH:
        body["messages"] = [
            *([{"role": "system", "content": _text_of(system)}] if system else []),
            *_chat_messages(messages, notes),
        ]
        if tools:
            body["tools"] = [_chat_tool(tool) for tool in tools if isinstance(tool, dict)]
    else:
        if system:
            body["instructions"] = _text_of(system)
        body["input"] = _responses_items(messages, notes)
        if tools:
            body["tools"] = [dict(tool) for tool in tools if isinstance(tool, dict)]
    body.update(_parameters(attributes, target.path))
    if attributes.get(names.OUTPUT_TYPE) == "json":
        notes.append("The call asked for JSON output; its schema is not recorded, so it is not sent.")
    return ReplayRequest(target, body, notes)


def checked_body(body: Any, path: str) -> dict[str, Any]:
    """The page's edited body, if it is one the API at `path` takes; else `ReplayRefused` saying why."""
    if not isinstance(body, dict):
        raise ReplayRefused("The request must be a JSON object.")
    unknown = sorted(set(body) - ALLOWED_KEYS[path])
    if unknown:
        raise ReplayRefused(f"Not a parameter a replay sends: {', '.join(unknown)}.")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise ReplayRefused("The request needs a model.")
    conversation = "messages" if path == CHAT_PATH else "input"
    if not isinstance(body.get(conversation), list | str) or not body[conversation]:
        raise ReplayRefused(f"The request needs {conversation}.")
    return body


# --- from recorded attributes back to the wire format -------------------------------------------------------


def _parsed(value: Any, notes: list[str], what: str) -> list[Any]:
    if value is None:
        return []
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        raise ReplayRefused(f"The recorded {what} were cut short and are not valid JSON.") from None
    if not isinstance(parsed, list):
        raise ReplayRefused(f"The recorded {what} are not a list.")
    return parsed


def _text_of(parts: list[Any]) -> str:
    return "\n".join(
        str(p.get("content", "")) for p in parts if isinstance(p, dict) and p.get("type") == "text"
    )


def _arguments_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


def _recorded_messages(messages: list[Any], notes: list[str]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(role, parts) of each recorded message; the marker of messages left out becomes a note."""
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = str(message.get("role") or "user")
        parts = [p for p in message.get("parts") or () if isinstance(p, dict)]
        if role == "omitted":
            notes.append(f"Messages were left out when the call was recorded ({_text_of(parts)}).")
            continue
        yield role, parts


def _chat_messages(messages: list[Any], notes: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for role, parts in _recorded_messages(messages, notes):
        content: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        for part in parts:
            kind = part.get("type")
            if kind == "text":
                content.append({"type": "text", "text": str(part.get("content", ""))})
            elif kind == "uri" and part.get("modality") == "image":
                content.append({"type": "image_url", "image_url": {"url": str(part.get("uri"))}})
            elif kind == "tool_call":
                function = {"name": part.get("name"), "arguments": _arguments_text(part.get("arguments"))}
                calls.append({"id": part.get("id"), "type": "function", "function": function})
            elif kind == "tool_call_response":
                out.append({"role": "tool", "tool_call_id": part.get("id"), "content": _response_text(part)})
            else:
                notes.append(f"A {kind} part of a {role} message is not recorded in full and is left out.")
        if role == "tool":
            continue  # its results were added above, one message each
        item: dict[str, Any] = {"role": role}
        only_text = all(c["type"] == "text" for c in content)
        item["content"] = "\n".join(c["text"] for c in content) if only_text else content
        if calls:
            item["tool_calls"] = calls
            if not content:
                item["content"] = None
        out.append(item)
    return out


def _response_text(part: Mapping[str, Any]) -> str:
    response = part.get("response")
    return response if isinstance(response, str) else json.dumps(response, ensure_ascii=False)


def _responses_items(messages: list[Any], notes: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for role, parts in _recorded_messages(messages, notes):
        texts: list[str] = []
        for part in parts:
            kind = part.get("type")
            if kind == "text":
                texts.append(str(part.get("content", "")))
            elif kind == "tool_call":
                arguments = _arguments_text(part.get("arguments"))
                out.append(
                    {
                        "type": "function_call",
                        "call_id": part.get("id"),
                        "name": part.get("name"),
                        "arguments": arguments,
                    }
                )
            elif kind == "tool_call_response":
                out.append(
                    {
                        "type": "function_call_output",
                        "call_id": part.get("id"),
                        "output": _response_text(part),
                    }
                )
            else:
                notes.append(f"A {kind} part of a {role} message is not recorded in full and is left out.")
        if texts and role != "tool":
            out.append({"role": role, "content": "\n".join(texts)})
    return out


def _chat_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    if tool.get("type", "function") != "function":
        return dict(tool)
    function = {key: tool[key] for key in ("name", "description", "parameters", "strict") if key in tool}
    return {"type": "function", "function": function}


def _parameters(attributes: Mapping[str, Any], path: str) -> dict[str, Any]:
    chat = path == CHAT_PATH
    wire = {
        names.REQUEST_TEMPERATURE: "temperature",
        names.REQUEST_TOP_P: "top_p",
        names.REQUEST_FREQUENCY_PENALTY: "frequency_penalty",
        names.REQUEST_PRESENCE_PENALTY: "presence_penalty",
        names.REQUEST_SEED: "seed",
        names.REQUEST_MAX_TOKENS: "max_completion_tokens" if chat else "max_output_tokens",
        names.OPENAI_REQUEST_SERVICE_TIER: "service_tier",
    }
    if chat:
        wire[names.REQUEST_CHOICE_COUNT] = "n"
    params = {key: attributes[name] for name, key in wire.items() if name in attributes}
    stop = attributes.get(names.REQUEST_STOP_SEQUENCES)
    if stop and chat:
        params["stop"] = list(stop)
    effort = attributes.get(names.REQUEST_REASONING_LEVEL)
    if isinstance(effort, str) and effort:
        params.update({"reasoning_effort": effort} if chat else {"reasoning": {"effort": effort}})
    previous = attributes.get(names.REQUEST_PREVIOUS_RESPONSE_ID)
    if previous and not chat:
        params["previous_response_id"] = previous
    if attributes.get(names.REQUEST_STREAM):
        params["stream"] = True
    return params
