"""The waterfall on big traces (5,000 spans wide, windowed) and on traces no program should make but some
do: 10,000 spans deep, parents in a cycle."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("playwright")

from opentelemetry import trace
from playwright.sync_api import Page, expect
from viewer_helpers import Tracing

pytestmark = pytest.mark.browser

DEPTH = 10_000


def deep_trace(tracing: Tracing, depth: int) -> None:
    """A chain of `depth` spans, each the child of the one before (started and ended without recursion)."""
    spans = [tracing.tracer.start_span("level 0", attributes={"spyglass.msg": "Deep chain"})]
    for level in range(1, depth):
        parent = trace.set_span_in_context(spans[-1])
        spans.append(tracing.tracer.start_span(f"level {level}", context=parent))
    spans[-1].set_status(trace.Status(trace.StatusCode.ERROR, "the deepest span failed"))
    for span in reversed(spans):
        span.end()
    tracing.flush()


def test_a_10000_deep_trace_opens(tracing: Tracing, viewer_url: str, page: Page) -> None:
    deep_trace(tracing, DEPTH)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(viewer_url)
    page.locator("#traces tbody tr").first.get_by_role("link").click()
    started = time.monotonic()
    expect(page.locator("#waterfall")).to_have_attribute("data-rows", str(DEPTH), timeout=30_000)
    print(f"10,000-deep trace: waterfall shown {time.monotonic() - started:.2f}s after the click")
    span_rows = page.locator(".span-row")
    expect(span_rows.first).to_contain_text("1 error below")  # summed over the whole chain
    assert span_rows.count() < 100  # windowed: only the rows in view are in the page
    page.locator(".waterfall-rows").evaluate("(box) => { box.scrollTop = box.scrollHeight; }")
    last = span_rows.last
    expect(last).to_contain_text("level 9999")
    assert last.locator(".label").get_attribute("title") == "depth 9999"
    assert last.get_attribute("aria-posinset") == str(DEPTH)
    assert problems == []


def wide_trace(tracing: Tracing, children: int) -> None:
    with tracing.user_span("Wide job"):
        for n in range(children):
            with tracing.user_span(f"item {n:04d}"):
                pass
    tracing.flush()


def test_a_5000_span_trace_draws_the_rows_in_view_and_j_k_and_clicks_still_work(
    tracing: Tracing, viewer_url: str, page: Page, screenshot_dir: Path
) -> None:
    wide_trace(tracing, 4_999)
    page.goto(viewer_url)
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url) if "/api/traces/" in request.url else None)
    page.get_by_role("link", name="Wide job").click()
    waterfall = page.locator("#waterfall")
    expect(waterfall).to_have_attribute("data-rows", "5000")
    spans_fetched = [url for url in fetched if "/spans/" not in url]
    assert len(spans_fetched) == 1  # preloaded while the scripts load, and that response is the one used
    expect(page.locator("#span-panel h2")).to_have_text("Wide job")  # its record, fetched when shown
    assert page.locator(".span-row").count() < 100
    selected = page.locator('.span-row[aria-selected="true"]')
    expect(selected).to_contain_text("Wide job")  # the root: no model call to open first
    for _ in range(60):  # past the rows first drawn: each press draws the row it selects
        page.keyboard.press("j")
    expect(selected).to_contain_text("item 0059")
    assert "#span=" in page.url
    box = page.locator(".waterfall-rows").bounding_box()
    row = selected.bounding_box()
    assert box and row and box["y"] <= row["y"] and row["y"] + row["height"] <= box["y"] + box["height"] + 1
    page.keyboard.press("k")
    expect(selected).to_contain_text("item 0058")
    expect(page.locator("#span-panel h2")).to_have_text("item 0058")
    page.locator(".waterfall-rows").evaluate("(box) => { box.scrollTop = 3000 * 30; }")
    page.locator(".span-row", has_text="item 3005").click()
    expect(selected).to_contain_text("item 3005")
    expect(page.locator("#span-panel h2")).to_have_text("item 3005")
    page.keyboard.press("j")
    expect(selected).to_contain_text("item 3006")
    page.screenshot(path=screenshot_dir / "viewer-big-trace.png")
    assert page.locator(".span-row").count() < 100


def test_spans_whose_parents_form_a_cycle_are_still_shown(viewer_url: str, page: Page) -> None:
    page.goto(viewer_url)
    found = page.evaluate(
        """async () => {
          const { buildTree } = await import("/static/waterfall.js");
          const span = (id, parent, start) => ({ span_id: id, parent_span_id: parent, start_ns: String(start),
            input_tokens: 1, output_tokens: null, cost_usd: null, status_code: "UNSET" });
          const ordered = buildTree([span("a", "c", 1), span("b", "a", 2), span("c", "b", 3), span("r", null, 0),
                                     span("s", "s", 4)]);
          return ordered.map((node) => [node.span.span_id, node.depth, node.tokens]);
        }"""
    )
    assert found == [["r", 0, 1], ["a", 0, 3], ["b", 1, 2], ["c", 2, 1], ["s", 0, 1]]
