"""The trace list says when writers of the store lost spans, and which: in a real browser."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("playwright")

from playwright.sync_api import Page, expect
from viewer_helpers import PAYLOAD_SCRIPT, Tracing

from spyglass.store import SqliteSpanProcessor

pytestmark = pytest.mark.browser


def test_the_list_says_what_writers_lost_and_follows_new_counts(
    filled: Tracing, store_path: Path, viewer_url: str, page: Page, screenshot_dir: Path
) -> None:
    counts = {"pipeline": 1_200, "console": 1}
    shop = SqliteSpanProcessor(store_path, flush_interval=0.05)
    shop.report_losses(lambda: dict(counts), service_name="shop")
    hostile = SqliteSpanProcessor(store_path, flush_interval=0.05)
    hostile.report_losses(lambda: {PAYLOAD_SCRIPT: 2}, unit="log record", service_name=PAYLOAD_SCRIPT)
    try:
        assert shop.force_flush(10_000) and hostile.force_flush(10_000)
        page.goto(viewer_url)
        box = page.get_by_role("alert")
        expect(box).to_contain_text("Not everything was recorded.")
        shop_line = box.locator("li", has_text="shop")
        expect(shop_line).to_contain_text("1,200 spans (pipeline)")
        expect(shop_line).to_contain_text("1 span (console)")
        # Names from the store are text, never markup.
        expect(box.locator("li", has_text=PAYLOAD_SCRIPT)).to_contain_text(
            f"2 log records ({PAYLOAD_SCRIPT})"
        )
        assert page.locator("#losses script").count() == 0
        page.screenshot(path=screenshot_dir / "viewer-losses.png")

        counts["pipeline"] = 5_000  # the program keeps losing spans while the page is open
        assert shop.force_flush(10_000)
        filled.chat_trace("A trace written later")  # the live update brings the new count too
        filled.flush()
        expect(shop_line).to_contain_text("5,000 spans (pipeline)", timeout=10_000)
    finally:
        shop.shutdown()
        hostile.shutdown()


def test_no_box_when_nothing_was_lost(filled: Tracing, viewer_url: str, page: Page) -> None:
    page.goto(viewer_url)
    expect(page.locator("#traces tbody tr")).to_have_count(4)
    page.wait_for_timeout(300)  # the losses are asked for after the first page
    expect(page.locator("#losses")).to_be_hidden()
