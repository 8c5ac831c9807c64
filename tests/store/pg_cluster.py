"""Fixtures (imported by the conftests that use them): a throwaway PostgreSQL cluster for the session
(Debian's server binaries), a fresh database per test.

The server refuses to run as root, so as root it runs as `nobody`. When no server can be started the tests
skip saying why, except under CI (CI=true), where that is a failure: CI installs PostgreSQL (.ci/run).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The store and receiver tests' helpers, shared with the PostgreSQL runs of the same scenarios.
for _helpers in ("store", "otlp"):
    sys.path.insert(0, str(Path(__file__).parent.parent / _helpers))

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[test]')")


@dataclass
class Cluster:
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://spyglass:s3cret-pw@127.0.0.1:{self.port}/{database}"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL must run in CI: {reason}")
    pytest.skip(f"no PostgreSQL server could be started: {reason}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = found[-1] if found else shutil.which("initdb")
    if initdb is None:
        _unavailable("initdb not found (Debian package postgresql; .ci/install-postgres installs it)")
    bin_dir = Path(str(initdb)).parent
    base = Path(tempfile.mkdtemp(prefix="spyglass-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses root
        os.chown(base, 65534, 65534)
        base.chmod(0o700)
        as_user = ["runuser", "-u", "nobody", "--"]
    port = _free_port()
    data = base / "data"
    password_file = base / "pw"
    password_file.write_text("s3cret-pw\n")
    if as_user:
        os.chown(password_file, 65534, 65534)
    log = base / "server.log"
    try:
        subprocess.run(
            [
                *as_user,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "spyglass",
                "--auth=scram-sha-256",
                f"--pwfile={password_file}",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off -c max_connections=200"
        subprocess.run(
            [
                *as_user,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(log),
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(base, ignore_errors=True)
        _unavailable(f"{exc}: {detail.decode(errors='replace')[-500:]}")
    try:
        yield Cluster(port)
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_url(cluster: Cluster) -> str:
    """The URL of a fresh, empty database (password included, as users write it)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return cluster.url(name)


@pytest.fixture(params=["sqlite", "postgres"], name="store_path")
def both_backends(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """`store_path` for a module whose tests run on both backends: a SQLite file, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "traces.sqlite"
    return str(request.getfixturevalue("pg_url"))
