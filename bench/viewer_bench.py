"""Benchmark of the viewer: HTTP latency of the trace list and of opening a trace, on a big store.

Builds a store of one million spans with `store_bench.build_store` (or reuses one), serves the viewer
on a free port with uvicorn, and times real HTTP requests the page makes. A script, not a test.

    python bench/viewer_bench.py [--spans 1000000] [--store PATH]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from store_bench import BIG_TRACE_ID, build_store

from spyglass.store._backends import open_store
from spyglass.viewer import create_app, local_hosts
from spyglass.viewer.server import bind, serving_in_thread


def timed_get(url: str, repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        with urllib.request.urlopen(url) as response:
            response.read()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, help="an existing store to use, or where to build one")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        path = args.store or Path(temporary) / "big.sqlite"
        if not path.exists():
            seconds = build_store(path, args.spans)
            print(f"built {args.spans:,} spans in {seconds:.0f}s ({path.stat().st_size / 1e6:,.0f} MB)")
        stats, rows = viewer_timings(path, args.repeat)
    print(f"\nstore: {stats['spans']:,} spans in {stats['traces']:,} traces\n")
    print("| request | median ms |\n|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} |")


def viewer_timings(location: Path | str, repeat: int) -> tuple[dict[str, int], list[tuple[str, float]]]:
    """The store's size, and the median ms of each request the viewer's pages make, served from `location`
    (a SQLite file or a PostgreSQL URL)."""
    with open_store(location, readonly=True) as store:
        stats = store.stats()
        newest = store.list_traces(limit=1000)
        trace_ids = [trace["trace_id"] for trace in newest[::50]]
        deep = store.list_traces(limit=1, before=newest[-1]["start_ns"] - 10**15)
    sock = bind("127.0.0.1", 0)
    app = create_app(
        location, token=secrets.token_urlsafe(), allowed_hosts=local_hosts(sock.getsockname()[1])
    )
    with serving_in_thread(app, sock) as url:
        ids = iter(trace_ids * repeat)
        requests: list[tuple[str, str]] = [
            ("list page HTML /", url),
            ("list: /api/traces (50 newest)", f"{url}api/traces"),
            ("list: older page (before=)", f"{url}api/traces?before={deep[0]['start_ns'] if deep else ''}"),
            ("list: status=error", f"{url}api/traces?status=error"),
            ("list: model=o3-mini", f"{url}api/traces?model=o3-mini"),
            ("list: min_tokens=5000&min_cost=0.009", f"{url}api/traces?min_tokens=5000&min_cost=0.009"),
            ("list: search rare word", f"{url}api/traces?q=request123456"),
            ("list: search common word", f"{url}api/traces?q=quantum"),
            ("list: attribute filter (scan)", f"{url}api/traces?attr=gen_ai.request.model%3Do3-mini"),
            ("models summary /models", f"{url}models"),
        ]
        rows = [(name, timed_get(target, 5 if "models" in name else repeat)) for name, target in requests]
        rows.append(("open trace: /trace/{id} HTML", _median_over(ids, f"{url}trace/", repeat)))
        rows.append(("open trace: /api/traces/{id}", _median_over(ids, f"{url}api/traces/", repeat)))
        rows.append(
            ("open 5,000-span trace: /api/traces/{id}", timed_get(f"{url}api/traces/{BIG_TRACE_ID:032x}", 5))
        )
    return dict(stats), rows


def _median_over(ids, prefix: str, repeat: int) -> float:
    return statistics.median(timed_get(prefix + next(ids), 1) for _ in range(repeat))


if __name__ == "__main__":
    main()
