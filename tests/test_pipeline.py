"""The span pipeline under faults: a sink that blocks or breaks stalls nothing and costs no other sink a span;
what cannot be queued is counted; flushing and exit keep their time bounds whatever the sinks do."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spyglass._pipeline import (
    BackgroundSpanProcessor,
    SpanPipeline,
    complete,
    defer_attributes,
    defer_end_attributes,
)
from spyglass.demo.server import DemoServer

sys.path.insert(0, str(Path(__file__).parent / "otlp"))
from otlp_helpers import hanging_server


class _Blocking(SpanProcessor):
    def __init__(self) -> None:
        self.release = threading.Event()
        self.ended: list[str] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.release.wait(30)
        self.ended.append(span.name)


def test_a_blocked_sink_drops_and_counts_and_never_blocks_the_caller() -> None:
    blocked = _Blocking()
    exporter = InMemorySpanExporter()
    console_like = BackgroundSpanProcessor(
        [blocked], name="test-blocked", max_spans=10, snapshot_starts=False
    )
    pipeline = SpanPipeline([console_like, SimpleSpanProcessor(exporter)], prepare=None)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(pipeline)
    tracer = provider.get_tracer("test")
    for index in range(200):
        tracer.start_span(f"span {index}").end()  # returns at once although the sink is stuck
    assert pipeline.force_flush(5_000) is False  # the stuck sink could not flush in time...
    assert len(exporter.get_finished_spans()) == 200  # ...and the other sink lost nothing
    dropped = pipeline.dropped()
    assert dropped["pipeline"] == 0
    assert dropped["_Blocking"] >= 150  # starts and ends beyond its queue of 10
    blocked.release.set()
    pipeline.shutdown(5)
    indexes = [int(name.split()[1]) for name in blocked.ended]
    assert indexes and indexes == sorted(indexes)  # what it got came in the order the spans ended


def test_the_pipeline_queue_is_bounded_in_bytes() -> None:
    blocked = _Blocking()
    background = BackgroundSpanProcessor([blocked], name="test-bytes", max_bytes=1_000_000)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(background)
    tracer = provider.get_tracer("test")
    for _ in range(50):
        span = tracer.start_span("big")
        span.set_attribute("payload", "x" * 100_000)
        span.end()
    assert background.dropped_spans >= 40  # 100 kB each: about nine fit in 1 MB
    blocked.release.set()
    background.shutdown(5)


def test_a_processor_raising_systemexit_is_contained() -> None:
    class Exiting(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            raise SystemExit(1)  # what Rich does when stdout is a closed pipe

    exporter = InMemorySpanExporter()
    pipeline = SpanPipeline([Exiting(), SimpleSpanProcessor(exporter)], prepare=None)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(pipeline)
    for _ in range(3):
        provider.get_tracer("test").start_span("x").end()
    assert pipeline.force_flush(5_000)
    assert len(exporter.get_finished_spans()) == 3
    pipeline.shutdown(5)


class _Starts(SpanProcessor):
    def __init__(self) -> None:
        self.started: list[str] = []
        self.ended: list[str] = []

    def on_start(self, span: object, parent_context: object = None) -> None:
        self.started.append(span.name)  # type: ignore[attr-defined]

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span.name)


def test_starts_are_queued_only_when_a_sink_reads_them() -> None:
    """An OTLP exporter or an application's processor reads ended spans only: their starts cost nothing."""
    prepared: list[tuple[str, bool]] = []

    def prepare(span: ReadableSpan, started: bool) -> None:
        prepared.append((span.name, started))

    class EndsOnly(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            pass

    ends_only = SpanPipeline([EndsOnly()], prepare=prepare, app_processors=[_Starts()])
    reader = _Starts()
    with_starts = SpanPipeline([reader, EndsOnly()], prepare=prepare)
    assert not ends_only.background.wants_starts
    assert with_starts.background.wants_starts
    for pipeline in (ends_only, with_starts):
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(pipeline)
        provider.get_tracer("test").start_span("one").end()
        assert pipeline.force_flush(5_000)
        pipeline.shutdown(5)
    # The app's processor still saw the start, on the caller's thread; only the second pipeline queued one.
    assert ends_only.app_processors[0].started == ["one"]  # type: ignore[attr-defined]
    assert prepared == [("one", False), ("one", True), ("one", False)]
    assert reader.started == ["one"] and reader.ended == ["one"]


# --- whole programs ---------------------------------------------------------------------------------------------


def _program(tmp_path: Path, code: str) -> Path:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(code), encoding="utf-8")
    return script


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPYGLASS_"))}


def test_stdout_a_pipe_nobody_reads_stalls_nothing(tmp_path: Path) -> None:
    """3,000 spans printed to a pipe nobody drains: the program still ends, with its own exit code."""
    script = _program(
        tmp_path,
        """
        import sys, time, spyglass
        spyglass.configure(store=False, console={"colors": "never"})
        started = time.monotonic()
        for index in range(3000):
            with spyglass.span("step {index} of a long job with a long name to fill the pipe", index=index):
                pass
        print(f"LOOP {time.monotonic() - started:.2f}", file=sys.stderr)
        sys.exit(7)
        """,
    )
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=_environment(),
        stdout=subprocess.PIPE,  # never read until the end
        stderr=subprocess.PIPE,
    )
    try:
        returncode = process.wait(timeout=60)
    finally:
        process.kill()
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert returncode == 7, stderr
    assert "LOOP" in stderr
    assert "not recorded" in stderr  # the exit line counts what the console could not print
    assert process.stdout is not None
    process.stdout.close()
    process.stderr.close() if process.stderr else None


def test_stdout_a_closed_pipe_never_reaches_the_callers_code(tmp_path: Path, server: DemoServer) -> None:
    """`python app.py | head -1`: the console's writes fail; the traced calls return as usual."""
    script = _program(
        tmp_path,
        f"""
        import sys, openai, spyglass
        spyglass.configure(store=False, console={{"colors": "never"}})
        client = openai.OpenAI(api_key="sk-test", base_url={server.base_url!r}, max_retries=0)
        spyglass.instrument_openai(client)
        answers = []
        for _ in range(20):
            response = client.chat.completions.create(
                model="gpt-4o", messages=[{{"role": "user", "content": "Hi"}}]
            )
            answers.append(response.choices[0].message.content)
        spyglass.force_flush()
        print(f"CALLS {{len(answers)}}", file=sys.stderr)
        """,
    )
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the program prints anything
    try:
        run = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=_environment(),
            stdout=write,
            stderr=subprocess.PIPE,
            timeout=60,
            text=True,
        )
    finally:
        os.close(write)
    assert "CALLS 20" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr  # a closed pipe is no spyglass bug: one warning line, no report
    assert run.stderr.count("the console stopped: its output failed") == 1


@pytest.fixture
def hanging_endpoint() -> Iterator[str]:
    """An OTLP endpoint that accepts connections and never answers."""
    with hanging_server() as port:
        yield f"http://127.0.0.1:{port}"


def test_exit_is_bounded_with_a_hanging_otlp_endpoint(tmp_path: Path, hanging_endpoint: str) -> None:
    script = _program(
        tmp_path,
        f"""
        import sys, time, spyglass
        spyglass.configure(store=False, console=False, otlp_endpoint={hanging_endpoint!r})
        for index in range(100):
            spyglass.info("event {{index}}", index=index)
        with spyglass.span("with metrics pending"):
            pass
        started = time.monotonic()
        flushed = spyglass.force_flush(1000)
        print(f"FLUSH {{time.monotonic() - started:.2f}} {{flushed}}", file=sys.stderr)
        print(f"END {{time.time():.3f}}", file=sys.stderr, flush=True)
        """,
    )
    run = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    exited = time.time()
    assert run.returncode == 0, run.stderr
    flush_line = next(line for line in run.stderr.splitlines() if line.startswith("FLUSH"))
    assert float(flush_line.split()[1]) < 2.0  # force_flush(1000) keeps (about) its bound
    assert flush_line.split()[2] == "False"  # and says the endpoint did not take everything
    end = float(next(line for line in run.stderr.splitlines() if line.startswith("END")).split()[1])
    assert exited - end < 3.0  # exit waits 1 s for the sinks, then the interpreter stops


def test_attributes_deferred_to_the_pipeline_thread_reach_every_sink() -> None:
    """The caller's thread leaves the request's and the response's attributes to the pipeline thread: the
    start seen by the sinks already has the request's, the end has everything; the span's own win over the
    request's, the response's over both."""

    class Starts(SpanProcessor):
        def __init__(self) -> None:
            self.started: list[dict[str, object]] = []

        def on_start(self, span: ReadableSpan, parent_context: object = None) -> None:  # type: ignore[override]
            self.started.append(dict(span.attributes or {}))

    starts, exporter = Starts(), InMemorySpanExporter()
    pipeline = SpanPipeline([starts, SimpleSpanProcessor(exporter)], prepare=complete)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(pipeline)
    caller = threading.get_ident()
    threads: list[int] = []

    def request() -> dict[str, object]:
        threads.append(threading.get_ident())
        return {"gen_ai.request.model": "gpt-4o", "shared": "from the request"}

    span = provider.get_tracer("test").start_span("chat gpt-4o", attributes={"own": 1})
    defer_attributes(span, request)
    span.set_attribute("shared", "set by the caller")
    defer_end_attributes(span, lambda: {"gen_ai.response.model": "gpt-4o-2024", "own": 2})
    span.end()
    assert pipeline.force_flush(5_000)
    [ended] = exporter.get_finished_spans()
    assert dict(ended.attributes or {}) == {
        "gen_ai.request.model": "gpt-4o",
        "shared": "set by the caller",
        "own": 2,
        "gen_ai.response.model": "gpt-4o-2024",
    }
    assert starts.started == [{"gen_ai.request.model": "gpt-4o", "shared": "from the request", "own": 1}]
    assert threads and caller not in threads
    pipeline.shutdown(5)


def test_a_failing_deferred_source_costs_only_its_own_attributes() -> None:
    exporter = InMemorySpanExporter()
    pipeline = SpanPipeline([SimpleSpanProcessor(exporter)], prepare=complete)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(pipeline)
    span = provider.get_tracer("test").start_span("x", attributes={"kept": True})
    defer_attributes(span, lambda: 1 / 0)  # type: ignore[arg-type,return-value]
    span.end()
    assert pipeline.force_flush(5_000)
    [ended] = exporter.get_finished_spans()
    assert dict(ended.attributes or {}) == {"kept": True}
    pipeline.shutdown(5)


def test_console_lines_never_cut_the_programs_own_print_lines(tmp_path: Path, server: DemoServer) -> None:
    """The console prints from its own thread; with PYTHONUNBUFFERED each piece of a print() is a write of
    its own, between which that thread could write. Its text waits for a span boundary instead."""
    script = _program(
        tmp_path,
        f"""
        import openai, spyglass
        spyglass.configure(store=False, console={{"colors": "never"}})
        client = openai.OpenAI(api_key="sk-test", base_url={server.base_url!r}, max_retries=0)
        spyglass.instrument_openai(client)
        for index in range(30):
            response = client.chat.completions.create(
                model="gpt-4o", messages=[{{"role": "user", "content": f"question {{index}}"}}]
            )
            print("answer", index, ":", "the", "answer", "in", "many", "pieces", sep=" ")
        """,
    )
    run = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**_environment(), "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    for index in range(30):
        assert f"answer {index} : the answer in many pieces" in lines
    assert sum("OK Chat Completion with 'gpt-4o'" in line for line in lines) == 30  # nothing lost either


def test_work_handed_to_the_pipeline_runs_in_queue_order_and_is_refused_when_full_or_closed() -> None:
    seen: list[str] = []

    class _Recording(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            seen.append(span.name)

    background = BackgroundSpanProcessor([_Recording()], name="test-tasks", max_bytes=100_000)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(background)
    tracer = provider.get_tracer("test")
    tracer.start_span("first").end()
    assert background.run_later(lambda: seen.append("task"), 1_000)
    tracer.start_span("second").end()
    assert not background.run_later(lambda: seen.append("too big"), 200_000)  # the caller does it itself
    assert background.force_flush(5_000)
    assert seen == ["first", "task", "second"]
    background.shutdown()
    assert not background.run_later(lambda: seen.append("after shutdown"), 10)
    assert seen == ["first", "task", "second"]
