"""The viewer's pages and API on a PostgreSQL store: lists, filters, search, a trace, models, stats; spans
from two writers; the password never in a page."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient
from store_helpers import Tracing

from spyglass.viewer.app import create_app


def write_from_two_writers(pg_url: str) -> None:
    """A trace from each of two writers: a call, and a failed call."""
    first, second = Tracing(pg_url), Tracing(pg_url)
    try:
        with first.user_span("from the first writer"):
            first.llm_span("What is the capital of France?", "Paris.")
        with second.user_span("from the second writer"):
            second.llm_span("broken", error=True, model="gpt-4o-mini")
        first.flush()
        second.flush()
    finally:
        first.shutdown()
        second.shutdown()


def test_the_viewer_shows_a_postgres_store_written_by_two_writers(pg_url: str) -> None:
    write_from_two_writers(pg_url)
    app = create_app(pg_url, token="t", allowed_hosts=["testserver"], poll_seconds=0.05)
    with TestClient(app) as client:
        listed = client.get("/api/traces").json()
        messages = [trace["message"] for trace in listed["traces"]]
        assert sorted(messages) == ["from the first writer", "from the second writer"]
        errors = client.get("/api/traces", params={"status": "error"}).json()["traces"]
        assert [trace["message"] for trace in errors] == ["from the second writer"]
        found = client.get("/api/traces", params={"q": "capit"}).json()["traces"]
        assert [trace["message"] for trace in found] == ["from the first writer"]
        trace_id = errors[0]["trace_id"]
        spans = client.get(f"/api/traces/{trace_id}").json()
        assert "broken" in str(spans)
        models = client.get("/api/models").json()
        assert "gpt-4o-mini" in str(models)
        stats = client.get("/api/stats").json()
        assert stats["traces"] == 2 and stats["spans"] == 4
        pages = client.get("/").text + client.get(f"/trace/{trace_id}").text + str(stats)
        assert "s3cret-pw" not in pages
        assert client.get(f"/trace/{trace_id}").status_code == 200


def test_threads_in_the_viewer_on_postgres(pg_url: str) -> None:
    first, second = Tracing(pg_url), Tracing(pg_url)  # one conversation, its turns from two writers
    try:
        for number, writer in enumerate((first, second, first), start=1):
            with writer.tracer.start_as_current_span(f"turn {number}", attributes={"session.id": "chat-1"}):
                writer.llm_span(f"question {number}")
            writer.flush()
    finally:
        first.shutdown()
        second.shutdown()
    app = create_app(pg_url, token="t", allowed_hosts=["testserver"], poll_seconds=0.05)
    with TestClient(app) as client:
        (thread,) = client.get("/api/threads").json()["threads"]
        assert (thread["thread_id"], thread["trace_count"], thread["total_tokens"]) == ("chat-1", 3, 45)
        one = client.get("/api/threads/chat-1").json()
        assert [span["prompt_preview"] for span in one["spans"]] == ["question 1", "question 2", "question 3"]
        assert (
            client.get("/api/threads", params={"q": "question"}).json()["threads"][0]["thread_id"] == "chat-1"
        )
        assert client.get("/thread/chat-1").status_code == 200
        exported = client.get("/api/threads/chat-1/otlp").json()
        assert sum(len(scope["spans"]) for rs in exported["resourceSpans"] for scope in rs["scopeSpans"]) == 6
        assert "s3cret-pw" not in client.get("/thread/chat-1").text + client.get("/threads").text


def test_a_trace_on_postgres_comes_as_the_waterfalls_rows_and_each_span_whole_on_its_own(
    pg_url: str, tmp_path: Path
) -> None:
    """The same trace written to PostgreSQL and to SQLite: the trace API's answers are the same, field for
    field (timestamps as strings, the conversation only), and so are the spans' records."""
    answers = []
    for location in (pg_url, tmp_path / "same.sqlite"):
        tracing = Tracing(location)
        try:
            with tracing.user_span("Planning a trip") as root:
                tracing.llm_span("Paris?", cost=0.1 + 0.2)
                tracing.llm_span("Rome?", error=True)
                root.add_event("planned", {"offset": -(2**55)})
            tracing.flush()
        finally:
            tracing.shutdown()
        app = create_app(location, token="t", allowed_hosts=["testserver"])
        with TestClient(app) as client:
            trace_id = client.get("/api/traces").json()["traces"][0]["trace_id"]
            body = client.get(f"/api/traces/{trace_id}").json()
            spans = [dict(zip(body["fields"], row, strict=True)) for row in body["spans"]]
            records = [
                client.get(f"/api/traces/{trace_id}/spans/{span['span_id']}").json()["span"] for span in spans
            ]
            assert client.get(f"/api/traces/{trace_id}/spans/{'0' * 16}").status_code == 404
        answers.append((body["default_span"], spans, records))
    (pg_default, pg_spans, pg_records), (lite_default, lite_spans, lite_records) = answers
    assert [span["name"] for span in pg_spans] == ["Planning a trip", "chat gpt-4o", "chat gpt-4o"]
    assert pg_default == pg_records[2]  # the failed call
    assert pg_spans[0]["start_ns"] == pg_records[0]["start_ns"] and isinstance(pg_spans[0]["start_ns"], str)
    assert pg_records[0]["events"][0]["attributes"] == {"offset": str(-(2**55))}
    assert set(pg_spans[1]["attributes"]) == {"gen_ai.input.messages", "gen_ai.output.messages"}
    assert pg_spans[1]["cost_usd"] == 0.1 + 0.2
    assert pg_spans[2]["is_pending"] is False and pg_spans[2]["status_code"] == "ERROR"
    assert lite_default == lite_records[2]

    def same_everywhere(span: dict) -> dict:  # ids and times differ between the two runs
        return {key: value for key, value in span.items() if not key.endswith(("_ns", "span_id"))}

    assert [same_everywhere(span) for span in pg_spans] == [same_everywhere(span) for span in lite_spans]
    assert [record["attributes"] for record in pg_records] == [
        record["attributes"] for record in lite_records
    ]
