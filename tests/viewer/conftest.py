"""Fixtures for the viewer tests: a store with traces in it, the app under TestClient, a real server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from viewer_helpers import TOKEN, Tracing

from spyglass.viewer import create_app, local_hosts
from spyglass.viewer.server import bind, serving_in_thread

CHROMIUM = Path("/usr/bin/chromium")
# SPYGLASS_SCREENSHOTS=docs/images makes the browser tests refresh the screenshots docs/viewer.md shows.
ARTIFACTS = Path(os.environ.get("SPYGLASS_SCREENSHOTS") or Path(__file__).parents[2] / "test-artifacts")


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "spans.sqlite"


@pytest.fixture
def tracing(store_path: Path) -> Iterator[Tracing]:
    tracing = Tracing(store_path)
    yield tracing
    tracing.shutdown()


@pytest.fixture
def filled_store(tracing: Tracing, store_path: Path) -> Path:
    tracing.chat_trace()
    tracing.tool_trace()
    tracing.image_trace()
    tracing.error_trace()
    tracing.flush()
    return store_path


@pytest.fixture
def filled(tracing: Tracing) -> Tracing:
    tracing.chat_trace()
    tracing.tool_trace()
    tracing.image_trace()
    tracing.error_trace()
    tracing.flush()
    return tracing


@pytest.fixture
def client(filled_store: Path) -> Iterator[TestClient]:
    app = create_app(filled_store, token=TOKEN, allowed_hosts=["testserver"], poll_seconds=0.05)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def viewer_url(store_path: Path, tracing: Tracing) -> Iterator[str]:
    """A real viewer on a free port (the store exists: the tracing fixture created it)."""
    tracing.flush()
    sock = bind("127.0.0.1", 0)
    app = create_app(
        store_path, token=TOKEN, allowed_hosts=local_hosts(sock.getsockname()[1]), poll_seconds=0.1
    )
    with serving_in_thread(app, sock) as url:
        yield url


# --- pytest-playwright, pointed at Debian's Chromium -------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not CHROMIUM.exists():
        pytest.skip("the browser tests need Debian's chromium (.ci/install-browser installs it)")
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1400, "height": 900}}


@pytest.fixture
def screenshot_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def base_url() -> None:
    """Replaces pytest-base-url's fixture, which pytest 9 warns about (and warnings are errors here)."""
    return None
