"""Replay and a dropped file's import on a PostgreSQL store: the replay's spans land in the database the
viewer shows, linked to the original, and the database never holds the key."""

from __future__ import annotations

import json

import psycopg
import pytest
from starlette.testclient import TestClient

from real_calls import record_calls
from spyglass.demo.server import serve
from spyglass.store._backends import open_store
from spyglass.viewer.app import create_app

KEY = "sk-proj-pgReplayKEYneverInTheDatabase0123456789abcd"
PAGE = {"origin": "http://testserver", "x-spyglass-token": "t"}


def test_a_replay_and_an_import_land_in_the_postgres_store(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve() as demo:
        record_calls(pg_url, demo.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", demo.base_url)
        store = open_store(pg_url)
        try:
            [original] = [
                span
                for trace in store.list_traces(10)
                for span in store.get_trace(trace["trace_id"])
                if span["kind"] == "llm" and span["attributes"].get("spyglass.openai.path") == "/responses"
            ]
        finally:
            store.close()
        app = create_app(pg_url, token="t", allowed_hosts=["testserver"], allow_replay=True)
        with TestClient(app) as client:
            endpoint = f"/api/replay/{original['trace_id']}/{original['span_id']}"
            body = client.get(endpoint).json()["body"]
            body["input"] = [{"role": "user", "content": "Name a fruit."}]
            done = client.post(endpoint, json={"body": body}, headers=PAGE).json()
            assert done["error"] is None and done["key_sent"] is True
            assert demo.requests[-1].headers["authorization"] == f"Bearer {KEY}"
            replayed = client.get(f"/api/traces/{done['trace_id']}").json()["default_span"]  # its only span
            assert replayed["links"][0]["span_id"] == original["span_id"]
            assert "Name a fruit." in replayed["attributes"]["gen_ai.input.messages"]

            document = json.loads(client.get(f"/api/traces/{original['trace_id']}/otlp").text)
            for resource in document["resourceSpans"]:
                for scope in resource["scopeSpans"]:
                    for span in scope["spans"]:
                        span["traceId"] = "ab" * 16  # the same trace under another id: a new trace
            imported = client.post("/api/import", content=json.dumps(document), headers=PAGE).json()
            assert imported["trace_ids"] == ["ab" * 16]
            assert client.get(f"/api/traces/{'ab' * 16}").status_code == 200
    with psycopg.connect(pg_url) as conn:
        dump = json.dumps(conn.execute("SELECT * FROM spans").fetchall(), default=str)
    assert "Name a fruit." in dump and KEY not in dump
