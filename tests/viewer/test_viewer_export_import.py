"""A trace out as OTLP JSON (the viewer's export) and back in (`spyglass import`), and standard OTLP JSON in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient
from viewer_helpers import PAYLOAD_SCRIPT, Tracing

from spyglass.cli import main
from spyglass.store import SpanRecord, SpanStore

TRACE_ID = "5b8efff798038103d269b633813fc60c"
STANDARD_OTLP = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "elsewhere"}}]},
            "scopeSpans": [
                {
                    "scope": {"name": "some.sdk", "version": "1.0"},
                    "spans": [
                        {
                            "traceId": TRACE_ID,
                            "spanId": "eee19b7ec3c1b174",
                            "name": "handle request",
                            "kind": 2,
                            "startTimeUnixNano": "1544712660000000000",
                            "endTimeUnixNano": "1544712661000000000",
                            "attributes": [
                                {"key": "http.route", "value": {"stringValue": "/chat"}},
                                {"key": "retries", "value": {"intValue": "2"}},
                            ],
                            "status": {"code": "STATUS_CODE_ERROR", "message": "upstream failed"},
                        }
                    ],
                }
            ],
        }
    ]
}


def import_file(path: Path, store: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["import", str(path), "--store", str(store)])
    return result.exit_code, result.output


def test_export_then_import_gives_the_same_spans(
    client: TestClient, filled_store: Path, tmp_path: Path
) -> None:
    with SpanStore(filled_store) as original:
        traces = original.list_traces(50)
        assert len(traces) == 4
        before = {t["trace_id"]: original.get_trace(t["trace_id"]) for t in traces}
    fresh = tmp_path / "fresh.sqlite"
    for trace_id in before:
        response = client.get(f"/api/traces/{trace_id}/otlp")
        assert response.status_code == 200
        assert response.headers["content-disposition"] == f'attachment; filename="trace-{trace_id}.otlp.json"'
        assert response.headers["x-spyglass-running-spans-left-out"] == "0"
        assert (
            json.loads(response.text)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] == trace_id
        )
        exported = tmp_path / f"{trace_id}.json"
        exported.write_bytes(response.content)
        code, output = import_file(exported, fresh)
        assert code == 0, output
        assert f"Imported {len(before[trace_id])} spans into {fresh}." in output
    with SpanStore(fresh) as imported:
        for trace_id, spans in before.items():
            assert imported.get_trace(trace_id) == [without_empty_scope_version(span) for span in spans]


def without_empty_scope_version(span: SpanRecord) -> SpanRecord:
    """OTLP cannot tell an empty scope version from none (protobuf leaves empty strings out): '' comes back
    as None. Everything else must come back as it was."""
    scope = span["scope"]
    if scope is not None and scope.get("version") == "":
        return {**span, "scope": {**scope, "version": None}}
    return span


def test_a_running_span_is_left_out_of_the_export_and_counted(tracing: Tracing, store_path: Path) -> None:
    from spyglass.viewer import create_app

    with tracing.user_span("Still running"):
        tracing.llm("one")
        tracing.flush()
        with TestClient(create_app(store_path, token="t", allowed_hosts=["testserver"])) as client:
            with SpanStore(store_path) as store:
                trace_id = store.list_traces(1)[0]["trace_id"]
            response = client.get(f"/api/traces/{trace_id}/otlp")
    assert response.headers["x-spyglass-running-spans-left-out"] == "1"
    spans = json.loads(response.text)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert [span["name"] for span in spans] == ["chat gpt-4o"]


def test_an_unknown_trace_is_404(client: TestClient) -> None:
    response = client.get("/api/traces/0123/otlp")
    assert response.status_code == 404
    assert response.json() == {"error": "no trace 0123"}


def test_standard_otlp_json_from_anywhere_imports(tmp_path: Path) -> None:
    source = tmp_path / "otlp.json"
    source.write_text(json.dumps(STANDARD_OTLP))
    store = tmp_path / "spans.sqlite"
    code, output = import_file(source, store)
    assert code == 0, output
    with SpanStore(store) as imported:
        (span,) = imported.get_trace(TRACE_ID)
    assert span["name"] == "handle request"
    assert span["span_kind"] == "SERVER"
    assert span["service_name"] == "elsewhere"
    assert span["status_code"] == "ERROR"
    assert span["status_description"] == "upstream failed"
    assert span["attributes"]["retries"] == 2
    assert span["duration_ns"] == 1_000_000_000
    assert span["scope"] == {"name": "some.sdk", "version": "1.0"}


def escaped_lone_surrogate() -> str:
    document = json.loads(json.dumps(STANDARD_OTLP))
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"] = "bad \ud800 name"
    return json.dumps(document)  # valid UTF-8: the surrogate is a JSON escape


def bad_trace_id() -> str:
    document = json.loads(json.dumps(STANDARD_OTLP))
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = "xyz"
    good = json.loads(json.dumps(STANDARD_OTLP["resourceSpans"][0]))
    document["resourceSpans"].insert(0, good)  # a good span before the bad one: it must not be written either
    return json.dumps(document)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json at all", "is not OTLP JSON traces"),
        ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 3}]}]}]}', "is not OTLP JSON traces"),
        (bad_trace_id(), "is not OTLP JSON traces"),
        (escaped_lone_surrogate(), "Unpaired surrogate"),
        (
            '{"resourceSpans": "\ud800"}'.encode("utf-8", "surrogatepass").decode("latin-1"),
            "is not OTLP JSON",
        ),
        ("[" * 100_000 + "]" * 100_000, "nothing was imported"),
        (f'"{PAYLOAD_SCRIPT}\\u0000"', "is not OTLP JSON traces"),
    ],
    ids=[
        "not-json",
        "wrong-type",
        "bad-id-after-a-good-span",
        "escaped-surrogate",
        "lone-surrogate",
        "deep",
        "string-with-nul",
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path: Path, content: str, reason: str) -> None:
    source = tmp_path / "bad.json"
    source.write_bytes(
        content.encode("latin-1") if content.startswith('{"resourceSpans": "') else content.encode()
    )
    store = tmp_path / "spans.sqlite"
    code, output = import_file(source, store)
    assert code == 1
    assert reason in output
    assert "nothing was imported" in output
    assert "Traceback" not in output
    if store.exists():
        with SpanStore(store) as found:
            assert found.list_traces(10) == []


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    code, output = import_file(tmp_path / "nope.json", tmp_path / "spans.sqlite")
    assert code == 1
    assert "Cannot read" in output and "nope.json" in output
