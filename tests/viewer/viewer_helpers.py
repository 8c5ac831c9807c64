"""Helpers for the viewer tests: spans written to a real store, shaped as docs/spans.md describes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from spyglass import _attribute_names as names
from spyglass.store import SqliteSpanProcessor

TOKEN = "test-token"  # the launch token the tests give the app

PAYLOAD_SCRIPT = "<script>window.__pwned=1</script>"
PAYLOAD_IMG = '<img src=x onerror="window.__pwned=1">'
HOSTILE = f"Look: {PAYLOAD_SCRIPT} and {PAYLOAD_IMG} **bold** [x](javascript:window.__pwned=1)"


def text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def messages(*items: tuple[str, list[dict[str, Any]]]) -> str:
    return json.dumps([{"role": role, "parts": parts} for role, parts in items])


class Tracing:
    """A provider writing to one store, with one method per kind of trace the viewer must show."""

    def __init__(self, path: Path, service: str = "checkout") -> None:
        self.processor = SqliteSpanProcessor(path, flush_interval=0.05)
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": service}), shutdown_on_exit=False
        )
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("spyglass.tests.viewer")

    def flush(self) -> None:
        assert self.processor.force_flush(10_000)

    def shutdown(self) -> None:
        self.provider.shutdown()

    @contextmanager
    def user_span(self, message: str, **attributes: Any) -> Iterator[Span]:
        with self.tracer.start_as_current_span(
            message, attributes={names.KIND: names.KIND_SPAN, names.MSG: message, **attributes}
        ) as span:
            yield span

    def llm(
        self,
        prompt: str = "What is the capital of France?",
        answer: str = "Paris.",
        *,
        model: str = "gpt-4o",
        system: str | None = "You are a terse geographer.",
        input_messages: str | None = None,
        output_parts: list[dict[str, Any]] | None = None,
        tokens: tuple[int, int] = (12, 3),
        cost: float | None = 0.0005,
        error: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        attributes: dict[str, Any] = {
            names.KIND: names.KIND_LLM,
            names.MSG: f"Chat Completion with {model!r}",
            names.OPERATION_NAME: "chat",
            names.PROVIDER_NAME: "openai",
            names.REQUEST_MODEL: model,
            names.SERVER_ADDRESS: "api.openai.com",
            names.SERVER_PORT: 443,
            names.OPENAI_PATH: "/chat/completions",
            names.REQUEST_TEMPERATURE: 0.2,
            names.INPUT_MESSAGES: input_messages or messages(("user", [text(prompt)])),
            **(extra or {}),
        }
        if (
            system is not None
        ):  # a Chat Completions system message: part of the history, as spyglass records it
            history = json.loads(attributes[names.INPUT_MESSAGES])
            attributes[names.INPUT_MESSAGES] = json.dumps(
                [{"role": "system", "parts": [text(system)]}, *history]
            )
        with self.tracer.start_as_current_span(
            f"chat {model}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            if error is not None:
                try:
                    raise LookupError(f"The model `{model}` does not exist")
                except LookupError as exc:
                    span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"NotFoundError: {error}"))
                span.set_attribute(names.ERROR_TYPE, error)
                return
            finish = "tool_calls" if any(p["type"] == "tool_call" for p in output_parts or []) else "stop"
            span.set_attributes(
                {
                    names.RESPONSE_MODEL: f"{model}-2024-08-06",
                    names.RESPONSE_ID: "chatcmpl-123",
                    names.OPENAI_REQUEST_ID: "req_abc123",
                    names.USAGE_INPUT_TOKENS: tokens[0],
                    names.USAGE_OUTPUT_TOKENS: tokens[1],
                    names.RESPONSE_FINISH_REASONS: (finish,),
                    names.OUTPUT_MESSAGES: json.dumps(
                        [
                            {
                                "role": "assistant",
                                "parts": output_parts or [text(answer)],
                                "finish_reason": finish,
                            }
                        ]
                    ),
                }
            )
            if cost is not None:
                span.set_attributes({names.COST_USD: cost, names.COST_STATUS: "known"})

    def chat_trace(self, title: str = "Ask about France", **llm: Any) -> None:
        with self.user_span(title):
            self.llm(**llm)

    def tool_trace(self) -> None:
        call = {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
        result = {"type": "tool_call_response", "id": "call_1", "response": '{"temp_c": 18, "sky": "sunny"}'}
        tools = json.dumps(
            [
                {
                    "type": "function",
                    "name": "get_weather",
                    "description": "The weather in a city.",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                }
            ]
        )
        with self.user_span("Weather round trip"):
            self.llm(
                "What's the weather in Paris?",
                output_parts=[call],
                tokens=(100, 10),
                cost=0.0004,
                extra={names.TOOL_DEFINITIONS: tools},
            )
            self.llm(
                input_messages=messages(
                    ("user", [text("What's the weather in Paris?")]),
                    ("assistant", [call]),
                    ("tool", [result]),
                ),
                answer="It is 18°C and sunny in Paris.",
                tokens=(140, 12),
                cost=0.0007,
                extra={names.TOOL_DEFINITIONS: tools},
            )

    def image_trace(self) -> None:
        with self.user_span("Draw a cat"):
            self.llm(
                "Draw a cat",
                model="dall-e-3",
                system=None,
                output_parts=[
                    text("A cat."),
                    {"type": "uri", "modality": "image", "uri": "http://127.0.0.1:9/cat.png"},
                    {
                        "type": "blob_reference",
                        "modality": "image",
                        "mime_type": "image/png",
                        "size": 12345,
                        "sha256": "ab" * 32,
                    },
                ],
                cost=None,
            )

    def error_trace(self) -> None:
        with self.user_span("A failing call"):
            self.llm("Hello?", model="missing-model", error="model_not_found")
