"""pytest plugin loaded into the openai SDK's own test suite (`-p spyglass_plugin`) by .ci/openai-sdk-suite.

SPYGLASS_SDK_MODE picks what spyglass does before any test (so before any client exists):
  plain  nothing: spyglass is installed but never imported;
  quiet  configure(console=False, store=False, capture_content=False), then instrument_openai();
  full   configure(console=True, store=<SPYGLASS_SDK_STORE>, capture_content=True), then instrument_openai().
Every mode writes each test's outcome to SPYGLASS_SDK_OUTCOMES (JSON, test id -> outcome) for compare.py.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

MODE = os.environ.get("SPYGLASS_SDK_MODE", "plain")
_outcomes: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    if MODE == "plain":
        return
    import spyglass

    full = MODE == "full"
    store = os.environ["SPYGLASS_SDK_STORE"] if full else False
    spyglass.configure(console=full, store=store, capture_content=full)
    spyglass.instrument_openai()


# A test's outcome is the worst of its phases (setup, call, teardown).
_RANK = {"passed": 0, "skipped": 1, "xfailed": 2, "xpassed": 3, "failed": 4, "error": 5}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Runs in the controlling process, also under xdist.
    if hasattr(report, "wasxfail"):
        outcome = "xpassed" if report.passed else "xfailed"
    elif report.failed:
        outcome = "failed" if report.when == "call" else "error"
    else:
        outcome = report.outcome  # passed or skipped
    if _RANK[outcome] >= _RANK[_outcomes.get(report.nodeid, "passed")]:
        _outcomes[report.nodeid] = outcome


def pytest_sessionfinish(session: pytest.Session, exitstatus: Any) -> None:
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller writes the file
        return
    path = os.environ.get("SPYGLASS_SDK_OUTCOMES")
    if path:
        with open(path, "w", encoding="utf-8") as file:
            json.dump(_outcomes, file, indent=0, sort_keys=True)
