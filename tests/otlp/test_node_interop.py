"""The OpenTelemetry JavaScript SDK on Node.js sends spans to our receiver, as protobuf and as JSON.

Needs `node` and `npm ci` run in tests/otlp/node (`.ci/install-interop` does it); skipped otherwise.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from dirty_equals import IsStr
from otlp_helpers import RunningReceiver

NODE_PROJECT = Path(__file__).parent / "node"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_PROJECT / "node_modules" / "@opentelemetry").is_dir(),
    reason="needs Node.js and the OpenTelemetry JS packages: run `npm ci` in tests/otlp/node "
    "(or `bash .ci/install-interop`)",
)


@pytest.mark.parametrize("encoding", ["proto", "json"])
def test_the_javascript_sdk_sends_spans_to_the_receiver(receiver: RunningReceiver, encoding: str) -> None:
    subprocess.run(
        ["node", "send_spans.mjs", receiver.traces_url, encoding], cwd=NODE_PROJECT, check=True, timeout=60
    )

    parent, child, llm = (
        receiver.span("node parent"),
        receiver.span("node child"),
        receiver.span("openai.chat"),
    )
    assert child["parent_span_id"] == llm["parent_span_id"] == parent["span_id"]
    assert {
        key: child[key] for key in ("span_kind", "status_code", "status_description", "service_name")
    } == {
        "span_kind": "CLIENT",
        "status_code": "ERROR",
        "status_description": "it broke",
        "service_name": "node-sender",
    }
    assert child["attributes"] == {
        "str": "text",
        "bool": True,
        "int": 42,
        "float": 2.5,
        "strs": ["a", "b"],
        "bools": [True, False],
        "ints": [1, 2],
        "floats": [0.5, 1.5],
    }
    assert [event["name"] for event in child["events"]] == ["thinking"]
    assert child["events"][0]["attributes"] == {"step": 1}
    assert child["links"] == [
        {"trace_id": parent["trace_id"], "span_id": parent["span_id"], "attributes": {"link.reason": "retry"}}
    ]
    assert child["scope"] == {"name": "node-interop", "version": "1.0.0"}
    assert parent["resource"]["attributes"] == {
        "service.name": "node-sender",
        "deployment.environment": "test",
    }
    assert parent["span_kind"] == "SERVER"

    assert {
        key: llm[key] for key in ("kind", "message", "model", "provider", "input_tokens", "output_tokens")
    } == {
        "kind": "llm",
        "message": "Chat Completion with 'gpt-4o-mini'",
        "model": "gpt-4o-mini",
        "provider": "OpenAI",
        "input_tokens": 4,
        "output_tokens": 3,
    }
    assert json.loads(llm["attributes"]["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Hello from Node"}]}
    ]
    assert json.loads(llm["attributes"]["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello, Node!"}], "finish_reason": "stop"}
    ]
    assert llm["attributes"]["gen_ai.prompt.0.content"] == IsStr  # the original attributes stay
