"""The overhead of the peers beside spyglass's, side by side in one run, each peer in its own virtual env.

Peers: Pydantic Logfire (`logfire`), OpenTelemetry contrib (`opentelemetry-instrumentation-openai-v2`),
OpenLLMetry (`opentelemetry-instrumentation-openai`, Traceloop) and OpenInference
(`openinference-instrumentation-openai`). Each gets a virtual env under `bench/.venvs/<peer>` (made on the
first run, reused after) holding the peer, `opentelemetry-sdk`, the `openai` version it works with and
spyglass itself (editable). In every env two instrumentations are timed, `spyglass` and `peer`, so each
peer is compared with spyglass *in the same openai version*. Every instrumentation is set up as the peers
were measured in the issue: content capture on, a SimpleSpanProcessor into an InMemorySpanExporter.

The method is `overhead.py`'s, and so is the timing loop: a fresh process per (peer, case, instrumentation)
that switches the instrumentation on and off between blocks of calls and times every call, so that each
figure is instrumented minus uninstrumented within one process; the real SDK over an in-process transport,
warm-up, rounds interleaved (shuffled across peers, cases and instrumentations), the median over the
rounds. Each worker also counts the spans exported and looks for the prompt's text in their attributes (and
event attributes): a case where a peer makes no span reads "no span", and the verification table says
whether content was captured.

    python bench/peers.py                     # all peers and cases, 3 rounds of 1000 calls each way
    python bench/peers.py --quick             # a smoke run: 1 round of 200 calls
    python bench/peers.py --peers logfire --cases sync_chat stream_50 --json peers.json
    python bench/peers.py --reinstall         # upgrade every env to the newest allowed versions
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import overhead

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENVS = BENCH / ".venvs"
MARKER = "spyglass-bench.json"
MODES = ["spyglass", "peer"]
CASE_TITLES = {
    "sync_chat": "sync chat",
    "async_chat": "async chat",
    "stream_50": "stream, 50 chunks",
    "stream_50_usage": "stream, 50 chunks + usage asked by the caller",
    "embeddings": "embeddings",
    "images": "images",
    "responses": "responses",
}
# The text each case sends: content capture is on when a span of the case carries it.
PROMPTS = {
    "sync_chat": "limerick about Python logging",
    "async_chat": "limerick about Python logging",
    "stream_50": "limerick about Python logging",
    "stream_50_usage": "limerick about Python logging",
    "embeddings": "The food was delicious",
    "images": "R2D2 in a desert",
    "responses": "Tell me a joke",
}


@dataclass(frozen=True)
class Peer:
    title: str
    package: str  # the distribution whose version is reported
    requirement: str  # what pip installs
    openai: str  # the openai requirement the peer works with
    openai_note: str = ""  # why, when it is not the newest openai 3 alone
    content: str = ""  # how content capture is switched on
    # False when its uninstrument() leaves wrappers behind (its spans then pile up per call): it is then
    # switched on once, after its uninstrumented blocks, instead of every 20 calls.
    switches_cleanly: bool = True
    extra: tuple[str, ...] = ()  # more requirements the peer needs to work


PEERS: dict[str, Peer] = {
    "logfire": Peer(
        title="Pydantic Logfire",
        package="logfire",
        requirement="logfire",
        openai="openai>=3,<4",
        content="captured by default",
    ),
    "contrib": Peer(
        title="OpenTelemetry contrib (openai-v2)",
        package="opentelemetry-instrumentation-openai-v2",
        # The package is published as pre-releases only: naming one in the specifier lets pip take them.
        requirement="opentelemetry-instrumentation-openai-v2>=2.0b0",
        openai="openai>=3,<4",
        # Two packaging gaps, neither about openai 3 itself: the instrumentation imports `httpx`, which
        # openai 3 (on httpx2) no longer brings in; and opentelemetry-util-genai 1.2b0 and later lack the
        # `instruments` module that openai-v2 2.4b0 imports, while its requirement lets pip take them.
        openai_note="3.x works with two additions: `httpx` (the instrumentation imports it; openai 3 "
        "brings only httpx2) and opentelemetry-util-genai<1.2 (1.2b0+ lacks a module it imports); "
        "server.address is not recorded, as it checks for an httpx.URL",
        extra=("httpx", "opentelemetry-util-genai>=1.0b0,<1.2"),
        content="OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental, "
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only",
    ),
    "openllmetry": Peer(
        title="OpenLLMetry (Traceloop)",
        package="opentelemetry-instrumentation-openai",
        requirement="opentelemetry-instrumentation-openai",
        openai="openai>=3,<4",
        content="TRACELOOP_TRACE_CONTENT=true",
        switches_cleanly=False,  # seen here: 65 spans a chat call after 60 switches
    ),
    "openinference": Peer(
        title="OpenInference (Arize)",
        package="openinference-instrumentation-openai",
        requirement="openinference-instrumentation-openai",
        openai="openai>=3,<4",
        content="captured by default",
    ),
}


# --- in the worker process (the peer's env) --------------------------------------------------------------


def _setup(peer: str, mode: str) -> tuple[Any, Callable[[bool], None]]:
    """Set up one instrumentation, switched off; return the InMemorySpanExporter its spans go to, and the
    switch that turns it on and off."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    if mode == "spyglass":
        import spyglass

        # overhead.py's `memory` mode.
        spyglass.configure(
            console=False, store=False, additional_span_processors=[SimpleSpanProcessor(exporter)]
        )
        handles: list[Any] = []

        def switch_spyglass(on: bool) -> None:
            if on:
                handles.append(spyglass.instrument_openai())
            elif handles:
                handles.pop().uninstrument()

        return exporter, switch_spyglass
    if peer == "logfire":
        import logfire

        logfire.configure(
            send_to_logfire=False, console=False, additional_span_processors=[SimpleSpanProcessor(exporter)]
        )
        undo: list[Any] = []

        def switch_logfire(on: bool) -> None:
            if on:
                context = logfire.instrument_openai()  # the context manager that reverts it on exit
                context.__enter__()
                undo.append(context)
            elif undo:
                undo.pop().__exit__(None, None, None)

        return exporter, switch_logfire
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    if peer == "contrib":
        # `true` is the legacy switch: content then goes to log events, not to the span. The current one
        # puts it on span attributes, as the other peers and spyglass do.
        os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
        os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "span_only"
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as ContribInstrumentor

        instrumentor: Any = ContribInstrumentor()
    elif peer == "openllmetry":
        os.environ["TRACELOOP_TRACE_CONTENT"] = "true"
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as TraceloopInstrumentor

        instrumentor = TraceloopInstrumentor()
    elif peer == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInferenceInstrumentor

        instrumentor = OpenInferenceInstrumentor()
    else:
        raise ValueError(f"unknown peer {peer!r}")

    def switch_otel(on: bool) -> None:
        if on:
            instrumentor.instrument(tracer_provider=provider)
        else:
            instrumentor.uninstrument()

    return exporter, switch_otel


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, str)]
    return []


def _has_text(span: Any, text: str) -> bool:
    attribute_sets = [span.attributes or {}] + [event.attributes or {} for event in span.events]
    return any(
        text in s for attributes in attribute_sets for value in attributes.values() for s in _strings(value)
    )


def _unique_response_ids() -> None:
    """Give each Responses call its own response id, in every mode alike.

    overhead.py's canned body always says `resp_1`. OpenLLMetry keeps its state per response id and makes
    no span for an id it has seen (a real API never repeats one), so a repeated id would hide its cost.
    """
    make_handler = overhead._handler

    def handler(httpx: Any) -> Callable[[Any], Any]:
        handle = make_handler(httpx)
        ids = itertools.count()

        def handle_with_unique_ids(request: Any) -> Any:
            response = handle(request)
            if request.url.path != "/v1/responses":
                return response
            body = response.content.replace(b'"resp_1"', b'"resp_%d"' % next(ids))
            return httpx.Response(200, content=body, headers=response.headers)

        return handle_with_unique_ids

    overhead._handler = handler


def worker(peer: str, case: str, mode: str, calls: int, warmup: int, block: int) -> dict[str, Any]:
    """Run in a fresh process of the peer's env: time the calls with overhead.py's loop, count the spans."""
    from importlib.metadata import version

    import openai

    _unique_response_ids()
    exporter, switch = _setup(peer, mode)
    result: dict[str, Any] = {
        "openai": openai.__version__,
        "version": version(PEERS[peer].package if mode == "peer" else "spyglass"),
    }
    try:
        alternate = mode == "spyglass" or PEERS[peer].switches_cleanly
        timings = overhead.worker(case, switch, calls, warmup, block, alternate=alternate)
    except Exception as error:  # a peer that breaks the call itself
        result["error"] = f"{type(error).__name__}: {error}"[:300]
        return result
    result["figures"] = overhead.figures(timings)
    if mode == "spyglass":  # spans reach the exporter from spyglass's pipeline thread: hand over what waits
        import spyglass

        spyglass.force_flush()
    spans = exporter.get_finished_spans()
    scale = overhead.CALLS_SCALE.get(case, 1.0)
    instrumented_calls = -(-(max(1, int(calls * scale)) + int(warmup * scale)) // block) * block
    result["spans_per_call"] = len(spans) / instrumented_calls
    result["span_names"] = sorted({span.name for span in spans})
    result["content"] = any(_has_text(span, PROMPTS[case]) for span in spans)
    return result


# --- in the parent process -------------------------------------------------------------------------------


def _python(peer: str) -> Path:
    return VENVS / peer / "bin" / "python"


def _requirements(peer: str) -> list[str]:
    spec = PEERS[peer]
    return [spec.requirement, *spec.extra, "opentelemetry-sdk", spec.openai, "-e", str(REPO)]


def ensure_env(peer: str, reinstall: bool, log: Callable[[str], None]) -> float | None:
    """Make (or reuse) the peer's env; return the seconds spent installing, None when it was reused."""
    env = VENVS / peer
    marker = env / MARKER
    requirements = _requirements(peer)
    if (
        not reinstall
        and marker.exists()
        and _python(peer).exists()
        and json.loads(marker.read_text()) == requirements
    ):
        return None
    started = time.perf_counter()
    if not _python(peer).exists():
        log(f"{peer}: creating {env.relative_to(REPO)}")
        shutil.rmtree(env, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    log(f"{peer}: pip install {' '.join(requirements)}")
    pip = [str(_python(peer)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if reinstall:
        pip.append("--upgrade")
    out = subprocess.run([*pip, *requirements], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"pip install failed for {peer}:\n{out.stderr[-3000:]}")
    marker.write_text(json.dumps(requirements))
    seconds = time.perf_counter() - started
    log(f"{peer}: installed in {seconds:.0f}s")
    return seconds


def _run_worker(peer: str, case: str, mode: str, calls: int, warmup: int, block: int) -> dict[str, Any]:
    command = [str(_python(peer)), str(Path(__file__).resolve()), "--worker", peer, case, mode]
    command += ["--calls", str(calls), "--warmup", str(warmup), "--block", str(block)]
    out = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        return {"error": "worker failed: " + " | ".join(out.stderr.strip().splitlines()[-3:])[:300]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


class Results:
    """Per (peer, case, mode): each round's figures, and what the workers saw."""

    def __init__(self) -> None:
        self.rounds: dict[tuple[str, str, str], list[dict[str, float]]] = {}
        self.info: dict[tuple[str, str, str], dict[str, Any]] = {}

    def add(self, key: tuple[str, str, str], result: dict[str, Any]) -> None:
        if "error" in result:
            self.info[key] = result
            return
        self.rounds.setdefault(key, []).append(result.pop("figures"))
        self.info.setdefault(key, result)

    def median(self, key: tuple[str, str, str], figure: str) -> float:
        return _median([round_figures[figure] for round_figures in self.rounds[key]])

    def added(self, peer: str, case: str, mode: str) -> dict[str, Any]:
        """The figures of one cell: what the instrumentation added to the call, median over the rounds."""
        key = (peer, case, mode)
        info = self.info.get(key, {})
        if "error" in info:
            return {"error": info["error"]}
        cell: dict[str, Any] = {
            "spans_per_call": info.get("spans_per_call"),
            "content": info.get("content"),
            "span_names": info.get("span_names"),
        }
        if info.get("spans_per_call") and key in self.rounds:
            cell["added_median"] = self.median(key, "added")
            cell["added_p90"] = self.median(key, "added_p90")
            cell["added_cpu"] = self.median(key, "added_cpu")
        return cell


def _cell(cell: dict[str, Any], key: str, sync_chat: dict[str, Any] | None = None) -> str:
    """A figure; with `sync_chat` (that mode's sync chat cell), the stream's figure per chunk."""
    if "error" in cell:
        return "error"
    if not cell.get("spans_per_call"):
        return "no span"
    if key not in cell:
        return "?"
    if sync_chat is None:
        return f"{cell[key]:+,.0f}"
    return f"{overhead.per_chunk(cell[key], sync_chat.get(key)):+,.2f}"


def _print_added(figures: dict[str, Any], cases: list[str], key: str) -> None:
    titles = []
    for case in cases:
        titles.append(CASE_TITLES[case])
        if case in overhead.STREAMS:
            titles.append("per chunk")
    header = "| instrumentation | version | openai | " + " | ".join(titles) + " |"
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for peer, figure in figures.items():
        for mode, title in (("peer", PEERS[peer].title), ("spyglass", f"spyglass (in the {peer} env)")):
            cells = []
            for case in cases:
                cells.append(_cell(figure["cases"][case][mode], key))
                if case in overhead.STREAMS:
                    sync_chat = figure["cases"].get("sync_chat", {}).get(mode, {})
                    cells.append(_cell(figure["cases"][case][mode], key, sync_chat))
            version = figure["peer" if mode == "peer" else "spyglass"] or "?"
            print(f"| {title} | {version} | {figure['openai'] or '?'} | " + " | ".join(cells) + " |")


def _collect(results: Results, peers: list[str], cases: list[str]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for peer in peers:
        found = {
            mode: next(
                (i for (p, _, m), i in results.info.items() if p == peer and m == mode and "openai" in i), {}
            )
            for mode in MODES
        }
        figures[peer] = {
            "title": PEERS[peer].title,
            "openai": found["peer"].get("openai") or found["spyglass"].get("openai"),
            "peer": found["peer"].get("version"),
            "spyglass": found["spyglass"].get("version"),
            "cases": {},
        }
        for case in cases:
            cells = {mode: results.added(peer, case, mode) for mode in MODES}
            # The uninstrumented call, timed in both instrumentations' processes of this env.
            bases = [f for mode in MODES for f in results.rounds.get((peer, case, mode), [])]
            if bases:
                cells["none"] = {
                    "median": _median([f["base"] for f in bases]),
                    "p90": _median([f["base_p90"] for f in bases]),
                }
            figures[peer]["cases"][case] = cells
    return figures


def report(results: Results, peers: list[str], cases: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Print the Markdown tables; return the figures for the JSON file."""
    figures = _collect(results, peers, cases)
    print(
        f"Overhead of the peers beside spyglass: Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores; {args.rounds} round(s), each a process per peer, case and instrumentation "
        f"timing {args.calls} calls each way (after {args.warmup}) in blocks of {args.block} switched on and "
        "off; median over the rounds of the µs added per call (wall clock) to the uninstrumented call of the "
        "same process; content capture on, SimpleSpanProcessor into an InMemorySpanExporter."
    )
    if args.quick:
        print()
        print("**Quick smoke run: too few calls for the figures to mean much.**")
    print()
    _print_added(figures, cases, "added_median")
    if any(case in overhead.STREAMS for case in cases):
        print()
        print(
            "Per chunk: (stream added - sync chat added) / 50, as the issue's table counts it. In `stream, 50 "
            "chunks` the caller does not ask for usage (and no instrumentation adds `stream_options`); in the "
            "`+ usage` column it asks for it itself. spyglass's work is partly on its pipeline thread: for "
            "chat calls mostly between the blocks (see overhead.py's total CPU), for streams inside them."
        )
    notes = [f"- {PEERS[p].title}: openai {PEERS[p].openai_note}" for p in peers if PEERS[p].openai_note]
    if notes:
        print()
        print("\n".join(notes))

    has_cpu = any(
        "added_cpu" in cell
        for figure in figures.values()
        for cells in figure["cases"].values()
        for cell in cells.values()
    )
    if has_cpu:
        print()
        print(
            "Cross-check: median added CPU time of the calling thread, µs (other processes disturb it less):"
        )
        print()
        _print_added(figures, cases, "added_cpu")

    print()
    print("Uninstrumented call, median µs (p90), per env:")
    print()
    print("| env | " + " | ".join(CASE_TITLES[case] for case in cases) + " |")
    print("|---" * (len(cases) + 1) + "|")
    for peer, figure in figures.items():
        row = []
        for case in cases:
            none = figure["cases"][case].get("none")
            row.append(f"{none['median']:,.0f} ({none['p90']:,.0f})" if none else "error")
        print(f"| {peer} | " + " | ".join(row) + " |")

    print()
    print("What each instrumentation recorded: spans per call, and whether the prompt's text is on a span")
    print("(attributes or event attributes):")
    print()
    print("| instrumentation | content switch | " + " | ".join(CASE_TITLES[case] for case in cases) + " |")
    print("|---" * (len(cases) + 2) + "|")
    for peer, figure in figures.items():
        for mode in ("peer", "spyglass"):
            row = []
            for case in cases:
                cell = figure["cases"][case][mode]
                if "error" in cell:
                    row.append("error")
                elif not cell.get("spans_per_call"):
                    row.append("no span")
                else:
                    content = "yes" if cell["content"] else "no"
                    row.append(f"{cell['spans_per_call']:g} span(s), content {content}")
            title = PEERS[peer].title if mode == "peer" else f"spyglass ({peer} env)"
            switch = PEERS[peer].content if mode == "peer" else "on by default"
            print(f"| {title} | {switch} | " + " | ".join(row) + " |")
    errors = [
        f"- {peer} {case} {mode}: {cell['error']}"
        for peer, figure in figures.items()
        for case, cells in figure["cases"].items()
        for mode, cell in cells.items()
        if "error" in cell
    ]
    if errors:
        print()
        print("Errors:")
        print("\n".join(errors))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--cases", nargs="*", default=overhead.CASES, choices=overhead.CASES)
    parser.add_argument("--calls", type=int, default=1000, help="calls timed each way, per process")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--block", type=int, default=20, help="calls between two switches")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 round of 200 calls, 50 warm-up")
    parser.add_argument("--reinstall", action="store_true", help="upgrade the envs to the newest versions")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker, args.calls, args.warmup, args.block)))
        return
    if args.quick:
        args.calls, args.warmup, args.rounds = 200, 50, 1

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    VENVS.mkdir(parents=True, exist_ok=True)
    install_seconds: dict[str, float | None] = {}
    with ThreadPoolExecutor(max_workers=len(args.peers)) as pool:
        futures = {peer: pool.submit(ensure_env, peer, args.reinstall, log) for peer in args.peers}
    peers = []
    for peer, future in futures.items():
        try:
            install_seconds[peer] = future.result()
            peers.append(peer)
        except Exception as error:
            log(f"{peer}: skipped, its env could not be made: {error}")
    if not peers:
        sys.exit("no peer env could be made")

    results = Results()
    jobs = [(peer, case, mode) for peer in peers for case in args.cases for mode in MODES]
    started = time.perf_counter()
    for round_number in range(args.rounds):
        random.Random(round_number).shuffle(jobs)
        for peer, case, mode in jobs:
            results.add(
                (peer, case, mode), _run_worker(peer, case, mode, args.calls, args.warmup, args.block)
            )
        log(f"round {round_number + 1}/{args.rounds} done ({time.perf_counter() - started:.0f}s)")

    figures = report(results, peers, args.cases, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"install_seconds": install_seconds, "peers": figures}, f, indent=2)


if __name__ == "__main__":
    main()
