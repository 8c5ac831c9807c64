"""The span pipeline: the caller's thread takes a snapshot and appends it to a queue; a background thread
scrubs each span and hands it to the sinks, in the order the spans started and ended.

Why a thread of our own rather than the OpenTelemetry SDK's processors doing the work where the span ends:
scrubbing, console rendering and store rows cost far more than the call they describe, and a sink that
blocks (a stdout pipe nobody reads, a locked database) must not stall the program. So the caller's thread
only copies what the span holds at its start (the store's pending row must show the span as it started,
and scrubbed, not whatever it holds when the writer gets to it) and queues the `ReadableSpan` the SDK made
at its end. The queue is bounded in spans and in bytes: past either bound a span is dropped and counted,
never waited for.

Each sink keeps its own queue behind this one (the store's writer, the OTLP batch processor, the console's
own `BackgroundSpanProcessor`), so one slow sink costs the others nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from ._errors import log_internal_error
from ._snapshot import frozen_attributes, started_snapshot

logger = logging.getLogger("spyglass")

DEFAULT_MAX_SPANS = 20_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
EXIT_TIMEOUT = 1.0  # seconds the program's exit waits for every sink, at most

_SPAN_OVERHEAD = 512  # bytes a span costs beyond its strings: ids, times, the objects themselves


def _raw_attributes(span: ReadableSpan) -> Mapping[str, Any]:
    """The plain dict inside the SDK's `BoundedAttributes` (reading it through the mapping costs ~10x)."""
    attributes = getattr(span, "_attributes", None)
    raw = getattr(attributes, "_dict", None)
    if isinstance(raw, dict):
        return raw
    return span.attributes or {}


def approximate_size(span: ReadableSpan) -> int:
    """Bytes the queued span holds, near enough to bound memory: its strings dominate."""
    size = _SPAN_OVERHEAD + len(span.name)
    for value in _raw_attributes(span).values():
        if type(value) is str:
            size += len(value)
    for event in span.events:
        size += _SPAN_OVERHEAD
        for value in (event.attributes or {}).values():
            if type(value) is str:
                size += len(value)
    return size


class _FlushMark:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class _Task:
    """Work handed to the pipeline's thread between spans (a stream's chunks to fold), run in queue order."""

    __slots__ = ("run", "size")

    def __init__(self, run: Callable[[], None], size: int) -> None:
        self.run = run
        self.size = size


class BackgroundSpanProcessor(SpanProcessor):
    """Runs `processors` on a thread of its own, in order, behind a queue bounded in spans and bytes.

    `prepare` runs on that thread on each span before the processors see it (scrubbing); it changes the span
    in place. Nothing here raises into the program or blocks it: a full queue drops the span and counts it,
    a processor that fails is logged once and goes on receiving spans.

    Args:
        processors: the processors to run, in this order.
        name: the thread's name, and how errors name this queue.
        prepare: a step applied to every span (started or ended) before the processors.
        max_spans: spans waiting at most.
        max_bytes: approximate bytes waiting at most.
        snapshot_starts: copy a started span before queueing it (False when it is a copy already).
        idle: called on the thread whenever its queue is empty; returns the seconds after which to call it
            again even if nothing arrives (None: only when something does).
    """

    def __init__(
        self,
        processors: Sequence[SpanProcessor],
        *,
        name: str,
        prepare: Callable[[ReadableSpan, bool], None] | None = None,
        max_spans: int = DEFAULT_MAX_SPANS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        snapshot_starts: bool = True,
        idle: Callable[[], float | None] | None = None,
    ) -> None:
        self.processors = tuple(processors)
        self._idle = idle
        self._snapshot_starts = snapshot_starts
        self._name = name
        self._prepare = prepare
        self._max_spans = max_spans
        self._max_bytes = max_bytes
        self._queue: deque[tuple[bool, ReadableSpan, int] | _FlushMark | _Task | object] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._queued_spans = 0
        self._queued_bytes = 0
        self._dropped = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._failed_output: set[SpanProcessor] = set()
        # Starts are copied, queued, completed and scrubbed only for processors that look at them (the
        # store's pending rows, the console's start lines); an OTLP exporter or an app's processor does not.
        self.wants_starts = any(wants_starts(p) for p in self.processors)

    # --- the caller's side: no more than a copy and an append --------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if not self.wants_starts:
            return
        try:
            self._put(True, started_snapshot(span) if self._snapshot_starts else span)
        except Exception:
            log_internal_error(f"{self._name}.on_start")

    def on_end(self, span: ReadableSpan) -> None:
        try:
            self._put(False, span)
        except Exception:
            log_internal_error(f"{self._name}.on_end")

    def _put(self, started: bool, span: ReadableSpan) -> None:
        size = approximate_size(span)
        with self._lock:
            if (
                self._closed
                or self._queued_spans >= self._max_spans
                or self._queued_bytes + size > self._max_bytes
            ):
                self._dropped += 1
                if not started:
                    forget(span)
                return
            self._queued_spans += 1
            self._queued_bytes += size
            self._queue.append((started, span, size))
            if self._thread is None:
                self._start()
        if not self._wake.is_set():
            self._wake.set()

    def run_later(self, task: Callable[[], None], size: int) -> bool:
        """Run `task` on the thread after everything queued so far; False (not queued) when the queue is
        full by its byte bound or closed: the caller then does the work itself. `size`: bytes it holds."""
        with self._lock:
            if self._closed or self._queued_bytes + size > self._max_bytes:
                return False
            self._queued_bytes += size
            self._queue.append(_Task(task, size))
            if self._thread is None:
                self._start()
        if not self._wake.is_set():
            self._wake.set()
        return True

    @property
    def dropped_spans(self) -> int:
        """Spans (starts and ends) that found the queue full, or came after shutdown."""
        return self._dropped

    @property
    def queued_spans(self) -> int:
        """Spans waiting for the thread now."""
        return self._queued_spans

    # --- the thread -------------------------------------------------------------------------------------------

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        queue, wake = self._queue, self._wake
        timeout: float | None = None
        while True:
            wake.wait(timeout)
            wake.clear()
            while queue:
                item = queue.popleft()
                if item is _STOP:
                    return
                if isinstance(item, _FlushMark):
                    item.done.set()
                    continue
                if isinstance(item, _Task):
                    with self._lock:
                        self._queued_bytes -= item.size
                    try:
                        item.run()
                    except BaseException:
                        log_internal_error(f"{self._name}: a task")
                    continue
                started: bool
                span: ReadableSpan
                size: int
                started, span, size = item  # type: ignore[misc]
                with self._lock:
                    self._queued_spans -= 1
                    self._queued_bytes -= size
                self._deliver(started, span)
            timeout = self._call_idle()

    def _call_idle(self) -> float | None:
        if self._idle is None:
            return None
        try:
            return self._idle()
        except (OSError, SystemExit) as exc:
            logger.warning("spyglass: %s stopped writing: its output failed (%r)", self._name, exc)
            self._idle = None
        except BaseException:
            log_internal_error(f"{self._name}.idle")
        return None

    def _deliver(self, started: bool, span: ReadableSpan) -> None:
        if self._prepare is not None:
            try:
                self._prepare(span, started)
            except BaseException:
                # The prepare step is the scrubber: a span it could not make safe goes nowhere.
                log_internal_error(f"{self._name}.prepare")
                return
        for processor in self.processors:
            if processor in self._failed_output:
                with self._lock:
                    self._dropped += 1
                continue
            try:
                if started:
                    processor.on_start(span)  # type: ignore[arg-type]
                else:
                    processor.on_end(span)
            except (OSError, SystemExit) as exc:  # Rich raises SystemExit on a closed stdout pipe
                # Where the processor writes to is gone (`app.py | head`): not a bug to report, and no
                # use trying again for every span.
                self._failed_output.add(processor)
                logger.warning(
                    "spyglass: %s stopped: its output failed (%r); the other sinks go on",
                    type(processor).__name__,
                    exc,
                )
            except BaseException:
                log_internal_error(f"{self._name}: {type(processor).__name__}")

    # --- flushing and closing ------------------------------------------------------------------------------

    def _drain(self, timeout: float) -> bool:
        """Wait until everything queued before now has been handed to the processors."""
        with self._lock:
            thread = self._thread
        if thread is None or not thread.is_alive():
            return not self._queue
        mark = _FlushMark()
        self._queue.append(mark)  # past the bounds on purpose: a flush is never dropped
        self._wake.set()
        return mark.done.wait(max(timeout, 0.0))

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Hand every queued span to the processors, then flush them; False if it took longer than allowed."""
        deadline = time.monotonic() + timeout_millis / 1000
        drained = self._drain(timeout_millis / 1000)
        flushed = call_all(self.processors, "force_flush", deadline)
        return drained and flushed

    def shutdown(self, timeout: float = EXIT_TIMEOUT) -> None:
        """Deliver what is queued within `timeout` seconds, then stop the thread and the processors."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        deadline = time.monotonic() + timeout
        self._drain(timeout)
        self._queue.append(_STOP)
        self._wake.set()
        with self._lock:
            lost, self._dropped = self._queued_spans, self._dropped + self._queued_spans
        if lost:
            log_internal_error(f"{self._name}: {lost} spans still queued at shutdown")
        call_all(self.processors, "shutdown", deadline)


def wants_starts(processor: SpanProcessor) -> bool:
    """Whether `processor` does anything with a span's start: it says so (`wants_starts`), or it overrides
    `on_start`."""
    declared = getattr(processor, "wants_starts", None)
    if isinstance(declared, bool):
        return declared
    return type(processor).on_start is not SpanProcessor.on_start


def call_all(processors: Iterable[Any], method: str, deadline: float) -> bool:
    """Call `method` on each processor at once, each on its own thread, waiting until `deadline` at most.

    True when every call returned in time (and `force_flush` returned True). A processor that hangs is left
    to finish on its daemon thread: the program is not kept waiting for it.
    """
    results: list[bool] = []
    threads = []
    for processor in processors:

        def call(processor: Any = processor) -> None:
            try:
                method_to_call = getattr(processor, method)
                if method == "force_flush":
                    remaining = max(0, int((deadline - time.monotonic()) * 1000))
                    results.append(method_to_call(remaining) is not False)
                else:
                    method_to_call()
                    results.append(True)
            except BaseException:
                log_internal_error(f"{method}: {type(processor).__name__}")
                results.append(False)

        thread = threading.Thread(target=call, name=f"spyglass-{method}", daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return len(results) == len(threads) and all(results)


class _EndOnly(SpanProcessor):
    """An application's processor as seen from the pipeline thread: its `on_start` already ran on the
    caller's thread (it may add attributes to the live span), so only `on_end` and the rest come here."""

    def __init__(self, processor: SpanProcessor) -> None:
        self.processor = processor

    def on_end(self, span: ReadableSpan) -> None:
        self.processor.on_end(span)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.processor.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self.processor.shutdown()


class SpanPipeline(SpanProcessor):
    """spyglass's one processor on a tracer provider: scrubbing, then every sink, off the caller's thread.

    The application's own processors (`configure(additional_span_processors=...)`) get `on_start` on the
    caller's thread with the live span, as OpenTelemetry gives it, and `on_end` from the pipeline thread
    once the span is scrubbed, in the order spans ended. `at_span_boundaries` are called on the caller's
    thread at each span start and end.
    """

    def __init__(
        self,
        sinks: Sequence[SpanProcessor],
        *,
        prepare: Callable[[ReadableSpan, bool], None] | None,
        app_processors: Sequence[SpanProcessor] = (),
        at_span_boundaries: Sequence[Callable[[], None]] = (),
        max_spans: int = DEFAULT_MAX_SPANS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.sinks = tuple(sinks)
        self._at_span_boundaries = tuple(at_span_boundaries)
        self.app_processors = tuple(app_processors)
        self.background = BackgroundSpanProcessor(
            [*self.sinks, *(_EndOnly(p) for p in self.app_processors)],
            name="spyglass-pipeline",
            prepare=prepare,
            max_spans=max_spans,
            max_bytes=max_bytes,
        )

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        for processor in self.app_processors:
            try:
                processor.on_start(span, parent_context)
            except Exception:
                log_internal_error(f"on_start: {type(processor).__name__}")
        self.background.on_start(span, parent_context)
        self._span_boundary()

    def on_end(self, span: ReadableSpan) -> None:
        self.background.on_end(span)
        self._span_boundary()

    def _span_boundary(self) -> None:
        """The program's thread is between two of its own statements: a sink may write its output now
        without cutting one of the program's lines (the console, see `exporters/_console_writes`)."""
        for hook in self._at_span_boundaries:
            try:
                hook()
            except (OSError, SystemExit):
                pass  # the console's own thread meets the same failure and reports it once
            except Exception:
                log_internal_error("span boundary")

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.background.force_flush(timeout_millis)

    def shutdown(self, timeout: float = EXIT_TIMEOUT) -> None:
        self.background.shutdown(timeout)

    def dropped(self, *, still_queued: bool = False) -> dict[str, int]:
        """Spans lost so far, by where: `pipeline` (its own queue), then each sink that counts its own
        (`store`, `console`, `otlp`, or the class name of an application's processor).

        `still_queued` counts what still waits in the queues as lost too (at exit, once time is up).
        """
        counts = {"pipeline": self.background.dropped_spans}
        if still_queued:
            counts["pipeline"] += self.background.queued_spans
        for sink in self.sinks:
            inner = getattr(sink, "processors", None)  # a sink behind a queue of its own (the console)
            for processor in (sink, *(inner or ())):
                lost = _lost_by(processor, still_queued)
                if lost is not None:
                    name = _SINK_NAMES.get(type(inner[0] if inner else sink).__name__)
                    name = name or type(inner[0] if inner else sink).__name__
                    counts[name] = counts.get(name, 0) + lost
        return counts


_SINK_NAMES = {"SqliteSpanProcessor": "store", "ConsoleSpanProcessor": "console", "OtlpSpanProcessor": "otlp"}


def _lost_by(processor: object, still_queued: bool) -> int | None:
    """What one processor says it dropped (plus what it still holds, when that counts as lost now)."""
    dropped = getattr(processor, "dropped_spans", None)
    if not isinstance(dropped, int):
        return None
    if still_queued:
        if isinstance(processor, BackgroundSpanProcessor):
            dropped += processor.queued_spans
        stats = getattr(processor, "stats", None)
        if callable(stats):
            with contextlib.suppress(Exception):  # a count is not worth an error at exit
                dropped += int(stats().get("waiting_finished", 0))
    return dropped


# --- attributes computed off the caller's thread ------------------------------------------------------------

AttributeSource = Callable[[], Mapping[str, Any]]


class _Deferred:
    __slots__ = ("at_end", "at_start", "start_attributes")

    def __init__(self, at_start: AttributeSource | None) -> None:
        self.at_start = at_start
        self.at_end: AttributeSource | None = None
        self.start_attributes: Mapping[str, Any] | None = None

    def started(self) -> Mapping[str, Any]:
        if self.start_attributes is None:
            source, self.at_start = self.at_start, None
            self.start_attributes = _computed(source) if source is not None else {}
        return self.start_attributes


# Spans whose attributes wait to be computed. Past this many (the pipeline far behind, or spans never
# ended), the caller computes them itself: slower, never lost.
_MAX_DEFERRED = 10_000
_deferred: dict[int, _Deferred] = {}


def can_defer() -> bool:
    """Whether a span started now may leave its attributes to the pipeline (see `defer_attributes`)."""
    return len(_deferred) < _MAX_DEFERRED


def defer_attributes(span: Any, at_start: AttributeSource | None) -> None:
    """Have `at_start()` compute the rest of a just-started span's attributes where the span is processed,
    off the caller's thread. The caller keeps what `at_start` reads unchanged (copy what it may mutate).

    Only for a span started when `can_defer()` said so: spyglass's pipeline (or, inside the application's
    provider, its first processor) calls `complete()` on every span of spyglass's tracer."""
    if span.is_recording():
        _deferred[span.get_span_context().span_id] = _Deferred(at_start)


def defer_end_attributes(span: Any, at_end: AttributeSource) -> None:
    """Have `at_end()` compute the attributes a span ends with (its response) off the caller's thread."""
    deferred = _deferred.get(span.get_span_context().span_id)
    if deferred is None and span.is_recording():
        deferred = _deferred[span.get_span_context().span_id] = _Deferred(None)
    if deferred is not None:
        deferred.at_end = at_end


def forget(span: ReadableSpan) -> None:
    """A span that will never be completed (dropped): its deferred attributes are not needed."""
    context = span.context
    if context is not None:
        _deferred.pop(context.span_id, None)


def complete(span: ReadableSpan, started: bool) -> None:
    """Add a span's deferred attributes to it, in place: the request's at its start, everything at its end.

    The span's own attributes (set on the caller's thread) win over the request's; the response's over both.
    """
    context = span.context
    if context is None:
        return
    deferred = _deferred.get(context.span_id) if started else _deferred.pop(context.span_id, None)
    if deferred is None:
        return
    extra = dict(deferred.started())
    if not started and deferred.at_end is not None:
        own = _raw_attributes(span)
        extra.update(own)
        extra.update(_computed(deferred.at_end))
        _set_attributes(span, extra)
    elif extra:
        extra.update(_raw_attributes(span))
        _set_attributes(span, extra)


def _computed(source: AttributeSource) -> Mapping[str, Any]:
    try:
        return source()
    except Exception:
        log_internal_error("deferred span attributes")
        return {}


def _set_attributes(span: ReadableSpan, attributes: dict[str, Any]) -> None:
    span._attributes = frozen_attributes(attributes)
