"""Whatever bytes arrive, spans or logs, the receiver answers 200 or 400 with a reason: never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from otlp_helpers import RunningReceiver, json_span, otlp_json, post, protobuf_request, running_receiver

VALID = protobuf_request(3, model="gpt-4o", tags=("a", "b"))
VALID_LOGS = ExportLogsServiceRequest(
    resource_logs=[
        ResourceLogs(
            scope_logs=[
                ScopeLogs(
                    log_records=[
                        LogRecord(
                            event_name="gen_ai.user.message",
                            trace_id=bytes(range(1, 17)),
                            span_id=bytes(range(1, 9)),
                            body=AnyValue(string_value="Hello"),
                            attributes=[KeyValue(key="gen_ai.system", value=AnyValue(string_value="openai"))],
                        )
                    ]
                )
            ]
        )
    ]
).SerializeToString()
PATHS = ("/v1/traces", "/v1/logs")
VALID_JSON = json.dumps(otlp_json(json_span())).encode()
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def shared_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningReceiver]:
    with running_receiver(tmp_path_factory.mktemp("properties") / "store.sqlite") as running:
        yield running


def _assert_answered(
    receiver: RunningReceiver, body: bytes, content_type: str, path: str = "/v1/traces"
) -> None:
    answer = post(receiver.endpoint + path, body, {"Content-Type": content_type})
    assert answer.status in (200, 400), answer
    if answer.status == 400:
        assert answer.body  # the reason


@pytest.mark.parametrize("path", PATHS)
@SETTINGS
@given(body=st.binary(max_size=2048))
def test_random_bytes(shared_receiver: RunningReceiver, path: str, body: bytes) -> None:
    _assert_answered(shared_receiver, body, "application/x-protobuf", path)


@pytest.mark.parametrize(("path", "valid"), [("/v1/traces", VALID), ("/v1/logs", VALID_LOGS)])
@SETTINGS
@given(data=st.data())
def test_mutated_protobuf(
    shared_receiver: RunningReceiver, path: str, valid: bytes, data: st.DataObject
) -> None:
    body = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(body) - 1))
        action = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        if action == "flip":
            body[position] ^= data.draw(st.integers(1, 255))
        elif action == "delete":
            del body[position]
        else:
            body.insert(position, data.draw(st.integers(0, 255)))
    _assert_answered(shared_receiver, bytes(body), "application/x-protobuf", path)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)
OTLP_KEYS = st.sampled_from(
    [
        "resourceSpans",
        "scopeSpans",
        "spans",
        "traceId",
        "spanId",
        "attributes",
        "key",
        "value",
        "stringValue",
        "kvlistValue",
        "arrayValue",
        "values",
        "events",
        "links",
        "status",
        "code",
        "kind",
        "intValue",
        "bytesValue",
        "resourceLogs",
        "scopeLogs",
        "logRecords",
        "eventName",
        "body",
    ]
)
OTLP_SHAPED = st.recursive(
    JSON_VALUES,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(OTLP_KEYS, children, max_size=5),
    max_leaves=40,
)


@pytest.mark.parametrize("path", PATHS)
@SETTINGS
@given(document=OTLP_SHAPED)
def test_json_documents(shared_receiver: RunningReceiver, path: str, document: object) -> None:
    _assert_answered(shared_receiver, json.dumps(document).encode(), "application/json", path)


@SETTINGS
@given(cut=st.integers(0, len(VALID_JSON)), junk=st.binary(max_size=16))
def test_cut_json(shared_receiver: RunningReceiver, cut: int, junk: bytes) -> None:
    _assert_answered(shared_receiver, VALID_JSON[:cut] + junk, "application/json")


def test_the_receiver_still_works_afterwards(shared_receiver: RunningReceiver) -> None:
    assert post(shared_receiver.traces_url, protobuf_request(1)).status == 200
    assert post(shared_receiver.endpoint + "/v1/logs", VALID_LOGS).status == 200
