"""The viewer in a real browser on a PostgreSQL store: the traces of two writers, and a third writer's trace
arriving live (woken by the writer's NOTIFY: the page's stream would not poll again within the test)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("playwright")

# The PostgreSQL cluster fixtures and the store's helpers. (This browser test lives with the others: pytest
# runs the tests sharing the session's browser together, from the first one's place; Playwright's event loop
# then runs until the session ends, so nothing after it may call asyncio.run(): they all go last.)
for _helpers in ("store", "postgres"):
    sys.path.insert(0, str(Path(__file__).parent.parent / _helpers))

from pg_cluster import cluster, pg_url  # noqa: E402, F401  # fixtures, found by pytest by name
from playwright.sync_api import Page, expect  # noqa: E402
from store_helpers import Tracing  # noqa: E402
from test_pg_viewer import write_from_two_writers  # noqa: E402

from spyglass.viewer import create_app, local_hosts  # noqa: E402
from spyglass.viewer.server import bind, serving_in_thread  # noqa: E402

pytestmark = pytest.mark.browser


def test_the_page_shows_both_writers_spans_and_a_new_trace_live(pg_url: str, page: Page) -> None:  # noqa: F811
    write_from_two_writers(pg_url)
    sock = bind("127.0.0.1", 0)
    app = create_app(pg_url, token="t", allowed_hosts=local_hosts(sock.getsockname()[1]), poll_seconds=60.0)
    with serving_in_thread(app, sock) as url:
        page.goto(url)
        rows = page.locator("#traces tbody tr")
        expect(rows).to_have_count(2)
        expect(page.locator("#traces")).to_contain_text("from the first writer")
        expect(page.locator("#traces")).to_contain_text("from the second writer")
        expect(page.locator("#live")).to_have_text("live")
        page.wait_for_timeout(500)  # the stream has read once and waits for a notification now

        third = Tracing(pg_url)
        try:
            with third.user_span("live from a third writer"):
                third.llm_span("Is this live?", "Yes.")
            third.flush()
        finally:
            third.shutdown()
        expect(rows).to_have_count(3, timeout=10_000)  # long before the stream would poll (60 s)
        expect(rows.first).to_contain_text("live from a third writer")
        page.get_by_text("from the first writer").click()
        expect(page.locator("body")).to_contain_text("What is the capital of France?")
