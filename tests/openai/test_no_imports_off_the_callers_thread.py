"""spyglass's own threads import nothing while the program runs its traced calls.

A module half-imported by one thread is visible to the others in `sys.modules`: openai 2.x looks `httpx2`
up there on every request, and when the pipeline thread's first cost lookup imported `genai_prices` (which
imports `httpx2`) during a call, the caller got `AttributeError: partially initialized module 'httpx2'`
(CI, openai 2.54). So whatever the pipeline, the console and the store need is imported before the first
traced call, on the program's thread; this test records every import that happens on a spyglass thread
in a fresh interpreter running each kind of call with every sink on.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from spyglass.demo.server import DemoServer

PROGRAM = textwrap.dedent(
    """
    import sys, threading

    imported_off_thread = []

    class Recorder:
        def find_spec(self, name, path=None, target=None):
            thread = threading.current_thread().name
            if thread.startswith("spyglass"):
                imported_off_thread.append((thread, name))
            return None

    import openai
    import spyglass

    spyglass.configure(console={"colors": "always"}, store=sys.argv[2])
    spyglass.instrument_openai()
    sys.meta_path.insert(0, Recorder())
    client = openai.OpenAI(api_key="sk-test-key-0000", base_url=sys.argv[1], max_retries=0)
    messages = [{"role": "user", "content": "Hi"}]
    with spyglass.span("calls"):
        client.chat.completions.create(model="gpt-4o", messages=messages)
        for _ in client.chat.completions.create(model="gpt-4o", messages=messages, stream=True):
            pass
        client.embeddings.create(model="text-embedding-3-small", input="x")
        client.responses.create(model="gpt-4.1", input="x")
        for _ in client.responses.create(model="gpt-4.1", input="x", stream=True):
            pass
        spyglass.info("done {n}", n=5)
    spyglass.force_flush()
    print("IMPORTED", sorted(set(imported_off_thread)))
    """
)


def test_spyglass_threads_import_nothing_during_traced_calls(tmp_path: Path, server: DemoServer) -> None:
    program = tmp_path / "app.py"
    program.write_text(PROGRAM)
    done = subprocess.run(
        [sys.executable, str(program), server.base_url, str(tmp_path / "spans.sqlite")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("IMPORTED")]
    assert lines == ["IMPORTED []"], lines
