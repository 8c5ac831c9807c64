"""Replay (`spyglass view --allow-replay`): a recorded call, edited and sent again by the viewer with the real
openai SDK to the demo server, recorded as a trace of its own linked to the original; and everything that
must refuse it (the flag off, another page's Origin, a wrong token, a forged span's server).

The recorded calls are made by a real program (a subprocess running the openai SDK under spyglass), so the
spans replayed are what spyglass really records.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect
from viewer_helpers import TOKEN

from real_calls import record_calls
from spyglass import _attribute_names as names
from spyglass.demo.server import DemoServer, serve
from spyglass.store import SpanRecord, SpanStore
from spyglass.viewer import create_app, local_hosts
from spyglass.viewer._replay_request import (
    ReplayRefused,
    Target,
    checked_body,
    for_environment,
    key_belongs_to,
    rebuild,
    target_of,
)
from spyglass.viewer.server import bind, serving_in_thread

KEY = "sk-proj-replayKEYthatMustNeverBeStored0123456789abcdef"


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoServer]:
    with serve() as running:
        yield running


def llm_span(store: Path, root_message: str) -> SpanRecord:
    with SpanStore(store) as reader:
        for trace in reader.list_traces(100):
            spans = reader.get_trace(trace["trace_id"])
            if any(span["message"] == root_message for span in spans):
                return next(span for span in spans if span["kind"] == "llm")
    raise AssertionError(f"no trace {root_message!r}")


@pytest.fixture
def recorded(store_path: Path, demo: DemoServer) -> Path:
    record_calls(store_path, demo.base_url)
    return store_path


@pytest.fixture
def viewer(recorded: Path, monkeypatch: pytest.MonkeyPatch, demo: DemoServer) -> Iterator[str]:
    """A viewer started with --allow-replay, whose environment holds a key meant for the demo server."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", demo.base_url)
    with _serve(recorded, allow_replay=True) as url:
        yield url


@contextmanager
def _serve(store: Path, *, allow_replay: bool) -> Iterator[str]:
    sock = bind("127.0.0.1", 0)
    app = create_app(
        store,
        token=TOKEN,
        allowed_hosts=local_hosts(sock.getsockname()[1]),
        poll_seconds=0.1,
        allow_replay=allow_replay,
    )
    with serving_in_thread(app, sock) as url:
        yield url


def _post(url: str, body: Any, **headers: str) -> httpx.Response:
    parts = httpx.URL(url)
    origin = f"{parts.scheme}://{parts.host}:{parts.port}"
    sent = {"origin": origin, "x-spyglass-token": TOKEN, **headers}
    return httpx.post(url, json=body, headers={k: v for k, v in sent.items() if v}, timeout=60)


# --- in the browser ------------------------------------------------------------------------------------------


def open_replay(page: Page, viewer: str, span: SpanRecord) -> Locator:
    page.goto(f"{viewer}trace/{span['trace_id']}#span={span['span_id']}")
    page.locator("#span-panel").get_by_role("button", name="Replay…").click()
    return page.get_by_role("dialog", name="Replay this call")


def shown_trace(page: Page, store: Path) -> list[SpanRecord]:
    """The spans of the trace the page shows, from the store."""
    with SpanStore(store) as reader:
        return reader.get_trace(page.url.split("/trace/")[1].split("#")[0])


@pytest.mark.browser
def test_edit_a_recorded_call_replay_it_and_see_the_new_trace_linked_to_the_original(
    viewer: str, recorded: Path, demo: DemoServer, page: Page, screenshot_dir: Path
) -> None:
    original = llm_span(recorded, "Answer a customer")
    dialog = open_replay(page, viewer, original)
    panel = page.locator("#span-panel")
    expect(dialog).to_contain_text(f"Sent to {demo.base_url}/chat/completions")
    expect(dialog).to_contain_text("with OPENAI_API_KEY from the viewer's environment")
    expect(dialog.get_by_label("Model")).to_have_value("gpt-4o-mini")
    system = dialog.get_by_label("Message 1 (system)")
    expect(system).to_have_value("You are a terse shop assistant.")
    user = dialog.get_by_label("Message 2 (user)")
    expect(user).to_have_value("Do you sell umbrellas?")
    params = json.loads(dialog.get_by_label("Parameters (JSON)").input_value())
    assert params == {"temperature": 0.3, "max_completion_tokens": 40}
    user.fill("Do you sell raincoats?")
    page.screenshot(path=screenshot_dir / "viewer-replay-editor.png")
    page.emulate_media(color_scheme="dark")  # the dialog follows the page's colours
    background = dialog.evaluate("(node) => getComputedStyle(node).backgroundColor")
    assert background == "rgb(22, 25, 29)", background
    page.screenshot(path=screenshot_dir / "viewer-replay-editor-dark.png")
    page.emulate_media(color_scheme="light")
    demo.requests.clear()
    dialog.get_by_role("button", name="Send").click()

    expect(page.locator("#span-panel .replay-of")).to_contain_text(
        "Replay of the recorded call", timeout=30_000
    )
    assert f"/trace/{original['trace_id']}" not in page.url
    expect(panel.locator(".message.role-user")).to_contain_text("Do you sell raincoats?")
    expect(panel.locator(".message.role-assistant")).to_contain_text('You said: "Do you sell raincoats?"')
    page.screenshot(path=screenshot_dir / "viewer-replay-result.png", full_page=True)

    # What the server received: the edit, the recorded parameters, the key of the viewer's environment.
    [sent] = demo.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.body["messages"][1] == {"role": "user", "content": "Do you sell raincoats?"}
    assert sent.body["temperature"] == 0.3
    assert sent.headers["authorization"] == f"Bearer {KEY}"

    # The new span is linked to the original and names it; the link leads back to it.
    [replayed] = shown_trace(page, recorded)
    assert replayed["links"] == [
        {
            "trace_id": original["trace_id"],
            "span_id": original["span_id"],
            "attributes": {"spyglass.link": "replay of"},
        }
    ]
    assert replayed["attributes"]["spyglass.replay.original_span_id"] == original["span_id"]
    assert replayed["parent_span_id"] is None  # a trace of its own
    page.locator("#span-panel .replay-of a").click()
    expect(page.locator(".span-row[aria-selected=true]")).to_have_attribute(
        "data-span-id", original["span_id"]
    )
    assert KEY.encode() not in _store_bytes(recorded)


@pytest.mark.browser
def test_a_failing_replay_says_why_on_the_page_and_is_recorded_as_the_spans_error(
    viewer: str, recorded: Path, page: Page
) -> None:
    original = llm_span(recorded, "Ask the Responses API")
    dialog = open_replay(page, viewer, original)
    expect(dialog.get_by_label("Instructions")).to_have_value("Be brief.")
    expect(dialog.get_by_label("Message 1 (user)")).to_have_value("Name a colour.")
    # echo-credentials: the demo server answers 401 quoting the key it was sent.
    dialog.get_by_label("Model").fill("echo-credentials")
    dialog.get_by_role("button", name="Send").click()
    status = dialog.locator(".replay-status")
    expect(status).to_contain_text("The replayed call failed: AuthenticationError", timeout=30_000)
    expect(status).not_to_contain_text(KEY)
    status.get_by_role("link", name="Open the recorded replay").click()
    expect(page.locator("#span-panel .panel-head")).to_contain_text("AuthenticationError")
    [replayed] = shown_trace(page, recorded)
    assert replayed["status_code"] == "ERROR"
    assert replayed["attributes"]["error.type"] == "invalid_api_key"
    assert KEY.encode() not in _store_bytes(recorded)


@pytest.mark.browser
def test_without_the_flag_there_is_no_replay_button_and_the_endpoint_refuses(
    recorded: Path, demo: DemoServer, page: Page
) -> None:
    original = llm_span(recorded, "Answer a customer")
    with _serve(recorded, allow_replay=False) as url:
        page.goto(f"{url}trace/{original['trace_id']}#span={original['span_id']}")
        expect(page.locator("#span-panel .panel-head")).to_contain_text("Chat Completion")
        expect(page.get_by_role("button", name="Replay…")).to_have_count(0)
        endpoint = f"{url}api/replay/{original['trace_id']}/{original['span_id']}"
        assert httpx.get(endpoint).status_code == 403
        demo.requests.clear()
        refused = _post(
            endpoint, {"body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}
        )
        assert refused.status_code == 403
        assert "--allow-replay" in refused.json()["error"]
        assert demo.requests == []


# --- the endpoint ---------------------------------------------------------------------------------------------


def test_another_origin_a_wrong_token_or_a_get_sends_nothing(
    viewer: str, recorded: Path, demo: DemoServer
) -> None:
    original = llm_span(recorded, "Answer a customer")
    endpoint = f"{viewer}api/replay/{original['trace_id']}/{original['span_id']}"
    body = {"body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}
    demo.requests.clear()
    assert _post(endpoint, body, origin="http://evil.example").status_code == 403
    assert _post(endpoint, body, origin="").status_code == 403  # no Origin: not from a page of ours
    assert _post(endpoint, body, **{"x-spyglass-token": "wrong"}).status_code == 403
    assert _post(endpoint, body, **{"x-spyglass-token": ""}).status_code == 403
    assert httpx.put(endpoint, json=body).status_code == 405
    # DNS rebinding: the right Origin for a host name that is not ours is refused by the Host check.
    assert _post(endpoint, body, host="evil.example", origin="http://evil.example").status_code == 421
    assert demo.requests == []
    # A body that would change how it is sent is refused before anything goes out.
    extra = {"body": {**body["body"], "extra_headers": {"x-evil": "1"}}}
    assert _post(endpoint, extra).json() == {"error": "Not a parameter a replay sends: extra_headers."}
    assert demo.requests == []
    # The right Origin and token: sent.
    sent = _post(endpoint, body)
    assert sent.status_code == 200, sent.text
    assert sent.json()["error"] is None
    assert len(demo.requests) == 1


def test_a_streamed_call_is_replayed_streamed_and_both_its_spans_are_linked(
    viewer: str, recorded: Path, demo: DemoServer
) -> None:
    original = llm_span(recorded, "Stream a story")
    endpoint = f"{viewer}api/replay/{original['trace_id']}/{original['span_id']}"
    body = httpx.get(endpoint).json()["body"]
    assert body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Tell a story."}],
        "stream": True,
    }
    demo.requests.clear()
    done = _post(endpoint, {"body": body}).json()
    assert done["error"] is None
    assert demo.requests[0].body["stream"] is True
    with SpanStore(recorded) as reader:
        spans = reader.get_trace(done["trace_id"])
    assert sorted(span["kind"] for span in spans) == ["llm", "llm_stream"]
    for span in spans:  # (the stream span also links to its call's span, as any stream span does)
        assert (original["trace_id"], original["span_id"]) in [
            (k["trace_id"], k["span_id"]) for k in span["links"]
        ]
    [call] = [span for span in spans if span["kind"] == "llm"]
    assert call["span_id"] == done["span_id"]
    assert call["attributes"]["spyglass.stream.outcome"] == "completed"


def test_the_key_goes_only_to_the_host_openai_base_url_names(
    recorded: Path, demo: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)  # the key is meant for api.openai.com
    original = llm_span(recorded, "Answer a customer")
    with _serve(recorded, allow_replay=True) as url:
        endpoint = f"{url}api/replay/{original['trace_id']}/{original['span_id']}"
        assert httpx.get(endpoint).json()["key_sent"] is False
        demo.requests.clear()
        answer = _post(
            endpoint, {"body": {"model": "echo-credentials", "messages": [{"role": "user", "content": "hi"}]}}
        )
        assert answer.json()["key_sent"] is False
        [sent] = demo.requests
        assert KEY not in sent.headers.get("authorization", "")
        assert KEY not in answer.text
    assert KEY.encode() not in _store_bytes(recorded)


# --- rebuilding the request -----------------------------------------------------------------------------------


def test_a_recorded_tool_round_trip_is_rebuilt_in_the_wire_format() -> None:
    attributes = {
        names.OPENAI_PATH: "/chat/completions",
        names.PROVIDER_NAME: "openai",
        names.SERVER_ADDRESS: "api.openai.com",
        names.SERVER_PORT: 443,
        names.REQUEST_MODEL: "gpt-4o",
        names.REQUEST_SEED: 7,
        names.REQUEST_STOP_SEQUENCES: ("END",),
        names.INPUT_MESSAGES: json.dumps(
            [
                {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
                {
                    "role": "assistant",
                    "parts": [{"type": "tool_call", "id": "c1", "name": "w", "arguments": {"city": "Paris"}}],
                },
                {
                    "role": "tool",
                    "parts": [{"type": "tool_call_response", "id": "c1", "response": '{"t": 18}'}],
                },
                {"role": "omitted", "parts": [{"type": "text", "content": "...[3 messages omitted]"}]},
            ]
        ),
        names.TOOL_DEFINITIONS: json.dumps(
            [{"type": "function", "name": "w", "parameters": {"type": "object"}}]
        ),
    }
    rebuilt = rebuild(attributes)
    assert rebuilt.target.base_url == "https://api.openai.com/v1"
    assert rebuilt.body == {
        "model": "gpt-4o",
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "w", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": '{"t": 18}'},
        ],
        "tools": [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}],
        "seed": 7,
        "stop": ["END"],
    }
    assert rebuilt.notes == ["Messages were left out when the call was recorded (...[3 messages omitted])."]


@pytest.mark.parametrize(
    ("attributes", "why"),
    [
        ({names.OPENAI_PATH: "/embeddings"}, "Only Chat Completions and Responses API calls"),
        (
            {names.OPENAI_PATH: "/responses", names.SERVER_ADDRESS: "169.254.169.254", names.SERVER_PORT: 80},
            "not one a replay is sent to",
        ),
        (
            {names.OPENAI_PATH: "/responses", names.SERVER_ADDRESS: "evil.example/x?", names.SERVER_PORT: 80},
            "not one a replay is sent to",
        ),
        ({names.OPENAI_PATH: "/responses", names.SERVER_ADDRESS: "h"}, "does not record the server"),
        ({names.OPENAI_PATH: "/chat/completions", names.PROVIDER_NAME: "azure.ai.openai"}, "Azure"),
    ],
)
def test_spans_that_cannot_be_replayed_say_why(attributes: dict[str, Any], why: str) -> None:
    with pytest.raises(ReplayRefused, match=why):
        target_of(attributes)


def test_the_edited_body_must_be_one_the_api_takes() -> None:
    with pytest.raises(ReplayRefused, match="needs a model"):
        checked_body({"messages": [{"role": "user", "content": "x"}]}, "/chat/completions")
    with pytest.raises(ReplayRefused, match="needs input"):
        checked_body({"model": "m", "input": []}, "/responses")
    with pytest.raises(ReplayRefused, match="timeout"):
        checked_body({"model": "m", "input": "x", "timeout": 1}, "/responses")


def test_a_forged_span_does_not_get_the_key() -> None:
    """A span anyone can send over OTLP names a server of its choosing: the key goes to OPENAI_BASE_URL only."""

    def target(host: str, port: int) -> Target:
        attributes = {names.OPENAI_PATH: "/responses", names.SERVER_ADDRESS: host, names.SERVER_PORT: port}
        return target_of(attributes)

    key = {"OPENAI_API_KEY": KEY}
    assert key_belongs_to(target("api.openai.com", 443), key) is True  # OPENAI_BASE_URL's default
    assert key_belongs_to(target("api.openai.com", 443), {}) is False  # no key to send
    assert key_belongs_to(target("evil.example", 443), key) is False
    assert key_belongs_to(target("api.openai.com", 80), key) is False  # the right host in plain HTTP
    assert key_belongs_to(target("api.openai.com", 8443), key) is False
    proxy = {**key, "OPENAI_BASE_URL": "http://127.0.0.1:9000/proxy/v1/"}
    assert key_belongs_to(target("api.openai.com", 443), proxy) is False
    assert key_belongs_to(target("127.0.0.1", 9000), proxy) is True
    # That server's own path prefix, which the span does not record, comes from OPENAI_BASE_URL.
    assert for_environment(target("127.0.0.1", 9000), proxy).base_url == "http://127.0.0.1:9000/proxy/v1"
    assert for_environment(target("127.0.0.1", 9001), proxy).base_url == "http://127.0.0.1:9001/v1"


def _store_bytes(store: Path) -> bytes:
    return b"".join(p.read_bytes() for p in store.parent.glob(store.name + "*"))
