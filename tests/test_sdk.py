"""The SDK surface: configure, span, logs, templates, attribute encoding, suppression, flush and shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import logging
import uuid
from decimal import Decimal
from pathlib import PurePosixPath

import pydantic
import pytest
from opentelemetry import trace

import spyglass
from spyglass.testing import capture_spans


@pytest.fixture
def captured():
    with capture_spans() as captured:
        yield captured


def test_span_records_message_template_and_attributes(captured):
    with spyglass.span("Asking {who} about {topic}", who="OpenAI", topic="logging", n=3) as span:
        span.set_attribute("answer_length", 42)
    (record,) = captured.spans()
    assert record["name"] == "Asking {who} about {topic}"
    assert record["status"] == "UNSET"
    assert record["attributes"] == {
        "spyglass.kind": "span",
        "spyglass.msg_template": "Asking {who} about {topic}",
        "spyglass.msg": "Asking OpenAI about logging",
        "who": "OpenAI",
        "topic": "logging",
        "n": 3,
        "answer_length": 42,
    }


def test_spans_nest_and_logs_belong_to_their_span(captured):
    with spyglass.span("outer"), spyglass.span("inner"):
        spyglass.info("got {n} choices", n=2)
    spans = {s["name"]: s for s in captured.spans()}
    assert spans["inner"]["parent"] == "outer"
    assert spans["got {n} choices"]["parent"] == "inner"
    log = spans["got {n} choices"]
    assert log["attributes"]["spyglass.msg"] == "got 2 choices"
    assert log["attributes"]["spyglass.level"] == "info"
    assert log["attributes"]["spyglass.level_num"] == 9
    assert log["start_time"] == log["end_time"]


def test_each_log_level(captured):
    spyglass.debug("d")
    spyglass.info("i")
    spyglass.warn("w")
    spyglass.error("e {x}", x=1)
    levels = [
        (s["attributes"]["spyglass.level"], s["attributes"]["spyglass.level_num"], s["status"])
        for s in captured.spans()
    ]
    assert levels == [
        ("debug", 5, "UNSET"),
        ("info", 9, "UNSET"),
        ("warn", 13, "UNSET"),
        ("error", 17, "ERROR"),
    ]


def test_exception_log_records_the_active_exception(captured):
    try:
        raise KeyError("missing")
    except KeyError:
        spyglass.exception("lookup failed for {key}", key="a")
    (record,) = captured.spans()
    assert record["status"] == "ERROR"
    assert record["attributes"]["error.type"] == "KeyError"
    (event,) = record["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "KeyError"


def test_span_records_an_exception_and_reraises_it(captured):
    with pytest.raises(ValueError, match="boom"), spyglass.span("failing"):
        raise ValueError("boom")
    (record,) = captured.spans()
    assert record["status"] == "ERROR"
    assert record["attributes"]["error.type"] == "ValueError"
    assert record["events"][0]["attributes"]["exception.message"] == "boom"


@pytest.mark.parametrize(
    ("template", "fields", "expected"),
    [
        ("plain", {}, "plain"),
        ("{a} and {b}", {"a": 1}, "1 and {b}"),  # a missing field stays as written
        ("{x:.2f}s", {"x": 1.23456}, "1.23s"),
        ("{x:.2f}", {"x": "not a number"}, "{x:.2f}"),  # a failing format spec stays as written
        ("{obj.attr}", {"obj": object()}, "{obj.attr}"),
        ("{d[k]}", {"d": {"k": "v"}}, "v"),
        ("{x!r}", {"x": "s"}, "'s'"),
        ("unbalanced {", {}, "unbalanced {"),
        ("{}", {}, "{}"),
    ],
)
def test_message_templates_never_raise(captured, template, fields, expected):
    spyglass.info(template, **fields)
    assert captured.spans()[0]["attributes"]["spyglass.msg"] == expected


class Model(pydantic.BaseModel):
    name: str
    when: datetime.date


@dataclasses.dataclass
class Point:
    x: int
    y: int


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_attribute_values_of_any_type_are_stored_safely(captured):
    cyclic: list[object] = [1]
    cyclic.append(cyclic)
    deep: dict[str, object] = {}
    node = deep
    for _ in range(5000):
        node["next"] = {}
        node = node["next"]  # type: ignore[assignment]
    spyglass.info(
        "values",
        mapping={"a": [1, 2, {"b": None}]},
        model=Model(name="m", when=datetime.date(2026, 1, 2)),
        point=Point(1, 2),
        raw=b"\x00\xffbinary",
        text_bytes=b"hello",
        moment=datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.timezone.utc),
        ident=uuid.UUID(int=1),
        amount=Decimal("1.50"),
        path=PurePosixPath("/tmp/x"),
        tags=["a", "b"],
        mixed=[1, "a"],
        cyclic=cyclic,
        deep=deep,
        bad=BadRepr(),
        huge=2**80,
        surrogate="bad \udc80 text",
        nothing=None,
    )
    attributes = captured.spans()[0]["attributes"]
    json_keys = set(json.loads(attributes["spyglass.json_keys"]))
    assert json.loads(attributes["mapping"]) == {"a": [1, 2, {"b": None}]}
    assert json.loads(attributes["model"]) == {"name": "m", "when": "2026-01-02"}
    assert json.loads(attributes["point"]) == {"x": 1, "y": 2}
    assert json.loads(attributes["text_bytes"]) == "hello"
    assert "binary" in json.loads(attributes["raw"])
    assert json.loads(attributes["moment"]) == "2026-11-25T12:00:00+00:00"
    assert json.loads(attributes["ident"]) == "00000000-0000-0000-0000-000000000001"
    assert json.loads(attributes["amount"]) == "1.50"
    assert attributes["tags"] == ("a", "b")
    assert json.loads(attributes["mixed"]) == [1, "a"]
    assert json.loads(attributes["cyclic"]) == [1, "...[circular]"]
    assert "...[max depth]" in attributes["deep"]
    assert json.loads(attributes["deep"])  # still valid JSON
    assert "repr failed" in attributes["bad"]
    assert attributes["huge"] == str(2**80)
    assert attributes["surrogate"] == "bad \ufffd text"
    assert json.loads(attributes["nothing"]) is None
    assert {"mapping", "model", "point", "cyclic", "deep", "nothing"} <= json_keys
    assert "tags" not in json_keys


def test_huge_values_are_truncated_with_a_marker(captured):
    spyglass.info("big", text="x" * 10_000_000, structure={"k": "y" * 1_000_000})
    attributes = captured.spans()[0]["attributes"]
    assert len(attributes["text"]) < 200_000
    assert attributes["text"].endswith("...[truncated 9868928 chars]")
    structure = json.loads(attributes["structure"])  # strings inside are cut, the JSON stays valid
    assert "...[truncated" in structure["k"]


def test_max_attribute_length_is_configurable():
    with capture_spans(max_attribute_length=100) as captured:
        spyglass.info("m", text="z" * 1000)
    assert captured.spans()[0]["attributes"]["text"] == "z" * 100 + "...[truncated 900 chars]"


def test_span_works_as_a_decorator_for_sync_and_async_functions(captured):
    @spyglass.span("sync call")
    def double(x: int) -> int:
        return x * 2

    @spyglass.span("async call")
    async def triple(x: int) -> int:
        return x * 3

    assert double(2) == 4
    assert asyncio.run(triple(2)) == 6
    assert double(3) == 6
    assert [s["name"] for s in captured.spans()] == ["sync call", "async call", "sync call"]


def test_suppress_instrumentation_is_visible_in_context():
    from spyglass._span import is_suppressed

    assert not is_suppressed()
    with spyglass.suppress_instrumentation():
        assert is_suppressed()
    assert not is_suppressed()


def test_configure_reads_otel_service_name_and_resource_attributes(monkeypatch):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    with capture_spans() as captured:
        spyglass.info("x")
    resource = captured.finished()[0].resource.attributes
    assert resource["service.name"] == "from-env"
    assert resource["deployment.environment"] == "test"


def test_configure_service_name_argument_wins(monkeypatch):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    with capture_spans(service_name="explicit") as captured:
        spyglass.info("x")
    assert captured.finished()[0].resource.attributes["service.name"] == "explicit"


def test_otel_sampler_env_is_respected(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    with capture_spans() as captured:
        spyglass.info("x")
    assert captured.spans() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"service_name": ""}, "service_name"),
        ({"console": "yes"}, "console"),
        ({"store": 3}, "store"),
        ({"max_attribute_length": 5}, "max_attribute_length"),
    ],
)
def test_bad_configuration_fails_at_configure_saying_what_to_change(kwargs, message):
    with pytest.raises(spyglass.ConfigError, match=message):
        spyglass.configure(**kwargs)


def test_bad_boolean_env_var_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("SPYGLASS_CAPTURE_CONTENT", "maybe")
    with pytest.raises(spyglass.ConfigError, match="SPYGLASS_CAPTURE_CONTENT='maybe' is not a boolean"):
        spyglass.configure(console=False, store=False)


def test_global_tracer_provider_follows_reconfiguration():
    other_library_tracer = trace.get_tracer("some.other.instrumentation")
    with capture_spans() as first, other_library_tracer.start_as_current_span("theirs"):
        spyglass.info("ours")
    with capture_spans() as second, other_library_tracer.start_as_current_span("theirs again"):
        pass
    assert [s["name"] for s in first.spans()] == ["theirs", "ours"]
    assert first.spans()[1]["parent"] == "theirs"
    assert [s["name"] for s in second.spans()] == ["theirs again"]


def test_shutdown_stops_recording_and_force_flush_reports_success():
    with capture_spans() as captured:
        spyglass.info("before")
        assert spyglass.force_flush() is True
    spyglass.info("after shutdown")  # recorded nowhere, raises nothing
    assert [s["name"] for s in captured.spans()] == ["before"]


def test_internal_errors_are_logged_once_and_never_raised(captured, caplog, monkeypatch):
    from spyglass import _span
    from spyglass._errors import reset_reported_errors

    reset_reported_errors()

    def broken(*args, **kwargs):
        raise RuntimeError("inside spyglass")

    monkeypatch.setattr(_span, "user_attributes", broken)
    with caplog.at_level(logging.ERROR, logger="spyglass"):
        spyglass.info("one")
        spyglass.info("two")
        with spyglass.span("still runs the block") as span:
            ran = True
    assert ran
    assert span.otel_span is None
    messages = [r.getMessage() for r in caplog.records]
    assert sum("internal error in log.info" in m for m in messages) == 1
    assert sum("internal error in span.__enter__" in m for m in messages) == 1
