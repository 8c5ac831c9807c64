"""Bad input and load: huge conversations, multi-megabyte images, arbitrary attribute values, 1,000
concurrent streams. Each is recorded safely and the caller's call behaves as uninstrumented."""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import json
import math

import openai
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spyglass
from spyglass._encoding import encode_value


def llm(captured):
    return [s for s in captured.spans() if s["attributes"].get("spyglass.kind") == "llm"]


def test_a_message_with_ten_thousand_parts(client, captured):
    parts = [{"type": "text", "text": f"part {i}"} for i in range(10_000)]
    response = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": parts}])
    assert response.choices[0].message.content
    (span,) = llm(captured)
    raw = captured.finished()[0].attributes["gen_ai.input.messages"]
    assert len(raw) <= 128 * 1024  # bounded...
    parts = span["attributes"]["gen_ai.input.messages"][0]["parts"]  # ...and still valid JSON
    assert parts[0] == {"type": "text", "content": "part 0"}
    assert parts[-1] == {"type": "text", "content": "part 9999"}
    omitted = [p for p in parts if "omitted]" in p.get("content", "")]
    assert len(omitted) == 1
    assert omitted[0]["content"] == f"...[{10_000 - (len(parts) - 1)} parts omitted]"


def test_multi_megabyte_inline_image_is_stored_as_a_reference(client, captured):
    raw = hashlib.sha256(b"seed").digest() * (4 * 1024 * 1024 // 32)  # 4 MiB
    data = base64.b64encode(raw).decode()
    client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
                ],
            }
        ],
    )
    (span,) = llm(captured)
    image = span["attributes"]["gen_ai.input.messages"][0]["parts"][1]
    assert image == {
        "type": "blob_reference",
        "modality": "image",
        "mime_type": "image/png",
        "size": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
    }
    assert len(json.dumps(span["attributes"])) < 10_000


def test_huge_prompt_text_is_cut_with_a_marker(client, captured):
    response = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "word " * 2_000_000}]
    )
    assert response.id
    (span,) = llm(captured)
    text = span["attributes"]["gen_ai.input.messages"][0]["parts"][0]["content"]
    assert text.endswith("chars]") and "...[truncated" in text
    assert len(text) < 140_000


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_json_values)
def test_any_value_encodes_to_a_valid_attribute(value):
    encoded, is_json = encode_value(value, max_length=2_000)
    assert isinstance(encoded, str | bool | int | float | tuple)
    if isinstance(encoded, str):
        encoded.encode("utf-8")  # always valid UTF-8: exporters would choke otherwise
        assert len(encoded) <= 2_000 + len("...[truncated 99999999 chars]")
    if isinstance(encoded, float) and not math.isnan(encoded):
        assert encoded == value
    if is_json and "...[truncated" not in encoded:
        json.loads(encoded)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    fields=st.dictionaries(
        st.text(min_size=1, max_size=8).filter(str.isidentifier), _json_values, max_size=4
    ),
    template=st.text(max_size=30),
)
def test_spans_and_logs_never_raise_whatever_they_are_given(captured, fields, template):
    with spyglass.span(template, **fields):
        spyglass.info(template, **fields)


def test_a_thousand_concurrent_streams_each_under_its_own_parent(server, captured):
    async def one(client, i):
        with spyglass.span("job {i}", i=i):
            stream = await client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": f"job {i}"}], stream=True
            )
            text = ""
            async for chunk in stream:
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
            return text

    async def main():
        limits = (
            openai.DefaultAsyncHttpxClient(timeout=60) if hasattr(openai, "DefaultAsyncHttpxClient") else None
        )
        async with openai.AsyncOpenAI(
            api_key="k", base_url=server.base_url, max_retries=0, http_client=limits
        ) as client:
            with spyglass.instrument_openai(client):
                return await asyncio.gather(*(one(client, i) for i in range(1000)))

    texts = asyncio.run(main())
    gc.collect()
    assert all(f"job {i}" in text for i, text in enumerate(texts))
    spans = captured.spans()
    parents = {s["span_id"]: s for s in spans if s["attributes"]["spyglass.kind"] == "span"}
    streams = [s for s in spans if s["attributes"]["spyglass.kind"] == "llm_stream"]
    requests = [s for s in spans if s["attributes"]["spyglass.kind"] == "llm"]
    assert len(parents) == len(streams) == len(requests) == 1000
    by_id = {s["span_id"]: s for s in requests}
    for span in streams + requests:
        parent = parents.get(span["parent_id"]) or parents[by_id[span["parent_id"]]["parent_id"]]
        assert span["trace_id"] == parent["trace_id"]
        assert span["end_time"] is not None
    for stream in streams:  # each streaming phase hangs under its own call
        assert by_id[stream["parent_id"]]["attributes"]["spyglass.stream.outcome"] == "completed"
    for request in requests:
        i = parents[request["parent_id"]]["attributes"]["i"]
        assert f"job {i}" in request["attributes"]["gen_ai.output.messages"][0]["parts"][0]["content"]


def test_a_conversation_of_five_thousand_messages_stays_bounded_and_readable(client, captured):
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "x" * 100}
        for i in range(5_000)
    ]
    client.chat.completions.create(model="gpt-4o", messages=messages)
    (span,) = llm(captured)
    assert len(captured.finished()[0].attributes["gen_ai.input.messages"]) <= 128 * 1024
    recorded = span["attributes"]["gen_ai.input.messages"]
    assert recorded[0]["parts"][0]["content"].startswith("turn 0 ")
    assert recorded[-1]["parts"][0]["content"].startswith("turn 4999 ")
    (marker,) = [m for m in recorded if m["role"] == "omitted"]
    assert marker["parts"][0]["content"] == f"...[{5_000 - (len(recorded) - 1)} messages omitted]"
