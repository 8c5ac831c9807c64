"""Helpers for the store tests: a provider writing to a store, and spans shaped as docs/spans.md says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from spyglass import _attribute_names as names
from spyglass.store._backends import store_processor


class Tracing:
    """A provider writing to one store, and helpers to make the spans the contract describes."""

    def __init__(self, path: Path | str, **processor_options: Any) -> None:
        self.processor = store_processor(path, **processor_options)  # a file or a PostgreSQL URL
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": "checkout", "deployment.environment": "test"}),
            shutdown_on_exit=False,
        )
        self.provider.add_span_processor(self.processor)
        self.tracer: Tracer = self.provider.get_tracer("spyglass.tests", "1.0")

    def flush(self) -> None:
        assert self.processor.force_flush(10_000)

    def shutdown(self) -> None:
        self.provider.shutdown()

    def llm_span(
        self,
        prompt: str = "What is the capital of France?",
        answer: str = "Paris.",
        *,
        model: str = "gpt-4o",
        input_tokens: int = 12,
        output_tokens: int = 3,
        cost: float | None = 0.0005,
        error: bool = False,
    ) -> None:
        attributes = llm_attributes(prompt, model=model)
        with self.tracer.start_as_current_span(
            f"chat {model}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            if error:
                span.set_status(_error_status("model_not_found"))
                span.set_attribute(names.ERROR_TYPE, "model_not_found")
                return
            span.set_attributes(
                {
                    names.RESPONSE_MODEL: f"{model}-2024-08-06",
                    names.USAGE_INPUT_TOKENS: input_tokens,
                    names.USAGE_OUTPUT_TOKENS: output_tokens,
                    names.OUTPUT_MESSAGES: json.dumps(
                        [
                            {
                                "role": "assistant",
                                "parts": [{"type": "text", "content": answer}],
                                "finish_reason": "stop",
                            }
                        ]
                    ),
                    names.RESPONSE_FINISH_REASONS: ("stop",),
                }
            )
            if cost is not None:
                span.set_attributes({names.COST_USD: cost, names.COST_STATUS: "known"})

    def user_span(self, message: str) -> Any:
        return self.tracer.start_as_current_span(
            message, attributes={names.KIND: names.KIND_SPAN, names.MSG: message, names.MSG_TEMPLATE: message}
        )


def llm_attributes(prompt: str, *, model: str = "gpt-4o") -> dict[str, Any]:
    return {
        names.KIND: names.KIND_LLM,
        names.MSG: f"Chat Completion with {model!r}",
        names.OPERATION_NAME: "chat",
        names.PROVIDER_NAME: "openai",
        names.REQUEST_MODEL: model,
        names.SERVER_ADDRESS: "api.openai.com",
        names.SERVER_PORT: 443,
        names.OPENAI_PATH: "/chat/completions",
        names.SYSTEM_INSTRUCTIONS: json.dumps([{"type": "text", "content": "You are a terse geographer."}]),
        names.INPUT_MESSAGES: json.dumps([{"role": "user", "parts": [{"type": "text", "content": prompt}]}]),
    }


def _error_status(description: str) -> Status:
    return Status(StatusCode.ERROR, description)
