"""The viewer's HTTP surface through Starlette's TestClient: pages, JSON API, security, bad store files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from viewer_helpers import TOKEN, Tracing

from spyglass.store import SpanStore
from spyglass.viewer import create_app, local_hosts
from spyglass.viewer._security import CONTENT_SECURITY_POLICY


def first_trace(client: TestClient, **params: str) -> dict:
    return client.get("/api/traces", params=params).json()["traces"][0]


def test_list_api_returns_newest_first_with_timestamps_as_strings(client: TestClient) -> None:
    body = client.get("/api/traces").json()
    assert [trace["message"] for trace in body["traces"]] == [
        "A failing call",
        "Draw a cat",
        "Weather round trip",
        "Ask about France",
    ]
    trace = body["traces"][2]
    # Nanosecond timestamps do not fit in a JavaScript number: they travel as strings.
    assert isinstance(trace["start_ns"], str) and int(trace["start_ns"]) > 2**53
    assert trace["total_tokens"] == 262
    assert trace["models"] == ["gpt-4o"]
    assert body["next_before"] is None
    assert isinstance(body["cursor"], int)


def test_list_api_pages_with_before(client: TestClient) -> None:
    page = client.get("/api/traces", params={"limit": "3"}).json()
    assert len(page["traces"]) == 3
    rest = client.get("/api/traces", params={"limit": "3", "before": page["next_before"]}).json()
    assert [trace["message"] for trace in rest["traces"]] == ["Ask about France"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "error"}, ["A failing call"]),
        ({"model": "dall-e-3"}, ["Draw a cat"]),
        ({"min_tokens": "100"}, ["Weather round trip"]),
        ({"min_cost": "0.0009"}, ["Weather round trip"]),
        ({"q": "sunny"}, ["Weather round trip"]),
        ({"q": "geograph"}, ["A failing call", "Weather round trip", "Ask about France"]),
        ({"attr": "gen_ai.request.model=missing-model"}, ["A failing call"]),
        ({"attr": "req_abc123"}, ["Draw a cat", "Weather round trip", "Ask about France"]),
        ({"service": "nope"}, []),
        ({"min_duration": "3600"}, []),
    ],
)
def test_list_api_filters(client: TestClient, params: dict[str, str], expected: list[str]) -> None:
    body = client.get("/api/traces", params=params).json()
    assert [trace["message"] for trace in body["traces"]] == expected


def test_a_bad_filter_is_a_400(client: TestClient) -> None:
    response = client.get("/api/traces", params={"min_tokens": "many"})
    assert response.status_code == 400
    assert response.json() == {"error": "min_tokens must be a number, got 'many'"}


def test_trace_api_has_every_span_as_the_waterfall_draws_it_and_each_span_whole_on_its_own(
    client: TestClient,
) -> None:
    trace_id = first_trace(client, q="sunny")["trace_id"]
    body = client.get(f"/api/traces/{trace_id}").json()
    assert body["trace"]["trace_id"] == trace_id
    spans = [dict(zip(body["fields"], row, strict=True)) for row in body["spans"]]
    assert [span["kind"] for span in spans] == ["span", "llm", "llm"]
    call = spans[2]
    assert (
        json.loads(call["attributes"]["gen_ai.input.messages"])[3]["role"] == "tool"
    )  # after the system message
    assert set(call["attributes"]) == {"gen_ai.input.messages", "gen_ai.output.messages"}
    assert "events" not in call and "resource" not in call
    assert (
        body["default_span"]
        == client.get(f"/api/traces/{trace_id}/spans/{spans[1]['span_id']}").json()["span"]
    )
    whole = client.get(f"/api/traces/{trace_id}/spans/{call['span_id']}").json()["span"]
    assert whole["attributes"]["gen_ai.request.model"] == "gpt-4o"
    assert whole["resource"]["attributes"]["service.name"] and whole["events"] == []
    assert {key: whole[key] for key in call} == {**call, "attributes": whole["attributes"]}
    assert client.get(f"/api/traces/{trace_id}/spans/{'0' * 16}").status_code == 404
    assert client.get(f"/api/traces/{'0' * 32}/spans/{call['span_id']}").status_code == 404


def test_trace_api_sends_every_integer_javascript_cannot_hold_as_a_string(
    tracing: Tracing, store_path: Path
) -> None:
    """Timestamps, event times and big integer attributes keep every digit; small integers stay numbers."""
    with tracing.user_span(
        "Big numbers", **{"job.id": 2**60 + 1, "job.rows": 1200, "job.ids": [2**62, 3]}
    ) as span:
        span.add_event("checkpoint", {"offset": -(2**55)})
    tracing.flush()
    with SpanStore(store_path) as store:
        [trace] = store.list_traces(1)
        [record] = store.get_trace(trace["trace_id"])
    app = create_app(store_path, token=TOKEN, allowed_hosts=["testserver"])
    with TestClient(app) as client:
        body = client.get(f"/api/traces/{trace['trace_id']}").json()
        [drawn] = [dict(zip(body["fields"], row, strict=True)) for row in body["spans"]]
        sent = client.get(f"/api/traces/{trace['trace_id']}/spans/{record['span_id']}").json()["span"]
    for span in (drawn, sent):
        assert span["start_ns"] == str(record["start_ns"]) and span["end_ns"] == str(record["end_ns"])
        assert span["duration_ns"] == record["duration_ns"]  # well under 2**53: a number
    assert sent["attributes"]["job.id"] == str(2**60 + 1)
    assert sent["attributes"]["job.rows"] == 1200
    assert sent["attributes"]["job.ids"] == [str(2**62), 3]
    [event] = sent["events"]
    assert event["time_ns"] == str(record["events"][0]["time_ns"])
    assert event["attributes"] == {"offset": str(-(2**55))}


def test_pages_render(client: TestClient) -> None:
    trace = first_trace(client, q="sunny")
    assert "Search prompts and answers" in client.get("/").text
    page = client.get(f"/trace/{trace['trace_id']}")
    assert page.status_code == 200
    assert "Weather round trip" in page.text
    models = client.get("/models").text
    assert "dall-e-3" in models and "100.0%" in models  # missing-model failed every time


def test_unknown_trace_is_a_404_page(client: TestClient) -> None:
    page = client.get("/trace/0123456789abcdef0123456789abcdef")
    assert page.status_code == 404
    assert "There is no trace 0123456789abcdef0123456789abcdef" in page.text
    assert client.get("/api/traces/nope").status_code == 404
    assert client.get("/no/such/page").status_code == 404


def test_security_headers_on_every_response(client: TestClient) -> None:
    for path in ("/", "/api/traces", "/static/list.js", "/trace/nope"):
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "default-src 'self'" in CONTENT_SECURITY_POLICY
        assert "unsafe" not in CONTENT_SECURITY_POLICY
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert not any(name.startswith("access-control-") for name in headers)


def test_cors_preflight_gets_no_cors_headers(client: TestClient) -> None:
    response = client.options(
        "/api/traces", headers={"origin": "https://evil.example", "access-control-request-method": "DELETE"}
    )
    assert not any(name.startswith("access-control-") for name in response.headers)


def test_the_page_embeds_the_token_and_scripts_are_external(client: TestClient) -> None:
    html = client.get("/").text
    assert f'<meta name="spyglass-token" content="{TOKEN}">' in html
    assert "<script>" not in html and "onclick" not in html


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8047", "127.0.0.1:1", "localhost"])
def test_other_host_headers_are_refused(filled_store: Path, host: str) -> None:
    app = create_app(filled_store, token=TOKEN, allowed_hosts=local_hosts(8047))
    with TestClient(app, base_url="http://127.0.0.1:8047") as client:
        assert client.get("/api/traces").status_code == 200
        assert client.get("/api/traces", headers={"host": "localhost:8047"}).status_code == 200
        assert client.get("/api/traces", headers={"host": "[::1]:8047"}).status_code == 200
        refused = client.get("/api/traces", headers={"host": host})
        assert refused.status_code == 421
        assert "traces" not in refused.text


def test_an_explicit_host_is_allowed_too() -> None:
    assert local_hosts(9000, "192.168.1.5") == [
        "localhost:9000",
        "127.0.0.1:9000",
        "[::1]:9000",
        "192.168.1.5:9000",
    ]
    assert local_hosts(9000, "::1") == ["localhost:9000", "127.0.0.1:9000", "[::1]:9000"]


def test_delete_needs_the_token(client: TestClient) -> None:
    trace_id = first_trace(client)["trace_id"]
    assert client.delete(f"/api/traces/{trace_id}").status_code == 403
    assert client.delete(f"/api/traces/{trace_id}", headers={"x-spyglass-token": "wrong"}).status_code == 403
    assert client.get(f"/api/traces/{trace_id}").status_code == 200
    deleted = client.delete(f"/api/traces/{trace_id}", headers={"x-spyglass-token": TOKEN})
    assert deleted.json() == {"deleted": True}
    assert client.get(f"/api/traces/{trace_id}").status_code == 404
    assert client.delete(f"/api/traces/{trace_id}", headers={"x-spyglass-token": TOKEN}).status_code == 404


def test_clear_needs_the_token_and_a_post(client: TestClient) -> None:
    assert client.post("/api/clear").status_code == 403
    assert client.get("/api/clear").status_code == 405
    assert len(client.get("/api/traces").json()["traces"]) == 4
    assert client.post("/api/clear", headers={"x-spyglass-token": TOKEN}).json() == {"cleared": True}
    assert client.get("/api/traces").json()["traces"] == []


def test_events_stream_the_changes_after_a_cursor(client: TestClient, tracing: Tracing) -> None:
    cursor = client.get("/api/traces").json()["cursor"]
    tracing.chat_trace("A new question", prompt="Is this live?")
    tracing.flush()
    with client.stream("GET", "/api/events", params={"cursor": str(cursor)}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        event = read_event(response.iter_lines(), "changes")
    assert [trace["message"] for trace in event["traces"]] == ["A new question"]
    assert event["cursor"] > cursor


def test_events_send_only_what_matches_the_filter(client: TestClient, tracing: Tracing) -> None:
    cursor = client.get("/api/traces").json()["cursor"]
    tracing.chat_trace("Dogs only", prompt="dogs")
    tracing.chat_trace("About cats", prompt="cats please")
    tracing.flush()
    with client.stream("GET", "/api/events", params={"cursor": str(cursor), "q": "cats"}) as response:
        event = read_event(response.iter_lines(), "changes")
    assert [trace["message"] for trace in event["traces"]] == ["About cats"]
    assert len(event["removed"]) == 1


def read_event(lines, name: str) -> dict:
    current = None
    for line in lines:
        if line.startswith("event: "):
            current = line.removeprefix("event: ")
        elif line.startswith("data: ") and current == name:
            return json.loads(line.removeprefix("data: "))
    raise AssertionError(f"no {name} event")


# --- bad store files ------------------------------------------------------------------------------------


def make_app_client(path: Path) -> TestClient:
    return TestClient(create_app(path, token=TOKEN, allowed_hosts=["testserver"]))


def test_a_missing_store_is_a_clear_page_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nothing-yet.sqlite"
    with make_app_client(path) as client:
        page = client.get("/")
        assert page.status_code == 503
        assert "The store cannot be read" in page.text
        assert f"No spyglass store at {path}" in page.text
        assert client.get("/api/traces").json() == {
            "error": f"No spyglass store at {path}: the file does not exist"
        }
        assert not path.exists()
        # Once the program has written something, the same viewer shows it.
        tracing = Tracing(path)
        tracing.chat_trace()
        tracing.flush()
        tracing.shutdown()
        assert client.get("/").status_code == 200
        assert len(client.get("/api/traces").json()["traces"]) == 1


def test_a_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
        conn.execute("INSERT INTO users VALUES ('ada')")
    conn.close()
    before = path.read_bytes()
    with make_app_client(path) as client:
        page = client.get("/")
        assert page.status_code == 503
        assert "is a SQLite database that is not a spyglass store" in page.text
        assert client.delete("/api/traces/x", headers={"x-spyglass-token": TOKEN}).status_code == 503
        assert client.post("/api/clear", headers={"x-spyglass-token": TOKEN}).status_code == 503
    assert path.read_bytes() == before


def test_a_corrupt_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "spans.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with make_app_client(path) as client:
        page = client.get("/trace/abc")
        assert page.status_code == 503
        assert "is not a SQLite database" in page.text
        assert "retry.js" in page.text
    assert path.read_bytes() == b"this is not a database" * 100


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with make_app_client(tmp_path) as client:
        assert "is a directory, not a spyglass store file" in client.get("/").text
