"""The viewer's rough edges, in a real browser: keys and their `?` overlay, unknown costs, long values,
Markdown tables and nested lists (the expired image is in test_viewer_browser.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("playwright")

from playwright.sync_api import Browser, Page, expect
from viewer_helpers import PAYLOAD_IMG, PAYLOAD_SCRIPT, Tracing

pytestmark = pytest.mark.browser


def rows(page: Page):
    return page.locator("#traces tbody tr")


def test_keyboard_moves_through_traces_spans_and_tabs(filled: Tracing, viewer_url: str, page: Page) -> None:
    page.goto(viewer_url)
    expect(rows(page)).to_have_count(4)
    page.keyboard.press("?")
    help_box = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_box).to_contain_text("highlight the next (older) trace")
    page.keyboard.press("Escape")
    expect(help_box).to_have_count(0)

    page.keyboard.press("/")
    expect(page.get_by_placeholder("Search prompts and answers")).to_be_focused()
    page.keyboard.type("j")  # typed into the search box, not taken as a shortcut
    expect(page.get_by_placeholder("Search prompts and answers")).to_have_value("j")
    page.keyboard.press("Escape")
    for key in "jjjjk":
        page.keyboard.press(key)
    expect(page.locator("#traces tbody tr.selected")).to_contain_text("Weather round trip")  # 3rd newest
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Weather round trip")
    spans = page.locator(".span-row")
    expect(spans.nth(1)).to_have_attribute("aria-selected", "true")  # the first model call opens first
    page.keyboard.press("j")
    expect(spans.nth(2)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("j")  # the last span: stays
    expect(spans.nth(2)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(spans.nth(0)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("j")
    page.keyboard.press("2")
    panel = page.locator("#span-panel")
    expect(panel.get_by_role("tab", name="Details")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("t")
    expect(panel.get_by_role("tab", name="Attributes")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("?")
    expect(help_box).to_contain_text("next span")
    expect(help_box).to_contain_text("previous (newer) trace")
    page.keyboard.press("?")
    expect(help_box).to_have_count(0)

    page.keyboard.press("n")  # the next trace in the list's order: older
    expect(page.locator("h1")).to_have_text("Ask about France")
    page.keyboard.press("n")  # the oldest trace: nothing older
    page.wait_for_timeout(300)
    expect(page.locator("h1")).to_have_text("Ask about France")
    page.keyboard.press("p")
    expect(page.locator("h1")).to_have_text("Weather round trip")
    page.keyboard.press("/")
    expect(page.get_by_placeholder("Search prompts and answers")).to_be_focused()


def test_keyboard_from_a_trace_opened_directly(filled: Tracing, viewer_url: str, page: Page) -> None:
    """No list page seen in this tab: n still finds the older trace by start time."""
    page.goto(viewer_url)
    href = rows(page).nth(2).get_by_role("link").get_attribute("href")
    other = page.context.new_page()
    other.goto(f"{viewer_url.rstrip('/')}{href}")
    expect(other.locator("h1")).to_have_text("Weather round trip")
    other.keyboard.press("n")
    expect(other.locator("h1")).to_have_text("Ask about France")


def test_unknown_costs_read_unknown(filled: Tracing, viewer_url: str, page: Page) -> None:
    page.goto(f"{viewer_url}models")
    table = page.locator("table.models")
    expect(table.locator("tr", has_text="dall-e-3").locator("td").last).to_have_text("unknown")
    expect(table.locator("tr", has_text="gpt-4o").locator("td").last).to_have_text("$0.0016")
    page.goto(viewer_url)
    expect(rows(page).filter(has_text="Draw a cat").locator("td").nth(7)).to_have_text("unknown")


def test_free_calls_read_zero_not_unknown(tracing: Tracing, viewer_url: str, page: Page) -> None:
    tracing.chat_trace(model="free-model", cost=0.0)
    tracing.flush()
    page.goto(f"{viewer_url}models")
    expect(page.locator("table.models tr", has_text="free-model").locator("td").last).to_have_text("$0")


def test_long_values_wrap_and_fold(
    tracing: Tracing, viewer_url: str, page: Page, screenshot_dir: Path
) -> None:
    long_json = json.dumps({f"key{i}": "v" * 30 for i in range(200)})
    unbroken = "x" * 6000
    with tracing.user_span("Big values", **{"app.payload": long_json, "app.unbroken": unbroken}):
        pass
    tracing.flush()
    page.goto(viewer_url)
    rows(page).first.get_by_role("link").click()
    panel = page.locator("#span-panel")
    panel.get_by_role("tab", name="Attributes").click()
    folds = panel.locator(".fold.folded")
    expect(folds).to_have_count(2)
    # Nothing spills out sideways, and the folded values stay short.
    assert panel.evaluate("node => node.scrollWidth <= node.clientWidth")
    payload = panel.locator("tr", has_text="app.payload")
    assert payload.bounding_box()["height"] < 400  # type: ignore[index]
    page.screenshot(path=screenshot_dir / "viewer-long-values.png", full_page=True)
    expect(panel.locator("tr", has_text="app.unbroken").locator(".fold-toggle")).to_have_text(
        "Show all (1 line, 6,000 characters)"
    )
    payload.get_by_role("button", name="Show all (202 lines").click()
    expect(payload.locator(".fold")).not_to_have_class("fold folded")
    assert payload.bounding_box()["height"] > 1000  # type: ignore[index]
    payload.get_by_role("button", name="Fold").click()
    expect(payload.locator(".fold")).to_have_class("fold folded")


MARKDOWN_ANSWER = f"""Results:

| City | Sky | Note |
|------|:---:|------|
| Paris | **sunny** | {PAYLOAD_SCRIPT} |
| Oslo | rain | a \\| pipe [x](javascript:window.__pwned=1) |

- fruit
  - apple
    1. green
    2. red
  - pear
- {PAYLOAD_IMG}
"""


def open_answer_as_markdown(tracing: Tracing, viewer_url: str, page: Page, answer: str):
    """The newest trace's span panel, a chat with this answer, the Markdown toggle on."""
    tracing.chat_trace("Markdown answer", answer=answer)
    tracing.flush()
    page.goto(viewer_url)
    rows(page).first.get_by_role("link").click()
    panel = page.locator("#span-panel")
    panel.get_by_label("Markdown").check()
    return panel


def test_markdown_tables_and_nested_lists_stay_safe(
    tracing: Tracing, viewer_url: str, page: Page, screenshot_dir: Path
) -> None:
    panel = open_answer_as_markdown(tracing, viewer_url, page, MARKDOWN_ANSWER)
    answer = panel.locator(".message.role-assistant")
    table = answer.locator("table")
    expect(table.locator("th")).to_have_text(["City", "Sky", "Note"])
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").first.locator("td strong")).to_have_text("sunny")
    expect(table.locator("tbody tr").first.locator("td").last).to_have_text(PAYLOAD_SCRIPT)
    expect(table.locator("tbody tr").last.locator("td").last).to_have_text(
        "a | pipe [x](javascript:window.__pwned=1)"
    )
    outer = answer.locator(".markdown > ul")
    expect(outer.locator(":scope > li")).to_have_count(2)
    expect(outer.locator(":scope > li > ul > li")).to_have_count(2)
    expect(outer.locator(":scope > li > ul > li > ol > li")).to_have_text(["green", "red"])
    expect(outer.locator(":scope > li").last).to_have_text(PAYLOAD_IMG)
    assert page.locator("#span-panel script, #span-panel img, #span-panel a").count() == 0
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.screenshot(path=screenshot_dir / "viewer-markdown-table.png", full_page=True)
    panel.get_by_label("Markdown").set_checked(False)


def test_hostile_deep_indentation_nests_only_so_far(tracing: Tracing, viewer_url: str, page: Page) -> None:
    deep = "\n".join(" " * (2 * depth) + f"- level {depth}" for depth in range(200))
    panel = open_answer_as_markdown(tracing, viewer_url, page, deep)
    expect(panel.locator(".message.role-assistant li")).to_have_count(200)
    depth = panel.evaluate(
        "node => Math.max(...[...node.querySelectorAll('.role-assistant li')].map("
        "li => { let d = 0; for (let n = li; n; n = n.parentElement) if (n.tagName === 'UL') d++; return d; }))"
    )
    assert depth == 6
    panel.get_by_label("Markdown").set_checked(False)


def test_help_overlay_in_dark_mode(
    filled: Tracing, viewer_url: str, browser: Browser, screenshot_dir: Path
) -> None:
    context = browser.new_context(color_scheme="dark", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(viewer_url)
    page.get_by_role("link", name="Weather round trip").click()
    expect(page.locator(".span-row")).to_have_count(3)  # the page's script is running
    page.keyboard.press("?")
    box = page.locator(".keys-box")
    expect(box).to_be_visible()
    background = box.evaluate("node => getComputedStyle(node).backgroundColor")
    assert background == "rgb(22, 25, 29)"  # --bg in dark mode
    page.screenshot(path=screenshot_dir / "viewer-keys-dark.png")
    context.close()


def test_a_call_in_a_loop_shows_what_is_new_since_the_previous_call(
    filled: Tracing, viewer_url: str, page: Page, screenshot_dir: Path
) -> None:
    page.goto(viewer_url)
    page.get_by_role("link", name="Weather round trip").click()
    span_rows = page.locator(".span-row")
    expect(span_rows).to_have_count(3)
    panel = page.locator("#span-panel")
    expect(panel.locator(".since")).to_have_count(0)  # the first call extends nothing
    span_rows.nth(2).click()
    since = panel.locator(".since")
    expect(since).to_contain_text("2 earlier messages were already sent in the previous call")
    expect(since).to_contain_text("Same system instructions, tools and parameters as the previous call.")
    expect(panel.locator(".message.role-user")).to_have_count(0)
    expect(panel.locator(".message.role-system")).to_have_count(0)
    expect(panel.locator(".message.role-tool")).to_contain_text('"temp_c": 18')
    expect(panel.locator(".message.role-assistant")).to_contain_text("It is 18°C and sunny in Paris.")
    page.screenshot(path=screenshot_dir / "viewer-since-previous.png", full_page=True)
    since.get_by_role("button", name="Show the 2 earlier messages").click()
    expect(panel.locator(".message.role-user")).to_contain_text("What's the weather in Paris?")
    expect(panel.locator(".message.role-system")).to_contain_text("You are a terse geographer.")
    since.get_by_role("button", name="Show only the new messages").click()
    expect(panel.locator(".message.role-user")).to_have_count(0)
    since.get_by_role("button", name="the previous call").click()
    expect(span_rows.nth(1)).to_have_attribute("aria-selected", "true")


def test_changed_instructions_tools_and_parameters_are_listed(
    tracing: Tracing, viewer_url: str, page: Page, screenshot_dir: Path
) -> None:
    weather = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
    clock = {"type": "function", "name": "get_time", "parameters": {"type": "object"}}
    answer = {"type": "text", "content": "Which city?"}
    with tracing.user_span("Agent loop"):
        tracing.llm(
            "Weather?", answer="Which city?", extra={"gen_ai.tool.definitions": json.dumps([weather])}
        )
        tracing.llm(
            system=f"You are chatty. {PAYLOAD_SCRIPT}",
            input_messages=json.dumps(
                [
                    {"role": "user", "parts": [{"type": "text", "content": "Weather?"}]},
                    {"role": "assistant", "parts": [answer]},
                    {"role": "user", "parts": [{"type": "text", "content": "Paris"}]},
                ]
            ),
            extra={"gen_ai.request.temperature": 0.9, "gen_ai.tool.definitions": json.dumps([clock])},
        )
    tracing.flush()
    page.goto(viewer_url)
    rows(page).first.get_by_role("link").click()
    page.locator(".span-row").nth(2).click()
    panel = page.locator("#span-panel")
    changes = panel.locator("table.changes tbody tr")
    expect(changes.locator("th")).to_have_text(
        ["system instructions", "tool get_weather", "tool get_time", "gen_ai.request.temperature"]
    )
    expect(changes.nth(0).locator("td.before")).to_have_text("You are a terse geographer.")
    expect(changes.nth(0).locator("td.after")).to_have_text(f"You are chatty. {PAYLOAD_SCRIPT}")
    expect(changes.nth(1).locator("td.after")).to_have_text("(none)")
    expect(changes.nth(2).locator("td.before")).to_have_text("(none)")
    expect(changes.nth(3)).to_contain_text("0.2")
    expect(changes.nth(3)).to_contain_text("0.9")
    expect(panel.locator(".message.role-user")).to_have_text("userParis")
    assert page.locator("#span-panel script").count() == 0
    page.screenshot(path=screenshot_dir / "viewer-since-changes.png", full_page=True)


def test_the_export_button_downloads_otlp_json(filled: Tracing, viewer_url: str, page: Page) -> None:
    page.goto(viewer_url)
    page.get_by_role("link", name="Weather round trip").click()
    expect(page.locator(".span-row")).to_have_count(3)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export OTLP JSON").click()
    download = download_info.value
    trace_id = page.locator("#trace").get_attribute("data-trace-id")
    assert download.suggested_filename == f"trace-{trace_id}.otlp.json"
    document = json.loads(Path(download.path()).read_text())
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert sorted(span["name"] for span in spans) == ["Weather round trip", "chat gpt-4o", "chat gpt-4o"]
    assert {span["traceId"] for span in spans} == {trace_id}
