"""Benchmark of the viewer's pages in a real browser: the trace list of a 10,000-trace store, and opening a
5,000-span trace, timed from navigation to the page drawn (issue 15's target: both under 200 ms).

Builds a store (10,000 small traces plus one trace of 5,001 spans: a root, 1,000 steps, each with a model
call carrying a conversation and three tool spans), serves the viewer on a free port with uvicorn, and
drives Debian's Chromium through Playwright. Each figure is the page's own `performance.now()` (milliseconds
since the navigation started) at the first animation frame where the page shows what is asked for; the
median over `--repeat` loads. A script, not a test.

`--compare SRC` serves the same store a second time from another checkout's `src` (say `/work/main/src`) and
loads the two viewers' pages in turn, so both see the same machine load.

    python bench/viewer_page_bench.py [--traces 10000 --steps 1000 --repeat 7] [--compare ../main/src]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from playwright.sync_api import Page, sync_playwright

from spyglass.store import SqliteSpanProcessor

CHROMIUM = "/usr/bin/chromium"
LIST_SHOWN = "document.querySelectorAll('#traces tbody tr').length >= 50"


def build_store(path: Path, traces: int, steps: int) -> str:
    """Writes the store; returns the big trace's id."""
    processor = SqliteSpanProcessor(path, flush_interval=0.2)
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}), shutdown_on_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")
    conversation = json.dumps(
        [{"role": "user", "parts": [{"type": "text", "content": "Summarize step {n} of the plan, please."}]}]
    )
    for n in range(traces):
        with (
            tracer.start_as_current_span(f"request {n}", attributes={"spyglass.kind": "span"}),
            tracer.start_as_current_span(
                "chat gpt-4o-mini",
                attributes={
                    "spyglass.kind": "llm",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.input.messages": conversation,
                    "gen_ai.usage.input_tokens": 20,
                    "gen_ai.usage.output_tokens": 30,
                },
            ),
        ):
            pass
        if n % 2000 == 1999:
            processor.force_flush(60_000)
    with tracer.start_as_current_span("Agent run", attributes={"spyglass.msg": "Agent run"}) as root:
        big = format(root.get_span_context().trace_id, "032x")
        for step in range(steps):
            with tracer.start_as_current_span(f"step {step}", attributes={"spyglass.kind": "span"}):
                with tracer.start_as_current_span(
                    "chat gpt-4o",
                    kind=trace.SpanKind.CLIENT,
                    attributes={
                        "spyglass.kind": "llm",
                        "spyglass.msg": f"Chat Completion with 'gpt-4o' (step {step})",
                        "gen_ai.request.model": "gpt-4o",
                        "gen_ai.input.messages": conversation.replace("{n}", str(step)),
                        "gen_ai.output.messages": json.dumps(
                            [
                                {
                                    "role": "assistant",
                                    "parts": [{"type": "text", "content": "Done: " + "x" * 200}],
                                }
                            ]
                        ),
                        "gen_ai.usage.input_tokens": 120,
                        "gen_ai.usage.output_tokens": 40,
                        "spyglass.cost.usd": 0.0004,
                    },
                ):
                    pass
                for tool in ("search", "read", "write"):
                    with tracer.start_as_current_span(f"tool {tool}", attributes={"spyglass.kind": "span"}):
                        pass
    assert processor.force_flush(120_000)
    provider.shutdown()
    return big


def timed_load(page: Page, url: str, ready: str, api: str) -> tuple[float, float]:
    """ms from navigation start to the first frame where the JS expression `ready` is true; and when the
    response of the API request whose URL contains `api` had arrived."""
    page.goto(url, wait_until="commit")
    shown = page.wait_for_function(
        f"() => ({ready}) ? performance.now() : false", polling="raf", timeout=60_000
    )
    arrived = page.evaluate(
        "(api) => performance.getEntriesByType('resource').find((e) => e.name.includes(api))?.responseEnd",
        api,
    )
    return float(shown.json_value()), float(arrived)


def timed_keys(page: Page, key: str, presses: int) -> float:
    """Median ms from a key press to the frame where the selected span has changed."""
    timings = []
    for _ in range(presses):
        before = page.evaluate("document.querySelector('.span-row[aria-selected=true]')?.dataset.spanId")
        started = time.perf_counter()
        page.keyboard.press(key)
        page.wait_for_function(
            "(before) => document.querySelector('.span-row[aria-selected=true]')?.dataset.spanId !== before",
            arg=before,
            polling="raf",
        )
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=1_000, help="steps of the big trace (5 spans each)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--compare", metavar="SRC", help="also time the viewer of another checkout's src/")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        path = Path(temporary) / "pages.sqlite"
        started = time.perf_counter()
        big = build_store(path, args.traces, args.steps)
        print(f"built the store in {time.perf_counter() - started:.0f}s", file=sys.stderr)
        sources = {"this checkout": None, **({args.compare: args.compare} if args.compare else {})}
        viewers = {name: start_viewer(path, source) for name, source in sources.items()}
        try:
            urls = {name: url for name, (_, url) in viewers.items()}
            results, spans = measure(urls, big, args)
        finally:
            for viewer, _ in viewers.values():
                viewer.terminate()
                viewer.wait(10)
    print(f"\n{args.traces + 1:,} traces; the big one has {spans:,} spans. Median of {args.repeat} loads.\n")
    print(
        "| viewer | page | median ms | min | max | its JSON had arrived at (median ms) |\n|---|---|---|---|---|---|"
    )
    for name, (rows, keys) in results.items():
        for page, loads in rows.items():
            timings = [shown for shown, _ in loads]
            at = statistics.median(arrived for _, arrived in loads)
            print(
                f"| {name} | {page} | {statistics.median(timings):.0f} | {min(timings):.0f} | {max(timings):.0f}"
                f" | {at:.0f} |"
            )
        print(
            f"| {name} | `j` on the big trace: key press to the next span selected (median of 20) | {keys:.0f} | | | |"
        )


def start_viewer(path: Path, source: str | None) -> tuple[subprocess.Popen[str], str]:
    """The viewer in a process of its own, as `spyglass view` runs (in this one it would share the GIL with
    Playwright's client); from another checkout's `src` when `source` is given."""
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(Path(source).resolve())
    viewer = subprocess.Popen(
        [sys.executable, "-m", "spyglass", "view", "--store", str(path), "--port", "0", "--no-open"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert viewer.stdout is not None
    return viewer, viewer.stdout.readline().split(": ", 1)[1].split()[0]


Loads = dict[str, list[tuple[float, float]]]


def measure(
    urls: dict[str, str], big: str, args: argparse.Namespace
) -> tuple[dict[str, tuple[Loads, float]], int]:
    """Per viewer: each page's loads (taken in turn with the other viewer's), and `j`'s median."""
    spans = 1 + 5 * args.steps
    list_page = f"trace list of {args.traces + 1:,} traces: the first 50 rows shown"
    trace_page = f"open a {spans:,}-span trace: waterfall and panel shown"
    # The waterfall says how many rows it holds (drawn or not) once drawn; before it did, every row was in the
    # page. The panel is drawn when the selected span's record is in (since this checkout, fetched apart).
    drawn = (
        "document.querySelector('#span-panel .panel-head') && "
        "document.querySelector('#span-panel .tab-body')?.childElementCount > 0 && "
        "Number(document.getElementById('waterfall').dataset.rows ?? "
        f"document.querySelectorAll('.span-row').length) === {spans}"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        pages = {name: browser.new_page(viewport={"width": 1400, "height": 900}) for name in urls}
        loads: dict[str, Loads] = {name: {list_page: [], trace_page: []} for name in urls}
        for _ in range(args.repeat):
            for name, url in urls.items():
                page = pages[name]
                loads[name][list_page].append(timed_load(page, url, LIST_SHOWN, "/api/traces"))
                loads[name][trace_page].append(
                    timed_load(page, f"{url}trace/{big}", drawn, f"/api/traces/{big}")
                )
        results = {}
        for name, page in pages.items():
            page.locator(".span-row").first.click()
            results[name] = (loads[name], timed_keys(page, "j", 20))
        browser.close()
    return results, spans


if __name__ == "__main__":
    main()
