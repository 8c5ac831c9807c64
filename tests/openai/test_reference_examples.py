"""The three examples of the reference documentation (shared/seed/openai.md), run as real programs with
`import spyglass as logfire` in place of `import logfire`, against the local server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

PRELUDE = """
import json, os, atexit
import spyglass as logfire
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_exporter = InMemorySpanExporter()
logfire.configure(console=os.environ.get("WITH_CONSOLE") == "1", store=False,
                  additional_span_processors=[SimpleSpanProcessor(_exporter)])

def _dump():
    logfire.force_flush()  # processors receive spans on spyglass's pipeline thread
    spans = [{"name": s.name, "parent": s.parent.span_id if s.parent else None, "id": s.context.span_id,
              "trace": s.context.trace_id, "attributes": {k: v if not isinstance(v, tuple) else list(v)
              for k, v in s.attributes.items()}} for s in _exporter.get_finished_spans()]
    with open(os.environ["SPANS_OUT"], "w") as f:
        json.dump(spans, f)
atexit.register(_dump)
"""

# Example 1, with `.text` read as `.message.content` (real chat choices have no `.text`).
SYNC_CHAT = """
import openai
import logfire

client = openai.Client()

logfire.instrument_openai(client)  # (1)!

response = client.chat.completions.create(
    model='gpt-4',
    messages=[
        {'role': 'system', 'content': 'You are a helpful assistant.'},
        {'role': 'user', 'content': 'Please write me a limerick about Python logging.'},
    ],
)
print(response.choices[0].message.content)
"""

IMAGE = """
import openai
import logfire

async def main():
    client = openai.AsyncClient()
    logfire.instrument_openai(client)

    response = await client.images.generate(
        prompt='Image of R2D2 running through a desert in the style of cyberpunk.',
        model='dall-e-3',
    )
    url = response.data[0].url
    import webbrowser
    webbrowser.open(url)

if __name__ == '__main__':
    import asyncio
    asyncio.run(main())
"""

STREAM_LIVE = """
import openai
import logfire
from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown

client = openai.AsyncClient()
logfire.instrument_openai(client)

async def main():
    console = Console()
    with logfire.span('Asking OpenAI to write some code'):
        response = await client.chat.completions.create(
            model='gpt-4',
            messages=[
                {'role': 'system', 'content': 'Reply in markdown one.'},
                {'role': 'user', 'content': 'Write Python to show a tree of files 🤞.'},
            ],
            stream=True
        )
        content = ''
        with Live('', refresh_per_second=15, console=console) as live:
            async for chunk in response:
                if chunk.choices[0].delta.content is not None:
                    content += chunk.choices[0].delta.content
                    live.update(Markdown(content))
    print('FINAL:', json.dumps(content))

if __name__ == '__main__':
    import asyncio
    asyncio.run(main())
"""


def run_example(source: str, server, tmp_path, console: bool = False) -> tuple[list[dict], str]:
    script = tmp_path / "example.py"
    body = textwrap.dedent(source).replace("import logfire\n", "", 1)
    script.write_text(PRELUDE + body.replace("import openai\n", "import openai, json\n", 1))
    out = tmp_path / "spans.json"
    env = {
        **os.environ,
        "OPENAI_API_KEY": "sk-example",
        "OPENAI_BASE_URL": server.base_url,
        "SPANS_OUT": str(out),
        "BROWSER": "true",
        "TERM": "dumb",
        "COLUMNS": "100",
        "WITH_CONSOLE": "1" if console else "0",
    }
    result = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text()), result.stdout


def test_sync_chat_example(server, tmp_path):
    spans, stdout = run_example(SYNC_CHAT, server, tmp_path)
    (span,) = spans
    assert span["name"] == "chat gpt-4"
    assert span["attributes"]["spyglass.msg"] == "Chat Completion with 'gpt-4'"
    output = json.loads(span["attributes"]["gen_ai.output.messages"])
    assert output[0]["parts"][0]["content"].strip() in stdout
    assert span["attributes"]["gen_ai.usage.input_tokens"] > 0


def test_async_image_generation_example(server, tmp_path):
    spans, _ = run_example(IMAGE, server, tmp_path)
    (span,) = spans
    assert span["name"] == "image_generation dall-e-3"
    assert span["attributes"]["spyglass.msg"] == "Image Generation with 'dall-e-3'"
    output = json.loads(span["attributes"]["gen_ai.output.messages"])
    assert output[0]["parts"][-1]["type"] == "uri"


@pytest.mark.parametrize("console", [False, True])
def test_async_streaming_with_rich_live_example(server, tmp_path, console):
    # console=True: the same program with spyglass printing to the same terminal as the Live display
    spans, stdout = run_example(STREAM_LIVE, server, tmp_path, console=console)
    by_name = {s["name"]: s for s in spans}
    parent = by_name["Asking OpenAI to write some code"]
    request, stream = by_name["chat gpt-4"], by_name["chat gpt-4 stream"]
    assert request["parent"] == parent["id"] and stream["parent"] == request["id"]
    assert request["trace"] == stream["trace"] == parent["trace"]
    final = json.loads(stdout.split("FINAL:", 1)[1].strip().splitlines()[0])
    text = json.loads(request["attributes"]["gen_ai.output.messages"])[0]["parts"][0]["content"]
    assert text == final  # the Live loop saw every chunk, exactly as without us
    assert request["attributes"]["spyglass.usage.source"] == "unavailable"  # the example does not ask for it
    assert stream["attributes"]["spyglass.stream.outcome"] == "completed"
