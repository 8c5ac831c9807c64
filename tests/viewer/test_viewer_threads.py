"""Threads in the viewer: the list, a conversation's timeline across its traces, export, live updates.

The HTTP tests go through the app; the browser tests drive Debian's Chromium against a real server and store.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient
from viewer_helpers import TOKEN, Tracing, messages, text

from spyglass import _attribute_names as names
from spyglass.cli import main
from spyglass.store import SpanStore
from spyglass.viewer import create_app

SYSTEM = "You are a patient travel agent."
TURNS = [
    ("I want to go to Lisbon in May.", "Lovely choice. For how many days?"),
    ("Five days, two people.", "Here are three hotels near Alfama."),
    ("The second one, please.", "Booked: Hotel Alfama Patio, 12-17 May."),
]


def conversation(
    tracing: Tracing, session: str, turns: list[tuple[str, str]] = TURNS, *, cost: Any = 0.001
) -> None:
    """A chat app's conversation: one trace per turn, each call resending the history, all in one session."""
    history: list[tuple[str, list[dict[str, Any]]]] = []
    for number, (question, answer) in enumerate(turns, start=1):
        history.append(("user", [text(question)]))
        with tracing.user_span(f"Turn {number}", **{"session.id": session}):
            tracing.llm(
                question,
                answer,
                system=SYSTEM,
                input_messages=messages(*history),
                cost=cost,
                tokens=(20 * number, 5),
            )
        history.append(("assistant", [text(answer)]))


@pytest.fixture
def threaded(tracing: Tracing) -> Tracing:
    conversation(tracing, "trip-42")
    tracing.chat_trace("Not in any thread")
    tracing.flush()
    return tracing


@pytest.fixture
def threads_client(threaded: Tracing, store_path: Path) -> Any:
    app = create_app(store_path, token=TOKEN, allowed_hosts=["testserver"], poll_seconds=0.05)
    with TestClient(app) as client:
        yield client


def test_the_thread_api_lists_threads_and_sends_a_threads_calls(threads_client: TestClient) -> None:
    listed = threads_client.get("/api/threads").json()
    (thread,) = listed["threads"]
    assert {key: thread[key] for key in ("thread_id", "source", "trace_count", "total_tokens", "status")} == {
        "thread_id": "trip-42",
        "source": "session",
        "trace_count": 3,
        "total_tokens": 135,
        "status": "ok",
    }
    assert thread["cost_usd"] == pytest.approx(0.003)
    assert listed["next_before"] is None

    one = threads_client.get("/api/threads/trip-42").json()
    assert [trace["message"] for trace in one["traces"]] == ["Turn 1", "Turn 2", "Turn 3"]
    assert [span["kind"] for span in one["spans"]] == ["llm", "llm", "llm"]  # the calls, not the turn spans
    assert one["thread"]["thread_id"] == "trip-42"
    third = one["traces"][2]["start_ns"]  # a trace's page asks for the calls of the traces before it
    earlier = threads_client.get(f"/api/threads/trip-42?before={third}").json()["spans"]
    assert [span["trace_id"] for span in earlier] == [trace["trace_id"] for trace in one["traces"][:2]]
    assert threads_client.get("/api/threads?q=Alfama").json()["threads"][0]["thread_id"] == "trip-42"
    assert threads_client.get("/api/threads?q=Madrid").json()["threads"] == []
    assert threads_client.get("/api/threads?status=error").json()["threads"] == []
    assert threads_client.get("/api/threads/nope").status_code == 404
    assert threads_client.get("/thread/nope").status_code == 404
    refused = threads_client.get("/api/threads?attr=x%3Dy")
    assert refused.status_code == 400
    assert "attr filters traces" in refused.json()["error"]


def test_a_thread_exports_as_otlp_json_with_every_span_of_its_traces(threads_client: TestClient) -> None:
    response = threads_client.get("/api/threads/trip-42/otlp")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="thread-trip-42.otlp.json"'
    spans = [
        span
        for resource in response.json()["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]
    assert sorted(span["name"] for span in spans) == ["Turn 1", "Turn 2", "Turn 3", *["chat gpt-4o"] * 3]
    assert len({span["traceId"] for span in spans}) == 3
    sessions = [
        attribute["value"]["stringValue"]
        for span in spans
        for attribute in span["attributes"]
        if attribute["key"] == "session.id"
    ]
    assert sessions == ["trip-42"] * 3
    assert threads_client.get("/api/threads/nope/otlp").status_code == 404


def test_pages_link_threads_and_traces(threads_client: TestClient) -> None:
    home = threads_client.get("/").text
    assert '<a href="/threads">Threads</a>' in home
    one = threads_client.get("/api/threads/trip-42").json()
    trace_page = threads_client.get(f"/trace/{one['traces'][1]['trace_id']}").text
    assert 'href="/thread/trip-42"' in trace_page
    alone = threads_client.get("/api/traces?q=France").json()["traces"][0]
    assert alone["thread_id"] is None
    assert "/thread/" not in threads_client.get(f"/trace/{alone['trace_id']}").text
    assert "Export OTLP JSON" in threads_client.get("/thread/trip-42").text


# --- in the browser ------------------------------------------------------------------------------------------

pytest.importorskip("playwright")

from playwright.sync_api import Browser, Page, expect  # noqa: E402  # only with the browser


@pytest.mark.browser
def test_the_thread_list_shows_totals_and_updates_live(
    threaded: Tracing, viewer_url: str, page: Page, screenshot_dir: Path
) -> None:
    page.goto(viewer_url)
    page.get_by_role("link", name="Threads").click()
    rows = page.locator("#threads tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Turn 1")
    expect(rows.first).to_contain_text("session")
    expect(rows.first.locator("td").nth(2)).to_have_text("3")
    expect(rows.first).to_contain_text("135")
    expect(rows.first).to_contain_text("$0.003")
    expect(rows.first).to_contain_text("I want to go to Lisbon in May.")
    expect(page.locator("#live")).to_have_text("live")
    page.evaluate("window.__sameDocument = true")

    conversation(threaded, "other-chat", [("Is it raining in Porto?", "Not today.")], cost=None)
    with threaded.user_span("Turn 4", **{"session.id": "trip-42"}):
        threaded.llm("Thanks!", "Enjoy Lisbon.", system=SYSTEM, tokens=(100, 2))
    threaded.flush()
    expect(rows).to_have_count(2, timeout=10_000)
    expect(rows.first).to_contain_text("trip-42")  # the newest activity first
    expect(rows.first.locator("td").nth(2)).to_have_text("4")
    expect(rows.nth(1)).to_contain_text("unknown")  # its cost: no price known
    assert page.evaluate("window.__sameDocument") is True  # pushed, not reloaded
    page.screenshot(path=screenshot_dir / "viewer-threads.png", full_page=True)

    page.locator("#filters input[name=q]").fill("Porto")
    page.locator("#filters input[name=q]").press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("other-chat")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page.locator("#thread-title")).to_have_text("Is it raining in Porto?")


@pytest.mark.browser
def test_a_thread_is_one_timeline_of_the_conversation(
    threaded: Tracing, viewer_url: str, page: Page, screenshot_dir: Path
) -> None:
    page.goto(f"{viewer_url}threads")
    page.get_by_role("link", name="Turn 1").click()
    expect(page.locator("#thread-title")).to_have_text("I want to go to Lisbon in May.")
    totals = page.locator("#thread-totals")
    expect(totals.locator('[data-fact="traces"]')).to_have_text("3")
    expect(totals.locator('[data-fact="model-calls"]')).to_have_text("3")
    expect(totals.locator('[data-fact="tokens"]')).to_have_text("135 (120 in, 15 out)")
    expect(totals.locator('[data-fact="cost"]')).to_have_text("$0.003")
    expect(totals.locator('[data-fact="errors"]')).to_have_text("0")
    turns = page.locator(".thread-trace")
    expect(turns).to_have_count(3)
    expect(turns.nth(0).locator(".thread-trace-head")).to_contain_text("#1")
    first, second, third = (turns.nth(index).locator(".thread-call") for index in range(3))
    # The first call shows its whole input; the next ones only what is new since the thread's previous call.
    expect(first.locator(".message.role-system")).to_contain_text(SYSTEM)
    expect(first.locator(".message.role-user")).to_contain_text(TURNS[0][0])
    expect(first.locator(".since")).to_have_count(0)
    expect(second.locator(".since")).to_contain_text(
        "2 earlier messages were already sent in the thread's previous call"
    )
    expect(second.locator(".message.role-user")).to_have_count(1)
    expect(second.locator(".message.role-user")).to_contain_text(TURNS[1][0])
    expect(third.locator(".message.role-assistant")).to_contain_text(TURNS[2][1])
    page.screenshot(path=screenshot_dir / "viewer-thread.png", full_page=True)

    third.locator(".since").get_by_role("button", name="the thread's previous call").click()
    expect(second).to_have_class(re.compile(r"\bselected\b"))
    third.locator(".since").get_by_role("button", name="Show the 4 earlier messages").click()
    expect(third.locator(".message.role-user")).to_have_count(3)

    page.keyboard.press("j")
    expect(third).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("k")
    page.keyboard.press("k")
    expect(first).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("?")
    expect(page.locator(".keys-box")).to_contain_text("next model call of the conversation")
    page.keyboard.press("Escape")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export OTLP JSON").click()
    document = json.loads(Path(download_info.value.path()).read_text())
    names_found = [
        span["name"] for rs in document["resourceSpans"] for ss in rs["scopeSpans"] for span in ss["spans"]
    ]
    assert sorted(names_found) == ["Turn 1", "Turn 2", "Turn 3", *["chat gpt-4o"] * 3]

    page.evaluate("window.__sameDocument = true")
    with threaded.user_span("Turn 4", **{"session.id": "trip-42"}):
        threaded.llm("Thanks!", "Enjoy Lisbon.", system=SYSTEM, error="model_not_found")
    threaded.flush()
    expect(turns).to_have_count(4, timeout=10_000)
    expect(totals.locator('[data-fact="errors"]')).to_have_text("1")
    expect(turns.nth(3).locator(".thread-call")).to_contain_text("NotFoundError: model_not_found")
    assert page.evaluate("window.__sameDocument") is True
    page.keyboard.press("u")
    expect(page).to_have_url(f"{viewer_url}threads")


@pytest.mark.browser
def test_a_trace_of_a_thread_shows_what_is_new_since_the_threads_previous_call(
    threaded: Tracing, viewer_url: str, page: Page
) -> None:
    page.goto(viewer_url)
    turn = page.locator("#traces tbody tr", has_text="Turn 2")
    expect(turn.get_by_role("link", name="thread", exact=True)).to_have_attribute("href", "/thread/trip-42")
    alone = page.locator("#traces tbody tr", has_text="Not in any thread")
    expect(alone.get_by_role("link", name="thread", exact=True)).to_have_count(0)
    turn.get_by_role("link", name="Turn 2").click()
    expect(page.locator("#trace-thread")).to_have_text("trip-42")
    panel = page.locator("#span-panel")
    since = panel.locator(".since")
    expect(since).to_contain_text("2 earlier messages were already sent in the thread's previous call")
    expect(panel.locator(".message.role-user")).to_have_count(1)
    since.get_by_role("button", name="the thread's previous call").click()
    expect(page.locator("h1")).to_have_text("Turn 1")  # the other trace, its call selected
    expect(page.locator('.span-row[aria-selected="true"]')).to_contain_text("Chat Completion with 'gpt-4o'")
    page.locator("#trace-thread").click()
    expect(page.locator(".thread-trace")).to_have_count(3)


@pytest.mark.browser
def test_a_thread_in_dark_mode(
    threaded: Tracing, viewer_url: str, browser: Browser, screenshot_dir: Path
) -> None:
    context = browser.new_context(color_scheme="dark", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{viewer_url}thread/trip-42")
    expect(page.locator(".thread-call")).to_have_count(3)
    card = page.locator(".thread-call").first
    assert card.evaluate("node => getComputedStyle(node).backgroundColor") == "rgb(22, 25, 29)"  # --bg, dark
    assert page.locator("body").evaluate("node => getComputedStyle(node).color") == "rgb(227, 230, 234)"
    page.screenshot(path=screenshot_dir / "viewer-thread-dark.png", full_page=True)
    page.goto(f"{viewer_url}threads")
    expect(page.locator("#threads tbody tr")).to_have_count(1)
    page.screenshot(path=screenshot_dir / "viewer-threads-dark.png")
    assert errors == []
    context.close()


@pytest.mark.browser
def test_a_long_thread_opens_with_each_call_showing_only_what_is_new(
    tracing: Tracing, viewer_url: str, page: Page
) -> None:
    # Each of 150 calls resends the whole history: finding each one's previous call must not be quadratic
    # in the history's length (it took seconds before prefix hashes).
    conversation(tracing, "long", [(f"Question {number}?", f"Answer {number}.") for number in range(150)])
    tracing.flush()
    page.goto(f"{viewer_url}thread/long")
    cards = page.locator(".thread-call")
    expect(cards).to_have_count(150, timeout=20_000)
    expect(cards.last.locator(".since")).to_contain_text("298 earlier messages were already sent")
    expect(cards.last.locator(".message")).to_have_count(2)  # the new question and its answer
    expect(cards.last.locator(".message.role-user")).to_contain_text("Question 149?")


def test_a_responses_chain_is_a_thread_in_the_viewer(tracing: Tracing, store_path: Path) -> None:
    for number, (response_id, previous) in enumerate([("resp_1", None), ("resp_2", "resp_1")], start=1):
        attributes = {
            names.KIND: names.KIND_LLM,
            names.MSG: f"Responses API with 'gpt-4o', step {number}",
            names.OPENAI_API_TYPE: "responses",
            names.RESPONSE_ID: response_id,
            **({names.REQUEST_PREVIOUS_RESPONSE_ID: previous} if previous else {}),
        }
        with tracing.tracer.start_as_current_span("responses gpt-4o", attributes=attributes):
            pass
    tracing.flush()
    app = create_app(store_path, token=TOKEN, allowed_hosts=["testserver"])
    with TestClient(app) as client:
        (thread,) = client.get("/api/threads").json()["threads"]
        assert (thread["thread_id"], thread["source"], thread["trace_count"]) == ("resp_1", "responses", 2)
        assert [span["message"] for span in client.get("/api/threads/resp_1").json()["spans"]] == [
            "Responses API with 'gpt-4o', step 1",
            "Responses API with 'gpt-4o', step 2",
        ]


def test_a_thread_exported_and_imported_elsewhere_is_the_same_thread(
    threads_client: TestClient, tmp_path: Path
) -> None:
    exported = tmp_path / "thread.otlp.json"
    exported.write_bytes(threads_client.get("/api/threads/trip-42/otlp").content)
    elsewhere = tmp_path / "elsewhere.sqlite"
    result = CliRunner().invoke(main, ["import", str(exported), "--store", str(elsewhere)])
    assert result.exit_code == 0, result.output
    with SpanStore(elsewhere) as store:
        (thread,) = store.list_threads()
        original = threads_client.get("/api/threads/trip-42").json()["thread"]
        for key in (
            "thread_id",
            "source",
            "trace_count",
            "span_count",
            "total_tokens",
            "first_prompt",
            "status",
        ):
            assert thread[key] == original[key], key
        assert thread["cost_usd"] == pytest.approx(original["cost_usd"])


@pytest.mark.browser
def test_a_live_update_redraws_only_what_changed(threaded: Tracing, viewer_url: str, page: Page) -> None:
    call = {"type": "tool_call", "id": "call_9", "name": "find_hotel", "arguments": {"city": "Lisbon"}}
    with threaded.user_span("Turn 4", **{"session.id": "trip-42"}):
        threaded.llm("Any hotel with a pool?", output_parts=[call], system=SYSTEM)
    threaded.flush()
    page.goto(f"{viewer_url}threads")
    page.get_by_role("link", name="Turn 1").click()
    turns = page.locator(".thread-trace")
    expect(turns).to_have_count(4)
    third, fourth = turns.nth(2).locator(".thread-call"), turns.nth(3).locator(".thread-call")
    third.locator(".since").get_by_role("button", name="Show the 4 earlier messages").click()
    expect(third.locator(".message.role-user")).to_have_count(3)
    expect(fourth).to_contain_text("no result in this trace")
    page.evaluate("document.querySelector('.thread-trace').__mark = 'kept'")

    result = {"type": "tool_call_response", "id": "call_9", "response": '{"hotel": "Pool Palace"}'}
    with threaded.user_span("Turn 5", **{"session.id": "trip-42"}):
        threaded.llm(
            input_messages=messages(
                ("user", [text("Any hotel with a pool?")]), ("assistant", [call]), ("tool", [result])
            ),
            answer="Pool Palace has one.",
            system=SYSTEM,
        )
    threaded.flush()
    expect(turns).to_have_count(5, timeout=10_000)
    # The turn that gained a link to its result, in the new turn, is redrawn; the others are left as they were.
    expect(fourth.get_by_role("button", name="→ result (next call)")).to_be_visible()
    expect(third.locator(".message.role-user")).to_have_count(3)  # still expanded
    assert page.evaluate("document.querySelector('.thread-trace').__mark") == "kept"
    expect(turns.nth(4).locator(".thread-trace-head")).to_contain_text("#5")
