"""The `spyglass` command: argument handling through click's CliRunner, and the real thing in subprocesses
(`python -m spyglass` and the installed entry point) against the local demo server."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

import spyglass
from spyglass.cli import main
from spyglass.demo.server import DemoServer
from spyglass.store import SpanRecord, SpanStore

ENTRY_POINT = str(Path(sys.executable).parent / "spyglass")
PYTHON_M = [sys.executable, "-m", "spyglass"]

CHAT_SCRIPT = """
import sys
import openai

client = openai.OpenAI()
response = client.chat.completions.create(
    model="gpt-4o", messages=[{"role": "user", "content": "Hello from the script"}]
)
print("answer:", response.choices[0].message.content)
print("argv:", sys.argv)
"""


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env, terminal_width=80)
    return result.exit_code, result.output


def spyglass_process(
    command: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SPYGLASS_", "OTEL_", "OPENAI_"))}
    full_env.update({"PYTHONIOENCODING": "utf-8", "NO_COLOR": "1", "COLUMNS": "100", **(env or {})})
    return subprocess.run(
        command, cwd=cwd, env=full_env, capture_output=True, text=True, encoding="utf-8", timeout=60
    )


def openai_env(server: DemoServer, store: Path) -> dict[str, str]:
    return {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test-key", "SPYGLASS_STORE": str(store)}


def stored_spans(path: Path) -> list[SpanRecord]:
    with SpanStore(path, readonly=True) as store:
        traces = sorted(store.list_traces(limit=1000), key=lambda t: t["start_ns"])
        return [span for trace in traces for span in store.get_trace(trace["trace_id"])]


def write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


# --- arguments, help and version (CliRunner) ------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_the_commands(flag):
    code, output = invoke(flag)
    assert code == 0
    assert "See every call your program makes to the OpenAI API." in output
    assert "  demo  " in output
    assert "  run   " in output


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag):
    assert invoke(flag) == (0, f"spyglass, version {spyglass.__version__}\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "No such command 'nosuch'."),
        (["demo", "--nosuch"], "--nosuch"),
        (["demo", "--store", "x.sqlite", "--no-store"], "--store and --no-store cannot be used together"),
        (["run"], "give a script to run, or -m MODULE"),
        (["run", "-m"], "-m needs a module name"),
        (["run", "--bogus", "script.py"], "--bogus"),
        (["run", "no_such_script.py"], "no such script: no_such_script.py"),
        (["run", "-m", "no_such_module_for_spyglass"], "no module named no_such_module_for_spyglass"),
        (
            ["run", "--store", "x.sqlite", "--no-store", __file__],
            "--store and --no-store cannot be used together",
        ),
    ],
)
def test_bad_arguments_are_usage_errors_with_exit_code_2(args, message):
    code, output = invoke(*args)
    assert code == 2
    last_line = output.splitlines()[-1]
    assert last_line.startswith("Error: ")
    assert message in last_line  # click words its own errors differently from one version to the next


def test_a_bad_environment_variable_is_a_usage_error_saying_what_to_change():
    code, output = invoke("run", __file__, env={"SPYGLASS_CONSOLE": "maybe", "SPYGLASS_STORE": "false"})
    assert code == 2
    assert output.splitlines()[-1] == "Error: SPYGLASS_CONSOLE='maybe' is not a boolean: use true or false"


def test_a_file_that_is_not_a_store_is_a_runtime_error_with_exit_code_1(tmp_path):
    not_a_store = write(tmp_path / "notes.sqlite", "not a database, just some notes\n" * 100)
    result = spyglass_process([*PYTHON_M, "demo", "--store", str(not_a_store)], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("Error: ")
    assert "notes.sqlite" in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr


# --- spyglass demo (subprocesses) -----------------------------------------------------------------------------


def test_demo_runs_offline_and_prints_the_tour(tmp_path):
    # No OPENAI_* variables: the demo brings its own server and key.
    result = spyglass_process([*PYTHON_M, "demo", "--no-store"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for line in [
        "> Demo: a chat completion",
        "OK Chat Completion with 'gpt-4o' · ",
        " · gpt-4o · 21→25 tokens",
        "system    You are a helpful assistant.",
        "user      Please write me a limerick about Python logging.",
        "info: got 1 choice(s)",
        "OK streaming response from 'gpt-4o-mini' took ",
        "assistant get_weather(city=",
        "OK Embedding Creation with 'text-embedding-3-small'",
        "OK Image Generation with 'dall-e-3'",
        "ERROR Chat Completion with 'missing-model'",
        "NotFoundError [model_not_found, HTTP 404]",
        "warn: the call failed as expected: model_not_found",
        "OK Demo: a failing call · ",
    ]:
        assert line in out, line
    assert result.stderr.splitlines()[0] == (
        "spyglass demo: a built-in OpenAI-compatible server on 127.0.0.1, no API key, no network."
    )
    assert result.stderr.splitlines()[-1] == "The spans were not stored (--no-store)."
    assert list(tmp_path.iterdir()) == []


def test_demo_stores_its_spans_where_spyglass_store_says(tmp_path):
    store = tmp_path / "demo.sqlite"
    result = spyglass_process([ENTRY_POINT, "demo"], cwd=tmp_path, env={"SPYGLASS_STORE": str(store)})
    assert result.returncode == 0, result.stderr
    assert f"The spans were stored in {store}." in result.stderr.splitlines()
    with SpanStore(store, readonly=True) as reader:
        roots = [t["message"] for t in sorted(reader.list_traces(), key=lambda t: t["start_ns"])]
        thread = [t["message"] for t in reader.get_thread("demo-chat")]
    assert roots == [
        "Demo: a chat completion",
        "Demo: a streamed answer",
        "Demo: a tool call round trip",
        "Demo: an embedding",
        "Demo: an image generation",
        "Demo: a failing call",
        "Demo: a chat, turn 1",
        "Demo: a chat, turn 2",
    ]
    assert thread == ["Demo: a chat, turn 1", "Demo: a chat, turn 2"]  # one conversation: a thread
    hint = result.stderr.splitlines()[-1]
    assert hint.startswith("Open them in the viewer with: ")
    viewer = subprocess.Popen(
        [*shlex.split(hint.removeprefix("Open them in the viewer with: ")), "--no-open", "--port", "0"],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "SPYGLASS_STORE": str(store)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert viewer.stdout is not None
        assert viewer.stdout.readline().startswith(f"spyglass viewer for {store}: http://127.0.0.1:")
    finally:
        viewer.send_signal(signal.SIGINT)
        viewer.communicate(timeout=10)
    assert viewer.returncode == 0


# --- spyglass run (subprocesses) ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [PYTHON_M, [ENTRY_POINT]], ids=["python -m spyglass", "entry point"])
def test_run_traces_an_unmodified_script_and_keeps_its_output_arguments_and_exit_code(
    command, server, tmp_path
):
    (tmp_path / "app").mkdir()
    write(tmp_path / "app" / "helper.py", "GREETING = 'helper imported'\n")
    write(
        tmp_path / "app" / "ask.py", "import helper\nprint(helper.GREETING)\n" + CHAT_SCRIPT + "sys.exit(3)\n"
    )
    store = tmp_path / "spans.sqlite"
    result = spyglass_process(
        [*command, "run", "app/ask.py", "--its-own-flag", "-m", "x"],
        cwd=tmp_path,
        env=openai_env(server, store),
    )
    assert result.returncode == 3, result.stderr
    lines = result.stdout.splitlines()
    assert "helper imported" in lines  # the script's directory comes first on sys.path, as with `python`
    assert (
        'answer: This is a canned answer from the spyglass demo server. You said: "Hello from the script"'
        in lines
    )
    assert "argv: ['app/ask.py', '--its-own-flag', '-m', 'x']" in lines
    assert any(line.endswith("> Chat Completion with 'gpt-4o'") for line in lines)
    assert any("OK Chat Completion with 'gpt-4o' · " in line for line in lines)
    [span] = stored_spans(store)
    assert span["name"] == "chat gpt-4o"
    assert span["service_name"] == "ask"
    assert span["input_tokens"] is not None


def test_run_shows_the_programs_traceback_exits_1_and_still_flushes_its_spans(server, tmp_path):
    write(
        tmp_path / "fails.py",
        CHAT_SCRIPT
        + """
def finish():
    raise ValueError("the program failed")

finish()
""",
    )
    store = tmp_path / "spans.sqlite"
    result = spyglass_process(
        [*PYTHON_M, "run", "--no-console", "fails.py"], cwd=tmp_path, env=openai_env(server, store)
    )
    assert result.returncode == 1
    traceback = result.stderr.splitlines()
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[1].startswith('  File "fails.py", line ')  # the program's frames only, as `python` shows
    assert traceback[-1] == "ValueError: the program failed"
    assert "cli.py" not in result.stderr and "runpy" not in result.stderr
    assert [s["name"] for s in stored_spans(store)] == ["chat gpt-4o"]


def test_run_a_module_with_its_own_arguments(server, tmp_path):
    package = tmp_path / "mypkg"
    package.mkdir()
    write(package / "__init__.py", "")
    write(package / "ask.py", CHAT_SCRIPT)
    store = tmp_path / "spans.sqlite"
    result = spyglass_process(
        [ENTRY_POINT, "run", "-m", "mypkg.ask", "--service-name", "not-ours"],
        cwd=tmp_path,
        env=openai_env(server, store),
    )
    assert result.returncode == 0, result.stderr
    assert f"argv: [{str(package / 'ask.py')!r}, '--service-name', 'not-ours']" in result.stdout.splitlines()
    [span] = stored_spans(store)
    assert (span["name"], span["service_name"]) == ("chat gpt-4o", "mypkg.ask")


@pytest.mark.parametrize(
    ("options", "env"),
    [
        pytest.param(
            [],
            {
                "OTEL_SERVICE_NAME": "my-service",
                "SPYGLASS_CONSOLE": "false",
                "SPYGLASS_CAPTURE_CONTENT": "false",
            },
            id="SPYGLASS_*",
        ),
        pytest.param(
            [],
            {
                "OTEL_SERVICE_NAME": "my-service",
                "SPYGLASS_CONSOLE": "0",
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false",
            },
            id="OTEL_*",
        ),
        pytest.param(
            ["--service-name", "my-service", "--no-console", "--no-capture-content"],
            {
                "OTEL_SERVICE_NAME": "overridden",
                "SPYGLASS_CONSOLE": "true",
                "SPYGLASS_CAPTURE_CONTENT": "true",
            },
            id="options win over the environment",
        ),
    ],
)
def test_run_honours_the_environment_and_its_options(options, env, server, tmp_path):
    script = write(tmp_path / "ask.py", CHAT_SCRIPT)
    store = tmp_path / "spans.sqlite"
    result = spyglass_process(
        [*PYTHON_M, "run", *options, "ask.py"], cwd=tmp_path, env={**openai_env(server, store), **env}
    )
    assert result.returncode == 0, result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [
        "answer",
        "argv",
    ]  # no console lines
    [span] = stored_spans(store)
    assert span["service_name"] == "my-service"
    assert span["input_tokens"] is not None
    assert "gen_ai.input.messages" not in span["attributes"]
    assert "gen_ai.output.messages" not in span["attributes"]
    assert script.exists()


def test_run_store_options(server, tmp_path):
    write(tmp_path / "ask.py", CHAT_SCRIPT)
    env = {k: v for k, v in openai_env(server, tmp_path / "unused.sqlite").items() if k != "SPYGLASS_STORE"}
    stored = spyglass_process(
        [*PYTHON_M, "run", "--no-console", "--store", "chosen.sqlite", "ask.py"], cwd=tmp_path, env=env
    )
    assert stored.returncode == 0, stored.stderr
    assert [s["name"] for s in stored_spans(tmp_path / "chosen.sqlite")] == ["chat gpt-4o"]

    (tmp_path / "chosen.sqlite").unlink()
    for extra in tmp_path.glob("chosen.sqlite-*"):
        extra.unlink()
    not_stored = spyglass_process([*PYTHON_M, "run", "--no-store", "ask.py"], cwd=tmp_path, env=env)
    assert not_stored.returncode == 0, not_stored.stderr
    assert "OK Chat Completion with 'gpt-4o'" in not_stored.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ask.py"]


# --- the command line wins over the program's own configure() -------------------------------------------------

CONFIGURED_SCRIPT = """
import openai
import spyglass

spyglass.configure(CONFIGURE_ARGS)
client = openai.OpenAI()
spyglass.instrument_openai(client, INSTRUMENT_ARGS)
response = client.chat.completions.create(
    model="gpt-4o", messages=[{"role": "user", "content": "Hello from the script"}]
)
print("answer:", response.choices[0].message.content)
"""


@pytest.mark.parametrize(
    ("flags", "configure_args", "instrument_args", "expected"),
    [
        pytest.param(
            ["--no-capture-content"], "", "", {"content": False}, id="--no-capture-content, configure()"
        ),
        pytest.param(
            ["--no-capture-content"],
            "capture_content=True",
            "capture_content=True",
            {"content": False},
            id="--no-capture-content wins over capture_content=True in configure() and instrument_openai()",
        ),
        pytest.param(
            ["--capture-content"],
            "capture_content=False",
            "",
            {"content": False},
            id="--capture-content does not win over capture_content=False",
        ),
        pytest.param([], "capture_content=True", "", {"content": True}, id="no flag: the program decides"),
        pytest.param(["--no-store"], "store='mine.sqlite'", "", {"store": None}, id="--no-store wins"),
        pytest.param(
            ["--store", "chosen.sqlite"],
            "store='mine.sqlite'",
            "",
            {"store": "chosen.sqlite"},
            id="--store wins",
        ),
        pytest.param(
            ["--no-console"], "console={'verbose': 'verbose'}", "", {"console": False}, id="--no-console wins"
        ),
        pytest.param(["--console"], "console=False", "", {"console": True}, id="--console wins"),
        pytest.param(
            ["--service-name", "from-cli"],
            "service_name='from-script'",
            "",
            {"service": "from-cli"},
            id="--service-name wins",
        ),
        pytest.param(
            [],
            "service_name='from-script'",
            "",
            {"service": "from-script"},
            id="the program's name over the default",
        ),
    ],
)
def test_what_the_command_line_says_wins_over_the_programs_configure(
    flags, configure_args, instrument_args, expected, server, tmp_path
):
    script = CONFIGURED_SCRIPT.replace("CONFIGURE_ARGS", configure_args).replace(
        "INSTRUMENT_ARGS", instrument_args
    )
    write(tmp_path / "ask.py", script)
    env = openai_env(server, tmp_path / "spans.sqlite")
    result = spyglass_process([*PYTHON_M, "run", *flags, "ask.py"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr

    stdout = result.stdout.splitlines()
    console_shown = any("OK Chat Completion with 'gpt-4o'" in line for line in stdout)
    assert console_shown is expected.get("console", True)
    store_name = expected.get("store", "spans.sqlite")
    files = sorted(path.name for path in tmp_path.iterdir() if not path.name.endswith(("-wal", "-shm")))
    assert files == sorted(["ask.py", *([store_name] if store_name else [])])
    if store_name is None:
        return
    [span] = stored_spans(tmp_path / store_name)
    assert span["service_name"] == expected.get("service", "ask")
    content = expected.get("content", True)
    assert ("gen_ai.input.messages" in span["attributes"]) is content
    raw = b"".join(path.read_bytes() for path in tmp_path.glob(f"{store_name}*"))
    assert (b"Hello from the script" in raw) is content  # nothing of the prompt in the file, WAL included


def test_run_with_a_store_that_is_not_a_store_is_one_clear_line(tmp_path):
    write(tmp_path / "ask.py", "print('should not run')\n")
    write(tmp_path / "notes.sqlite", "not a database, just some notes\n" * 100)
    result = spyglass_process([*PYTHON_M, "run", "--store", "notes.sqlite", "ask.py"], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "Error: notes.sqlite is not a SQLite database (it was left untouched): file is not a database"
    ]
    assert result.stdout == ""


def test_the_store_folder_made_by_spyglass_is_ignored_by_git(server, tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    write(tmp_path / "ask.py", CHAT_SCRIPT)
    env = {k: v for k, v in openai_env(server, tmp_path / "unused").items() if k != "SPYGLASS_STORE"}
    result = spyglass_process([*PYTHON_M, "run", "--no-console", "ask.py"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert [s["name"] for s in stored_spans(tmp_path / ".spyglass" / "spans.sqlite")] == ["chat gpt-4o"]
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout.splitlines() == ["?? ask.py"]
    assert (tmp_path / ".spyglass" / ".gitignore").read_text().splitlines()[-1] == "*"


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` made unwritable for this user: by its mode, or for root (whom modes do not stop) by the
    immutable attribute."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        undo = ["chmod", "755", str(folder)]
    elif subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
        undo = ["chattr", "-i", str(folder)]
    else:  # pragma: no cover - a file system without the attribute
        pytest.skip("running as root where chattr +i is not supported: no folder can be made unwritable")
    try:
        yield
    finally:
        subprocess.run(undo, check=True)


def test_a_store_folder_the_user_cannot_write_warns_once_and_the_program_runs(server, tmp_path):
    write(tmp_path / "ask.py", CHAT_SCRIPT)
    env = {k: v for k, v in openai_env(server, tmp_path).items() if k != "SPYGLASS_STORE"}
    first = spyglass_process([*PYTHON_M, "run", "--no-console", "ask.py"], cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    store_files = sorted(path.name for path in (tmp_path / ".spyglass").iterdir())
    assert store_files == [".gitignore", "spans.sqlite"]
    with read_only(tmp_path / ".spyglass"):
        result = spyglass_process([*PYTHON_M, "run", "ask.py"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    # The console prints from its own thread now, so its lines may land inside the program's: look for both.
    assert "This is a canned answer from the spyglass demo server." in result.stdout  # the program ran
    assert "OK Chat Completion with 'gpt-4o'" in result.stdout  # and the console with it
    [warning, exit_line] = result.stderr.splitlines()
    assert warning.startswith("spyglass cannot open its store .spyglass/spans.sqlite (")
    assert exit_line == "spyglass: 1 spans were not recorded (store: 1)"  # counted, and said
    assert sorted(path.name for path in (tmp_path / ".spyglass").iterdir()) == store_files
    assert [s["name"] for s in stored_spans(tmp_path / ".spyglass" / "spans.sqlite")] == ["chat gpt-4o"]


def test_without_openai_the_demo_names_a_command_that_installs_it(tmp_path):
    # `sys.modules['openai'] = None` makes the package invisible, as if it were not installed.
    code = "import sys; sys.modules['openai'] = None; from spyglass.cli import main; main(['demo'])"
    result = spyglass_process([sys.executable, "-c", code], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "Error: the demo needs the openai package, which this Python does not have: "
        f"{sys.executable} -m pip install 'openai>=1.40'"
    ]
    assert list(tmp_path.iterdir()) == []
