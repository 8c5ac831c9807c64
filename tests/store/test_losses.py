"""What writers lost is kept in the store, so whoever looks at it (the viewer, a teammate) sees it."""

from __future__ import annotations

import threading
from pathlib import Path

from dirty_equals import IsInt, IsStr
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from pg_cluster import both_backends  # noqa: F401  # `store_path`: every test on both backends

import spyglass
from spyglass.store._backends import open_store as open_any_store
from spyglass.store._backends import store_processor


def test_a_writer_keeps_its_latest_counts_one_row_per_sink(store_path: Path | str, open_store) -> None:
    counts = {"pipeline": 0, "console": 0}
    processor = store_processor(store_path)
    processor.report_losses(lambda: dict(counts), service_name="checkout")
    assert processor.force_flush(10_000)
    assert open_store().losses() == []  # nothing lost: no row

    counts["pipeline"] = 12
    assert processor.force_flush(10_000)
    counts["pipeline"], counts["console"] = 40, 3
    assert processor.force_flush(10_000)
    processor.shutdown()

    losses = sorted(open_store().losses(), key=lambda loss: loss["sink"])
    expected = {"service_name": "checkout", "host": IsStr(min_length=1), "pid": IsInt(gt=0)}
    assert losses == [
        {**expected, "sink": "console", "unit": "span", "count": 3, "first_ns": IsInt(), "last_ns": IsInt()},
        {
            **expected,
            "sink": "pipeline",
            "unit": "span",
            "count": 40,
            "first_ns": IsInt(),
            "last_ns": IsInt(),
        },
    ]
    assert losses[1]["first_ns"] < losses[1]["last_ns"]  # first seen at 12, updated at 40


def test_each_writer_has_its_own_rows_and_clear_forgets_them(store_path: Path | str, open_store) -> None:
    first, second = store_processor(store_path), store_processor(store_path)
    first.report_losses(lambda: {"pipeline": 5}, service_name="a")
    second.report_losses(lambda: {"receiver": 7}, unit="log record", service_name="b")
    for processor in (first, second):
        assert processor.force_flush(10_000)
        processor.shutdown()
    store = open_store()
    assert sorted(
        (loss["service_name"], loss["sink"], loss["unit"], loss["count"]) for loss in store.losses()
    ) == [
        ("a", "pipeline", "span", 5),
        ("b", "receiver", "log record", 7),
    ]
    store.clear()
    assert store.losses() == []


def test_a_counter_that_raises_costs_nothing_else(store_path: Path | str, open_store) -> None:
    def broken() -> dict[str, int]:
        raise RuntimeError("boom")

    processor = store_processor(store_path)
    processor.report_losses(broken, service_name="a")
    processor.report_losses(lambda: {"otlp": 2}, service_name="a")
    assert processor.force_flush(10_000)
    processor.shutdown()
    assert [(loss["sink"], loss["count"]) for loss in open_store().losses()] == [("otlp", 2)]


class _Stuck(SpanProcessor):
    """An application's processor that stops taking spans: the pipeline's queue fills and drops."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def on_end(self, span: ReadableSpan) -> None:
        self.release.wait(30)


def test_what_the_pipeline_drops_reaches_the_store(store_path: Path | str) -> None:
    stuck = _Stuck()
    spyglass.configure(
        store=str(store_path), console=False, service_name="shop", additional_span_processors=[stuck]
    )
    try:
        for index in range(21_000):  # past the pipeline's queue of 20,000
            with spyglass.span("step {index}", index=index):
                pass
        dropped = spyglass.stats()["pipeline"]
        assert dropped > 0
        stuck.release.set()
        assert spyglass.force_flush(20_000)
        final = spyglass.stats()["pipeline"]
    finally:
        stuck.release.set()
        spyglass.shutdown()
    with open_any_store(store_path) as store:
        [loss] = store.losses()
    assert (loss["service_name"], loss["sink"], loss["unit"]) == ("shop", "pipeline", "span")
    assert loss["count"] == final >= dropped
