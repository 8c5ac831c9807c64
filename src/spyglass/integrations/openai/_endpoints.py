"""Which OpenAI endpoints are model calls, and how each one's request and response become span attributes.

Every call goes through the client's `request()` with the API path and the JSON body, so an endpoint is
recognised by its path. Request functions read the body (a plain dict); response functions read the SDK's
parsed object. All are pure: they fill a dict of attributes.
"""

from __future__ import annotations

import binascii
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ... import _attribute_names as names
from ._messages import (
    FINISH_UNKNOWN,
    chat_input,
    chat_output_message,
    dumps_bounded,
    finish_reason,
    get,
    image_output,
    prompt_messages,
    responses_input,
    responses_output,
    text_part,
    tool_definitions,
)

Attributes = dict[str, Any]


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None


@dataclass(frozen=True)
class Endpoint:
    operation: str  # gen_ai.operation.name
    label: str  # the start of the human message: "Chat Completion with 'gpt-4'"
    request: Callable[[dict[str, Any], Attributes, bool, int], None]
    response: Callable[[Any, Attributes, bool, int], Usage | None]
    api_type: str | None = None


# --- request ---------------------------------------------------------------------------------------------------

_COMMON_PARAMS = (
    ("max_tokens", names.REQUEST_MAX_TOKENS),
    ("max_completion_tokens", names.REQUEST_MAX_TOKENS),
    ("max_output_tokens", names.REQUEST_MAX_TOKENS),
    ("temperature", names.REQUEST_TEMPERATURE),
    ("top_p", names.REQUEST_TOP_P),
    ("frequency_penalty", names.REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", names.REQUEST_PRESENCE_PENALTY),
    ("seed", names.REQUEST_SEED),
    ("service_tier", names.OPENAI_REQUEST_SERVICE_TIER),
)


def _common_params(body: dict[str, Any], attributes: Attributes) -> None:
    for key, name in _COMMON_PARAMS:
        value = body.get(key)
        if value is not None and isinstance(value, int | float | str):
            attributes[name] = value
    stop = body.get("stop")
    if stop is not None:
        attributes[names.REQUEST_STOP_SEQUENCES] = (stop,) if isinstance(stop, str) else tuple(map(str, stop))
    n = body.get("n")
    if isinstance(n, int) and n != 1:
        attributes[names.REQUEST_CHOICE_COUNT] = n
    if body.get("stream"):
        attributes[names.REQUEST_STREAM] = True
    reasoning = body.get("reasoning")  # Responses: {"effort": "low"}; Chat Completions: reasoning_effort
    effort = reasoning.get("effort") if isinstance(reasoning, dict) else body.get("reasoning_effort")
    if isinstance(effort, str) and effort:
        attributes[names.REQUEST_REASONING_LEVEL] = effort


def _conversation_id(value: Any) -> str | None:
    """The Responses API's `conversation`: an id, or an object with one."""
    found = get(value, "id") if value is not None and not isinstance(value, str) else value
    return found if isinstance(found, str) and found else None


def _set_conversation(attributes: Attributes, system: list[Any], messages: list[Any], limit: int) -> None:
    if system:
        attributes[names.SYSTEM_INSTRUCTIONS] = dumps_bounded(system, limit)
    attributes[names.INPUT_MESSAGES] = dumps_bounded(messages, limit)


def _set_tools(body: dict[str, Any], attributes: Attributes) -> None:
    tools = body.get("tools") or body.get("functions")
    if tools:
        attributes[names.TOOL_DEFINITIONS] = dumps_bounded(tool_definitions(tools), 128 * 1024)


def _chat_request(body: dict[str, Any], attributes: Attributes, capture: bool, limit: int) -> None:
    _common_params(body, attributes)
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        attributes[names.OUTPUT_TYPE] = "json" if kind in ("json_object", "json_schema") else "text"
    _set_tools(body, attributes)
    if capture:
        _set_conversation(attributes, [], chat_input(body.get("messages") or (), limit), limit)


def _responses_request(body: dict[str, Any], attributes: Attributes, capture: bool, limit: int) -> None:
    _common_params(body, attributes)
    text = body.get("text")
    if isinstance(text, dict) and isinstance(text.get("format"), dict):
        kind = text["format"].get("type")
        attributes[names.OUTPUT_TYPE] = "json" if kind in ("json_object", "json_schema") else "text"
    _set_tools(body, attributes)
    conversation = _conversation_id(body.get("conversation"))
    if conversation:
        attributes[names.CONVERSATION_ID] = conversation
    previous = body.get("previous_response_id")
    if isinstance(previous, str) and previous:
        attributes[names.REQUEST_PREVIOUS_RESPONSE_ID] = previous
    if capture:
        _set_conversation(
            attributes, *responses_input(body.get("instructions"), body.get("input"), limit), limit
        )


def _completion_request(body: dict[str, Any], attributes: Attributes, capture: bool, limit: int) -> None:
    _common_params(body, attributes)
    if capture:
        attributes[names.INPUT_MESSAGES] = dumps_bounded(prompt_messages(body.get("prompt"), limit), limit)


def _embeddings_request(body: dict[str, Any], attributes: Attributes, capture: bool, limit: int) -> None:
    encoding_format = body.get("encoding_format")
    if isinstance(encoding_format, str):
        attributes[names.REQUEST_ENCODING_FORMATS] = (encoding_format,)
    dimensions = body.get("dimensions")
    if isinstance(dimensions, int):
        attributes[names.EMBEDDINGS_DIMENSION_COUNT] = dimensions
    if capture:
        attributes[names.INPUT_MESSAGES] = dumps_bounded(prompt_messages(body.get("input"), limit), limit)


def _image_request(body: dict[str, Any], attributes: Attributes, capture: bool, limit: int) -> None:
    attributes[names.OUTPUT_TYPE] = "image"
    n = body.get("n")
    if isinstance(n, int) and n != 1:
        attributes[names.REQUEST_CHOICE_COUNT] = n
    if body.get("stream"):
        attributes[names.REQUEST_STREAM] = True
    if capture and body.get("prompt") is not None:
        attributes[names.INPUT_MESSAGES] = dumps_bounded(prompt_messages(body.get("prompt"), limit), limit)


# --- response --------------------------------------------------------------------------------------------------


def usage_of(usage: Any) -> Usage | None:
    """Token usage from a Chat Completions / Completions / Embeddings / Responses / Images usage object."""
    if usage is None:
        return None
    input_tokens = get(usage, "prompt_tokens")
    output_tokens = get(usage, "completion_tokens")
    input_details = get(usage, "prompt_tokens_details")
    output_details = get(usage, "completion_tokens_details")
    if input_tokens is None:  # Responses and Images name them differently
        input_tokens = get(usage, "input_tokens")
        output_tokens = get(usage, "output_tokens")
        input_details = get(usage, "input_tokens_details")
        output_details = get(usage, "output_tokens_details")
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=get(input_details, "cached_tokens") if input_details is not None else None,
        reasoning_tokens=get(output_details, "reasoning_tokens") if output_details is not None else None,
    )


def _identity(response: Any, attributes: Attributes) -> None:
    response_id = get(response, "id")
    if response_id:
        attributes[names.RESPONSE_ID] = response_id
    model = get(response, "model")
    if model:
        attributes[names.RESPONSE_MODEL] = model
    fingerprint = get(response, "system_fingerprint")
    if fingerprint:
        attributes[names.OPENAI_SYSTEM_FINGERPRINT] = fingerprint
    tier = get(response, "service_tier")
    if tier:
        attributes[names.OPENAI_RESPONSE_SERVICE_TIER] = tier


def _finish_reasons(choices: Any, attributes: Attributes) -> list[str]:
    """One finish reason per choice (`unknown` for a choice the API gave none), recorded when there are any."""
    reasons = [finish_reason(get(c, "finish_reason"), FINISH_UNKNOWN) for c in choices]
    if reasons:
        attributes[names.RESPONSE_FINISH_REASONS] = tuple(reasons)
    return reasons


def _chat_response(response: Any, attributes: Attributes, capture: bool, limit: int) -> Usage | None:
    _identity(response, attributes)
    choices = get(response, "choices") or ()
    reasons = _finish_reasons(choices, attributes)
    if capture:
        attributes[names.OUTPUT_MESSAGES] = dumps_bounded(
            [chat_output_message(get(c, "message"), r, limit) for c, r in zip(choices, reasons, strict=True)],
            limit,
        )
    return usage_of(get(response, "usage"))


def _completion_response(response: Any, attributes: Attributes, capture: bool, limit: int) -> Usage | None:
    _identity(response, attributes)
    choices = get(response, "choices") or ()
    reasons = _finish_reasons(choices, attributes)
    if capture:
        attributes[names.OUTPUT_MESSAGES] = dumps_bounded(
            [
                {"role": "assistant", "parts": [text_part(get(c, "text") or "", limit)], "finish_reason": r}
                for c, r in zip(choices, reasons, strict=True)
            ],
            limit,
        )
    return usage_of(get(response, "usage"))


def _responses_response(response: Any, attributes: Attributes, capture: bool, limit: int) -> Usage | None:
    _identity(response, attributes)
    responses_identity(response, attributes)
    output = responses_output(get(response, "output"), get(response, "status"), limit)
    if output:
        attributes[names.RESPONSE_FINISH_REASONS] = (output[0]["finish_reason"],)
    if capture:
        attributes[names.OUTPUT_MESSAGES] = dumps_bounded(output, limit)
    return usage_of(get(response, "usage"))


def responses_identity(response: Any, attributes: Attributes) -> None:
    """The conversation a Response belongs to, and the response it continues, when the request did not say."""
    conversation = _conversation_id(get(response, "conversation"))
    if conversation:
        attributes.setdefault(names.CONVERSATION_ID, conversation)
    previous = get(response, "previous_response_id")
    if isinstance(previous, str) and previous:
        attributes.setdefault(names.REQUEST_PREVIOUS_RESPONSE_ID, previous)


def _embeddings_response(response: Any, attributes: Attributes, capture: bool, limit: int) -> Usage | None:
    model = get(response, "model")
    if model:
        attributes[names.RESPONSE_MODEL] = model
    data = get(response, "data") or ()
    if data:
        vector = get(data[0], "embedding")
        if isinstance(vector, list | tuple):
            attributes[names.EMBEDDINGS_DIMENSION_COUNT] = len(vector)
        elif isinstance(vector, str):  # encoding_format="base64": little-endian float32s
            with contextlib.suppress(binascii.Error, ValueError):
                attributes[names.EMBEDDINGS_DIMENSION_COUNT] = len(binascii.a2b_base64(vector)) // 4
    usage = get(response, "usage")
    if usage is None:
        return None
    return Usage(input_tokens=get(usage, "prompt_tokens"), output_tokens=None)


def _image_response(response: Any, attributes: Attributes, capture: bool, limit: int) -> Usage | None:
    if capture:
        attributes[names.OUTPUT_MESSAGES] = dumps_bounded(
            image_output(get(response, "data"), get(response, "output_format"), limit), limit
        )
    return usage_of(get(response, "usage"))


CHAT = Endpoint("chat", "Chat Completion", _chat_request, _chat_response, "chat_completions")
RESPONSES = Endpoint("chat", "Responses API", _responses_request, _responses_response, "responses")
COMPLETIONS = Endpoint("text_completion", "Completion", _completion_request, _completion_response)
EMBEDDINGS = Endpoint("embeddings", "Embedding Creation", _embeddings_request, _embeddings_response)
IMAGE_GENERATION = Endpoint("image_generation", "Image Generation", _image_request, _image_response)
IMAGE_EDIT = Endpoint("image_edit", "Image Edit", _image_request, _image_response)

BY_PATH: dict[str, Endpoint] = {
    "/chat/completions": CHAT,
    "/responses": RESPONSES,
    "/completions": COMPLETIONS,
    "/embeddings": EMBEDDINGS,
    "/images/generations": IMAGE_GENERATION,
    "/images/edits": IMAGE_EDIT,
}
