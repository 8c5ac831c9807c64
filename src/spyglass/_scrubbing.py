"""Redacting secrets from spans before any of them leaves the process (console, store, OTLP).

Two rules, both on by default:
- an attribute whose *name* says it holds a secret (`password`, `api_key`, `authorization`, `token`...,
  matched as whole words of the name, so `gen_ai.usage.input_tokens` is not one) has its value replaced;
- inside any string value (prompts, answers, JSON attributes, exception messages), text shaped like a
  credential (OpenAI `sk-...` keys, `Bearer ...` tokens, AWS/GitHub/Slack/Google keys, JWTs, and
  `"password": "..."`-style JSON or `api-key: ...` header pairs) is replaced.

Ended OpenTelemetry spans are read-only, so the processor that runs first replaces the span's attribute and
event containers with scrubbed copies; every processor after it (the sinks) sees only those.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor

from ._errors import ConfigError, log_internal_error

REDACTED = "[REDACTED]"

DEFAULT_KEY_WORDS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "authorization",
    "auth",
    "cookie",
    "set-cookie",
    "session",
    "credential",
    "credentials",
    "private_key",
    "access_key",
    "jwt",
    "csrf",
    "xsrf",
    "ssn",
    "credit_card",
    "card_number",
    "cvv",
)

_VALUE_PATTERNS = (
    r"\bsk-(?:proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}",  # OpenAI / Anthropic style keys
    r"\b(?i:bearer)\s+[A-Za-z0-9\-._~+/]{8,}=*",  # Authorization: Bearer ...
    r"\bAKIA[0-9A-Z]{16}\b",  # AWS access key id
    r"\bgh[pousr]_[A-Za-z0-9]{30,}",  # GitHub tokens
    r"\bgithub_pat_[A-Za-z0-9_]{30,}",
    r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",  # Slack
    r"\bAIza[0-9A-Za-z\-_]{35}",  # Google API key
    r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # JWT
)


# Attributes spyglass itself fills with identifiers (never user text): not worth scanning.
_OWN_IDENTIFIERS = frozenset(
    {
        "spyglass.kind",
        "spyglass.openai.path",
        "spyglass.openai.request_id",
        "spyglass.cost.status",
        "spyglass.usage.source",
        "spyglass.stream.outcome",
        "spyglass.level",
        "gen_ai.operation.name",
        "gen_ai.provider.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.response.id",
        "gen_ai.output.type",
        "openai.api.type",
        "server.address",
        "http.request.method",
        "openai.response.system_fingerprint",
        "openai.response.service_tier",
        "openai.request.service_tier",
    }
)


# Every value pattern above contains one of these literals; text without any cannot match them.
_TRIGGERS = (
    "sk-",
    "earer",
    "EARER",
    "AKIA",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "xox",
    "AIza",
    "eyJ",
)
_UNSEEN = object()


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
        extra_patterns: more regular expressions; text matching one is redacted wherever it appears.
        extra_key_words: more words that mark an attribute (or JSON key) as holding a secret.
        allowed_keys: attribute names never scrubbed (their values are kept as they are).
        callback: called for each attribute about to be scrubbed; return a value to keep instead of the
            redaction, or None to redact.
    """

    extra_patterns: Sequence[str] = ()
    extra_key_words: Sequence[str] = ()
    allowed_keys: Sequence[str] = ()
    callback: Callable[[ScrubMatch], Any] | None = None


class Scrubber:
    """Compiled rules; `scrub_attributes` returns None when nothing needed scrubbing (the common case)."""

    def __init__(self, options: ScrubbingOptions) -> None:
        words = [w.lower() for w in (*DEFAULT_KEY_WORDS, *options.extra_key_words)]
        try:
            extra = [re.compile(p) for p in options.extra_patterns]
        except re.error as exc:
            raise ConfigError(f"scrubbing pattern is not a valid regular expression: {exc}") from None
        self._key_words = tuple(dict.fromkeys(words))  # ordered: the first word listed names the reason
        self._allowed = frozenset(options.allowed_keys)
        self._callback = options.callback
        word_alternation = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        # `"password": "..."` in JSON text and `api-key: ...` / `password=...` pairs in plain text.
        pair = (
            rf'("(?:[^"\\]*[_\-. ])?(?:{word_alternation})"\s*:\s*)"(?:[^"\\]|\\.)*"'
            rf"|(\b(?:{word_alternation})\s*[:=]\s*)(?!\[REDACTED\])[^\s\"',;&]{{6,}}"
        )
        self._pair = re.compile(pair, re.IGNORECASE)
        # The cheap test for those pairs, run on lowered text: a key word, then quotes or spaces, then : or =.
        self._key_then_separator = re.compile(rf"(?:{word_alternation})[\s\"']*[:=]")
        self._value = re.compile("|".join(f"(?:{p})" for p in _VALUE_PATTERNS))
        self._extra = extra
        self._key_cache: dict[str, str | None] = {}

    def _key_reason(self, key: str) -> str | None:
        cached = self._key_cache.get(key, False)
        if cached is not False:
            return cached  # type: ignore[return-value]
        reason = None
        if key not in self._allowed and not key.startswith(("gen_ai.", "spyglass.", "server.", "http.")):
            lowered = key.lower()
            parts = re.split(r"[._\- ]", lowered)
            for word in self._key_words:
                if word in parts or lowered == word or lowered.endswith(("_" + word, "." + word, "-" + word)):
                    reason = word
                    break
        if len(self._key_cache) < 4096:
            self._key_cache[key] = reason
        return reason

    def _may_hold_secret(self, text: str) -> bool:
        """A cheap test that nearly every string fails; when it passes, the exact patterns decide.

        Every value pattern contains one of a few literals (checked with C-speed substring search), and a
        `password: ...` / `"api_key": "..."` pair has a key word right before a separator (one search of
        the lowered text for the words followed by a `:` or `=`: about 20 ns a character, several times
        less than looking at the text before each separator in Python).
        """
        for trigger in _TRIGGERS:
            if trigger in text:
                return True
        if (":" in text or "=" in text) and self._key_then_separator.search(text.lower()):
            return True
        return any(pattern.search(text) for pattern in self._extra)

    def scrub_text(self, text: str) -> str:
        if not self._may_hold_secret(text):
            return text
        text = self._value.sub(REDACTED, text)
        text = self._pair.sub(_pair_replacement, text)
        for pattern in self._extra:
            text = pattern.sub(REDACTED, text)
        return text

    def _needs_a_closer_look(self, attributes: Any, checked: dict[str, Any] | None) -> bool:
        """One pass over a whole span: is any key a secret's name, or any new text secret-shaped?

        This runs for every span on the caller's thread, so it is written for speed: cached key verdicts,
        and one text test over all new strings joined.
        """
        key_cache = self._key_cache
        texts: list[str] = []
        for key, value in attributes.items():
            if checked is not None and checked.get(key) is value:
                continue
            reason = key_cache.get(key, _UNSEEN)
            if reason is _UNSEEN:
                reason = self._key_reason(key)
            if reason is not None:
                return True
            kind = type(value)
            if kind is str:
                if key not in _OWN_IDENTIFIERS:
                    texts.append(value)
            elif (kind is tuple or kind is list) and value and type(value[0]) is str:
                texts.extend(value)
        return bool(texts) and self._may_hold_secret("\x00".join(texts))

    def _scrub_value(self, key: str, value: Any) -> Any:
        if isinstance(value, str):
            if key in _OWN_IDENTIFIERS:
                return value
            return self.scrub_text(value)
        if isinstance(value, (tuple, list)) and value and isinstance(value[0], str):
            return tuple(self.scrub_text(v) for v in value)
        return value

    def scrub_attributes(
        self, attributes: Any, checked: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """A scrubbed copy of `attributes`, or None when nothing in them needed scrubbing.

        `checked` holds values already found clean (by identity): they are not looked at again.
        """
        if not attributes:
            return None
        if not self._needs_a_closer_look(attributes, checked):
            return None
        changed: dict[str, Any] | None = None
        for key, value in attributes.items():
            if key in self._allowed or (checked is not None and checked.get(key) is value):
                continue
            reason = self._key_reason(key)
            if reason is not None:
                new = f"[REDACTED: {reason}]"
            else:
                new = self._scrub_value(key, value)
                if new == value:
                    continue
                reason = "pattern"
            if self._callback is not None:
                kept = self._callback(ScrubMatch(key, value, reason))
                if kept is not None:
                    new = kept
            if new != value:
                if changed is None:
                    changed = dict(attributes)
                changed[key] = new
                if reason != "pattern":
                    _redact_in_message(changed, value, new)
        return changed


def _redact_in_message(attributes: dict[str, Any], value: Any, replacement: Any) -> None:
    """A field redacted for its name was also formatted into the message (`'login {password}'`)."""
    message = attributes.get(_MESSAGE)
    text = value if isinstance(value, str) else str(value)
    if isinstance(message, str) and len(text) >= 3 and text in message:
        attributes[_MESSAGE] = message.replace(text, str(replacement))


_MESSAGE = "spyglass.msg"


def _pair_replacement(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        return f'{match.group(1)}"{REDACTED}"'
    return f"{match.group(2)}{REDACTED}"


def _raw(span: ReadableSpan) -> Mapping[str, Any]:
    """The span's attributes as the plain dict inside the SDK's `BoundedAttributes`.

    Iterating `span.attributes` goes through a Python-level `__getitem__` per key, which cost more than all
    the checks; the SDK keeps the values in `._dict`. Falls back to the public mapping if that changes.
    """
    attributes = getattr(span, "_attributes", None)
    raw = getattr(attributes, "_dict", None)
    if isinstance(raw, dict):
        return raw
    return span.attributes or {}


class ScrubbingSpanProcessor(SpanProcessor):
    """Runs first among the processors, so every sink after it sees scrubbed spans."""

    def __init__(self, scrubber: Scrubber) -> None:
        self._scrubber = scrubber
        # What each open span held when it started, already clean: its end only checks what is new.
        self._checked_at_start: dict[int, dict[str, Any]] = {}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            # A template with no placeholder is the span name as written: a secret in it must go too.
            name = self._scrubber.scrub_text(span.name)
            if name != span.name:
                span.update_name(name)
            attributes = _raw(span)
            scrubbed = self._scrubber.scrub_attributes(attributes)
            if scrubbed:
                span.set_attributes(scrubbed)
            if attributes and span.context is not None:
                if len(self._checked_at_start) > 10_000:  # spans that never end must not pile up
                    self._checked_at_start.clear()
                self._checked_at_start[span.context.span_id] = dict(_raw(span))
        except Exception:
            log_internal_error("scrubbing.on_start")

    def on_end(self, span: ReadableSpan) -> None:
        try:
            self._scrub_ended(span)
        except Exception:
            log_internal_error("scrubbing.on_end")

    def scrub_span(self, span: ReadableSpan, started: bool) -> None:
        """Scrub in place, on the pipeline thread, a snapshot taken at a span's start or the ended span."""
        if not started:
            self._scrub_ended(span)
            return
        scrubber = self._scrubber
        name = scrubber.scrub_text(span.name)
        if name != span.name:
            span._name = name
        attributes = _raw(span)
        scrubbed = scrubber.scrub_attributes(attributes)
        if scrubbed is not None:
            span._attributes = BoundedAttributes(attributes=scrubbed, immutable=True, max_value_len=None)
        if attributes and span.context is not None:
            if len(self._checked_at_start) > 10_000:  # spans that never end must not pile up
                self._checked_at_start.clear()
            self._checked_at_start[span.context.span_id] = dict(_raw(span))

    def _scrub_ended(self, span: ReadableSpan) -> None:
        scrubber = self._scrubber
        checked = self._checked_at_start.pop(span.context.span_id, None) if span.context else None
        name = scrubber.scrub_text(span.name)
        if name != span.name:  # renamed after its start (update_name): scrub again
            span._name = name
        scrubbed = scrubber.scrub_attributes(_raw(span), checked)
        if scrubbed is not None:
            span._attributes = BoundedAttributes(attributes=scrubbed, immutable=True, max_value_len=None)
        if span.events:
            events = []
            changed = False
            for event in span.events:
                event_attributes = scrubber.scrub_attributes(event.attributes)
                if event_attributes is None:
                    events.append(event)
                else:
                    changed = True
                    events.append(Event(event.name, event_attributes, event.timestamp))
            if changed:
                span._events = tuple(events)
        description = span.status.description
        if description:
            clean = scrubber.scrub_text(description)
            if clean != description:
                from opentelemetry.trace import Status

                span._status = Status(span.status.status_code, clean)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
