"""Calls made by a real program (the openai SDK under spyglass, in a subprocess) into a store, so that what
the viewer shows and replays is what spyglass really records, without configuring tracing in the tests'
own process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def record_calls(store: Path | str, base_url: str) -> None:
    """A real program's calls, into `store`: a chat completion, a Responses API call and a streamed chat."""
    script = textwrap.dedent(
        f"""
        import openai, spyglass
        spyglass.configure(store={str(store)!r}, console=False, service_name="shop")
        client = openai.OpenAI(api_key="sk-recorder-key", base_url={base_url!r}, max_retries=0)
        spyglass.instrument_openai(client)
        with spyglass.span("Answer a customer"):
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[
                    {{"role": "system", "content": "You are a terse shop assistant."}},
                    {{"role": "user", "content": "Do you sell umbrellas?"}},
                ],
                temperature=0.3,
                max_tokens=40,
            )
        with spyglass.span("Ask the Responses API"):
            client.responses.create(model="gpt-4o-mini", instructions="Be brief.", input="Name a colour.")
        with spyglass.span("Stream a story"):
            for _ in client.chat.completions.create(
                model="gpt-4o-mini", messages=[{{"role": "user", "content": "Tell a story."}}], stream=True
            ):
                pass
        spyglass.shutdown()
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
