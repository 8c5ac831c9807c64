"""Streams: accumulate what the caller reads and end the stream span however the stream ends.

The caller keeps the very `Stream` / `AsyncStream` object the SDK made; only its private iterator is
replaced by a generator that passes every chunk through (counting it and folding it into an accumulator)
and ends the span on exhaustion, error or close. Closing is seen through the HTTP response's close, and a
stream dropped without being closed ends its span when it is garbage-collected.

Per-chunk work is kept to a few attribute reads: this runs on the caller's thread for every chunk.
"""

from __future__ import annotations

import time
import weakref
from array import array
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from ... import _attribute_names as names
from ..._encoding import truncate
from ..._errors import log_internal_error
from ._endpoints import Attributes, Usage, responses_identity, usage_of
from ._messages import (
    FINISH_CANCELLED,
    FINISH_ERROR,
    FINISH_UNKNOWN,
    dumps_bounded,
    finish_reason,
    parse_arguments,
    responses_output,
    tool_call_part,
)

if TYPE_CHECKING:
    from ._wrappers import StreamSpan


# --- accumulators: chunks in, attributes out -------------------------------------------------------------------


class _Choice:
    __slots__ = ("finish_reason", "refusal", "role", "text", "tool_calls")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.tool_calls: dict[int, list[Any]] = {}  # index -> [id, name, argument fragments]
        self.finish_reason: str | None = None
        self.role = "assistant"


class _Accumulator:
    """Chunks are only appended to `pending` as they pass (the per-chunk cost); `fold()` digests them in
    batches with local variables, which costs far less per chunk than digesting each one as it passes."""

    BATCH = 64

    def __init__(self) -> None:
        self.pending: list[Any] = []
        self.count = 0
        self.stamps = array("q")  # when each chunk arrived (ns): the time-per-output-chunk metric

    def fold(self) -> None:
        pending = self.pending
        if pending:
            self.count += len(pending)
            self._fold(pending)
            pending.clear()

    def _fold(self, chunks: list[Any]) -> None:
        raise NotImplementedError


def unfinished_reason(outcome: str) -> str:
    """The finish reason of a generation the stream did not say how it ended, from how the stream ended."""
    if outcome in (names.STREAM_CLOSED_EARLY, names.STREAM_ABANDONED):
        return FINISH_CANCELLED
    if outcome == names.STREAM_COMPLETED:
        return FINISH_UNKNOWN
    return FINISH_ERROR


class ChatAccumulator(_Accumulator):
    """Folds Chat Completions chunks (and legacy Completions chunks) into the final output."""

    def __init__(self) -> None:
        super().__init__()
        self.choices: dict[int, _Choice] = {}
        self.response_id: str | None = None
        self.model: str | None = None
        self.fingerprint: str | None = None
        self.service_tier: str | None = None
        self.usage: Any = None

    def _fold(self, chunks: list[Any]) -> None:
        if self.response_id is None:
            first = chunks[0]
            self.response_id, self.model = first.id, first.model
            self.fingerprint = getattr(first, "system_fingerprint", None)
            self.service_tier = getattr(first, "service_tier", None)
        states = self.choices
        for chunk in chunks:
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                self.usage = usage
            for choice in chunk.choices:
                state = states.get(choice.index)
                if state is None:
                    state = states[choice.index] = _Choice()
                delta = getattr(choice, "delta", None)
                if delta is None:  # legacy Completions: text on the choice itself
                    if choice.text:
                        state.text.append(choice.text)
                else:
                    content = delta.content
                    if content:
                        state.text.append(content)
                    if delta.tool_calls:
                        self._add_tool_calls(state, delta.tool_calls)
                    if getattr(delta, "refusal", None):
                        state.refusal.append(delta.refusal)
                if choice.finish_reason:
                    state.finish_reason = choice.finish_reason

    @staticmethod
    def _add_tool_calls(acc: _Choice, tool_calls: Any) -> None:
        for call in tool_calls:
            entry = acc.tool_calls.get(call.index)
            if entry is None:
                entry = acc.tool_calls[call.index] = [None, None, []]
            if call.id:
                entry[0] = call.id
            function = call.function
            if function is not None:
                if function.name:
                    entry[1] = function.name
                if function.arguments:
                    entry[2].append(function.arguments)

    def finish(self, attributes: Attributes, capture: bool, limit: int, outcome: str) -> Usage | None:
        self.fold()
        if self.response_id:
            attributes[names.RESPONSE_ID] = self.response_id
        if self.model:
            attributes[names.RESPONSE_MODEL] = self.model
        if self.fingerprint:
            attributes[names.OPENAI_SYSTEM_FINGERPRINT] = self.fingerprint
        if self.service_tier:
            attributes[names.OPENAI_RESPONSE_SERVICE_TIER] = self.service_tier
        ordered = [self.choices[i] for i in sorted(self.choices)]
        fallback = unfinished_reason(outcome)
        reasons = [finish_reason(c.finish_reason, fallback) for c in ordered]
        if reasons:
            attributes[names.RESPONSE_FINISH_REASONS] = tuple(reasons)
        if capture:
            attributes[names.OUTPUT_MESSAGES] = dumps_bounded(
                [self._message(c, r, limit) for c, r in zip(ordered, reasons, strict=True)], limit
            )
        return usage_of(self.usage)

    @staticmethod
    def _message(choice: _Choice, reason: str, limit: int) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        if choice.text:
            parts.append({"type": "text", "content": truncate("".join(choice.text), limit)})
        if choice.refusal:
            parts.append({"type": "refusal", "content": truncate("".join(choice.refusal), limit)})
        for index in sorted(choice.tool_calls):
            call_id, name, fragments = choice.tool_calls[index]
            parts.append(tool_call_part(call_id, name, parse_arguments("".join(fragments), limit)))
        return {"role": choice.role, "parts": parts, "finish_reason": reason}


class ResponsesAccumulator(_Accumulator):
    """Folds Responses API stream events; the final `response.completed` event carries everything."""

    _WITH_RESPONSE = frozenset(
        {
            "response.completed",
            "response.incomplete",
            "response.failed",
            "response.created",
            "response.in_progress",
        }
    )

    def __init__(self) -> None:
        super().__init__()
        self.response: Any = None  # the latest full Response object seen in an event
        self.text: list[str] = []

    def _fold(self, events: list[Any]) -> None:
        for event in events:
            kind = getattr(event, "type", None)
            if kind == "response.output_text.delta":
                self.text.append(event.delta)
            elif kind in self._WITH_RESPONSE:
                self.response = event.response

    def finish(self, attributes: Attributes, capture: bool, limit: int, outcome: str) -> Usage | None:
        self.fold()
        response = self.response
        if response is not None:
            if response.id:
                attributes[names.RESPONSE_ID] = response.id
            if response.model:
                attributes[names.RESPONSE_MODEL] = response.model
            tier = getattr(response, "service_tier", None)
            if tier:
                attributes[names.OPENAI_RESPONSE_SERVICE_TIER] = tier
            responses_identity(response, attributes)
        output = responses_output(response.output, response.status, limit) if response is not None else []
        if not output and self.text:  # ended before the final event: keep the partial text
            parts = [{"type": "text", "content": truncate("".join(self.text), limit)}]
            output = [{"role": "assistant", "parts": parts, "finish_reason": unfinished_reason(outcome)}]
        elif output and getattr(response, "status", None) in (None, "queued", "in_progress"):
            output[0]["finish_reason"] = unfinished_reason(outcome)  # the final event never came
        if output:
            attributes[names.RESPONSE_FINISH_REASONS] = (output[0]["finish_reason"],)
        if capture and output:
            attributes[names.OUTPUT_MESSAGES] = dumps_bounded(output, limit)
        return usage_of(getattr(response, "usage", None)) if response is not None else None


class EventAccumulator(_Accumulator):
    """Any other stream (image generation events...): count chunks, keep the last usage seen."""

    def __init__(self) -> None:
        super().__init__()
        self.usage: Any = None

    def _fold(self, chunks: list[Any]) -> None:
        for chunk in chunks:
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                self.usage = usage

    def finish(self, attributes: Attributes, capture: bool, limit: int, outcome: str) -> Usage | None:
        self.fold()
        return usage_of(self.usage)


def accumulator_for(path: str) -> Callable[[], Any]:
    if path in ("/chat/completions", "/completions"):
        return ChatAccumulator
    if path == "/responses":
        return ResponsesAccumulator
    return EventAccumulator


# --- iterator proxies ------------------------------------------------------------------------------------------


def _hidden(chunk: Any) -> bool:
    """Undo what asking for usage changed: drop the usage-only chunk, unmark `usage` on the others.

    We asked for usage the caller did not, so the chunks must stay exactly as they would have been.
    """
    if not chunk.choices and getattr(chunk, "usage", None) is not None:
        return True
    fields_set = getattr(chunk, "__pydantic_fields_set__", None)
    if fields_set is not None:
        fields_set.discard("usage")
    return False


def _iterate(inner: Iterator[Any], span: StreamSpan) -> Iterator[Any]:
    accumulator, hide_usage = span.accumulator, span.injected_usage
    pending = accumulator.pending
    append = pending.append
    stamp = accumulator.stamps.append
    batch = _Accumulator.BATCH
    try:
        for chunk in inner:
            if span.first_chunk_ns == 0:
                span.first_chunk_ns = time.time_ns()
            append(chunk)
            stamp(time.time_ns())
            if len(pending) >= batch:
                _fold_safely(accumulator)
            if hide_usage and _hidden(chunk):
                continue
            yield chunk
    except GeneratorExit:
        span.finish_closed()
        raise
    except BaseException as exc:
        span.finish_error(exc)
        raise
    span.finish_completed()


async def _aiterate(inner: AsyncIterator[Any], span: StreamSpan) -> AsyncIterator[Any]:
    accumulator, hide_usage = span.accumulator, span.injected_usage
    pending = accumulator.pending
    append = pending.append
    stamp = accumulator.stamps.append
    batch = _Accumulator.BATCH
    try:
        async for chunk in inner:
            if span.first_chunk_ns == 0:
                span.first_chunk_ns = time.time_ns()
            append(chunk)
            stamp(time.time_ns())
            if len(pending) >= batch:
                _fold_safely(accumulator)
            if hide_usage and _hidden(chunk):
                continue
            yield chunk
    except GeneratorExit:
        span.finish_closed()
        raise
    except BaseException as exc:
        span.finish_error(exc)
        raise
    span.finish_completed()


def _fold_safely(accumulator: _Accumulator) -> None:
    try:
        accumulator.fold()
    except Exception:
        accumulator.pending.clear()
        log_internal_error("openai.stream.chunk")


def _hide_only(inner: Iterator[Any]) -> Iterator[Any]:
    for chunk in inner:
        if not _hidden(chunk):
            yield chunk


async def _ahide_only(inner: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for chunk in inner:
        if not _hidden(chunk):
            yield chunk


def hide_injected_usage(stream: Any, is_async: bool) -> None:
    """The fallback when recording a stream failed: still give the caller exactly its own chunks."""
    if not hasattr(stream, "_iterator") or is_instrumented(stream):
        return
    stream._iterator = _ahide_only(stream._iterator) if is_async else _hide_only(stream._iterator)


def _suspended(generator: Any, running: str, frame: str) -> bool:
    """True when the SDK's generator is paused between chunks (or not started).

    The SDK and httpx close the response themselves while the generator runs and just after it ends;
    only a close while it is paused comes from outside (stream.close(), leaving a `with`, a helper's close)
    and means the caller stopped early.
    """
    return not getattr(generator, running, False) and getattr(generator, frame, None) is not None


def is_instrumented(stream: Any) -> bool:
    """True when `stream` already passes its chunks through a stream span (a parsed response is cached)."""
    iterator = stream._iterator
    code = getattr(iterator, "gi_code", None) or getattr(iterator, "ag_code", None)
    return code is _iterate.__code__ or code is _aiterate.__code__


def attach(stream: Any, span: StreamSpan, is_async: bool) -> None:
    """Route `stream`'s chunks through `span` and end it however the stream ends."""
    inner = stream._iterator
    stream._iterator = _aiterate(inner, span) if is_async else _iterate(inner, span)
    response = stream.response
    if is_async:
        original_aclose = response.aclose

        async def aclose() -> None:
            if _suspended(inner, "ag_running", "ag_frame"):
                span.finish_closed(requested=True)
            await original_aclose()

        response.aclose = aclose
    else:
        original_close = response.close

        def close() -> None:
            if _suspended(inner, "gi_running", "gi_frame"):
                span.finish_closed(requested=True)
            original_close()

        response.close = close
    weakref.finalize(stream, span.finish_closed)
