"""Whatever a program hands spyglass's own API, every sink records it and the program sees only its own code.

Hypothesis generates hostile templates, field values and exceptions (lone surrogates, NUL, huge text and
numbers, objects whose `str()` or `repr()` raise, exceptions that cannot be printed, `KeyboardInterrupt`):
`spyglass.span()`, `set_attribute()` and the log functions must never raise, the program's own exception
must come out unchanged, and each span must reach the in-memory exporter, the console and the store, ended.
"""

from __future__ import annotations

import io
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import spyglass


class Unprintable:
    """An object whose text forms all raise."""

    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("this exception cannot be printed")


class WrongStrError(Exception):
    def __str__(self) -> str:
        return 42  # type: ignore[return-value]


hostile_text = st.text(
    st.characters(codec=None, categories=None, exclude_categories=()),  # lone surrogates and NUL included
    max_size=40,
) | st.sampled_from(["{", "}", "{missing}", "{0}", "{x!r:>{y}}", "\ud800", "\x00", "x" * 200_000])
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | hostile_text
    | st.binary(max_size=40)
    | st.builds(Unprintable)
    | st.just(math.nan),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(hostile_text, inner, max_size=4)
        | st.frozensets(st.integers(), max_size=3)
    ),
    max_leaves=8,
)
field_names = st.text(
    st.characters(categories=["L", "N"], exclude_characters="\x00"), min_size=1, max_size=12
)
fields = st.dictionaries(field_names, values, max_size=4)
exceptions = st.one_of(
    st.builds(ValueError, hostile_text),
    st.builds(UnprintableError),
    st.builds(WrongStrError),
    st.builds(RuntimeError, values),
    st.just(KeyboardInterrupt()),
    st.builds(SystemExit, st.integers(0, 3)),
)


class Sinks:
    def __init__(self, exporter: InMemorySpanExporter, console: io.StringIO, store: Path) -> None:
        self.exporter = exporter
        self.console = console
        self.store = store

    def store_rows(self, trace_id: int) -> list[tuple[int, str]]:
        spyglass.force_flush()
        with sqlite3.connect(self.store) as conn:
            found = conn.execute(
                "SELECT is_pending, status_code FROM spans WHERE trace_id = ?", (format(trace_id, "032x"),)
            ).fetchall()
        return [(int(pending), str(status)) for pending, status in found]


@pytest.fixture(scope="module")
def sinks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sinks]:
    exporter = InMemorySpanExporter()
    console = io.StringIO()
    store = tmp_path_factory.mktemp("store") / "spans.sqlite"
    spyglass.configure(
        console={"file": console, "colors": "never"},
        store=store,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
    )
    yield Sinks(exporter, console, store)
    spyglass.shutdown()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(template=hostile_text, span_fields=fields, extra=values, exc=exceptions)
def test_a_span_with_any_input_ends_in_every_sink_and_its_exception_comes_out_unchanged(
    sinks: Sinks, template: str, span_fields: dict[str, Any], extra: object, exc: BaseException
) -> None:
    sinks.exporter.clear()
    written_before = len(sinks.console.getvalue())
    caught: BaseException | None = None
    try:
        with spyglass.span(template, **span_fields) as span:
            span.set_attribute("extra", extra)
            raise exc
    except BaseException as error:  # KeyboardInterrupt and SystemExit are the point
        caught = error
    assert caught is exc
    spyglass.force_flush()
    ended = sinks.exporter.get_finished_spans()
    assert len(ended) == 1
    assert ended[0].status.status_code is StatusCode.ERROR
    assert ended[0].context is not None
    assert sinks.store_rows(ended[0].context.trace_id) == [(0, "ERROR")]
    assert len(sinks.console.getvalue()) > written_before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(template=hostile_text, log_fields=fields, level=st.sampled_from(["debug", "info", "warn", "error"]))
def test_a_log_with_any_input_reaches_every_sink(
    sinks: Sinks, template: str, log_fields: dict[str, Any], level: str
) -> None:
    sinks.exporter.clear()
    getattr(spyglass, level)(template, **log_fields)
    spyglass.force_flush()
    ended = sinks.exporter.get_finished_spans()
    assert len(ended) == 1
    assert ended[0].context is not None
    assert [pending for pending, _ in sinks.store_rows(ended[0].context.trace_id)] == [0]


def test_an_exception_that_cannot_be_printed_still_ends_its_span(sinks: Sinks) -> None:
    """The case hypothesis found first: `str(exc)` raising inside the span's own exit."""
    sinks.exporter.clear()
    with pytest.raises(UnprintableError):
        with spyglass.span("doomed"):
            raise UnprintableError()
    spyglass.force_flush()
    ended = sinks.exporter.get_finished_spans()
    assert [span.name for span in ended] == ["doomed"]
    assert ended[0].status.status_code is StatusCode.ERROR
    assert "UnprintableError" in (ended[0].status.description or "")
