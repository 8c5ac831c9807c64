"""Helpers for testing code that uses spyglass: capture spans in memory and compare them as plain dicts.

Example:
    ```python
    from spyglass.testing import capture_spans

    def test_my_code():
        with capture_spans() as captured:
            my_code()
        assert [s['name'] for s in captured.spans()] == ['chat gpt-4o']
    ```
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ._config import configure, force_flush, shutdown

# Attributes holding JSON strings, decoded by `span_to_dict` so tests compare structures.
_JSON_ATTRIBUTES = frozenset(
    {
        "gen_ai.system_instructions",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.tool.definitions",
    }
)


class CapturedSpans:
    """Spans (and metrics) captured by `capture_spans()`."""

    def __init__(self, exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader) -> None:
        self.exporter = exporter
        self.metric_reader = metric_reader

    def finished(self) -> Sequence[ReadableSpan]:
        """The finished OpenTelemetry spans, in the order they ended (after handing over what is queued:
        spans reach processors on spyglass's pipeline thread)."""
        force_flush()
        return self.exporter.get_finished_spans()

    def spans(self) -> list[dict[str, Any]]:
        """Finished spans as dicts, in the order they started."""
        spans = sorted(self.finished(), key=lambda s: s.start_time or 0)
        names = {s.context.span_id: s.name for s in spans if s.context is not None}
        return [span_to_dict(s, names) for s in spans]

    def clear(self) -> None:
        force_flush()
        self.exporter.clear()

    def metrics(self) -> dict[str, list[dict[str, Any]]]:
        """Histogram points by metric name: each `{'attributes', 'count', 'sum'}` (after handing over what
        is queued: a call's metrics are recorded with its span's attributes, on the pipeline thread)."""
        force_flush()
        data = self.metric_reader.get_metrics_data()
        found: dict[str, list[dict[str, Any]]] = {}
        for resource_metrics in data.resource_metrics if data else ():
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    points = found.setdefault(metric.name, [])
                    for point in metric.data.data_points:
                        points.append(
                            {
                                "attributes": dict(point.attributes or {}),
                                "count": getattr(point, "count", None),
                                "sum": getattr(point, "sum", None),
                                "bucket_boundaries": tuple(getattr(point, "explicit_bounds", ()) or ()),
                            }
                        )
        return found


def span_to_dict(span: ReadableSpan, names_by_id: dict[int, str] | None = None) -> dict[str, Any]:
    """A span as a plain dict: name, parent's name, attributes (JSON ones decoded), events, status."""
    attributes: dict[str, Any] = {}
    for key, value in (span.attributes or {}).items():
        if key in _JSON_ATTRIBUTES and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        attributes[key] = value
    parent = span.parent.span_id if span.parent is not None else None
    return {
        "name": span.name,
        "parent": (names_by_id or {}).get(parent, parent) if parent is not None else None,
        "trace_id": span.context.trace_id if span.context is not None else None,
        "span_id": span.context.span_id if span.context is not None else None,
        "parent_id": parent,
        "attributes": attributes,
        "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
        "links": [link.context.span_id for link in span.links],
        "status": span.status.status_code.name,
        "start_time": span.start_time,
        "end_time": span.end_time,
    }


@contextmanager
def capture_spans(**configure_kwargs: Any) -> Iterator[CapturedSpans]:
    """Configure spyglass to keep spans and metrics in memory (no console, no store) for a block."""
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    configure_kwargs.setdefault("console", False)
    configure_kwargs.setdefault("store", False)
    configure(
        additional_span_processors=[
            SimpleSpanProcessor(exporter),
            *configure_kwargs.pop("additional_span_processors", ()),
        ],
        metric_readers=[reader, *configure_kwargs.pop("metric_readers", ())],
        **configure_kwargs,
    )
    try:
        yield CapturedSpans(exporter, reader)
    finally:
        shutdown()
