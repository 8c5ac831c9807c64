"""Streams: accumulate what the caller reads and end the stream span however the stream ends.

The caller keeps the very `Stream` / `AsyncStream` object the SDK made, and gets the very chunk objects the
SDK parsed, untouched; only its private iterator is replaced by one that passes every chunk through (counting
it and folding it into an accumulator) and ends the span on exhaustion, error, close or a `break` out of a
loop. Closing is seen through the HTTP response's close, and a stream dropped without being read, closed or
looped over ends its span when it is garbage-collected.

Per-chunk work is kept to a few attribute reads: this runs on the caller's thread for every chunk.
"""

from __future__ import annotations

import functools
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
            self.fold_batch(pending)
            pending.clear()

    def fold_batch(self, chunks: list[Any]) -> None:
        """Digest chunks taken out of `pending` (on the pipeline's thread, in the order they came)."""
        self.count += len(chunks)
        self._fold(chunks)

    def _fold(self, chunks: list[Any]) -> None:
        raise NotImplementedError

    def ended_properly(self) -> bool:
        """Whether what was read says the answer is over (a stream cut short can end without an error)."""
        return True


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

    def ended_properly(self) -> bool:
        self.fold()
        return bool(self.choices) and all(c.finish_reason for c in self.choices.values())

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

    _FINAL = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})

    def __init__(self) -> None:
        super().__init__()
        self.response: Any = None  # the latest full Response object seen in an event
        self.text: list[str] = []
        self.final = False

    def _fold(self, events: list[Any]) -> None:
        for event in events:
            kind = getattr(event, "type", None)
            if kind == "response.output_text.delta":
                self.text.append(event.delta)
            elif kind in self._WITH_RESPONSE:
                self.response = event.response
            if kind in self._FINAL:
                self.final = True

    def ended_properly(self) -> bool:
        self.fold()
        return self.final

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
#
# The SDK's `Stream.__iter__` is `for item in self._iterator: yield item`, and `__next__` calls
# `self._iterator.__next__()`. Our stand-in for `_iterator` serves `__next__` itself and gives each `for` loop
# its own small iterator. When the caller breaks out of a loop, CPython drops the SDK's `__iter__` generator at
# once, which drops that loop's iterator, whose `__del__` ends the span: "broken out of" is seen at the break,
# whether or not the caller ever closes the stream. The SDK's own generator is left as it is, so a later loop
# or `next()` goes on with the next chunk exactly as it would without spyglass (after the break, chunks are
# passed through without being recorded: the span has ended).


class _Chunks:
    """Stands in for a `Stream`'s private iterator: passes every chunk through, recording it."""

    __slots__ = ("_inner", "_span")

    def __init__(self, inner: Iterator[Any], span: StreamSpan) -> None:
        self._inner = inner
        self._span = span

    def __iter__(self) -> Iterator[Any]:
        return _Loop(self._inner, self._span)

    def __next__(self) -> Any:
        try:
            chunk = next(self._inner)
        except BaseException as exc:
            _stopped(self._span, exc)
            raise
        _seen(self._span, chunk)
        return chunk


class _Loop:
    """One `for` loop over a stream; dropped before the end means the caller broke out.

    It reads the SDK's generator itself rather than through `_Chunks` (one call less per chunk)."""

    __slots__ = ("_ended", "_inner", "_span")

    def __init__(self, inner: Iterator[Any], span: StreamSpan) -> None:
        self._inner = inner
        self._span = span
        self._ended = False

    def __iter__(self) -> _Loop:
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self._inner)
        except BaseException as exc:
            self._ended = True
            _stopped(self._span, exc)
            raise
        _seen(self._span, chunk)
        return chunk

    def __del__(self) -> None:
        if not self._ended:
            _broken_out_of(self._span)


class _AsyncChunks:
    """The async `_Chunks`: `AsyncStream.__aiter__` is `async for item in self._iterator: yield item`."""

    __slots__ = ("_inner", "_span")

    def __init__(self, inner: AsyncIterator[Any], span: StreamSpan) -> None:
        self._inner = inner
        self._span = span

    def __aiter__(self) -> AsyncIterator[Any]:
        return _AsyncLoop(self._inner, self._span)

    async def __anext__(self) -> Any:
        try:
            chunk = await self._inner.__anext__()
        except BaseException as exc:
            _stopped(self._span, exc)
            raise
        _seen(self._span, chunk)
        return chunk


class _AsyncLoop:
    """One `async for` loop. The SDK's async generator that holds it is closed by the event loop, at its
    next turns after the break (asyncio's and trio's async-generator finalizers), which drops this."""

    __slots__ = ("_ended", "_inner", "_span")

    def __init__(self, inner: AsyncIterator[Any], span: StreamSpan) -> None:
        self._inner = inner
        self._span = span
        self._ended = False

    def __aiter__(self) -> _AsyncLoop:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self._inner.__anext__()
        except BaseException as exc:
            self._ended = True
            _stopped(self._span, exc)
            raise
        _seen(self._span, chunk)
        return chunk

    def __del__(self) -> None:
        if not self._ended:
            _broken_out_of(self._span)


def _stopped(span: StreamSpan, exc: BaseException) -> None:
    if isinstance(exc, (StopIteration, StopAsyncIteration)):
        span.finish_completed()
    else:
        span.finish_error(exc)


def _seen(span: StreamSpan, chunk: Any) -> None:
    if span.done:
        return
    now = time.time_ns()
    if span.first_chunk_ns == 0:
        span.first_chunk_ns = now
    accumulator = span.accumulator
    accumulator.stamps.append(now)
    pending = accumulator.pending
    pending.append(chunk)
    if len(pending) >= _Accumulator.BATCH:
        _hand_over_batch(span, accumulator, pending)


# Bytes a batch of chunks holds while it waits for the pipeline, near enough to bound its queue.
_BATCH_BYTES = _Accumulator.BATCH * 1024


def _hand_over_batch(span: StreamSpan, accumulator: _Accumulator, batch: list[Any]) -> None:
    """Have the pipeline's thread fold a full batch (this thread goes on with a new one), or fold it here
    when there is no such thread or its queue is full."""
    accumulator.pending = []
    background = span.background
    if background is not None and background.run_later(
        lambda: _fold_safely(accumulator, batch), _BATCH_BYTES
    ):
        return
    _fold_safely(accumulator, batch)


def _broken_out_of(span: StreamSpan) -> None:
    try:
        span.finish_closed(requested=True)
    except Exception:  # __del__ must not print "Exception ignored in" into the caller's stderr
        log_internal_error("openai.stream.break")


def _fold_safely(accumulator: _Accumulator, batch: list[Any]) -> None:
    try:
        accumulator.fold_batch(batch)
    except Exception:
        log_internal_error("openai.stream.chunk")


def _suspended(generator: Any, running: str, frame: str) -> bool:
    """True when the SDK's generator is paused between chunks (or not started).

    The SDK and httpx close the response themselves while the generator runs and just after it ends;
    only a close while it is paused comes from outside (stream.close(), leaving a `with`, a helper's close)
    and means the caller stopped early.
    """
    return not getattr(generator, running, False) and getattr(generator, frame, None) is not None


def is_instrumented(stream: Any) -> bool:
    """True when `stream` already passes its chunks through a stream span (a parsed response is cached)."""
    return isinstance(stream._iterator, (_Chunks, _AsyncChunks))


def attach(stream: Any, span: StreamSpan, is_async: bool) -> None:
    """Route `stream`'s chunks through `span` and end it however the stream ends."""
    inner = stream._iterator
    stream._iterator = _AsyncChunks(inner, span) if is_async else _Chunks(inner, span)
    response = stream.response
    if is_async:
        original_aclose = response.aclose

        @functools.wraps(original_aclose)
        async def aclose() -> None:
            if _suspended(inner, "ag_running", "ag_frame"):
                span.finish_closed(requested=True)
            await original_aclose()

        response.aclose = aclose
    else:
        original_close = response.close

        @functools.wraps(original_close)
        def close() -> None:
            if _suspended(inner, "gi_running", "gi_frame"):
                span.finish_closed(requested=True)
            original_close()

        response.close = close
    weakref.finalize(stream, span.finish_closed)
