"""The viewer's pages and API on a PostgreSQL store: lists, filters, search, a trace, models, stats; spans
from two writers; the password never in a page."""

from __future__ import annotations

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
