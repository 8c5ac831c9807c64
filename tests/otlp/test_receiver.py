"""The OTLP/HTTP receiver over a real socket: every value type, and every way a request can be refused."""

from __future__ import annotations

import base64
import gzip
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dirty_equals import IsStr
from otlp_helpers import (
    RunningReceiver,
    any_value,
    attributes,
    json_span,
    otlp_json,
    post,
    post_json,
    protobuf_request,
    running_receiver,
)

from spyglass.store import SqliteSpanProcessor

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_json_with_every_attribute_value_type(receiver: RunningReceiver) -> None:
    span = json_span(
        "every type",
        parentSpanId="00f067aa0ba902b0",
        kind="SPAN_KIND_PRODUCER",
        attributes=[
            *attributes(
                {"str": "s", "bool": False, "int": 7, "double": 0.25, "strs": ["x", "y"], "empty": []}
            ),
            {"key": "bytes", "value": {"bytesValue": base64.b64encode(b"\x00\xffhi").decode()}},
            {"key": "map", "value": {"kvlistValue": {"values": attributes({"a": 1, "b": ["c"]})}}},
            {"key": "mixed", "value": any_value([1, "two", True])},
            {"key": "nested", "value": any_value([[1, 2], [3]])},
            {"key": "unset", "value": {}},
        ],
        events=[
            {
                "name": "exception",
                "timeUnixNano": "1700000000500000000",
                "attributes": attributes({"exception.type": "ValueError"}),
            }
        ],
        links=[{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331"}],
        status={"code": 2, "message": "boom"},
    )
    answer = post_json(receiver.traces_url, otlp_json(span))

    assert (answer.status, answer.json(), answer.headers["content-type"]) == (200, {}, "application/json")
    stored = receiver.span("every type")
    assert {key: stored[key] for key in ("trace_id", "parent_span_id", "span_kind", "status_code")} == {
        "trace_id": TRACE_ID,
        "parent_span_id": "00f067aa0ba902b0",
        "span_kind": "PRODUCER",
        "status_code": "ERROR",
    }
    assert (stored["start_ns"], stored["duration_ns"], stored["status_description"]) == (
        1_700_000_000_000_000_000,
        1_500_000_000,
        "boom",
    )
    assert stored["attributes"] == {
        "str": "s",
        "bool": False,
        "int": 7,
        "double": 0.25,
        "strs": ["x", "y"],
        "empty": [],
        "bytes": base64.b64encode(b"\x00\xffhi").decode(),
        "map": '{"a":1,"b":["c"]}',
        "mixed": '[1,"two",true]',
        "nested": "[[1,2],[3]]",
        "spyglass.json_keys": '["map","mixed","nested"]',
    }
    assert stored["events"] == [
        {
            "name": "exception",
            "time_ns": 1_700_000_000_500_000_000,
            "attributes": {"exception.type": "ValueError"},
        }
    ]
    assert stored["links"] == [
        {"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331", "attributes": {}}
    ]
    assert stored["resource"] == {"attributes": {"service.name": "json-sender"}, "schema_url": ""}
    assert stored["scope"] == {"name": "tests", "version": "1"}


def test_protobuf_answers_with_a_protobuf_response(receiver: RunningReceiver) -> None:
    answer = post(receiver.traces_url, protobuf_request(3))
    assert (answer.status, answer.headers["content-type"], answer.body) == (
        200,
        "application/x-protobuf",
        b"",
    )
    assert [span["name"] for span in receiver.spans()] == ["span 0", "span 1", "span 2"]


def test_gzip_bodies(receiver: RunningReceiver) -> None:
    answer = post(receiver.traces_url, gzip.compress(protobuf_request(2)), {"Content-Encoding": "gzip"})
    assert answer.status == 200
    assert len(receiver.spans()) == 2


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"\xff\xff\xff", "application/x-protobuf", "the body is not a protobuf ExportTraceServiceRequest"),
        (b"{nope", "application/json", "the body is not JSON"),
        (b"[1, 2]", "application/json", "the body must be a JSON object with a 'resourceSpans' list"),
        (
            json.dumps(otlp_json(json_span(span_id="abcd"))).encode(),
            "application/json",
            "resourceSpans[0].scopeSpans[0].spans[0].spanId must be 8 bytes (16 hex digits), got 2",
        ),
        (
            json.dumps(otlp_json(json_span(span_id="zz"))).encode(),
            "application/json",
            "spanId of span 0 is not hex: 'zz'",
        ),
        (
            json.dumps(otlp_json(json_span(traceId="0" * 32))).encode(),
            "application/json",
            "resourceSpans[0].scopeSpans[0].spans[0].traceId is all zeros, which is not a valid id",
        ),
        (
            json.dumps(
                {"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}
            ).encode(),
            "application/json",
            "the body is not an OTLP/JSON ExportTraceServiceRequest",
        ),
    ],
)
def test_a_bad_body_is_a_400_with_the_reason_and_the_next_request_works(
    receiver: RunningReceiver, body: bytes, content_type: str, reason: str
) -> None:
    answer = post(receiver.traces_url, body, {"Content-Type": content_type})
    assert answer.status == 400
    if content_type == "application/json":
        assert answer.json() == {"code": 3, "message": IsStr(regex=f"^{re.escape(reason)}.*")}
    else:
        assert reason.encode() in answer.body  # a google.rpc.Status message

    assert post(receiver.traces_url, protobuf_request(1)).status == 200
    assert [span["name"] for span in receiver.spans()] == ["span 0"]


def test_broken_gzip_is_a_400(receiver: RunningReceiver) -> None:
    compressed = gzip.compress(protobuf_request(1))
    for body in (b"not gzip at all", compressed[:-12]):
        answer = post(
            receiver.traces_url, body, {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )
        assert answer.status == 400, answer.json()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "application/x-protobuf", "Content-Encoding": "br"}, 415),
    ],
)
def test_unsupported_media_is_a_415(receiver: RunningReceiver, headers: dict[str, str], status: int) -> None:
    assert post(receiver.traces_url, b"", headers).status == status


@pytest.fixture
def small_receiver(tmp_path: Path) -> Iterator[RunningReceiver]:
    with running_receiver(tmp_path / "small.sqlite", max_body_bytes=10_000) as running:
        yield running


def test_a_body_over_the_limit_is_a_413_by_its_length(small_receiver: RunningReceiver) -> None:
    answer = post(small_receiver.traces_url, b"\x00" * 10_001)
    assert (answer.status, answer.body) == (413, answer.body)
    assert b"the body is 10001 bytes; this receiver takes 10000 at most" in answer.body


def test_a_chunked_body_over_the_limit_is_a_413_while_reading(small_receiver: RunningReceiver) -> None:
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        for index in range(
            1000
        ):  # 64 MB, more than the socket buffers hold: sent only if the server reads it
            sent.append(index)
            yield b"\x00" * 65536

    answer = post(small_receiver.traces_url, chunks())
    assert answer.status in (413, 0)  # 0: the server answered and closed while we were still sending
    assert len(sent) < 500
    assert post(small_receiver.traces_url, protobuf_request(1)).status == 200


def test_a_gzip_bomb_is_a_413(small_receiver: RunningReceiver) -> None:
    bomb = gzip.compress(b"\x00" * 5_000_000)
    assert len(bomb) < 10_000
    answer = post(small_receiver.traces_url, bomb, {"Content-Encoding": "gzip"})
    assert answer.status == 413
    assert b"over 10000 bytes" in answer.body


def test_the_token_is_required_when_set(tmp_path: Path) -> None:
    with running_receiver(tmp_path / "auth.sqlite", token="s3cret") as receiver:
        body = protobuf_request(1)
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
            answer = post(receiver.traces_url, body, headers)
            assert (answer.status, answer.headers["www-authenticate"]) == (401, "Bearer")
        assert receiver.spans() == []
        assert post(receiver.traces_url, body, {"Authorization": "Bearer s3cret"}).status == 200
        assert len(receiver.spans()) == 1


def test_a_locked_store_is_a_503_with_retry_after_and_the_retry_is_stored_once(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite"
    processor = SqliteSpanProcessor(path, busy_timeout=0.05)
    with running_receiver(path, processor=processor, commit_timeout=0.5) as receiver:
        assert post(receiver.traces_url, protobuf_request(3)).status == 200  # answered once committed
        assert len(receiver.spans()) == 3
        later = protobuf_request(3)
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")  # another process's write lock
        try:
            started = time.monotonic()
            refused = post(receiver.traces_url, later)
            assert (refused.status, refused.headers["retry-after"]) == (503, "2")
            assert 0.5 <= time.monotonic() - started < 3
            assert receiver.receiver.backlog == 3
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert post(receiver.traces_url, later).status == 200  # the sender's retry
        assert receiver.receiver.backlog == 0
        assert len(receiver.spans()) == 6


def test_a_store_behind_is_a_503_before_reading_more(tmp_path: Path) -> None:
    path = tmp_path / "slow.sqlite"
    processor = SqliteSpanProcessor(path, busy_timeout=0.05)
    with running_receiver(path, processor=processor, max_backlog=5, commit_timeout=0.3) as receiver:
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        try:
            assert post(receiver.traces_url, protobuf_request(3)).status == 503  # not committed in time
            refused = post(receiver.traces_url, protobuf_request(3))  # 3 waiting + 3 > 5
            assert (refused.status, refused.headers["retry-after"]) == (503, "2")
            assert b"behind" in refused.body
        finally:
            locker.execute("ROLLBACK")
            locker.close()


def test_an_empty_request_is_accepted(receiver: RunningReceiver) -> None:
    assert post(receiver.traces_url, b"").status == 200
    assert post_json(receiver.traces_url, {}).status == 200
    assert receiver.spans() == []


def test_secrets_sent_by_another_program_never_reach_the_store(receiver: RunningReceiver) -> None:
    # A plain OpenTelemetry SDK (no spyglass scrubbing) recording a prompt with a key in it.
    key = "sk-proj-" + "Zq7" * 16
    prompt = json.dumps([{"role": "user", "parts": [{"type": "text", "content": f"my key is {key}"}]}])
    span = json_span(
        "chat gpt-4o",
        attributes=attributes({"gen_ai.input.messages": prompt, "password": "hunter2-planted"}),
    )
    assert post_json(receiver.traces_url, otlp_json(span)).status == 200
    stored = receiver.span("chat gpt-4o")
    assert stored["attributes"]["password"] == "[REDACTED: password]"
    store = Path(receiver.receiver.store_path)
    raw = b"".join(path.read_bytes() for path in store.parent.glob(store.name + "*"))
    assert key.encode() not in raw and b"hunter2-planted" not in raw
