"""The viewer names its store as the user did: a PostgreSQL URL stays the URL it is, whatever its form."""

from __future__ import annotations

from pathlib import Path

from spyglass.viewer._store import StoreHandle


def test_a_socket_url_is_kept_as_given_and_its_password_masked() -> None:
    handle = StoreHandle("postgresql://team:s3cret@/spans?host=/run/postgresql")
    assert handle._location == "postgresql://team:s3cret@/spans?host=/run/postgresql"
    assert "s3cret" not in str(handle.path)


def test_a_url_wrapped_in_a_path_is_a_url_again_and_a_file_stays_a_file(tmp_path: Path) -> None:
    assert StoreHandle(Path("postgresql://db.internal/spans"))._location == "postgresql://db.internal/spans"
    assert StoreHandle(tmp_path / "spans.sqlite")._location == tmp_path / "spans.sqlite"
