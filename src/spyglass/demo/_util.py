"""Deterministic building blocks shared by the demo server's endpoints.

Everything here is a pure function of its input, so the same request always gets the same bytes back:
ids come from a hash of the request, `created` is a fixed timestamp, and token counts come from a
simple rule instead of a real tokenizer.

Token counting rule (used for every `usage` the server reports): a token is a run of letters/digits
(`\\w+`) or a single punctuation mark, so `"Say this, please!"` is 5 tokens. Chat prompts add 3 tokens
per message (role and separators), as the real API's overhead does roughly.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

CREATED = 1_735_689_600
"""Fixed `created` / `created_at` timestamp (2025-01-01T00:00:00Z) of every demo answer."""

SYSTEM_FINGERPRINT = "fp_spyglass"
CACHE_MIN_TOKENS = 1024
CACHE_BLOCK_TOKENS = 128
PER_MESSAGE_TOKENS = 3

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD_WITH_SPACE = re.compile(r"\s*\S+")
_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

REASONING_TOKENS = {"none": 0, "minimal": 8, "low": 32, "medium": 128, "high": 512, "xhigh": 1024}
"""Reasoning tokens reported for each `reasoning_effort` / `reasoning.effort` value."""


def dumps(value: Any) -> str:
    """Compact JSON, like the real API's streamed chunks."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def digest(*parts: Any) -> bytes:
    """A stable hash of JSON-able parts."""
    return hashlib.sha256(dumps(parts).encode()).digest()


def make_id(prefix: str, *parts: Any, length: int = 29, hex_digits: bool = False) -> str:
    """An OpenAI-looking id such as `chatcmpl-AbC...` (or hex, like `resp_0fef...`), derived from `parts`."""
    stream = hashlib.shake_256(dumps(parts).encode())
    if hex_digits:
        return prefix + stream.hexdigest((length + 1) // 2)[:length]
    return prefix + "".join(_ID_ALPHABET[byte % len(_ID_ALPHABET)] for byte in stream.digest(length))


def count_tokens(text: str) -> int:
    """Words and punctuation marks in `text` (see the module docstring)."""
    return len(_TOKEN.findall(text))


def truncate_tokens(text: str, limit: int) -> str:
    """The prefix of `text` holding its first `limit` tokens."""
    matches = list(_TOKEN.finditer(text))
    if limit >= len(matches):
        return text
    if limit <= 0:
        return ""
    return text[: matches[limit - 1].end()]


def cached_tokens(prompt_tokens: int) -> int:
    """Prompt-cache hits: like the real API, only prompts of 1024+ tokens, in blocks of 128."""
    if prompt_tokens < CACHE_MIN_TOKENS:
        return 0
    return prompt_tokens // CACHE_BLOCK_TOKENS * CACHE_BLOCK_TOKENS


def reasoning_tokens(effort: str | None) -> int:
    """Reasoning tokens for a reasoning effort; none unless reasoning was asked for."""
    if effort is None:
        return 0
    return REASONING_TOKENS.get(effort, REASONING_TOKENS["medium"])


def split_words(text: str, words_per_piece: int = 3) -> list[str]:
    """`text` cut into pieces of a few words each; the pieces concatenate back to `text`."""
    words = _WORD_WITH_SPACE.findall(text)
    if not words:
        return [text] if text else []
    pieces = ["".join(words[i : i + words_per_piece]) for i in range(0, len(words), words_per_piece)]
    tail = text[sum(len(p) for p in pieces) :]
    if tail:
        pieces[-1] += tail
    return pieces


def split_chars(text: str, size: int = 8) -> list[str]:
    """`text` cut into fragments of `size` characters, as streamed tool-call arguments arrive."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def shorten(text: str, max_words: int = 12) -> str:
    """The first words of `text`, with an ellipsis when it was longer."""
    words = text.split()
    if len(words) <= max_words:
        return " ".join(words)
    return " ".join(words[:max_words]) + "…"


def canned_answer(prompt: str, index: int = 0) -> str:
    """The demo's answer to a prompt; `index` > 0 gives the alternatives of `n>1`."""
    said = shorten(prompt) or "nothing"
    answer = f'This is a canned answer from the spyglass demo server. You said: "{said}"'
    if index:
        return f"Alternative {index + 1}. {answer}"
    return answer


def tool_result_answer(result: str) -> str:
    """The demo's answer once a tool has run."""
    return f"The tool returned: {shorten(result, 24) or 'nothing'}. That is the answer from the demo server."


def text_of(content: Any) -> str:
    """The text of a message `content`: a string, or a list of parts carrying `text`."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_part_text(part) for part in content if _part_text(part))
    return ""


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, dict):
        text = part.get("text")
        if isinstance(text, str):
            return text
    return ""


def joined_tokens(texts: Iterable[str]) -> int:
    return sum(count_tokens(text) for text in texts)


def answer_key(body: dict[str, Any]) -> dict[str, Any]:
    """The request fields that decide the answer: a streamed and a plain request share their ids."""
    return {key: value for key, value in body.items() if key not in ("stream", "stream_options")}
