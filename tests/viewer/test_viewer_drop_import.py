"""Dropping an OTLP JSON file on the page imports it, as `spyglass import FILE` does: scrubbed, and a bad file
writes nothing and says why. The endpoint takes only POSTs from the viewer's own page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from viewer_helpers import TOKEN, Tracing

from spyglass.store import SpanStore

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SECRET = "sk-proj-droppedSECRETnotForTheStore0123456789abcd"


def otlp(name: str = "nightly batch", trace_id: str = TRACE_ID) -> dict[str, Any]:
    span = {
        "traceId": trace_id,
        "spanId": "b7ad6b7169203331",
        "name": name,
        "kind": 1,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001500000000",
        "attributes": [
            {"key": "job.rows", "value": {"intValue": "1200"}},
            {"key": "api_key", "value": {"stringValue": SECRET}},
        ],
    }
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "batch"}}]}
    return {
        "resourceSpans": [
            {"resource": resource, "scopeSpans": [{"scope": {"name": "jobs"}, "spans": [span]}]}
        ]
    }


def drop(page: Page, name: str, text: str) -> None:
    """What the browser does when a file is dropped on the page: dragenter, dragover, drop with the file."""
    page.evaluate(
        """([name, text]) => {
          const data = new DataTransfer();
          data.items.add(new File([text], name, { type: "application/json" }));
          const target = document.querySelector("main");
          for (const type of ["dragenter", "dragover", "drop"]) {
            target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: data }));
          }
        }""",
        [name, text],
    )


def trace_count(store: Path) -> int:
    with SpanStore(store) as reader:
        return len(reader.list_traces(1000))


@pytest.mark.browser
def test_a_dropped_file_is_imported_and_its_trace_opens(
    filled: Tracing, viewer_url: str, store_path: Path, page: Page, screenshot_dir: Path
) -> None:
    page.goto(viewer_url)
    rows = page.locator("#traces tbody tr")
    expect(rows).to_have_count(4)
    drop(page, "batch.otlp.json", json.dumps(otlp()))
    status = page.get_by_role("status").filter(has_text="Imported")
    expect(status).to_have_text("Imported 1 span in 1 trace from batch.otlp.json. Open it Dismiss")
    expect(rows).to_have_count(5, timeout=10_000)  # the live list shows it
    page.screenshot(path=screenshot_dir / "viewer-drop-import.png")
    status.get_by_role("link", name="Open it").click()
    expect(page.locator("h1")).to_have_text("nightly batch")
    raw = b"".join(p.read_bytes() for p in store_path.parent.glob(store_path.name + "*"))
    assert b"1200" in raw and SECRET.encode() not in raw  # scrubbed on the way in, as `spyglass import` does


@pytest.mark.browser
@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("this is not json", "is not OTLP JSON traces (the body is not JSON"),
        ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', "is not OTLP JSON traces"),
        ('{"resourceSpans": []}', "holds no spans; nothing was imported."),
    ],
)
def test_a_bad_file_says_why_and_writes_nothing(
    filled: Tracing, viewer_url: str, store_path: Path, page: Page, text: str, says: str
) -> None:
    page.goto(viewer_url)
    expect(page.locator("#traces tbody tr")).to_have_count(4)
    before = trace_count(store_path)
    drop(page, "broken.json", text)
    status = page.locator("#drop-status")
    expect(status).to_contain_text(f"broken.json {says}" if "holds" in says else says)
    expect(status).to_have_class("drop-status error")
    assert trace_count(store_path) == before


def test_the_import_endpoint_takes_only_posts_from_the_page(
    filled: Tracing, viewer_url: str, store_path: Path
) -> None:
    endpoint = f"{viewer_url}api/import"
    origin = viewer_url.rstrip("/")
    body = json.dumps(otlp()).encode()
    before = trace_count(store_path)
    for headers in (
        {"origin": "http://evil.example", "x-spyglass-token": TOKEN},
        {"x-spyglass-token": TOKEN},
        {"origin": origin, "x-spyglass-token": "wrong"},
        {"origin": origin},
    ):
        answer = httpx.post(endpoint, content=body, headers=headers)
        assert answer.status_code == 403, headers
    assert httpx.get(endpoint).status_code == 405
    assert trace_count(store_path) == before
    done = httpx.post(endpoint, content=body, headers={"origin": origin, "x-spyglass-token": TOKEN})
    assert done.json() == {"spans": 1, "trace_ids": [TRACE_ID]}
    assert trace_count(store_path) == before + 1
