"""Acknowledged means committed: a real receiver process, flooded by concurrent senders, SIGKILLed at random
moments, round after round; every span it answered 200 for is in the store. And the log-record joiner is
bounded in bytes."""

from __future__ import annotations

import http.client
import os
import random
import signal
import sqlite3
import threading
import time
from pathlib import Path

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from otlp_helpers import (
    attributes,
    json_span,
    otlp_json,
    post,
    post_json,
    running_receiver,
    start_receiver_process,
)


def _request(rng: random.Random, count: int) -> tuple[bytes, list[str]]:
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    trace_id = rng.getrandbits(128).to_bytes(16, "big")
    ids = []
    for index in range(count):
        span = scope_spans.spans.add()
        span_id = rng.getrandbits(64) | 1
        span.trace_id, span.span_id = trace_id, span_id.to_bytes(8, "big")
        span.name = f"flood {index}"
        span.start_time_unix_nano, span.end_time_unix_nano = (
            1_700_000_000_000_000_000,
            1_700_000_000_100_000_000,
        )
        span.attributes.append(KeyValue(key="payload", value=AnyValue(string_value="x" * 300)))
        ids.append(format(span_id, "016x"))
    return request.SerializeToString(), ids


def _sender(port: int, seed: int, acknowledged: list[str], stop: threading.Event) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        while not stop.is_set():
            body, ids = _request(rng, 40)
            try:
                conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                return  # killed: whatever was not answered was not acknowledged
            if response.status == 200:
                acknowledged.extend(ids)
    finally:
        conn.close()


def test_every_acknowledged_span_survives_sigkill_at_random_moments(tmp_path: Path) -> None:
    store = tmp_path / "received.sqlite"
    rng = random.Random(11)
    all_acknowledged: list[str] = []
    for round_ in range(4):
        receiver, port = start_receiver_process(store)
        try:
            acknowledged: list[str] = []
            stop = threading.Event()
            senders = [
                threading.Thread(target=_sender, args=(port, round_ * 100 + index, acknowledged, stop))
                for index in range(6)
            ]
            for sender in senders:
                sender.start()
            time.sleep(rng.uniform(0.5, 2.0))
            os.kill(receiver.pid, signal.SIGKILL)
            stop.set()
            for sender in senders:
                sender.join(15)
        finally:
            receiver.kill()
            receiver.wait()
        assert acknowledged, f"round {round_}: nothing was acknowledged"
        all_acknowledged.extend(acknowledged)
        with sqlite3.connect(store) as conn:
            stored = {span_id for (span_id,) in conn.execute("SELECT span_id FROM spans")}
        missing = [span_id for span_id in all_acknowledged if span_id not in stored]
        assert missing == [], (
            f"round {round_}: {len(missing)} of {len(all_acknowledged)} acknowledged spans lost"
        )


def _logs_request(trace_id: bytes, span_id: bytes, records: int, size: int) -> bytes:
    request = ExportLogsServiceRequest()
    scope_logs = request.resource_logs.add().scope_logs.add()
    for index in range(records):
        record = scope_logs.log_records.add()
        record.trace_id, record.span_id = trace_id, span_id
        record.time_unix_nano = 1_700_000_000_000_000_000 + index
        record.event_name = "gen_ai.user.message"
        record.body.kvlist_value.values.append(
            KeyValue(key="content", value=AnyValue(string_value=f"{index} " + "y" * size))
        )
    return request.SerializeToString()


def test_the_log_joiner_is_bounded_in_bytes_per_span_and_in_total(store_path: Path) -> None:
    trace_id, span_id = bytes(range(1, 17)), bytes(range(1, 9))
    with running_receiver(store_path) as receiver:
        joiner = receiver.receiver._joiner
        # 300 records of 1 MiB for one span, sent ten a request, before the span: 4 MiB are kept for it.
        for _ in range(30):
            answer = post(receiver.endpoint + "/v1/logs", _logs_request(trace_id, span_id, 10, 1024 * 1024))
            assert answer.status == 200
        assert joiner.held_bytes <= 4 * 1024 * 1024 + 4096
        assert receiver.receiver.dropped_span_events >= 296
        span = json_span("chat", span_id=span_id.hex(), traceId=trace_id.hex())
        span["attributes"] = attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"})
        assert post_json(receiver.traces_url, otlp_json(span)).status == 200
        (stored,) = receiver.spans()
        assert 1 <= len(stored["events"]) <= 4  # the row holds what was kept: about 4 MiB, not 300
        # Records for many spans: the total stays under its bound, the oldest dropped and counted.
        before = receiver.receiver.dropped_span_events
        for index in range(40):
            other = (1000 + index).to_bytes(8, "big")
            body = _logs_request(trace_id, other, 2, 1024 * 1024)
            assert post(receiver.endpoint + "/v1/logs", body).status == 200
        assert joiner.held_bytes <= 64 * 1024 * 1024 + 4096
        assert receiver.receiver.dropped_span_events > before
