"""The documentation cannot rot: every Python example runs against the local server and its spans are checked
(or the example says why it is not run), every CLI command and option is documented with its current help,
and every public name is mentioned."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import spyglass
from spyglass.cli import main
from spyglass.demo.server import DemoServer
from spyglass.store import SpanRecord, SpanStore

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CLI_DOC = ROOT / "docs" / "cli.md"

NOT_RUN = re.compile(r"^<!-- not-run: (?P<reason>.*?) -->$")
HELP_MARKER = re.compile(r"^<!-- help: (?P<command>spyglass( \w+)*) --help -->$")

# What each runnable example records, in start order: `message` for spans and logs of your own, the span name
# for OpenAI calls, then the token usage when the span has it; "ERROR " in front of a span that failed.
# Keys: file#heading, with -2, -3... for the second and later examples under one heading.
EXPECTED_SPANS: dict[str, list[str]] = {
    "README.md#the-one-line-integration": [
        "Asking OpenAI to write some code",
        "chat gpt-4 (21→25 tokens)",
        "got 1 choices",
    ],
    "docs/configuration.md#configuration": [],
    "docs/otel.md#what-an-otlp-export-sends": [],  # store=False: the example keeps nothing locally
    "docs/configuration.md#console-options": ["Loading 3 documents", "not shown: below min_level", "shown"],
    "docs/configuration.md#scrubbing-secrets": ["Onboarding a new employee", "chat gpt-4o (17→30 tokens)"],
    "docs/configuration.md#sending-spans-elsewhere-2": ["chat gpt-4o (4→17 tokens)"],
    "docs/configuration.md#flushing-and-shutting-down": ["Nightly import of crm", "imported 1200 rows"],
    "docs/openai.md#introduction": ["chat gpt-4 (21→25 tokens)"],
    "docs/openai.md#what-to-instrument": ["embeddings text-embedding-3-small (4→None tokens)"],
    "docs/openai.md#methods-covered": ["image_generation dall-e-3"],
    "docs/openai.md#methods-covered-2": [
        "chat gpt-4o (4→17 tokens)",
        "embeddings text-embedding-3-small (1→None tokens)",
        "openai GET /models",
    ],
    "docs/openai.md#methods-covered-3": ["chat gpt-4o (18→25 tokens)"],
    "docs/openai.md#streaming-responses": [
        "Asking OpenAI to write some code",
        "chat gpt-4o-mini",  # no usage: the example does not ask for it, and spyglass never does
        "chat gpt-4o-mini stream",
    ],
    "docs/openai.md#streaming-responses-2": [
        "chat gpt-4o",  # chat completions: no usage unless asked for
        "chat gpt-4o stream",
        "chat gpt-4o (4→17 tokens)",  # the Responses API's final event always carries usage
        "chat gpt-4o stream",
    ],
    "docs/openai.md#streaming-responses-3": ["chat gpt-4o-mini (4→17 tokens)", "chat gpt-4o-mini stream"],
    "docs/openai.md#what-each-span-records": ["ERROR chat missing-model", "the call failed: model_not_found"],
    "docs/openai.md#content-capture-and-privacy": ["chat gpt-4o (11→24 tokens)"],
    "docs/openai.md#undoing-the-instrumentation": ["openai GET /models", "openai GET /models/gpt-4o"],
    "docs/openai.md#undoing-the-instrumentation-2": ["chat gpt-4o (4→17 tokens)"],
}

# Attributes that must not be recorded by an example, by key.
ABSENT_ATTRIBUTES = {
    "docs/openai.md#content-capture-and-privacy": ["gen_ai.input.messages", "gen_ai.output.messages"],
}

# Text that must (and must not) appear in the attributes an example records, by key.
RECORDED_TEXT = {
    "docs/configuration.md#scrubbing-secrets": (
        ["[REDACTED: employee_id]", "My key is [REDACTED], my id [REDACTED]"],
        ["E-1234", "sk-proj-", "EMP-123456"],
    ),
}


@dataclass(frozen=True)
class Example:
    key: str
    path: Path
    line: int
    code: str
    not_run: str | None

    def __str__(self) -> str:
        return self.key


def _slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", heading.lower().replace("`", "")).strip("-")


def _fences(path: Path, language: str) -> Iterator[tuple[str, int, str, str]]:
    """(heading slug, line number, code, the line before the fence) of each ```language block."""
    lines = path.read_text(encoding="utf-8").splitlines()
    heading, before, i = "", "", 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = _slug(line.lstrip("#"))
        if line.startswith("```"):
            end = lines.index("```", i + 1)
            if line[3:].split(" ")[0] == language:
                yield heading, i + 1, "\n".join(lines[i + 1 : end]) + "\n", before
            i = end
        elif line.strip():
            before = line
        i += 1


def python_examples() -> list[Example]:
    examples: list[Example] = []
    for path in DOCS:
        seen: dict[str, int] = {}
        for heading, line, code, before in _fences(path, "python"):
            seen[heading] = seen.get(heading, 0) + 1
            suffix = f"-{seen[heading]}" if seen[heading] > 1 else ""
            key = f"{path.relative_to(ROOT).as_posix()}#{heading}{suffix}"
            match = NOT_RUN.match(before)
            examples.append(Example(key, path, line, code, match["reason"] if match else None))
    return examples


EXAMPLES = python_examples()


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    spans: list[SpanRecord]


def _run_example(example: Example, server: DemoServer, directory: Path) -> Run:
    script = directory / "example.py"
    script.write_text(example.code, encoding="utf-8")
    store = directory / "spans.sqlite"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPYGLASS_", "OTEL_", "OPENAI_"))}
    env.update(
        OPENAI_BASE_URL=server.base_url,
        OPENAI_API_KEY="sk-docs-example",
        SPYGLASS_STORE=str(store),
        PYTHONIOENCODING="utf-8",
        NO_COLOR="1",
    )
    result = subprocess.run(
        [sys.executable, str(script)], cwd=directory, env=env, capture_output=True, text=True, timeout=60
    )
    spans: list[SpanRecord] = []
    if store.exists():
        with SpanStore(store, readonly=True) as reader:
            for trace in reader.list_traces(limit=1000):
                spans.extend(reader.get_trace(trace["trace_id"]))
    spans.sort(key=lambda span: span["start_ns"])
    return Run(result.returncode, result.stdout, result.stderr, spans)


@pytest.fixture(scope="module")
def example_runs(
    request: pytest.FixtureRequest, server: DemoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[Run]]]:
    """The selected runnable examples, started at once: each is a program of its own, mostly importing."""
    selected = {
        item.callspec.params["example"]
        for item in request.session.items
        if hasattr(item, "callspec") and "example" in item.callspec.params
    }
    runnable = [e for e in selected if e.not_run is None]
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        yield {
            e.key: pool.submit(_run_example, e, server, tmp_path_factory.mktemp("example")) for e in runnable
        }


def _summary(span: SpanRecord) -> str:
    label = str(span["message"] if span["kind"] in ("span", "log") else span["name"])
    if span["input_tokens"] is not None:
        label += f" ({span['input_tokens']}→{span['output_tokens']} tokens)"
    return f"ERROR {label}" if span["status_code"] == "ERROR" else label


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_every_python_example_runs_and_records_what_it_shows(example, example_runs):
    compile(example.code, f"{example.path.name}:{example.line}", "exec")
    if example.not_run is not None:
        assert len(example.not_run.split()) >= 3, f"{example}: say why it is not run"
        return
    assert example.key in EXPECTED_SPANS, f"add the spans of {example} to EXPECTED_SPANS"
    run = example_runs[example.key].result()
    assert run.returncode == 0, f"{example.path.name}:{example.line} failed:\n{run.stderr}"
    assert [_summary(span) for span in run.spans] == EXPECTED_SPANS[example.key]
    for span in run.spans:
        for attribute in ABSENT_ATTRIBUTES.get(example.key, []):
            assert attribute not in span["attributes"], (example.key, attribute)
    recorded = json.dumps([span["attributes"] for span in run.spans], ensure_ascii=False)
    present, absent = RECORDED_TEXT.get(example.key, ([], []))
    for text in present:
        assert json.dumps(text)[1:-1] in recorded, text
    for text in absent:
        assert text not in recorded, text


def test_every_expectation_belongs_to_a_runnable_example():
    runnable = {e.key for e in EXAMPLES if e.not_run is None}
    assert set(EXPECTED_SPANS) - runnable == set()
    assert set(ABSENT_ATTRIBUTES) - runnable == set()
    assert set(RECORDED_TEXT) - runnable == set()


def test_not_run_markers_sit_right_before_a_python_example():
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if line.startswith("<!-- not-run"):
                assert NOT_RUN.match(line), f"{path.name}:{number + 1}: write <!-- not-run: the reason -->"
                assert lines[number + 1].startswith("```python"), f"{path.name}:{number + 1}"


# --- the command line -----------------------------------------------------------------------------------------


def _commands() -> list[tuple[str, click.Command]]:
    return [("spyglass", main), *((f"spyglass {name}", command) for name, command in main.commands.items())]


def _section(doc: str, title: str) -> str:
    start = doc.index(f"## `{title}`\n")
    end = doc.find("\n## ", start + 1)
    return doc[start : end if end != -1 else None]


@pytest.mark.parametrize(("title", "command"), _commands(), ids=[title for title, _ in _commands()])
def test_every_command_and_option_is_documented(title, command):
    doc = CLI_DOC.read_text(encoding="utf-8")
    section = _section(doc, title)  # raises ValueError when the command has no section
    for param in command.params:
        for opt in [*param.opts, *param.secondary_opts]:
            if isinstance(param, click.Option):
                assert f"`{opt}" in section, f"{opt} of `{title}` is not documented in docs/cli.md"


def test_the_help_in_the_docs_is_the_current_help():
    doc = CLI_DOC.read_text(encoding="utf-8").splitlines()
    documented = {}
    for number, line in enumerate(doc):
        match = HELP_MARKER.match(line)
        if match:
            assert doc[number + 1] == "```text"
            end = doc.index("```", number + 2)
            documented[match["command"]] = "\n".join(doc[number + 2 : end]) + "\n"
    assert sorted(documented) == sorted(title for title, _ in _commands())
    for title, text in documented.items():
        args = [*title.split()[1:], "--help"]
        result = CliRunner().invoke(main, args, prog_name="spyglass", terminal_width=80)
        assert result.exit_code == 0
        assert text == result.output, f"update the help of `{title}` in docs/cli.md:\n{result.output}"


# --- the public API -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", spyglass.__all__)
def test_every_public_name_is_documented(name):
    text = "\n".join(path.read_text(encoding="utf-8") for path in DOCS)
    assert f"spyglass.{name}" in text, f"spyglass.{name} is not mentioned in README.md or docs/"


# --- configuration --------------------------------------------------------------------------------------------

CONFIGURATION_DOC = ROOT / "docs" / "configuration.md"


@pytest.mark.parametrize("name", list(inspect.signature(spyglass.configure).parameters))
def test_every_configure_argument_is_documented(name):
    assert f"| `{name}` |" in CONFIGURATION_DOC.read_text(encoding="utf-8"), (
        f"configure({name}=...) is not in the table of docs/configuration.md"
    )


def test_every_environment_variable_configure_reads_is_documented():
    sources = [ROOT / "src" / "spyglass" / "_config.py", ROOT / "src" / "spyglass" / "cli.py"]
    names = {
        match
        for path in sources
        for match in re.findall(r"[\"']((?:SPYGLASS|OTEL)_[A-Z0-9_]+)[\"']", path.read_text(encoding="utf-8"))
    }
    assert names >= {"SPYGLASS_CONSOLE", "SPYGLASS_STORE", "SPYGLASS_CAPTURE_CONTENT", "OTEL_SERVICE_NAME"}
    doc = CONFIGURATION_DOC.read_text(encoding="utf-8")
    assert sorted(name for name in names if f"| `{name}`" not in doc) == []
