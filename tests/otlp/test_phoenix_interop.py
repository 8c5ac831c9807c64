"""Our spans, exported over OTLP by `configure()`'s processors, arrive in Arize Phoenix (a real backend).

Phoenix is heavy (a ~850 MB install, ~5 minutes; a start of up to a minute), so this runs only with
SPYGLASS_INTEROP=1, with Phoenix installed in its own virtualenv by `bash .ci/install-interop`
(`.ci-venvs/phoenix`), or wherever SPYGLASS_PHOENIX names its `phoenix` command.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

import spyglass
from spyglass.demo.server import DemoServer
from spyglass.exporters.otlp import otlp_span_processors

ROOT = Path(__file__).parents[2]

pytestmark = pytest.mark.skipif(
    os.environ.get("SPYGLASS_INTEROP") != "1",
    reason="a heavy interop test: run `bash .ci/install-interop`, then SPYGLASS_INTEROP=1 pytest tests/otlp",
)


def _phoenix_command() -> str:
    for candidate in (os.environ.get("SPYGLASS_PHOENIX"), str(ROOT / ".ci-venvs/phoenix/bin/phoenix")):
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which("phoenix")
    if found is None:
        pytest.fail("Phoenix is not installed: run `bash .ci/install-interop` or set SPYGLASS_PHOENIX")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("phoenix")
    port = _free_port()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(_free_port()),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    log = (workdir / "phoenix.log").open("wb")
    process = subprocess.Popen([_phoenix_command(), "serve"], env=env, cwd=workdir, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"Phoenix did not start: {(workdir / 'phoenix.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _spans(phoenix: str, expected: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        spans: list[dict[str, Any]] = _get(f"{phoenix}/v1/projects/default/spans?limit=100")["data"]
        if len(spans) >= expected or time.monotonic() > deadline:
            return spans
        time.sleep(0.5)


def test_our_spans_arrive_in_phoenix_with_their_genai_attributes(phoenix: str, server: DemoServer) -> None:
    spyglass.configure(
        service_name="phoenix-interop",
        console=False,
        store=False,
        additional_span_processors=otlp_span_processors(phoenix),
    )
    try:
        with openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0) as client:
            with spyglass.instrument_openai(client), spyglass.span("asking {who}", who="the demo server"):
                client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": "What is the capital of France?"}],
                )
    finally:
        spyglass.shutdown()

    spans = {span["name"]: span for span in _spans(phoenix, 2)}
    assert set(spans) == {"asking {who}", "chat gpt-4o-mini"}
    parent, llm = spans["asking {who}"], spans["chat gpt-4o-mini"]
    assert llm["parent_id"] == parent["context"]["span_id"]
    assert llm["context"]["trace_id"] == parent["context"]["trace_id"]
    assert parent["attributes"]["spyglass.msg"] == "asking the demo server"
    attributes = llm["attributes"]
    assert {
        key: attributes[key] for key in ("spyglass.kind", "gen_ai.operation.name", "gen_ai.request.model")
    } == {
        "spyglass.kind": "llm",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
    }
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]}
    ]
    assert attributes["gen_ai.usage.input_tokens"] > 0
    # Phoenix reads the GenAI conventions itself: it shows our call as an LLM span with its conversation.
    assert llm["span_kind"] == "LLM"
    assert attributes["llm.input_messages.0.message.content"] == "What is the capital of France?"


def test_a_streamed_call_is_one_llm_span_in_phoenix_with_tokens_and_parameters(
    phoenix: str, server: DemoServer
) -> None:
    spyglass.configure(
        service_name="phoenix-interop-stream",
        console=False,
        store=False,
        additional_span_processors=otlp_span_processors(phoenix),
    )
    image = "data:image/png;base64," + base64.b64encode(b"\x89PNG a tiny image").decode()
    try:
        with openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0) as client:
            with spyglass.instrument_openai(client), spyglass.span("streaming {what}", what="a story"):
                stream = client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[
                        {"role": "system", "content": "You tell short stories."},
                        {
                            "role": "user",
                            "content": [
                                {"type": "text", "text": "A story about this picture"},
                                {"type": "image_url", "image_url": {"url": image}},
                            ],
                        },
                    ],
                    temperature=0.25,
                    max_tokens=64,
                    stream=True,
                    stream_options={"include_usage": True},  # usage comes only when asked for
                )
                text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    finally:
        spyglass.shutdown()

    spans = _spans(phoenix, 5)  # with the 2 of the test above
    (trace_id,) = {s["context"]["trace_id"] for s in spans if s["name"] == "streaming {what}"}
    spans = [s for s in spans if s["context"]["trace_id"] == trace_id]
    assert sorted(s["name"] for s in spans) == [
        "chat gpt-4o-mini",
        "chat gpt-4o-mini stream",
        "streaming {what}",
    ]
    # one generation for the one call: the streaming phase is not an LLM span of its own
    (llm,) = [s for s in spans if s["span_kind"] == "LLM"]
    assert llm["name"] == "chat gpt-4o-mini"
    stream_span = next(s for s in spans if s["name"] == "chat gpt-4o-mini stream")
    assert stream_span["span_kind"] != "LLM"
    assert stream_span["parent_id"] == llm["context"]["span_id"]
    attributes = llm["attributes"]
    assert attributes["llm.token_count.prompt"] > 0
    assert attributes["llm.token_count.completion"] > 0
    parameters = json.loads(attributes["llm.invocation_parameters"])
    assert parameters == {"temperature": 0.25, "max_tokens": 64, "stream": True}
    # the conversation passed Phoenix's own validation (one invalid part would drop it all)
    assert attributes["llm.input_messages.0.message.role"] == "system"
    assert attributes["llm.input_messages.0.message.content"] == "You tell short stories."
    assert attributes["llm.output_messages.0.message.content"] == text
