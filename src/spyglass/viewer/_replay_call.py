"""Sending a replay: the real openai SDK, instrumented by spyglass, in a process of its own.

The viewer's process never configures tracing or imports openai: a child process does (`python -m
spyglass.viewer._replay_call`), writes its spans into the viewer's store, and prints where they went. Its
environment is the viewer's, less what must not follow the call: the OPENAI_* variables (the key among
them) unless the key belongs to the recorded server (`key_belongs_to`), and the OTLP exporter's settings
(the replay is written to the store the viewer shows, not sent on).

The job comes on stdin (a PostgreSQL URL's password stays out of the process list); the answer is one JSON
line on stdout: `{"trace_id", "span_id", "error"}`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spyglass.viewer._replay_request import CHAT_PATH, Target, key_belongs_to

ORIGINAL_TRACE_ID = "spyglass.replay.original_trace_id"
ORIGINAL_SPAN_ID = "spyglass.replay.original_span_id"
_TIMEOUT_SECONDS = 180.0  # the call's own timeout is 120 s; then the child is stopped
_NO_KEY = "spyglass-replay-sends-no-key"  # the SDK wants a key; this one says there is none


@dataclass(frozen=True)
class ReplayOutcome:
    trace_id: str | None  # None: nothing was recorded (the child failed before the call)
    span_id: str | None
    error: str | None  # the call's error (bad key, server down...), scrubbed, or why nothing was sent
    key_sent: bool


def send_replay(
    store: str,
    target: Target,
    body: dict[str, Any],
    original: tuple[str, str],
    environ: Mapping[str, str],
) -> ReplayOutcome:
    """Send `body` to the recorded server from a child process that records the call into `store`."""
    key_sent = key_belongs_to(target, environ)
    env = {
        name: value
        for name, value in environ.items()
        if not name.startswith("OTEL_EXPORTER_OTLP") and (key_sent or not name.startswith("OPENAI_"))
    }
    job = {
        "store": store,
        "base_url": target.base_url,
        "path": target.path,
        "body": body,
        "original": list(original),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "spyglass.viewer._replay_call"],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            env=env,
            timeout=_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ReplayOutcome(
            None, None, f"The replay did not finish within {_TIMEOUT_SECONDS:.0f} s.", key_sent
        )
    lines = done.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1])
    except (IndexError, ValueError):
        # Its stderr may quote the request (a traceback): not shown, a key could be in it.
        return ReplayOutcome(
            None, None, f"The replay process failed (exit code {done.returncode}).", key_sent
        )
    error = answer.get("error")
    if isinstance(error, str) and environ.get("OPENAI_API_KEY"):
        error = error.replace(environ["OPENAI_API_KEY"], "[REDACTED]")
    return ReplayOutcome(answer.get("trace_id"), answer.get("span_id"), error, key_sent)


# --- the child ------------------------------------------------------------------------------------------------


def _main() -> None:
    job = json.loads(sys.stdin.read())
    import openai
    from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
    from opentelemetry.trace import SpanContext, TraceFlags

    import spyglass
    from spyglass._scrubbing import Scrubber
    from spyglass._scrubbing_options import ScrubbingOptions

    trace_id, span_id = job["original"]
    original = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(1))

    class LinkToOriginal(SpanProcessor):
        """Links each span of the replay to the recorded call, and names it in an attribute."""

        first: SpanContext | None = None

        def on_start(self, span: Span, parent_context: Any = None) -> None:
            span.add_link(original, {"spyglass.link": "replay of"})
            span.set_attribute(ORIGINAL_TRACE_ID, trace_id)
            span.set_attribute(ORIGINAL_SPAN_ID, span_id)
            if self.first is None:
                self.first = span.get_span_context()

        def on_end(self, span: ReadableSpan) -> None:
            pass

    linker = LinkToOriginal()
    spyglass.configure(
        store=job["store"],
        console=False,
        capture_content=True,
        service_name="spyglass replay",
        additional_span_processors=[linker],
        set_global_providers=False,
    )
    key = os.environ.get("OPENAI_API_KEY") or _NO_KEY
    error = None
    body = job["body"]
    with openai.OpenAI(api_key=key, base_url=job["base_url"], max_retries=0, timeout=120.0) as client:
        spyglass.instrument_openai(client)
        api = client.chat.completions if job["path"] == CHAT_PATH else client.responses
        try:
            answer = api.create(**body)
            if body.get("stream"):
                for _ in answer:
                    pass
        except Exception as exc:  # shown on the page; the span records it as its error
            error = (
                Scrubber(ScrubbingOptions())
                .scrub_text(f"{type(exc).__name__}: {exc}")
                .replace(key, "[REDACTED]")
            )
    spyglass.shutdown()
    context = linker.first
    print(
        json.dumps(
            {
                "trace_id": format(context.trace_id, "032x") if context else None,
                "span_id": format(context.span_id, "016x") if context else None,
                "error": error if context else error or "The SDK made no call.",
            }
        )
    )


if __name__ == "__main__":
    _main()
