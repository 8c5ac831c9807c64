"""`spyglass serve`: it checks its store and binds its port before it says it is ready, prints the port it
has, exits with the documented codes, and stops on Ctrl+C within a second without a traceback."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from otlp_helpers import protobuf_request

from spyglass.receiver import command
from spyglass.store import SpanStore

READY = re.compile(
    r"^spyglass: receiving OTLP/HTTP on http://127\.0\.0\.1:(\d+)/v1/traces into (.+)  \(Ctrl\+C"
)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, int]]:
    """`serve` with the serving itself replaced by a recorder (the real thing runs in the subprocess test)."""
    recorded: list[tuple[Any, int]] = []

    def record(app: Any, sock: socket.socket, on_ready: Callable[[], None]) -> None:
        recorded.append((app, sock.getsockname()[1]))
        on_ready()
        sock.close()
        app.state.receiver.close()

    monkeypatch.setattr(command, "serve_app", record)
    return recorded


def test_prints_the_port_it_bound_on_loopback(served: list[tuple[Any, int]], tmp_path: Path) -> None:
    result = CliRunner().invoke(command.serve, ["--store", str(tmp_path / "s.sqlite"), "--port", "0"])
    assert result.exit_code == 0, result.output
    [(_, bound)] = served
    ready = READY.match(result.output)
    assert ready is not None, result.output
    assert int(ready.group(1)) == bound != 0
    assert ready.group(2) == str(tmp_path / "s.sqlite")
    assert "warning" not in result.output


def test_refuses_to_listen_off_loopback_without_a_token(
    served: list[tuple[Any, int]], tmp_path: Path
) -> None:
    store = str(tmp_path / "s.sqlite")
    exposed = CliRunner().invoke(command.serve, ["--store", store, "--host", "0.0.0.0", "--port", "0"])
    assert exposed.exit_code == 2
    assert "refusing to listen on 0.0.0.0 without a token" in exposed.output
    assert served == [] and not (tmp_path / "s.sqlite").exists()
    for variable in ("SPYGLASS_TOKEN", "SPYGLASS_RECEIVER_TOKEN"):
        with_token = CliRunner().invoke(
            command.serve, ["--store", store, "--host", "0.0.0.0", "--port", "0"], env={variable: "t"}
        )
        assert with_token.exit_code == 0 and "refusing" not in with_token.output
    assert len(served) == 2


def test_a_taken_port_is_exit_code_3_and_nothing_says_ready(
    served: list[tuple[Any, int]], tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            command.serve, ["--store", str(tmp_path / "s.sqlite"), "--port", str(port)]
        )
    assert result.exit_code == 3
    assert result.output.splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use; choose another address or port "
        "(--port 0 picks a free one)"
    ]
    assert served == []
    assert not (tmp_path / "s.sqlite").exists()


def test_a_bad_store_is_exit_code_1_in_one_line(served: list[tuple[Any, int]], tmp_path: Path) -> None:
    notes = tmp_path / "notes.sqlite"
    notes.write_bytes(b"my notes\n" * 200)
    result = CliRunner().invoke(command.serve, ["--port", "0"], env={"SPYGLASS_STORE": str(notes)})
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Error: {notes} is not a SQLite database (it was left untouched): file is not a database"
    ]
    assert served == []
    assert notes.read_bytes() == b"my notes\n" * 200


def test_a_folder_for_a_store_is_a_usage_error(served: list[tuple[Any, int]], tmp_path: Path) -> None:
    result = CliRunner().invoke(command.serve, ["--port", "0"], env={"SPYGLASS_STORE": str(tmp_path)})
    assert result.exit_code == 2
    assert result.output.splitlines()[-1].startswith(f"Error: SPYGLASS_STORE='{tmp_path}' is a folder")
    assert served == []


def test_a_store_of_another_application_is_refused(served: list[tuple[Any, int]], tmp_path: Path) -> None:
    import sqlite3

    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.close()
    result = CliRunner().invoke(command.serve, ["--store", str(other), "--port", "0"])
    assert result.exit_code == 1
    assert "is a SQLite database that is not a spyglass store" in result.output
    assert served == []


def test_serve_for_real_receives_then_stops_on_ctrl_c_within_a_second(tmp_path: Path) -> None:
    store = tmp_path / "spans.sqlite"
    process = subprocess.Popen(
        [sys.executable, "-m", "spyglass", "serve", "--store", str(store), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        ready = READY.match(line)
        assert ready is not None, line
        port = int(ready.group(1))
        post = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/traces",
            data=protobuf_request(3),
            headers={"Content-Type": "application/x-protobuf"},
            method="POST",
        )
        with urllib.request.urlopen(post, timeout=10) as response:
            assert response.status == 200
        # A client holding a keep-alive connection open, as OpenTelemetry exporters do.
        idle = socket.create_connection(("127.0.0.1", port))
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
        stopped_after = time.monotonic() - started
        idle.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert stderr == ""
    assert stopped_after < 1.0, f"stopped after {stopped_after:.2f} s"
    with SpanStore(store, readonly=True) as reader:
        assert reader.stats()["spans"] == 3
