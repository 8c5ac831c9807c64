"""`ScrubbingOptions`: what users add to the scrubbing rules, checked when it is made."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import ConfigError


@dataclass(frozen=True)
class ScrubMatch:
    """What the scrubber is about to redact; a `callback` may keep it by returning the value to use."""

    key: str  # the attribute name
    value: Any  # the whole attribute value
    reason: str  # the key word or the pattern that matched


@dataclass(frozen=True)
class ScrubbingOptions:
    """How `configure(scrubbing=...)` redacts secrets.

    Args:
        extra_patterns: more regular expressions (a list of them); text matching one is redacted wherever
            it appears.
        extra_key_words: more words that mark an attribute (or a JSON key, a `KEY=value` name) as holding
            a secret.
        allowed_keys: attribute names never scrubbed (their values are kept as they are).
        callback: called for each attribute about to be scrubbed; return a value to keep instead of the
            redaction, or None to redact. If it raises, the value becomes `[Scrubbing failed]`.

    Raises:
        ConfigError: an argument is not what it should be (a single string instead of a list, a pattern
            that does not compile or matches empty text, a callback that is not callable); the message
            names the argument.
    """

    extra_patterns: Sequence[str | re.Pattern[str]] = ()
    extra_key_words: Sequence[str] = ()
    allowed_keys: Sequence[str] = ()
    callback: Callable[[ScrubMatch], Any] | None = None
    compiled_patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        patterns = _list_of("extra_patterns", self.extra_patterns, (str, re.Pattern), "regular expressions")
        words = _list_of("extra_key_words", self.extra_key_words, (str,), "words")
        allowed = _list_of("allowed_keys", self.allowed_keys, (str,), "attribute names")
        if any(not word.strip() for word in words):
            raise ConfigError(f"ScrubbingOptions(extra_key_words=...) holds an empty word: {words!r}")
        if self.callback is not None and not callable(self.callback):
            raise ConfigError(
                f"ScrubbingOptions(callback=...) must be a function taking a ScrubMatch, got {self.callback!r}"
            )
        object.__setattr__(self, "extra_patterns", patterns)
        object.__setattr__(self, "extra_key_words", words)
        object.__setattr__(self, "allowed_keys", allowed)
        object.__setattr__(self, "compiled_patterns", tuple(_compile(p) for p in patterns))


def _list_of(argument: str, value: Any, kinds: tuple[type, ...], what: str) -> tuple[Any, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | set | frozenset):
        raise ConfigError(
            f"ScrubbingOptions({argument}=...) must be a list of {what}, got {value!r}"
            + (f" (write [{value!r}] for one)" if isinstance(value, str) else "")
        )
    items = tuple(value)
    for item in items:
        if not isinstance(item, kinds):
            raise ConfigError(f"ScrubbingOptions({argument}=...) must hold only {what}, got {item!r}")
    return items


def _compile(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    try:
        compiled = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
    except re.error as exc:
        raise ConfigError(
            f"ScrubbingOptions(extra_patterns=...): {pattern!r} is not a valid regular expression: {exc}"
        ) from None
    if not isinstance(compiled.pattern, str):
        raise ConfigError(f"ScrubbingOptions(extra_patterns=...): {pattern!r} is a bytes pattern, not text")
    if compiled.search("") is not None:
        raise ConfigError(
            f"ScrubbingOptions(extra_patterns=...): {pattern!r} matches empty text, so it would redact "
            "everywhere; make it match at least one character"
        )
    return compiled
