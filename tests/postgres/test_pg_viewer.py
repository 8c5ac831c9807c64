"""The viewer's pages and API on a PostgreSQL store: lists, filters, search, a trace, models, stats; spans
from two writers; the password never in a page."""

from __future__ import annotations

from starlette.testclient import TestClient
from store_helpers import Tracing

from spyglass.viewer.app import create_app


def test_the_viewer_shows_a_postgres_store_written_by_two_writers(pg_url: str) -> None:
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
