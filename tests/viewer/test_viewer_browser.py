"""The viewer in a real browser (Debian's Chromium through Playwright) against a real server and store.

Screenshots land in test-artifacts/ for a human to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("playwright")

from playwright.sync_api import Page, expect
from viewer_helpers import HOSTILE, PAYLOAD_IMG, PAYLOAD_SCRIPT, Tracing

pytestmark = pytest.mark.browser


def rows(page: Page):
    return page.locator("#traces tbody tr")


def test_list_shows_traces_and_new_ones_arrive_live(
    filled: Tracing, viewer_url: str, page: Page, screenshot_dir: Path
) -> None:
    page.goto(viewer_url)
    expect(rows(page)).to_have_count(4)
    expect(rows(page).first).to_contain_text("A failing call")
    expect(rows(page).first).to_contain_text("error")
    expect(page.locator("#live")).to_have_text("live")
    page.evaluate("window.__sameDocument = true")

    filled.chat_trace("A brand new question", prompt="Is this live?", tokens=(1000, 234), cost=0.0421)
    filled.flush()
    expect(rows(page)).to_have_count(5, timeout=10_000)
    newest = rows(page).first
    expect(newest).to_contain_text("A brand new question")
    expect(newest).to_contain_text("1,234")
    expect(newest).to_contain_text("$0.0421")
    expect(newest).to_contain_text("Is this live?")
    assert page.evaluate("window.__sameDocument") is True  # pushed, not reloaded
    page.screenshot(path=screenshot_dir / "viewer-list-live.png", full_page=True)


def test_a_running_trace_updates_in_place(filled: Tracing, viewer_url: str, page: Page) -> None:
    page.goto(viewer_url)
    expect(rows(page)).to_have_count(4)
    with filled.user_span("Slow job"):
        filled.flush()
        expect(rows(page).first).to_contain_text("Slow job", timeout=10_000)
        expect(rows(page).first).to_contain_text("running")
        filled.llm("step one")
    filled.flush()
    expect(rows(page).first).to_contain_text("ok", timeout=10_000)
    expect(rows(page)).to_have_count(5)


def test_open_a_trace_read_the_conversation_and_switch_tabs(
    filled: Tracing, viewer_url: str, page: Page, screenshot_dir: Path
) -> None:
    page.goto(viewer_url)
    page.get_by_role("link", name="Weather round trip").click()
    expect(page.locator("h1")).to_have_text("Weather round trip")
    span_rows = page.locator(".span-row")
    expect(span_rows).to_have_count(3)
    expect(span_rows.first).to_contain_text("262 tok")  # summed over both calls
    expect(span_rows.first).to_contain_text("$0.0011")

    panel = page.locator("#span-panel")
    expect(panel.locator(".message.role-system")).to_contain_text("You are a terse geographer.")
    expect(panel.locator(".message.role-user")).to_contain_text("What's the weather in Paris?")
    call = panel.locator(".tool-call")
    expect(call).to_contain_text("get_weather")
    expect(call.locator("pre")).to_have_text('{\n  "city": "Paris"\n}')
    page.screenshot(path=screenshot_dir / "viewer-trace-tool-call.png", full_page=True)

    call.get_by_role("button", name="→ result (next call)").click()
    expect(span_rows.nth(2)).to_have_attribute("aria-selected", "true")
    result = panel.locator(".tool-result")
    expect(result).to_contain_text("result of get_weather")
    expect(result.locator("pre")).to_contain_text('"temp_c": 18')
    expect(panel.locator(".message.role-assistant").last).to_contain_text("It is 18°C and sunny in Paris.")
    # This call's input holds the call and its result too (the call among the messages already sent in the
    # previous call, one click away): those link to each other within the span.
    panel.get_by_role("button", name="Show the 2 earlier messages").click()
    panel.locator(".tool-call").get_by_role("button", name="↓ result").click()
    expect(panel.locator(".tool-result")).to_have_class("tool-result flash")
    page.screenshot(path=screenshot_dir / "viewer-trace-tool-result.png", full_page=True)

    panel.get_by_role("tab", name="Details").click()
    details = panel.locator("dl.details")
    expect(details).to_contain_text("req_abc123")
    expect(details).to_contain_text("gpt-4o-2024-08-06")
    expect(details).to_contain_text("temperature")
    expect(details).to_contain_text("$0.0007")
    page.screenshot(path=screenshot_dir / "viewer-trace-details.png", full_page=True)

    panel.get_by_role("tab", name="Attributes").click()
    expect(panel.locator("table.attributes").first).to_contain_text("gen_ai.usage.output_tokens")
    panel.get_by_role("tab", name="Raw JSON").click()
    expect(panel.locator("pre.raw")).to_contain_text('"span_id"')
    assert "tab=raw" in page.url
    page.reload()
    expect(panel.get_by_role("tab", name="Raw JSON")).to_have_attribute("aria-selected", "true")


def test_an_error_shows_its_exception(
    filled: Tracing, viewer_url: str, page: Page, screenshot_dir: Path
) -> None:
    page.goto(viewer_url)
    page.get_by_role("link", name="A failing call").click()
    failed = page.locator(".span-row.error")
    expect(failed).to_have_count(1)
    expect(page.locator(".span-row").first).to_contain_text("1 error below")
    panel = page.locator("#span-panel")
    expect(panel.locator(".panel-head")).to_contain_text("NotFoundError: model_not_found")
    panel.get_by_role("tab", name="Events (1)").click()
    expect(panel.locator(".event.exception")).to_contain_text("LookupError")
    expect(panel.locator("pre.stack")).to_contain_text("Traceback")
    page.screenshot(path=screenshot_dir / "viewer-trace-error.png", full_page=True)


def test_filter_and_search(filled: Tracing, viewer_url: str, page: Page, screenshot_dir: Path) -> None:
    page.goto(viewer_url)
    expect(rows(page)).to_have_count(4)
    page.get_by_placeholder("Search prompts and answers").fill("sunny")
    page.get_by_role("button", name="Filter").click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("Weather round trip")
    page.screenshot(path=screenshot_dir / "viewer-list-search.png", full_page=True)

    page.goto(viewer_url)
    page.get_by_label("Status").select_option("error")
    page.get_by_role("button", name="Filter").click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("A failing call")

    # A live update that does not match the filter stays out of the list.
    filled.chat_trace("Fine again")
    filled.error_trace()
    filled.flush()
    expect(rows(page)).to_have_count(2, timeout=10_000)

    page.goto(f"{viewer_url}?min_tokens=200")
    expect(rows(page)).to_have_count(1)
    page.goto(f"{viewer_url}?attr=gen_ai.request.model%3Ddall-e-3")
    expect(rows(page)).to_have_count(1)
    expect(page.locator("#list-status")).to_contain_text("the attribute filter read the latest")


@pytest.mark.parametrize("markdown", [False, True], ids=["plain", "markdown"])
def test_hostile_model_output_is_shown_as_text_and_never_runs(
    tracing: Tracing, viewer_url: str, page: Page, screenshot_dir: Path, markdown: bool
) -> None:
    tracing.chat_trace(
        f"Hostile {PAYLOAD_SCRIPT}", prompt=HOSTILE, answer=f"# Title\n\n{HOSTILE}\n\n- {PAYLOAD_IMG}"
    )
    tracing.flush()
    page.goto(viewer_url)
    row = rows(page).first
    expect(row).to_contain_text(PAYLOAD_SCRIPT)  # the root message and the prompt preview, as text
    row.get_by_role("link").click()
    panel = page.locator("#span-panel")
    expect(panel.locator(".message.role-user")).to_contain_text(PAYLOAD_IMG)
    toggle = panel.get_by_label("Markdown")
    if markdown:
        toggle.check()
        expect(panel.locator(".text.markdown").first).to_be_visible()
        expect(panel.locator(".message.role-assistant h3")).to_have_text("Title")
        expect(panel.locator(".message.role-assistant strong").first).to_have_text("bold")
        expect(panel.locator(".message.role-assistant li")).to_have_text(PAYLOAD_IMG)
        # [x](javascript:...) is not an http(s) link: it stays text.
        expect(panel.locator(".message a")).to_have_count(0)
    expect(panel.locator(".message.role-assistant")).to_contain_text(PAYLOAD_SCRIPT)
    expect(panel.locator(".message.role-assistant")).to_contain_text(PAYLOAD_IMG)
    assert page.locator("#span-panel script, #span-panel img, #traces script").count() == 0
    page.wait_for_timeout(300)  # give an injected onerror handler the time it would need
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.screenshot(
        path=screenshot_dir / f"viewer-hostile-{'markdown' if markdown else 'plain'}.png", full_page=True
    )
    toggle.set_checked(False)


def test_images_load_only_when_clicked(
    filled: Tracing, viewer_url: str, page: Page, screenshot_dir: Path
) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(viewer_url)
    page.get_by_role("link", name="Draw a cat").click()
    panel = page.locator("#span-panel")
    expect(panel.locator(".media.blob")).to_contain_text("image/png · 12,345 bytes")
    expect(panel.locator(".media.blob")).to_contain_text("sha256 abababababababab")
    expect(panel.locator("img")).to_have_count(0)
    page.screenshot(path=screenshot_dir / "viewer-trace-image.png", full_page=True)
    assert not [url for url in requested if "cat.png" in url]
    panel.get_by_role("button", name="Show image").click()
    # Nothing answers on port 9: the image was asked for, and the panel says its URL no longer answers.
    expect(panel.locator(".image-gone")).to_contain_text("its URL has expired or no longer answers")
    expect(panel.locator("img")).to_have_count(0)
    assert [url for url in requested if url == "http://127.0.0.1:9/cat.png"]


def test_models_page_and_unknown_trace(
    filled: Tracing, viewer_url: str, page: Page, screenshot_dir: Path
) -> None:
    page.goto(viewer_url)
    page.get_by_role("link", name="Models").click()
    table = page.locator("table.models")
    expect(table).to_contain_text("missing-model")
    expect(table.locator("tr", has_text="missing-model")).to_contain_text("100.0%")
    page.screenshot(path=screenshot_dir / "viewer-models.png", full_page=True)
    response = page.goto(f"{viewer_url}trace/00000000000000000000000000000000")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("Not found")


def test_delete_a_trace(filled: Tracing, viewer_url: str, page: Page) -> None:
    page.goto(viewer_url)
    page.get_by_role("link", name="Draw a cat").click()
    expect(page.locator(".span-row")).to_have_count(2)  # the page's script is running
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete trace").click()
    page.wait_for_url(viewer_url)
    expect(rows(page)).to_have_count(3)
    expect(page.locator("#traces")).not_to_contain_text("Draw a cat")


def test_no_console_errors_and_no_outside_requests(filled: Tracing, viewer_url: str, page: Page) -> None:
    problems: list[str] = []
    outside: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "request", lambda request: None if request.url.startswith(viewer_url) else outside.append(request.url)
    )
    page.goto(viewer_url)
    expect(rows(page)).to_have_count(4)
    page.get_by_role("link", name="Weather round trip").click()
    expect(page.locator(".tool-call")).to_be_visible()
    assert problems == []
    assert outside == []
