"""The local span store: a SQLite file every span is written to, and the queries the viewer runs on it.

`SqliteSpanProcessor` writes spans (from the moment they start) on a background thread; `SpanStore` reads
them back. Several processes may write one file at once, and readers never block them.

Example:
    ```python
    from opentelemetry.sdk.trace import TracerProvider
    from spyglass.store import SpanStore, SqliteSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SqliteSpanProcessor("traces.sqlite", max_bytes=500_000_000))
    ...
    with SpanStore("traces.sqlite") as store:
        latest = store.list_traces(limit=10)
    ```
"""

from __future__ import annotations

from spyglass.store._errors import StoreError
from spyglass.store._thread_queries import ThreadSummary
from spyglass.store._trace_filters import TraceStatus
from spyglass.store.reader import (
    Changes,
    ModelStats,
    SpanRecord,
    SpanStore,
    StoreStats,
    TraceSummary,
)
from spyglass.store.writer import SqliteSpanProcessor

__all__ = [
    "Changes",
    "ModelStats",
    "SpanRecord",
    "SpanStore",
    "SqliteSpanProcessor",
    "StoreError",
    "StoreStats",
    "ThreadSummary",
    "TraceStatus",
    "TraceSummary",
]
