"""`spyglass serve`: what it binds, what it warns about (uvicorn itself is replaced by a recorder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from spyglass.receiver import command


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    recorded: list[dict[str, Any]] = []

    def run(app: Any, **options: Any) -> None:
        recorded.append({"app": app, **options})
        app.state.receiver.close()

    monkeypatch.setattr(command.uvicorn, "run", run)
    return recorded


def test_binds_loopback_by_default(runs: list[dict[str, Any]], tmp_path: Path) -> None:
    result = CliRunner().invoke(command.serve, ["--store", str(tmp_path / "s.sqlite")])
    assert result.exit_code == 0, result.output
    assert (runs[0]["host"], runs[0]["port"]) == ("127.0.0.1", 4318)
    assert "warning" not in result.output
    assert (
        f"receiving OTLP/HTTP on http://127.0.0.1:4318/v1/traces into {tmp_path / 's.sqlite'}"
        in result.output
    )


def test_warns_when_exposed_without_a_token(runs: list[dict[str, Any]], tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    exposed = CliRunner().invoke(command.serve, ["--store", store, "--host", "0.0.0.0", "--port", "9999"])
    assert "warning: listening on 0.0.0.0 without --token" in exposed.output
    with_token = CliRunner().invoke(
        command.serve, ["--store", store, "--host", "0.0.0.0"], env={"SPYGLASS_RECEIVER_TOKEN": "t"}
    )
    assert "warning" not in with_token.output
    assert runs[0]["port"] == 9999
