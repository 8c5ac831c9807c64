"""Live updates on PostgreSQL: a write by another process reaches an open viewer's event stream at once, by
the writer's NOTIFY, long before the viewer would have polled."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx

from spyglass.viewer import create_app, local_hosts
from spyglass.viewer.server import bind, serving_in_thread

_POLL_SECONDS = 30.0  # the stream's fallback poll: far longer than the test waits
_WRITE_ONE_TRACE = """
import sys
import spyglass
from opentelemetry import trace
spyglass.configure(service_name="elsewhere", console=False, store=sys.argv[1])
with trace.get_tracer("t").start_as_current_span("written by another process"):
    pass
"""


def test_a_write_from_another_process_reaches_an_open_viewer_promptly(pg_url: str) -> None:
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    app = create_app(pg_url, token="t", allowed_hosts=local_hosts(port), poll_seconds=_POLL_SECONDS)
    with serving_in_thread(app, sock) as url, httpx.Client(base_url=url, timeout=20) as client:
        cursor = client.get("/api/traces").json()["cursor"]
        with client.stream("GET", "/api/events", params={"cursor": str(cursor)}) as events:
            lines = events.iter_lines()
            assert next(lines).startswith("retry:")
            time.sleep(0.5)  # the stream has read once and is waiting now
            subprocess.run([sys.executable, "-c", _WRITE_ONE_TRACE, pg_url], check=True, timeout=60)
            written = time.monotonic()
            event = _next_changes(lines)
            waited = time.monotonic() - written
    assert [trace["root_name"] for trace in event["traces"]] == ["written by another process"]
    assert waited < 5.0, f"the change took {waited:.1f} s to arrive"


def _next_changes(lines: object) -> dict[str, object]:
    current = None
    for line in lines:  # type: ignore[attr-defined]
        if line.startswith("event: "):
            current = line.removeprefix("event: ")
        elif line.startswith("data: ") and current == "changes":
            return json.loads(line.removeprefix("data: "))  # type: ignore[no-any-return]
    raise AssertionError("the stream ended without a changes event")
