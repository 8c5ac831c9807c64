"""`otlp_capture_content=False`: the conversation stays in the local sinks while the spans still go out."""

from __future__ import annotations

import json
from pathlib import Path

import openai
from otlp_helpers import RunningReceiver

import spyglass
from spyglass.demo.server import DemoServer
from spyglass.store import SpanStore

CONTENT = ("gen_ai.input.messages", "gen_ai.output.messages")


def _one_call(server: DemoServer) -> None:
    with openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0) as client:
        with spyglass.instrument_openai(client):
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "a private question"}]
            )


def _llm(spans: list) -> dict:  # type: ignore[type-arg]
    [span] = [s for s in spans if s["kind"] == "llm"]
    attributes = span["attributes"]
    return attributes if isinstance(attributes, dict) else json.loads(attributes)


def test_content_stays_local_while_the_spans_go_out(
    receiver: RunningReceiver, server: DemoServer, tmp_path: Path
) -> None:
    local = tmp_path / "local.sqlite"
    spyglass.configure(
        console=False, store=local, otlp_endpoint=receiver.endpoint, otlp_capture_content=False
    )
    try:
        _one_call(server)
        assert spyglass.force_flush(10_000)
    finally:
        spyglass.shutdown()
    exported = _llm(receiver.spans())
    assert all(key not in exported for key in CONTENT)
    assert exported["gen_ai.usage.output_tokens"] > 0  # the span itself went out, tokens and all
    with SpanStore(local) as store:
        [trace] = store.list_traces()
        kept = _llm(store.get_trace(trace["trace_id"]))
    assert "a private question" in kept["gen_ai.input.messages"]


def test_by_default_the_export_carries_the_conversation(
    receiver: RunningReceiver, server: DemoServer
) -> None:
    spyglass.configure(console=False, store=False, otlp_endpoint=receiver.endpoint)
    try:
        _one_call(server)
        assert spyglass.force_flush(10_000)
    finally:
        spyglass.shutdown()
    assert "a private question" in _llm(receiver.spans())["gen_ai.input.messages"]
