"""The PostgreSQL tests: the cluster fixtures, and the store and receiver tests' helpers."""

from __future__ import annotations

import sys
from pathlib import Path

for _helpers in ("store", "otlp", "viewer"):  # shared with the SQLite runs of the same scenarios
    sys.path.insert(0, str(Path(__file__).parent.parent / _helpers))

from pg_cluster import cluster, pg_url  # noqa: E402  # fixtures, found by pytest by name

__all__ = ["cluster", "pg_url"]
