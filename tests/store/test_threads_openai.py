"""Threads from real calls: the openai SDK over HTTP to the demo server, spyglass's own spans, a real store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openai
from pg_cluster import both_backends  # noqa: F401  # `store_path`: every test on both backends

import spyglass
from spyglass.demo.server import DemoServer
from spyglass.store import SpanStore
from spyglass.testing import capture_spans


def test_sessions_and_responses_chains_make_threads(
    server: DemoServer, store_path: Path | str, open_store: Callable[..., SpanStore]
) -> None:
    with (
        capture_spans(store=str(store_path)) as captured,
        openai.OpenAI(api_key="sk-test-key", base_url=server.base_url, max_retries=0) as client,
        spyglass.instrument_openai(client),
    ):
        history: list[dict[str, str]] = []
        for turn, question in enumerate(["Name a river.", "A longer one?"], start=1):
            with spyglass.span("Chat turn {turn}", turn=turn, session="chat-7") as span:
                history.append({"role": "user", "content": question})
                answer = client.chat.completions.create(model="gpt-4o", messages=history)  # type: ignore[arg-type]
                history.append({"role": "assistant", "content": answer.choices[0].message.content or ""})
            assert span.message == f"Chat turn {turn}"
        with spyglass.span("Research, step 1"):
            first = client.responses.create(model="gpt-4o", input="Name three rivers.")
        with spyglass.span("Research, step 2"):
            client.responses.create(model="gpt-4o", input="Which is longest?", previous_response_id=first.id)
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Alone"}])
        spyglass.force_flush()
        roots = [s for s in captured.finished() if s.name.startswith("Chat turn")]
        assert [dict(s.attributes or {}).get("session.id") for s in roots] == ["chat-7", "chat-7"]

    store = open_store()
    threads = {thread["thread_id"]: thread for thread in store.list_threads()}
    assert sorted(threads) == sorted(["chat-7", first.id])
    assert [trace["message"] for trace in store.get_thread("chat-7")] == ["Chat turn 1", "Chat turn 2"]
    assert [trace["message"] for trace in store.get_thread(first.id)] == [
        "Research, step 1",
        "Research, step 2",
    ]
    assert (threads["chat-7"]["source"], threads[first.id]["source"]) == ("session", "responses")
    assert threads["chat-7"]["total_tokens"] == sum(
        trace["total_tokens"] or 0 for trace in store.get_thread("chat-7")
    )
    alone = [trace for trace in store.list_traces() if trace["thread_id"] is None]
    assert len(alone) == 1
