"""The span around one OpenAI call: opened before the request, filled from the response, ended on return.

`sync_request` / `async_request` replace the client's `request()`; everything the SDK does (retries,
parsing, raw and streaming responses) happens inside the original, untouched. Anything that fails in here
is reported once through `logging` and the call goes on as if uninstrumented; the caller always gets the
original's return value or exception.
"""

from __future__ import annotations

import functools
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind

from ... import _attribute_names as names
from ..._config import STATE
from ..._errors import log_internal_error
from ..._exceptions import error_status, record_exception
from ..._pipeline import can_defer, defer_attributes, defer_end_attributes
from ..._span import is_suppressed
from . import _metrics, _streams
from ._cost import cost_of
from ._endpoints import BY_PATH, Endpoint, Usage
from ._providers import server_of

if TYPE_CHECKING:
    from . import Instrumentation

_RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"
_SUPPRESS_HTTP_KEY = otel_context._SUPPRESS_HTTP_INSTRUMENTATION_KEY

# A client's base URL as text, by URL object: httpx's `str(URL)` rebuilds the text each time (5 µs).
_url_texts: dict[int, tuple[object, str]] = {}


def _url_text(url: object) -> str:
    known = _url_texts.get(id(url))
    if known is not None and known[0] is url:  # the very object (an id can be reused once it is freed)
        return known[1]
    text = str(url)
    if len(_url_texts) >= 256:
        _url_texts.clear()
    _url_texts[id(url)] = (url, text)
    return text


def _error_type(exc: BaseException) -> str:
    try:
        code = getattr(exc, "code", None)
    except Exception:  # a property of the caller's own exception class may raise
        code = None
    if isinstance(code, str) and code:
        return code
    return type(exc).__qualname__


def record_error(span: trace.Span, exc: BaseException) -> str:
    """Status ERROR, the exception event and `error.type` on `span`; returns the error type."""
    error_type = _error_type(exc)
    record_exception(span, exc, error_type)
    return error_type


def record_usage(
    attributes: dict[str, Any], usage: Usage | None, provider: str, request_model: str | None
) -> None:
    """Token counts and cost (known, or unknown with the reason).

    The price is looked up by the model that answered (`gpt-4o-2024-08-06`), then by the one asked for.
    """
    response_model = attributes.get(names.RESPONSE_MODEL)
    if usage is not None and (usage.input_tokens is not None or usage.output_tokens is not None):
        attributes[names.USAGE_SOURCE] = "api"
        if usage.input_tokens is not None:
            attributes[names.USAGE_INPUT_TOKENS] = usage.input_tokens
        if usage.output_tokens is not None:
            attributes[names.USAGE_OUTPUT_TOKENS] = usage.output_tokens
        if usage.cached_tokens is not None:
            attributes[names.USAGE_CACHE_READ_INPUT_TOKENS] = usage.cached_tokens
        if usage.reasoning_tokens is not None:
            attributes[names.USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning_tokens
        counts = (usage.input_tokens, usage.output_tokens, usage.cached_tokens)
    else:
        attributes.setdefault(names.USAGE_SOURCE, "unavailable")
        counts = (None, None, None)
    cost = cost_of(provider, response_model or request_model, *counts)
    if cost.usd is None and response_model and request_model and request_model != response_model:
        fallback = cost_of(provider, request_model, *counts)
        if fallback.usd is not None:
            cost = fallback
    if cost.usd is not None:
        attributes[names.COST_USD] = cost.usd
        attributes[names.COST_STATUS] = "known"
    else:
        attributes[names.COST_STATUS] = "unknown"
        attributes[names.COST_REASON] = cost.reason or "unknown"


class Call:
    """One instrumented request: its span, its attributes, and what to do with the result."""

    __slots__ = (
        "base_url",
        "deferred",
        "endpoint",
        "instrumentation",
        "is_async",
        "limit",
        "metric_attributes",
        "model",
        "path",
        "provider",
        "raw",
        "raw_ending",
        "span",
        "start_ns",
        "stream",
    )

    def __init__(
        self, instrumentation: Instrumentation, client: Any, options: Any, stream: bool, is_async: bool
    ) -> None:
        settings = instrumentation.settings()
        self.instrumentation = instrumentation
        self.is_async = is_async
        self.stream = stream
        self.limit = settings.max_attribute_length
        self.path = path = options.url
        self.base_url = base_url = _url_text(client.base_url)
        self.provider, address, port = server_of(base_url)
        headers = options.headers
        self.raw = headers.get(_RAW_RESPONSE_HEADER) if isinstance(headers, dict) else None
        self.raw_ending: weakref.finalize[Any, Any] | None = None
        body = options.json_data if isinstance(options.json_data, dict) else {}
        self.endpoint = endpoint = BY_PATH.get(path) if options.method == "post" else None
        # The request's and the response's attributes are built where the span is processed, off this thread.
        self.deferred = deferred = endpoint is not None and can_defer()
        attributes: dict[str, Any] = {
            names.PROVIDER_NAME: self.provider,
            names.SERVER_ADDRESS: address,
            names.SERVER_PORT: port,
            names.OPENAI_PATH: path,
        }
        if endpoint is None:
            self.model = None
            attributes[names.KIND] = names.KIND_API
            attributes[names.HTTP_REQUEST_METHOD] = options.method.upper()
            attributes[names.MSG] = f"OpenAI API {options.method.upper()} {path}"
            name = f"openai {options.method.upper()} {path}"
        else:
            self.model = model = body.get("model") if isinstance(body.get("model"), str) else None
            attributes[names.KIND] = names.KIND_LLM
            attributes[names.OPERATION_NAME] = endpoint.operation
            if model:
                attributes[names.REQUEST_MODEL] = model
            if endpoint.api_type:
                attributes[names.OPENAI_API_TYPE] = endpoint.api_type
            attributes[names.MSG] = f"{endpoint.label} with {model!r}" if model else endpoint.label
            if not deferred:
                endpoint.request(body, attributes, settings.capture_content, self.limit)
            name = f"{endpoint.operation} {model}" if model else endpoint.operation
        self.metric_attributes = {
            names.OPERATION_NAME: endpoint.operation if endpoint else "api",
            names.PROVIDER_NAME: self.provider,
            names.SERVER_ADDRESS: address,
            names.SERVER_PORT: port,
        }
        if self.model:
            self.metric_attributes[names.REQUEST_MODEL] = self.model
        self.start_ns = time.time_ns()
        self.span = STATE.tracer.start_span(
            name, kind=SpanKind.CLIENT, attributes=attributes, start_time=self.start_ns
        )
        if deferred and endpoint is not None:
            if self.span.is_recording():
                defer_attributes(
                    self.span, _request_attributes(endpoint, body, settings.capture_content, self.limit)
                )
            else:  # sampled out: no attributes wanted, but the metrics are recorded at the end, here
                self.deferred = False

    def context(self) -> Any:
        ctx = trace.set_span_in_context(self.span)
        if self.instrumentation.suppress_other_instrumentation:
            ctx = otel_context.set_value(_SUPPRESS_HTTP_KEY, True, ctx)
        return ctx

    # --- outcomes -------------------------------------------------------------------------------------------

    def failed(self, exc: BaseException) -> None:
        span = self.span
        try:
            error_type = record_error(span, exc)
            status_code = getattr(exc, "status_code", None)
            if isinstance(status_code, int):
                span.set_attribute(names.HTTP_RESPONSE_STATUS_CODE, status_code)
            request_id = getattr(exc, "request_id", None)
            if isinstance(request_id, str):
                span.set_attribute(names.OPENAI_REQUEST_ID, request_id)
            end = time.time_ns()
            span.end(end_time=end)
            if self.endpoint is not None:  # the duration metric is for GenAI operations only
                self.metric_attributes[names.ERROR_TYPE] = error_type
                _metrics.record_duration(self.metric_attributes, (end - self.start_ns) / 1e9)
        except Exception:
            log_internal_error("openai.failed")
            _end_if_open(span)

    def succeeded(self, result: Any) -> None:
        """Record the result on the span (and hand streams their own span); never raises."""
        try:
            self._record(result)
        except Exception:
            log_internal_error("openai.succeeded")
            _end_if_open(self.span)

    def _record(self, result: Any) -> None:
        if self.raw == "true":
            self._record_legacy_raw(result)
        elif self.raw:
            self._record_streaming_raw(result)
        elif self.stream and hasattr(result, "_iterator") and hasattr(result, "response"):
            self._hand_over_stream(result)
        else:
            self._finish(result, getattr(result, "_request_id", None))

    def _finish(self, parsed: Any, request_id: str | None) -> None:
        """End the span with a parsed (non-stream) response."""
        span = self.span
        if request_id:
            span.set_attribute(names.OPENAI_REQUEST_ID, request_id)
        end = time.time_ns()
        if self.endpoint is not None and parsed is not None:
            capture = self.instrumentation.settings().capture_content
            if self.deferred:  # the response is kept by reference until the pipeline reads it
                defer_end_attributes(span, functools.partial(self._response_attributes, parsed, capture, end))
            else:
                span.set_attributes(self._response_attributes(parsed, capture, end))
        elif self.endpoint is not None:  # the duration metric is for GenAI operations only
            _metrics.record_duration(self.metric_attributes, (end - self.start_ns) / 1e9)
        span.end(end_time=end)

    def _response_attributes(self, parsed: Any, capture: bool, end: int) -> dict[str, Any]:
        """A response's attributes (output, usage, cost), and its metrics: where the span is processed."""
        endpoint = self.endpoint
        assert endpoint is not None
        attributes: dict[str, Any] = {}
        usage = endpoint.response(parsed, attributes, capture, self.limit)
        response_model = attributes.get(names.RESPONSE_MODEL)
        record_usage(attributes, usage, self.provider, self.model)
        if response_model:
            self.metric_attributes[names.RESPONSE_MODEL] = response_model
        _metrics.record_tokens(self.metric_attributes, usage)
        _metrics.record_duration(self.metric_attributes, (end - self.start_ns) / 1e9)
        return attributes

    def _hand_over_stream(self, stream: Any) -> None:
        """The request span stays open: the stream span ends it, with the response, when the stream ends."""
        request_id = stream.response.headers.get("x-request-id")
        if request_id:
            self.span.set_attribute(names.OPENAI_REQUEST_ID, request_id)
        StreamSpan(self, stream)

    def _record_legacy_raw(self, raw: Any) -> None:
        """`with_raw_response`: the body is already read; parse it (the SDK caches the parsed object, so the
        caller's own `.parse()` returns the very same object)."""
        request_id = raw.headers.get("x-request-id")
        if self.stream:
            if request_id:
                self.span.set_attribute(names.OPENAI_REQUEST_ID, request_id)
            stream = raw.parse()
            if hasattr(stream, "_iterator"):
                StreamSpan(self, stream)  # which ends the request span when the stream ends
            else:
                self.span.end()
            return
        parsed = raw.parse() if self.endpoint is not None else None
        self._finish(parsed, request_id)

    def _record_streaming_raw(self, raw: Any) -> None:
        """`with_streaming_response`: nothing is read yet. The span ends when the caller parses the body
        (recording it) or closes the response; a stream gets its stream span when parsed, which then ends
        the request span when the stream ends."""
        request_id = raw.headers.get("x-request-id")
        if request_id:
            self.span.set_attribute(names.OPENAI_REQUEST_ID, request_id)
        original_parse = raw.parse
        call = self
        parsing = [False]  # parse() reads the body, and reading it to the end closes the response
        streaming = [False]  # a stream span took the request span over: it ends it

        if self.is_async:

            @functools.wraps(original_parse)
            async def async_parse(*args: Any, **kwargs: Any) -> Any:
                parsing[0] = True
                try:
                    parsed = await original_parse(*args, **kwargs)
                finally:
                    parsing[0] = False
                streaming[0] = call._after_raw_parse(parsed, request_id) or streaming[0]
                return parsed

            raw.parse = async_parse
        else:

            @functools.wraps(original_parse)
            def parse(*args: Any, **kwargs: Any) -> Any:
                parsing[0] = True
                try:
                    parsed = original_parse(*args, **kwargs)
                finally:
                    parsing[0] = False
                streaming[0] = call._after_raw_parse(parsed, request_id) or streaming[0]
                return parsed

            raw.parse = parse
        span = self.span
        # Ends the span of a response dropped or closed unparsed (or a stream never read); once a stream
        # span has taken over, the stream's own end ends it.
        ending = weakref.finalize(raw, _end_if_open, span)
        http_response = raw.http_response
        if self.is_async:
            original_aclose = http_response.aclose

            @functools.wraps(original_aclose)
            async def aclose() -> None:
                if not parsing[0] and not streaming[0]:
                    _end_if_open(span)
                await original_aclose()

            http_response.aclose = aclose
        else:
            original_close = http_response.close

            @functools.wraps(original_close)
            def close() -> None:
                if not parsing[0] and not streaming[0]:
                    _end_if_open(span)
                original_close()

            http_response.close = close
        self.raw_ending = ending

    def _after_raw_parse(self, parsed: Any, request_id: str | None) -> bool:
        """Record a parsed raw response; True when a stream span now carries the call on."""
        try:
            if self.stream:
                if hasattr(parsed, "_iterator") and not _streams.is_instrumented(parsed):
                    if self.raw_ending is not None:
                        self.raw_ending.detach()
                    StreamSpan(self, parsed)
                    return True
                return _streams.is_instrumented(parsed) if hasattr(parsed, "_iterator") else False
            if self.span.is_recording():
                self._finish(parsed, request_id)
        except Exception:
            log_internal_error("openai.raw_parse")
        return False


def _request_attributes(
    endpoint: Endpoint, body: dict[str, Any], capture: bool, limit: int
) -> Callable[[], Any]:
    """What builds a request's attributes later. The SDK made `body` for this request; its lists are copied
    because a caller may append to them while the call runs (`messages.append(...)` in a loop)."""
    kept = {key: list(value) if isinstance(value, list) else value for key, value in body.items()}

    def request_attributes() -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        endpoint.request(kept, attributes, capture, limit)
        return attributes

    return request_attributes


def _end_if_open(span: trace.Span) -> None:
    if span.is_recording():
        span.end()


class StreamSpan:
    """The streaming phase of a call, from hand-over to the caller until the stream ends.

    It is not a second generation: it carries no `gen_ai.*` attribute (GenAI backends count a span with
    an operation name or a model as one). When the stream ends, the call's own span, still open, gets the
    response (output, usage, finish reasons, time to first chunk) and ends with it: that span is the one
    GenAI operation of the call.
    """

    __slots__ = (
        "__weakref__",
        "accumulator",
        "background",
        "call",
        "done",
        "first_chunk_ns",
        "span",
        "start_ns",
    )

    def __init__(self, call: Call, stream: Any) -> None:
        self.call = call
        self.done = False
        self.first_chunk_ns = 0
        self.accumulator = _streams.accumulator_for(call.path)()
        # Full batches of chunks are folded on the pipeline's thread when the spans are completed there too
        # (inside the application's provider they are completed on this thread, at their end).
        pipeline = STATE.pipeline
        joined = STATE.joined is not None
        self.background = pipeline.background if call.deferred and pipeline and not joined else None
        request_span = call.span
        context = trace.set_span_in_context(request_span)  # the call's span is open until the stream ends
        model = call.model
        operation = call.endpoint.operation if call.endpoint else "api"
        attributes: dict[str, Any] = {
            names.KIND: names.KIND_LLM_STREAM,
            names.OPENAI_PATH: call.path,
            names.MSG: f"streaming response from {model!r}" if model else "streaming response",
        }
        self.start_ns = time.time_ns()
        self.span = STATE.tracer.start_span(
            f"{operation} {model} stream" if model else f"{operation} stream",
            context=context,
            kind=SpanKind.INTERNAL,  # a phase of the call's CLIENT span, not a request of its own
            attributes=attributes,
            links=[Link(request_span.get_span_context())],
            start_time=self.start_ns,
        )
        _streams.attach(stream, self, call.is_async)

    def finish_completed(self) -> None:
        """The stream ran out: `completed` if the server said the answer was over, else `interrupted`
        (a stream delimited by the connection's close that stops early ends without any error; only its
        content tells: no finish reason, no final event)."""
        self._finish(None, None)

    def finish_closed(self, requested: bool = False) -> None:
        self._finish(names.STREAM_CLOSED_EARLY if requested else names.STREAM_ABANDONED, None)

    def finish_error(self, exc: BaseException) -> None:
        self._finish(names.STREAM_ERROR, exc)

    def _finish(self, outcome: str | None, exc: BaseException | None) -> None:
        if self.done:
            return
        self.done = True
        try:
            self._record(outcome, exc)
        except Exception:
            log_internal_error("openai.stream.finish")
            _end_if_open(self.span)
            _end_if_open(self.call.span)

    def _record(self, outcome: str | None, exc: BaseException | None) -> None:
        call, span, request_span = self.call, self.span, self.call.span
        end = time.time_ns()
        if exc is not None:
            error_type = record_error(span, exc)
            request_span.set_status(error_status(exc))
            request_span.set_attribute(names.ERROR_TYPE, error_type)
            call.metric_attributes[names.ERROR_TYPE] = error_type
        ending = _StreamEnding(self, outcome, end)
        if call.deferred:  # folded and recorded where the spans are processed (the stream span first)
            defer_end_attributes(span, ending.phase)
            defer_end_attributes(request_span, ending.response)
        else:
            span.set_attributes(ending.phase())
            request_span.set_attributes(ending.response())
        span.end(end_time=end)
        request_span.end(end_time=end)


class _StreamEnding:
    """What a stream's end records: the stream span's phase, and the call span's response and metrics.
    Computed once, for whichever of the two spans is processed first."""

    __slots__ = ("_attributes", "end", "outcome", "stream")

    def __init__(self, stream: StreamSpan, outcome: str | None, end: int) -> None:
        self.stream = stream
        self.outcome = outcome
        self.end = end
        self._attributes: tuple[dict[str, Any], dict[str, Any]] | None = None

    def phase(self) -> dict[str, Any]:
        return self._computed()[0]

    def response(self) -> dict[str, Any]:
        return self._computed()[1]

    def _computed(self) -> tuple[dict[str, Any], dict[str, Any]]:
        if self._attributes is None:
            self._attributes = self._compute()
        return self._attributes

    def _compute(self) -> tuple[dict[str, Any], dict[str, Any]]:
        stream, end = self.stream, self.end
        call, accumulator = stream.call, stream.accumulator
        outcome = self.outcome
        if outcome is None:
            outcome = names.STREAM_COMPLETED if accumulator.ended_properly() else names.STREAM_INTERRUPTED
        # The response goes on the call's span: the one GenAI operation of the call.
        response: dict[str, Any] = {}
        first_chunk_ns = stream.first_chunk_ns
        if first_chunk_ns:  # measured from the request, as the conventions define it
            response[names.RESPONSE_TIME_TO_FIRST_CHUNK] = (first_chunk_ns - call.start_ns) / 1e9
        capture = call.instrumentation.settings().capture_content
        usage = accumulator.finish(response, capture, call.limit, outcome)
        response_model = response.get(names.RESPONSE_MODEL)
        record_usage(response, usage, call.provider, call.model)
        phase: dict[str, Any] = {names.STREAM_OUTCOME: outcome, names.STREAM_CHUNKS: accumulator.count}
        response.update(phase)
        model = response_model or call.model
        took = f"took {(end - stream.start_ns) / 1e9:.2f}s"
        phase[names.MSG] = (
            f"streaming response from {model!r} {took}" if model else f"streaming response {took}"
        )
        metric_attributes = call.metric_attributes
        if response_model:
            metric_attributes[names.RESPONSE_MODEL] = response_model
        if first_chunk_ns:
            _metrics.record_time_to_first_chunk(metric_attributes, (first_chunk_ns - call.start_ns) / 1e9)
        _metrics.record_time_per_output_chunk(metric_attributes, accumulator.stamps)
        _metrics.record_tokens(metric_attributes, usage)
        _metrics.record_duration(metric_attributes, (end - call.start_ns) / 1e9)
        return phase, response


def _begin(
    instrumentation: Instrumentation, client: Any, options: Any, kwargs: dict[str, Any], is_async: bool
) -> Call | None:
    if is_suppressed():
        return None
    try:
        return Call(instrumentation, client, options, bool(kwargs.get("stream")), is_async)
    except Exception:
        log_internal_error("openai.begin")
        return None


def sync_request(
    original: Callable[..., Any],
    instrumentation: Instrumentation,
    client: Any,
    cast_to: Any,
    options: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    call = _begin(instrumentation, client, options, kwargs, is_async=False)
    if call is None:
        return original(client, cast_to, options, *args, **kwargs)
    token = otel_context.attach(call.context())
    try:
        result = original(client, cast_to, options, *args, **kwargs)
    except BaseException as exc:
        otel_context.detach(token)
        call.failed(exc)
        raise
    otel_context.detach(token)
    call.succeeded(result)
    return result


async def async_request(
    original: Callable[..., Awaitable[Any]],
    instrumentation: Instrumentation,
    client: Any,
    cast_to: Any,
    options: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    call = _begin(instrumentation, client, options, kwargs, is_async=True)
    if call is None:
        return await original(client, cast_to, options, *args, **kwargs)
    token = otel_context.attach(call.context())
    try:
        result = await original(client, cast_to, options, *args, **kwargs)
    except BaseException as exc:
        otel_context.detach(token)
        call.failed(exc)
        raise
    otel_context.detach(token)
    call.succeeded(result)
    return result
