"""`spyglass view`: the command line, with serving stubbed out, and once for real in a subprocess."""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from spyglass.viewer import command
from spyglass.viewer.command import view


class Launch:
    def __init__(self) -> None:
        self.served: list[tuple[Any, socket.socket]] = []
        self.opened: list[str] = []


@pytest.fixture
def launch(monkeypatch: pytest.MonkeyPatch) -> Launch:
    launched = Launch()

    def fake_serve(app: Any, sock: socket.socket, on_ready: Callable[[], None]) -> None:
        launched.served.append((app, sock))
        on_ready()
        sock.close()

    monkeypatch.setattr(command, "serve", fake_serve)
    monkeypatch.setattr(command.webbrowser, "open", launched.opened.append)
    return launched


def test_view_serves_on_loopback_prints_the_url_and_opens_the_browser(
    launch: Launch, filled_store: Path
) -> None:
    result = CliRunner().invoke(view, ["--store", str(filled_store), "--port", "0"])
    assert result.exit_code == 0, result.output
    url = re.search(r"http://127\.0\.0\.1:\d+/", result.stdout)
    assert url is not None
    assert launch.opened == [url.group(0)]
    assert len(launch.served) == 1
    assert result.stderr == ""


def test_no_open_does_not_open_a_browser(launch: Launch, filled_store: Path) -> None:
    result = CliRunner().invoke(view, ["--store", str(filled_store), "--port", "0", "--no-open"])
    assert result.exit_code == 0
    assert launch.opened == []
    assert "http://127.0.0.1:" in result.stdout


@pytest.mark.parametrize(("flags", "replay"), [([], 403), (["--allow-replay"], 404)])
def test_replay_is_on_only_with_allow_replay(
    launch: Launch, filled_store: Path, flags: list[str], replay: int
) -> None:
    result = CliRunner().invoke(view, ["--store", str(filled_store), "--port", "0", "--no-open", *flags])
    assert result.exit_code == 0, result.output
    [(app, _)] = launch.served
    with TestClient(app, base_url=f"http://localhost:{_port_of(result.stdout)}") as client:
        trace_id = client.get("/api/traces").json()["traces"][0]["trace_id"]
        assert ('data-replay="on"' in client.get(f"/trace/{trace_id}").text) is bool(flags)
        # On, an unknown span is a 404; off, the endpoint refuses whatever is asked.
        assert client.get(f"/api/replay/{trace_id}/0000000000000000").status_code == replay


def _port_of(output: str) -> int:
    found = re.search(r"http://127\.0\.0\.1:(\d+)/", output)
    assert found is not None
    return int(found.group(1))


def test_another_host_needs_asking_and_warns(launch: Launch, filled_store: Path) -> None:
    result = CliRunner().invoke(
        view, ["--store", str(filled_store), "--host", "0.0.0.0", "--port", "0", "--no-open"]
    )
    assert result.exit_code == 0
    assert "Warning: listening on 0.0.0.0, not on this machine only" in result.stderr


def test_a_missing_store_is_said_in_the_terminal(launch: Launch, tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite"
    result = CliRunner().invoke(view, ["--store", str(missing), "--port", "0", "--no-open"])
    assert result.exit_code == 0
    assert f"spyglass view: No spyglass store at {missing}: the file does not exist yet" in result.stderr
    assert "shows the traces once a program writes them" in result.stderr
    assert len(launch.served) == 1
    assert not missing.exists()


def test_a_foreign_file_is_exit_code_1_in_one_line_and_left_alone(launch: Launch, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n" * 200)
    result = CliRunner().invoke(view, ["--store", str(notes), "--port", "0", "--no-open"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"Error: {notes} is not a SQLite database (it was left untouched): file is not a database"
    ]
    assert result.stdout == ""
    assert launch.served == [] and launch.opened == []
    assert notes.read_text() == "my notes\n" * 200


def test_a_taken_port_is_a_clear_error(launch: Launch, filled_store: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(view, ["--store", str(filled_store), "--port", str(port), "--no-open"])
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use; choose another address or port "
        "(--port 0 picks a free one)"
    ]
    assert result.stdout == ""
    assert launch.served == []


def test_view_runs_for_real(filled_store: Path) -> None:
    code = "from spyglass.viewer.command import view; view()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--store", str(filled_store), "--port", "0", "--no-open"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url is not None, line
        with urllib.request.urlopen(url.group(0) + "api/traces", timeout=10) as response:
            assert b"Weather round trip" in response.read()
        # The same address receives OTLP/HTTP: a span from another program lands in the store and the list.
        now = time.time_ns()
        span = {
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
            "name": "sent from elsewhere",
            "kind": 1,
            "startTimeUnixNano": str(now - 1_000_000),
            "endTimeUnixNano": str(now),
        }
        payload = {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "another-service"}}]
                    },
                    "scopeSpans": [{"scope": {"name": "test"}, "spans": [span]}],
                }
            ]
        }
        post = urllib.request.Request(
            url.group(0) + "v1/traces",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(post, timeout=10) as response:
            assert response.status == 200
        for _ in range(100):  # the store writes in the background: wait for it, within bounds
            with urllib.request.urlopen(url.group(0) + "api/traces", timeout=10) as response:
                if b"sent from elsewhere" in response.read():
                    break
            time.sleep(0.1)
        else:
            pytest.fail("the OTLP span never reached the trace list")
        request = urllib.request.Request(url.group(0), headers={"Host": "attacker.example"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 421
        refused.value.close()
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0
    assert stderr == ""


def test_ctrl_c_stops_the_viewer_within_a_second_with_a_live_page_open(filled_store: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "spyglass", "view", "--store", str(filled_store), "--port", "0", "--no-open"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = re.search(r"http://127\.0\.0\.1:(\d+)/", process.stdout.readline())
        assert url is not None
        # A live page's event stream, as the browser's EventSource holds it: connected and reading.
        with urllib.request.urlopen(url.group(0), timeout=10) as page:
            assert page.status == 200
        events = urllib.request.urlopen(url.group(0) + "api/events", timeout=10)
        assert events.headers["content-type"].startswith("text/event-stream")
        assert events.readline() == b"retry: 2000\n"
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
        stopped_after = time.monotonic() - started
        with pytest.raises(http.client.IncompleteRead):  # the stream was cut: EventSource reconnects later
            events.read()
        events.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert stderr == ""
    assert stopped_after < 1.0, f"stopped after {stopped_after:.2f} s"
