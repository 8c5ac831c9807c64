"""`configure()` checks every argument before it builds anything: a wrong value is a `ConfigError` naming the
argument and what it accepts, the previous configuration stays in place, and nothing is left running."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spyglass
from spyglass.testing import capture_spans

# Values of every kind, from which each argument's wrong ones are drawn.
ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.tuples(st.text(max_size=3)),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.builds(object),
    st.just(Path("x")),
)
CONSOLE_OPTIONS = {"console", "file", "verbose", "colors", "min_level", "tz"}
BLANK_TEXT = st.sampled_from(["", " ", "\t\n"])


def not_a(*accepted: type) -> st.SearchStrategy[Any]:
    return ANYTHING.filter(lambda value: not isinstance(value, accepted))


WRONG: dict[str, st.SearchStrategy[Any]] = {
    "service_name": st.one_of(not_a(str, type(None)), BLANK_TEXT),
    "console": not_a(bool, dict, type(None))
    | st.dictionaries(st.text(max_size=8).filter(lambda k: k not in CONSOLE_OPTIONS), st.none(), min_size=1),
    "capture_content": not_a(bool, type(None)),
    "store": st.one_of(not_a(str, os.PathLike, bool, type(None)), BLANK_TEXT, st.just("a\0b")),
    "additional_span_processors": st.one_of(
        st.integers(), st.text(), st.lists(not_a(SimpleSpanProcessor), min_size=1, max_size=3)
    ),
    "metric_readers": st.one_of(
        st.integers(), st.text(), st.lists(not_a(InMemoryMetricReader), min_size=1, max_size=3)
    ),
    "resource_attributes": st.one_of(
        not_a(dict, type(None)),
        st.dictionaries(st.integers(), st.text(), min_size=1, max_size=2),
        st.dictionaries(
            st.text(min_size=1, max_size=5), st.one_of(st.none(), st.builds(object)), min_size=1, max_size=2
        ),
    ),
    "max_attribute_length": st.one_of(not_a(int, type(None)), st.booleans(), st.integers(max_value=63)),
    "scrubbing": not_a(bool, spyglass.ScrubbingOptions),
    "otlp_endpoint": st.one_of(not_a(str, type(None)), st.just("localhost:4318"), st.just("ftp://x")),
    "otlp_headers": st.one_of(not_a(str, dict, type(None)), st.just("no-equals-sign"), st.just({"a": 1})),
    "otlp_protocol": st.one_of(not_a(str, type(None)), st.just("http/json"), st.just("udp")),
    "otlp_capture_content": not_a(bool, type(None)),
    "tracer_provider": not_a(type(None)),
    "meter_provider": not_a(type(None)),
    "set_global_providers": not_a(bool),
}


@pytest.mark.parametrize("argument", sorted(WRONG))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data())
def test_a_wrong_value_is_a_config_error_naming_the_argument(argument: str, data: st.DataObject) -> None:
    value = data.draw(WRONG[argument], label=argument)
    with capture_spans() as before:
        threads = threading.active_count()
        with pytest.raises(spyglass.ConfigError) as raised:
            spyglass.configure(**{"console": False, "store": False, argument: value})
        assert threading.active_count() == threads
        spyglass.info("still recorded by the configuration before")
    message = str(raised.value)
    assert message.startswith(argument), message
    assert "report" not in message
    assert [span["name"] for span in before.spans()] == ["still recorded by the configuration before"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"capture_content": "false"},
            "capture_content must be True or False (or None for the default), got 'false'",
        ),
        ({"console": 3}, "console must be True, False or a dict of console options, got 3"),
        ({"store": 5}, "store must be a file path, True (the default store) or False (none), got 5"),
        (
            {"otlp_headers": 7},
            "otlp_headers must be a dict of header names to values, or 'key=value,key2=value2', got 7",
        ),
        ({"metric_readers": [1]}, "metric_readers[0] must be an OpenTelemetry MetricReader, got 1"),
        ({"scrubbing": "yes"}, "scrubbing must be True, False or ScrubbingOptions(...), got 'yes'"),
        (
            {"max_attribute_length": True},
            "max_attribute_length must be an int >= 64 (or None for the default), got True",
        ),
        (
            {"console": {"verbosity": "full"}},
            "console: unknown option 'verbosity'; the options are console, file, verbose",
        ),
    ],
)
def test_the_messages_say_what_each_argument_accepts(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(spyglass.ConfigError) as raised:
        spyglass.configure(**{"console": False, "store": False, **kwargs})
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"verbose": "full"}, "console['verbose'] must be 'quiet' or 'normal' or 'verbose', got 'full'"),
        ({"verbose": 3}, "console['verbose'] must be"),
        ({"colors": None}, "console['colors'] must be 'auto' or 'always' or 'never', got None"),
        ({"min_level": "loud"}, "console['min_level'] must be 'debug' or 'info' or 'warn' or 'error'"),
        ({"tz": "UTC"}, "console['tz'] must be a datetime.tzinfo (or None), got 'UTC'"),
        ({"file": 3}, "console['file'] must be a text file open for writing (or None), got 3"),
        ({"console": "x"}, "console['console'] must be a rich.console.Console (or None), got 'x'"),
    ],
)
def test_console_options_are_checked_before_any_span_is_printed(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(spyglass.ConfigError) as raised:
        spyglass.configure(console=options, store=False)
    assert str(raised.value).startswith(message)


def test_a_path_the_system_refuses_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(spyglass.ConfigError, match=r"store='.*x' cannot be a path here: File name too long"):
        spyglass.configure(console=False, store=tmp_path / ("x" * 10_000))


def test_a_huge_or_unprintable_value_is_shown_short() -> None:
    class Unprintable:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    for value in ("y" * 1_000_000, Unprintable()):
        with pytest.raises(spyglass.ConfigError) as raised:
            spyglass.configure(console=False, store=False, capture_content=value)
        assert len(str(raised.value)) < 200


def test_an_object_that_is_no_span_processor_is_refused_and_the_next_configure_works() -> None:
    with pytest.raises(
        spyglass.ConfigError, match=r"additional_span_processors\[1\] must be an OpenTelemetry"
    ):
        spyglass.configure(
            console=False,
            store=False,
            additional_span_processors=[SimpleSpanProcessor(InMemorySpanExporter()), object()],
        )
    with capture_spans() as captured:
        spyglass.info("after")
    assert [span["name"] for span in captured.spans()] == ["after"]


def test_any_iterable_of_processors_is_read_once_and_used() -> None:
    exporter = InMemorySpanExporter()
    spyglass.configure(
        console=False, store=False, additional_span_processors=(p for p in [SimpleSpanProcessor(exporter)])
    )
    spyglass.info("reaches the processor")
    spyglass.shutdown()
    assert [span.name for span in exporter.get_finished_spans()] == ["reaches the processor"]


def test_a_metric_reader_given_to_an_earlier_configure_is_a_config_error() -> None:
    reader = InMemoryMetricReader()
    spyglass.configure(console=False, store=False, metric_readers=[reader])
    with pytest.raises(
        spyglass.ConfigError, match=r"metric_readers\[0\] .* already belongs to another MeterProvider"
    ):
        spyglass.configure(console=False, store=False, metric_readers=[reader])
    spyglass.shutdown()


def test_a_store_path_that_is_a_folder_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(spyglass.ConfigError, match=r"store=.* is a folder: give the store's file"):
        spyglass.configure(console=False, store=tmp_path)
    monkeypatch.setenv("SPYGLASS_STORE", str(tmp_path))
    with pytest.raises(spyglass.ConfigError, match=r"SPYGLASS_STORE=.* is a folder"):
        spyglass.configure(console=False)


def test_a_configure_that_fails_after_building_the_store_leaves_nothing_running(tmp_path: Path) -> None:
    """The gRPC exporter is not installed, which is found only when the OTLP sink is built, after the store."""
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")  # the test needs only grpc to be absent
    try:
        import opentelemetry.exporter.otlp.proto.grpc  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover
        pytest.skip("the gRPC exporter is installed here: this failure cannot be produced")
    threads = {thread.ident for thread in threading.enumerate()}
    with pytest.raises(spyglass.ConfigError, match="grpc"):
        spyglass.configure(
            console=False,
            store=tmp_path / "spans.sqlite",
            otlp_endpoint="http://127.0.0.1:9",
            otlp_protocol="grpc",
        )
    left = [thread.name for thread in threading.enumerate() if thread.ident not in threads]
    assert left == []


def test_an_unwritable_store_never_stops_the_program(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store path whose folder cannot be made (a file is in the way: true for root too) is warned about once;
    the other sinks go on and the spans not stored are counted."""
    (tmp_path / "blocked").write_text("a file where the store's folder should be")
    exporter = InMemorySpanExporter()
    with caplog.at_level(logging.WARNING, logger="spyglass"):
        spyglass.configure(
            console=False,
            store=tmp_path / "blocked" / "spans.sqlite",
            additional_span_processors=[SimpleSpanProcessor(exporter)],
        )
        spyglass.info("one")
        spyglass.info("two")
        # The store keeps retrying (the folder may become writable): its spans are not flushed, and say so.
        assert not spyglass.force_flush(1_000)
    from spyglass._config import STATE

    assert STATE.pipeline is not None
    dropped = STATE.pipeline.dropped(still_queued=True)
    spyglass.shutdown()
    assert [span.name for span in exporter.get_finished_spans()] == ["one", "two"]
    warnings = [r.getMessage() for r in caplog.records if "cannot open its store" in r.getMessage()]
    assert len(warnings) == 1 and "blocked" in warnings[0], warnings
    assert dropped["store"] == 2
