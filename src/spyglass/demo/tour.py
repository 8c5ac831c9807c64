"""`spyglass demo`: a short tour of what spyglass records, against the built-in server (no key, no network).

It is an ordinary program using the `openai` SDK the way the reference documentation does: a chat call, a
streamed answer inside a span of its own, a tool call round trip, an embedding, an image generation, one
failing call, and a chat of two turns in one session (two traces the viewer shows as one thread). Everything
it shows in the terminal comes from the spans.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import spyglass

from .server import serve

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name"}},
            "required": ["city"],
        },
    },
}


def run_tour(*, store: Path | None, console: bool = True) -> Path | None:
    """Run the tour; returns where the spans were stored (None when the store is off)."""
    import openai

    spyglass.configure(service_name="spyglass-demo", console=console, store=store if store else False)
    with serve() as server:
        client = openai.OpenAI(api_key="sk-demo-not-a-real-key", base_url=server.base_url, max_retries=0)
        with client, spyglass.instrument_openai(client):
            _tour(client)
    spyglass.force_flush()
    return store


def _tour(client: Any) -> None:
    with spyglass.span("Demo: a chat completion"):
        response = client.chat.completions.create(
            model="gpt-4o",
            messages=[
                SYSTEM,
                {"role": "user", "content": "Please write me a limerick about Python logging."},
            ],
        )
        spyglass.info("got {n} choice(s)", n=len(response.choices))

    with spyglass.span("Demo: a streamed answer"):
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": "Reply in markdown."},
                {"role": "user", "content": "Write Python to show a tree of files."},
            ],
            stream=True,
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        spyglass.info("streamed {chars} characters", chars=len(text))

    with spyglass.span("Demo: a tool call round trip"):
        messages: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": "What's the weather in Paris?"}]
        first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER_TOOL])
        call = first.choices[0].message.tool_calls[0]
        weather = {
            "city": json.loads(call.function.arguments).get("city", "Paris"),
            "temp_c": 18,
            "sky": "sunny",
        }
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": json.dumps(weather)},
        ]
        client.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER_TOOL])

    with spyglass.span("Demo: an embedding"):
        client.embeddings.create(model="text-embedding-3-small", input=["spyglass shows every call"])

    with spyglass.span("Demo: an image generation"):
        client.images.generate(model="dall-e-3", prompt="Image of R2D2 running through a desert, cyberpunk.")

    with spyglass.span("Demo: a failing call"):
        import openai

        try:
            client.chat.completions.create(
                model="missing-model", messages=[{"role": "user", "content": "Hello?"}]
            )
        except openai.NotFoundError as exc:
            spyglass.warn("the call failed as expected: {error}", error=exc.code)

    # A chat app makes a trace per turn; the session puts the turns in one thread (the viewer's Threads).
    history: list[dict[str, Any]] = [SYSTEM]
    for turn, question in enumerate(("Suggest a name for a tracing library.", "Shorter, please."), start=1):
        with spyglass.span("Demo: a chat, turn {turn}", turn=turn, session="demo-chat"):
            history.append({"role": "user", "content": question})
            answer = client.chat.completions.create(model="gpt-4o", messages=history)
            history.append({"role": "assistant", "content": answer.choices[0].message.content or ""})
