"""`POST /v1/completions`: the legacy text-completion endpoint, streamed or not.

`prompt` may be a string, a list of strings, a token array or a list of token arrays; each prompt gets
`n` choices, numbered `prompt_index * n + i` as the real API does.
"""

from __future__ import annotations

from typing import Any

from spyglass.demo._faults import MIDSTREAM_ERROR
from spyglass.demo._sse import EventStream, data_frame
from spyglass.demo._util import (
    CREATED,
    answer_key,
    canned_answer,
    count_tokens,
    make_id,
    split_words,
    truncate_tokens,
)

Body = dict[str, Any]


def completion(body: Body) -> Body:
    """The non-streamed `text_completion` object."""
    choices = _choices(body)
    return {
        **_header(body),
        "choices": [
            {"text": text, "index": index, "logprobs": None, "finish_reason": finish}
            for index, text, finish in choices
        ],
        "usage": _usage(body, choices),
    }


def completion_stream(body: Body) -> EventStream:
    """The streamed chunks (without `[DONE]`): a few words each, then one chunk per choice that finishes."""
    choices = _choices(body)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    pieces = [(index, piece, None) for index, text, _ in choices for piece in split_words(text)]
    endings = [(index, "", finish) for index, _, finish in choices]
    chunks = [_chunk(body, [_chunk_choice(*item)], include_usage) for item in [*pieces, *endings]]
    if include_usage:
        chunks.append({**_chunk(body, [], include_usage=False), "usage": _usage(body, choices)})
    return EventStream(
        [data_frame(chunk) for chunk in chunks],
        error_frame=lambda _position: data_frame(MIDSTREAM_ERROR.body()),
        terminator=b"data: [DONE]\n\n",
    )


def prompts(body: Body) -> list[str]:
    """Each prompt as text; token arrays are shown as a placeholder."""
    prompt = body.get("prompt", "")
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
        return [_tokens_placeholder(prompt)]
    if isinstance(prompt, list):
        return [p if isinstance(p, str) else _tokens_placeholder(p) for p in prompt] or [""]
    return [""]


def _tokens_placeholder(tokens: Any) -> str:
    return f"a prompt of {len(tokens) if isinstance(tokens, list) else 0} tokens"


def _prompt_tokens(body: Body) -> int:
    prompt = body.get("prompt", "")
    if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
        return len(prompt)
    if isinstance(prompt, list):
        return sum(len(p) if isinstance(p, list) else count_tokens(str(p)) for p in prompt)
    return count_tokens(str(prompt))


def _choices(body: Body) -> list[tuple[int, str, str]]:
    n = max(1, int(body.get("n") or 1))
    limit = body.get("max_tokens")
    result = []
    for prompt_index, prompt in enumerate(prompts(body)):
        for i in range(n):
            text = canned_answer(prompt, i)
            if body.get("echo"):
                text = prompt + text
            finish = "stop"
            if isinstance(limit, int) and count_tokens(text) > limit:
                text, finish = truncate_tokens(text, limit), "length"
            result.append((prompt_index * n + i, text, finish))
    return result


def _usage(body: Body, choices: list[tuple[int, str, str]]) -> Body:
    prompt = _prompt_tokens(body)
    completion_tokens = sum(count_tokens(text) for _, text, _ in choices)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }


def _header(body: Body) -> Body:
    return {
        "id": make_id("cmpl-", "completion", answer_key(body)),
        "object": "text_completion",
        "created": CREATED,
        "model": str(body.get("model", "")),
    }


def _chunk_choice(index: int, text: str, finish: str | None) -> Body:
    return {"text": text, "index": index, "logprobs": None, "finish_reason": finish}


def _chunk(body: Body, choices: list[Body], include_usage: bool) -> Body:
    chunk = {**_header(body), "choices": choices}
    if include_usage:
        chunk["usage"] = None
    return chunk
