"""The caller's thread only takes references: a call's request and response attributes, and a stream's
chunks, are read and folded where the spans are processed. What the spans say must not change for that."""

from __future__ import annotations

import json

import spyglass
from spyglass import _attribute_names as names
from spyglass import _pipeline


def llm(captured):
    return [s for s in captured.spans() if s["attributes"].get("spyglass.kind") == "llm"]


def test_a_conversation_the_caller_extends_right_after_the_call_is_recorded_as_sent(client, captured):
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    response = client.chat.completions.create(model="gpt-4o", messages=messages)
    # An agent loop appends to the same list before the pipeline has read the request.
    messages.append({"role": "assistant", "content": response.choices[0].message.content})
    messages.append({"role": "user", "content": "And of Spain?"})
    (span,) = llm(captured)
    recorded = span["attributes"][names.INPUT_MESSAGES]
    assert [m["role"] for m in recorded] == ["user"]
    assert recorded[0]["parts"] == [{"type": "text", "content": "What is the capital of France?"}]
    output = span["attributes"][names.OUTPUT_MESSAGES]
    assert output[0]["parts"][0]["content"] == response.choices[0].message.content


def _many_chunk_request() -> dict:
    # A JSON-schema answer is streamed word by word: many properties make more than a batch of chunks.
    properties = {f"field_{i}": {"type": "string"} for i in range(300)}
    schema = {"type": "object", "properties": properties, "required": list(properties)}
    return {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Fill the form"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "form", "schema": schema}},
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_a_stream_of_many_batches_is_folded_whole_and_in_order(client, captured):
    chunks = list(client.chat.completions.create(**_many_chunk_request()))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) > 64  # full batches were handed over to the pipeline's thread
    assert isinstance(json.loads(text), dict)
    (call,) = llm(captured)
    attributes = call["attributes"]
    assert attributes[names.STREAM_CHUNKS] == len(chunks)
    assert attributes[names.OUTPUT_MESSAGES][0]["parts"] == [{"type": "text", "content": text}]
    assert attributes[names.USAGE_OUTPUT_TOKENS] == chunks[-1].usage.completion_tokens
    assert attributes[names.STREAM_OUTCOME] == names.STREAM_COMPLETED


def test_when_the_pipeline_is_far_behind_the_caller_records_everything_itself(client, captured, monkeypatch):
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    chunks = list(client.chat.completions.create(**_many_chunk_request()))
    deferred = [s["attributes"] for s in llm(captured)]
    captured.clear()
    monkeypatch.setattr(_pipeline, "_MAX_DEFERRED", 0)  # as if 10,000 spans waited for the pipeline
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    assert list(client.chat.completions.create(**_many_chunk_request()))[-1].usage == chunks[-1].usage
    direct = [s["attributes"] for s in llm(captured)]
    volatile = {
        names.OPENAI_REQUEST_ID,
        names.RESPONSE_ID,
        names.RESPONSE_TIME_TO_FIRST_CHUNK,
        names.MSG,
    }
    for by_pipeline, by_caller in zip(deferred, direct, strict=True):
        assert {k: v for k, v in by_pipeline.items() if k not in volatile} == {
            k: v for k, v in by_caller.items() if k not in volatile
        }


def test_metrics_are_recorded_once_per_call_off_the_callers_thread(client, captured):
    for _ in range(3):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    list(client.chat.completions.create(**_many_chunk_request()))
    durations = captured.metrics()["gen_ai.client.operation.duration"]
    assert sum(point["count"] for point in durations) == 4
    tokens = captured.metrics()["gen_ai.client.token.usage"]
    assert sum(point["count"] for point in tokens) == 8  # input and output, each call


def test_spans_dropped_by_a_full_pipeline_leave_nothing_behind(client, captured, monkeypatch):
    pipeline = spyglass._config.STATE.pipeline
    assert pipeline is not None
    monkeypatch.setattr(pipeline.background, "_max_spans", 0)  # every span finds the queue full
    for _ in range(20):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    assert len(_pipeline._deferred) == 0  # the deferred attributes of the dropped spans were forgotten
    monkeypatch.undo()
    assert llm(captured) == []
    # Each end, counted: no sink of this configuration reads starts, so they are not even queued.
    assert not pipeline.background.wants_starts
    assert spyglass.stats()["pipeline"] == 20
