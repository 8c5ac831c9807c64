"""GenAI log records acknowledged before their span are kept in the store: they survive a receiver killed
before the span comes, and join it whichever receiver of the store gets it. On both backends."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from otlp_helpers import genai_span_request, running_receiver, start_receiver_process

sys.path.insert(0, str(Path(__file__).parent.parent / "store"))  # the PostgreSQL cluster fixtures
from pg_cluster import both_backends, cluster, pg_url  # noqa: F401  # every test on both backends

from spyglass.store._backends import open_store

TRACE_ID = "6c8efff798038103d269b633813fc60c"
SECRET = "sk-proj-" + "Q" * 40


def _span(span_id: str) -> dict[str, Any]:
    return genai_span_request(TRACE_ID, span_id)


def _records(span_id: str, *texts: str) -> dict[str, Any]:
    records = [
        {
            "timeUnixNano": str(1700000000100000000 + index),
            "eventName": "gen_ai.user.message",
            "body": {"kvlistValue": {"values": [{"key": "content", "value": {"stringValue": text}}]}},
            "traceId": TRACE_ID,
            "spanId": span_id,
        }
        for index, text in enumerate(texts)
    ]
    return {"resourceLogs": [{"resource": {}, "scopeLogs": [{"scope": {}, "logRecords": records}]}]}


def _post(endpoint: str, path: str, document: dict[str, Any]) -> int:
    response = httpx.post(
        endpoint + path,
        content=json.dumps(document),
        headers={"content-type": "application/json"},
        timeout=10,
    )
    return response.status_code


def _stored(location: Path | str, span_id: str) -> dict[str, Any] | None:
    with open_store(location) as store:
        span = store.get_span(TRACE_ID, span_id)
        return None if span is None else dict(span)


def _inputs(span: dict[str, Any] | None) -> list[str]:
    assert span is not None
    messages = json.loads(span["attributes"].get("gen_ai.input.messages", "[]"))
    return [part["content"] for message in messages for part in message["parts"]]


def test_records_acknowledged_by_a_killed_receiver_join_their_span_at_another(
    store_path: Path | str,
) -> None:
    first, port = start_receiver_process(store_path)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        assert _post(endpoint, "/v1/logs", _records("aaaaaaaaaaaaaaa1", "Hello", "How are you?")) == 200
    finally:
        first.send_signal(signal.SIGKILL)  # acknowledged, then gone before the span came
        first.wait(10)
    with running_receiver(store_path) as second:
        assert _post(second.endpoint, "/v1/traces", _span("aaaaaaaaaaaaaaa1")) == 200
        assert second.receiver.processor.force_flush(10_000)
    span = _stored(store_path, "aaaaaaaaaaaaaaa1")
    assert _inputs(span) == ["Hello", "How are you?"]
    with open_store(store_path) as store:
        assert store.waiting_events([(TRACE_ID, "aaaaaaaaaaaaaaa1")]) == {}  # forgotten once joined
        assert store.losses() == []


def test_two_live_receivers_join_records_and_span_sent_to_different_ones(store_path: Path | str) -> None:
    with running_receiver(store_path) as one, running_receiver(store_path) as other:
        assert _post(one.endpoint, "/v1/logs", _records("aaaaaaaaaaaaaaa2", "Via one")) == 200
        assert _post(one.endpoint, "/v1/logs", _records("aaaaaaaaaaaaaaa2", "Via one")) == 200  # a retry
        assert _post(other.endpoint, "/v1/traces", _span("aaaaaaaaaaaaaaa2")) == 200
        assert other.receiver.processor.force_flush(10_000)
        # A record arriving after its span was stored by another receiver cannot be joined: it is counted.
        assert _post(one.endpoint, "/v1/logs", _records("aaaaaaaaaaaaaaa2", "Too late")) == 200
        assert one.receiver.processor.force_flush(10_000)
        assert _inputs(_stored(store_path, "aaaaaaaaaaaaaaa2")) == ["Via one"]  # the retry joined once
    with open_store(store_path) as store:
        losses = [(loss["sink"], loss["unit"], loss["count"]) for loss in store.losses()]
        assert losses == [("receiver: span stored before its records", "log record", 1)]
        assert store.waiting_events([(TRACE_ID, "aaaaaaaaaaaaaaa2")]) == {}


def test_records_whose_span_never_comes_expire_and_are_counted(store_path: Path | str) -> None:
    with running_receiver(store_path) as receiver:
        processor = receiver.receiver.processor
        assert (
            _post(receiver.endpoint, "/v1/logs", _records("aaaaaaaaaaaaaaa3", "Alone", "Still alone")) == 200
        )
        with open_store(store_path) as store:
            assert (
                len(store.waiting_events([(TRACE_ID, "aaaaaaaaaaaaaaa3")])[(TRACE_ID, "aaaaaaaaaaaaaaa3")])
                == 2
            )
        time.sleep(0.01)
        processor.keep_waiting_events_for(0.005)  # applies at the writer's next pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert processor.force_flush(10_000)
            with open_store(store_path) as store:
                if store.losses():
                    break
            time.sleep(0.1)
    with open_store(store_path) as store:
        assert [(loss["sink"], loss["count"]) for loss in store.losses()] == [
            ("receiver: span never came", 2)
        ]
        assert store.waiting_events([(TRACE_ID, "aaaaaaaaaaaaaaa3")]) == {}


def test_waiting_records_are_scrubbed_before_they_are_stored(store_path: Path | str) -> None:
    with running_receiver(store_path) as receiver:
        assert (
            _post(receiver.endpoint, "/v1/logs", _records("aaaaaaaaaaaaaaa4", f"my key is {SECRET}")) == 200
        )
        with open_store(store_path) as store:
            [event] = store.waiting_events([(TRACE_ID, "aaaaaaaaaaaaaaa4")])[(TRACE_ID, "aaaaaaaaaaaaaaa4")]
        assert SECRET not in event and "my key is" in event
        if isinstance(store_path, Path):  # every byte written, the WAL included
            for file in store_path.parent.glob(store_path.name + "*"):
                assert SECRET.encode() not in file.read_bytes(), file
        assert _post(receiver.endpoint, "/v1/traces", _span("aaaaaaaaaaaaaaa4")) == 200
        assert receiver.receiver.processor.force_flush(10_000)
    [text] = _inputs(_stored(store_path, "aaaaaaaaaaaaaaa4"))
    assert text.startswith("my key is ") and SECRET not in text


def test_hostile_record_text_is_kept_and_joined(store_path: Path | str) -> None:
    # (A lone surrogate cannot come: OTLP strings are UTF-8, and the receiver answers 400 saying so.)
    hostile = ["nul \x00 inside", "\ufeff\u202e bidi \U0001f600", "x" * 300_000]
    first, port = start_receiver_process(store_path)
    try:
        assert _post(f"http://127.0.0.1:{port}", "/v1/logs", _records("aaaaaaaaaaaaaaa5", *hostile)) == 200
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    with running_receiver(store_path) as second:
        assert _post(second.endpoint, "/v1/traces", _span("aaaaaaaaaaaaaaa5")) == 200
        assert second.receiver.processor.force_flush(10_000)
    texts = _inputs(_stored(store_path, "aaaaaaaaaaaaaaa5"))
    assert texts[0] in ("nul \x00 inside", "nul \ufffd inside")  # PostgreSQL text cannot hold NUL
    assert texts[1:] == hostile[1:]


def test_a_span_the_store_refuses_is_answered_503_and_counted_in_the_store(tmp_path: Path) -> None:
    import sqlite3

    store_path = tmp_path / "received.sqlite"
    with running_receiver(store_path) as receiver:
        assert _post(receiver.endpoint, "/v1/traces", _span("aaaaaaaaaaaaaaa6")) == 200
        with sqlite3.connect(store_path) as conn:  # a real refusal of one row, from SQLite itself
            conn.execute(
                "CREATE TRIGGER reject BEFORE INSERT ON spans WHEN NEW.span_id = 'aaaaaaaaaaaaaaa7' "
                "BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
            )
        assert _post(receiver.endpoint, "/v1/traces", _span("aaaaaaaaaaaaaaa7")) == 503
        assert receiver.receiver.processor.force_flush(10_000)
    with open_store(store_path) as store:
        assert [
            (loss["service_name"], loss["sink"], loss["unit"], loss["count"]) for loss in store.losses()
        ] == [("spyglass receiver", "store", "span", 1)]
