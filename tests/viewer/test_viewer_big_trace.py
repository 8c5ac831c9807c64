"""A 5,001-span agent trace in the browser: the page gets every span's waterfall fields at once and each
span's whole record (attributes, events, resource) when it is shown; tool links, what changed since the
previous call, `j`/`k` and links to a span all work as on a small trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("playwright")

from playwright.sync_api import Page, expect
from viewer_helpers import Tracing, messages, text

from spyglass.store import SpanStore

pytestmark = pytest.mark.browser

STEPS = 1_250  # 4 spans each, and the root: 5,001 spans
ROW_HEIGHT = 30  # px, the windowed waterfall's rows (style.css)


def agent_trace(tracing: Tracing, steps: int) -> str:
    """An agent asking for the weather once per step: a model call asking for a tool, the tool (with an
    event), a model call with the tool's result. Returns the trace id."""
    with tracing.user_span("Agent run") as root:
        for step in range(steps):
            call = {
                "type": "tool_call",
                "id": f"call_{step}",
                "name": "get_weather",
                "arguments": {"city": f"City {step}"},
            }
            result = {
                "type": "tool_call_response",
                "id": f"call_{step}",
                "response": json.dumps({"step": step}),
            }
            with tracing.user_span(f"step {step:04d}"):
                tracing.llm(f"Weather in City {step}?", output_parts=[call], extra={"step.number": step})
                with tracing.user_span(f"tool get_weather {step:04d}") as tool:
                    tool.add_event("fetched", {"city": f"City {step}"})
                tracing.llm(
                    input_messages=messages(
                        ("user", [text(f"Weather in City {step}?")]),
                        ("assistant", [call]),
                        ("tool", [result]),
                    ),
                    answer=f"It is sunny in City {step}.",
                    extra={"step.number": step},
                )
    tracing.flush()
    return format(root.get_span_context().trace_id, "032x")


Steps = list[
    tuple[str, str, str]
]  # each step's span ids: the call asking for the tool, the tool, the next call


@pytest.fixture
def big(tracing: Tracing, store_path: Path) -> tuple[str, Steps]:
    trace_id = agent_trace(tracing, STEPS)
    calls: dict[int, list[str]] = {}
    tools: dict[int, str] = {}
    with SpanStore(store_path) as store:
        for record in store.get_trace(trace_id):  # in start order
            if record["kind"] == "llm":
                calls.setdefault(record["attributes"]["step.number"], []).append(record["span_id"])
            elif record["name"].startswith("tool "):
                tools[int(record["name"].split()[-1])] = record["span_id"]
    return trace_id, [(calls[step][0], tools[step], calls[step][1]) for step in range(STEPS)]


def test_a_5001_span_trace_shows_each_spans_whole_record_when_selected(
    big: tuple[str, Steps], viewer_url: str, page: Page, screenshot_dir: Path
) -> None:
    trace_id, ids = big
    records: list[str] = []
    page.on("request", lambda request: records.append(request.url) if "/spans/" in request.url else None)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{viewer_url}trace/{trace_id}")
    expect(page.locator("#waterfall")).to_have_attribute("data-rows", "5001")
    panel = page.locator("#span-panel")
    selected = page.locator('.span-row[aria-selected="true"]')

    # It opens at the first model call, whose whole record came with the trace's spans.
    expect(selected).to_have_attribute("data-span-id", ids[0][0])
    expect(panel.locator(".message.role-user")).to_contain_text("Weather in City 0?")
    expect(panel.locator(".since")).to_have_count(0)
    assert records == []
    panel.get_by_role("tab", name="Attributes").click()
    expect(panel.locator("table.attributes").first).to_contain_text("step.number")
    panel.get_by_role("tab", name="Conversation").click()

    # A tool call links to its result in the next call: that span's record is fetched and shown.
    panel.locator(".tool-call").get_by_role("button", name="→ result (next call)").click()
    expect(selected).to_have_attribute("data-span-id", ids[0][2])
    expect(panel.locator(".tool-result")).to_contain_text('"step": 0')
    expect(panel.locator(".message.role-assistant")).to_contain_text("It is sunny in City 0.")
    since = panel.locator(".since")
    expect(since).to_contain_text("2 earlier messages were already sent in the previous call")
    # Compared with the previous call's whole record (a waterfall span has no parameters to compare).
    expect(since).to_contain_text("Same system instructions, tools and parameters as the previous call.")
    assert any(url.endswith(f"/spans/{ids[0][2]}") for url in records)

    # j and k: the row is selected at once, the panel follows when the record is in.
    page.keyboard.press("j")
    expect(selected).to_contain_text("step 0001")
    expect(panel.locator("h2")).to_have_text("step 0001")
    page.keyboard.press("j")
    expect(selected).to_have_attribute("data-span-id", ids[1][0])
    expect(panel.locator("h2")).to_have_text("Chat Completion with 'gpt-4o'")  # its record is in
    expect(panel.get_by_role("tab", name="Details")).to_have_attribute("aria-selected", "true")  # as before
    page.keyboard.press("1")  # the first tab: the conversation
    expect(panel.locator(".message.role-user")).to_contain_text("Weather in City 1?")
    page.keyboard.press("k")
    page.keyboard.press("k")
    expect(selected).to_have_attribute("data-span-id", ids[0][2])
    expect(panel.locator("h2")).to_have_text("Chat Completion with 'gpt-4o'")
    page.keyboard.press("1")  # back from the step span's Details
    expect(panel.locator(".message.role-assistant")).to_contain_text("It is sunny in City 0.")

    # Far down the waterfall: a click, the since view and its link, a tool span's events.
    first, tool, second = ids[1000]
    box = page.locator(".waterfall-rows")
    box.evaluate("(node, top) => { node.scrollTop = top; }", (4 + 4 * 1000) * ROW_HEIGHT - 300)
    page.locator(f'.span-row[data-span-id="{second}"]').click()
    expect(panel.locator(".message.role-assistant")).to_contain_text("It is sunny in City 1000.")
    expect(since).to_contain_text("Same system instructions, tools and parameters as the previous call.")
    page.screenshot(path=screenshot_dir / "viewer-big-trace-record.png")
    since.get_by_role("button", name="the previous call").click()
    expect(selected).to_have_attribute("data-span-id", first)
    expect(panel.locator(".message.role-user")).to_contain_text("Weather in City 1000?")
    panel.locator(".tool-call").get_by_role("button", name="→ result (next call)").click()
    expect(selected).to_have_attribute("data-span-id", second)
    expect(panel.locator(".tool-result")).to_contain_text('"step": 1000')
    page.keyboard.press("k")
    expect(selected).to_have_attribute("data-span-id", tool)
    panel.get_by_role("tab", name="Events (1)").click()
    expect(panel.locator(".event")).to_contain_text("fetched")
    expect(panel.locator(".event")).to_contain_text("City 1000")
    assert page.locator(".span-row").count() < 100
    assert problems == []


def test_a_link_to_a_span_of_a_5001_span_trace_opens_it(
    big: tuple[str, Steps], viewer_url: str, page: Page
) -> None:
    trace_id, ids = big
    answer = page.request.get(f"{viewer_url}api/traces/{trace_id}").json()
    assert answer["default_span"]["span_id"] == ids[0][0]  # the one whole record in it
    spans = json.dumps(answer["spans"])
    found = {word: word in spans for word in ("step.number", "fetched", "It is sunny in City 700.")}
    # The records' parts are not the waterfall's; the conversation is (tool links and the since view need it).
    assert found == {"step.number": False, "fetched": False, "It is sunny in City 700.": True}
    page.goto(f"{viewer_url}trace/{trace_id}#span={ids[700][2]}&tab=conversation")
    selected = page.locator('.span-row[aria-selected="true"]')
    expect(selected).to_have_attribute("data-span-id", ids[700][2])
    box, row = page.locator(".waterfall-rows").bounding_box(), selected.bounding_box()
    assert box and row and box["y"] <= row["y"] and row["y"] + row["height"] <= box["y"] + box["height"] + 1
    panel = page.locator("#span-panel")
    expect(panel.locator(".message.role-assistant")).to_contain_text("It is sunny in City 700.")
    expect(panel.locator(".since")).to_contain_text("Same system instructions, tools and parameters")
