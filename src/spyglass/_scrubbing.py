"""Redacting secrets from spans before any of them leaves the process (console, store, OTLP).

Everything of a span a sink can show is scrubbed: its name, every attribute, every event (name and
attributes: exception messages and stack traces), its links' attributes and its status description.
- An attribute whose *name* says it holds a secret (`password`, `api_key`, `authorization`, `token`...,
  matched as whole words of the name, so `gen_ai.usage.input_tokens` is not one) has its value replaced;
- inside any string, what `_scrub_text` finds (credential-shaped values, secret `name: value` pairs in JSON,
  `KEY=value`, headers, URL queries and prose, and the instrumented clients' own credentials) is replaced.

It fails closed: when scrubbing a value raises (a `callback` that raises, or a bug of ours), that value
becomes `[Scrubbing failed]`; when the failure cannot be pinned on one value, every string of the span does.

`Scrubber.scrub_span` is the entry point for a whole span (a snapshot of a started span, or an ended one).
`ScrubbingSpanProcessor` runs it first among the processors: in place at the span's start (name, attributes,
links: what the console and the store's pending row show), and at its end on what is new.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Link, Status

from ._credentials import known_credentials
from ._errors import log_internal_error
from ._scrub_text import REDACTED, SCRUBBING_FAILED, TextScrubber
from ._scrubbing_options import ScrubbingOptions, ScrubMatch
from ._snapshot import frozen_attributes

__all__ = [
    "REDACTED",
    "SCRUBBING_FAILED",
    "ScrubMatch",
    "Scrubber",
    "ScrubbingOptions",
    "ScrubbingSpanProcessor",
    "SpanParts",
    "failed_parts",
]

logger = logging.getLogger("spyglass")

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

# Names of ids that group spans, not credentials, though a key word is in them: `session.id` (OpenTelemetry's,
# set by `spyglass.span(session=...)`) names the conversation a trace belongs to. Their values are still
# checked for secret-shaped text like any other.
_GROUPING_IDS = frozenset({"session.id"})
_ATTRIBUTE_VALUE_TYPES = (str, bool, int, float)
_UNSEEN = object()
_MAX_DEPTH = 32


@dataclass(frozen=True)
class SpanParts:
    """What of a span a sink can show, besides ids, times and the resource."""

    name: str
    attributes: Mapping[str, Any]
    events: Sequence[Event] = ()
    links: Sequence[Link] = ()
    status: Status = field(default_factory=Status)

    @classmethod
    def of(cls, span: ReadableSpan) -> SpanParts:
        return cls(span.name, _raw(span._attributes), tuple(span.events), tuple(span.links), span.status)


class Scrubber:
    """The compiled rules. Nothing here raises: what cannot be scrubbed is replaced by a marker."""

    def __init__(self, options: ScrubbingOptions) -> None:
        words = [w.lower() for w in (*DEFAULT_KEY_WORDS, *options.extra_key_words)]
        self._key_words = tuple(dict.fromkeys(words))  # ordered: the first word listed names the reason
        self._allowed = frozenset(options.allowed_keys)
        self._callback = options.callback
        self._text = TextScrubber(DEFAULT_KEY_WORDS, options.extra_key_words, options.compiled_patterns)
        self._key_cache: dict[str, str | None] = {}
        self._callback_failure_logged = False

    # --- the entry point for a whole span ------------------------------------------------------------

    def scrub_span(self, span: ReadableSpan) -> ReadableSpan:
        """A copy of `span` with its name, attributes, events, links and status scrubbed; `span` itself
        when nothing needed it. Works on an ended span and on a snapshot of a started one."""
        parts = SpanParts.of(span)
        clean = self.scrub_parts(parts)
        if clean is parts:
            return span
        return ReadableSpan(
            name=clean.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=_frozen(clean.attributes, span._attributes),
            events=tuple(clean.events),
            links=tuple(clean.links),
            kind=span.kind,
            status=clean.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def scrub_parts(self, parts: SpanParts, checked: Mapping[str, Any] | None = None) -> SpanParts:
        """`parts` scrubbed (the same object when nothing needed it). `checked` holds attribute values
        already found clean (compared by identity): they are not looked at again."""
        try:
            literals = known_credentials()
            name = self._scrub_string(parts.name, literals)
            attributes = self.scrub_attributes(parts.attributes, checked, literals)
            events = self._scrub_events(parts.events, literals)
            links = self._scrub_links(parts.links, literals)
            status = parts.status
            if status.description:
                description = self._scrub_string(status.description, literals)
                if description != status.description:
                    status = Status(status.status_code, description)
        except Exception:
            log_internal_error("scrubbing")
            return failed_parts(parts)
        unchanged = attributes is None and events is None and links is None and status is parts.status
        if unchanged and name == parts.name:
            return parts
        return SpanParts(
            name,
            parts.attributes if attributes is None else attributes,
            parts.events if events is None else events,
            parts.links if links is None else links,
            status,
        )

    # --- pieces ----------------------------------------------------------------------------------------

    def scrub_text(self, text: str) -> str:
        """`text` with its secrets redacted (the clients' own credentials included)."""
        return self._scrub_string(text, known_credentials())

    def _scrub_string(self, text: str, literals: tuple[str, ...]) -> str:
        try:
            return self._text.scrub(text, literals)
        except Exception:
            log_internal_error("scrubbing.text")
            return SCRUBBING_FAILED

    def scrub_attributes(
        self,
        attributes: Mapping[str, Any] | None,
        checked: Mapping[str, Any] | None = None,
        literals: tuple[str, ...] | None = None,
    ) -> dict[str, Any] | None:
        """A scrubbed copy of `attributes`, or None when nothing in them needed scrubbing."""
        if not attributes:
            return None
        if literals is None:
            literals = known_credentials()
        if not self._needs_a_closer_look(attributes, checked, literals):
            return None
        changed: dict[str, Any] | None = None
        for key, value in attributes.items():
            if key in self._allowed or (checked is not None and checked.get(key) is value):
                continue
            try:
                new, reason = self._scrub_value(key, value, literals)
                if reason is None:
                    continue
                if self._callback is not None:
                    new = self._ask_callback(key, value, reason, new)
            except Exception:
                log_internal_error("scrubbing.attribute")
                new, reason = SCRUBBING_FAILED, "failed"
            if new != value:
                if changed is None:
                    changed = dict(attributes)
                changed[key] = new
                if reason not in ("pattern", "failed"):
                    _redact_in_message(changed, value, new)
        return changed

    def _scrub_value(self, key: str, value: Any, literals: tuple[str, ...]) -> tuple[Any, str | None]:
        reason = self._key_reason(key)
        if reason is not None:
            return f"[REDACTED: {reason}]", reason
        new = self._scrub_any(value, literals, 0)
        return (new, "pattern") if new != value else (value, None)

    def _scrub_any(self, value: Any, literals: tuple[str, ...], depth: int) -> Any:
        """Any attribute value the SDK accepts: text, bytes, sequences and mappings of them, at any depth."""
        if isinstance(value, str):
            return self._text.scrub(value, literals)
        if isinstance(value, bool | int | float) or value is None:
            return value
        if depth > _MAX_DEPTH:
            return SCRUBBING_FAILED  # deeper than any real attribute: not worth the risk
        if isinstance(value, bytes):
            text = value.decode("utf-8", "surrogateescape")
            clean = self._text.scrub(text, literals)
            return value if clean == text else clean.encode("utf-8", "surrogateescape")
        if isinstance(value, Mapping):
            return {
                k: f"[REDACTED: {reason}]"
                if isinstance(k, str) and (reason := self._key_reason(k)) is not None
                else self._scrub_any(v, literals, depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, tuple | list):
            items = [self._scrub_any(v, literals, depth + 1) for v in value]
            return items if isinstance(value, list) else tuple(items)
        return SCRUBBING_FAILED  # not an attribute value: nothing known about what it shows

    def _ask_callback(self, key: str, value: Any, reason: str, redacted: Any) -> Any:
        assert self._callback is not None
        try:
            kept = self._callback(ScrubMatch(key, value, reason))
        except Exception:
            if not self._callback_failure_logged:
                self._callback_failure_logged = True
                logger.exception(
                    "spyglass: the scrubbing callback raised on %r; the value is recorded as %s",
                    key,
                    SCRUBBING_FAILED,
                )
            return SCRUBBING_FAILED
        if kept is None:
            return redacted
        if _is_attribute_value(kept):
            return kept
        if not self._callback_failure_logged:
            self._callback_failure_logged = True
            logger.error(
                "spyglass: the scrubbing callback returned %r for %r, which is not an attribute value "
                "(a string, number, bool or a list of them); the value is recorded as %s",
                type(kept).__name__,
                key,
                SCRUBBING_FAILED,
            )
        return SCRUBBING_FAILED

    def _key_reason(self, key: str) -> str | None:
        cached = self._key_cache.get(key, False)
        if cached is not False:
            return cached  # type: ignore[return-value]
        reason = None
        if (
            key not in self._allowed
            and key not in _GROUPING_IDS
            and not key.startswith(("gen_ai.", "spyglass.", "server.", "http."))
        ):
            lowered = key.lower()
            parts = re.split(r"[._\- ]", lowered)
            for word in self._key_words:
                if word in parts or lowered == word or lowered.endswith(("_" + word, "." + word, "-" + word)):
                    reason = word
                    break
        if len(self._key_cache) < 4096:
            self._key_cache[key] = reason
        return reason

    def _needs_a_closer_look(
        self, attributes: Mapping[str, Any], checked: Mapping[str, Any] | None, literals: tuple[str, ...]
    ) -> bool:
        """One pass over all the attributes: is any key a secret's name, or any new text secret-shaped?

        Written for speed (it runs for every span): cached key verdicts, one text test over all new strings.
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
                texts.append(value)
            elif kind is tuple or kind is list:
                for item in value:
                    if type(item) is str:
                        texts.append(item)
                    elif not isinstance(item, bool | int | float):
                        return True  # bytes, mappings, nesting: rare, looked at closely
            elif kind is not int and kind is not float and kind is not bool:
                return True  # a str subclass, bytes, a mapping...
        return bool(texts) and self._text.may_hold_secret("\x00".join(texts), literals)

    def _scrub_events(self, events: Sequence[Event], literals: tuple[str, ...]) -> list[Event] | None:
        if not events:
            return None
        scrubbed: list[Event] = []
        changed = False
        for event in events:
            name = self._scrub_string(event.name, literals)
            attributes = self.scrub_attributes(event.attributes, None, literals)
            if attributes is None and name == event.name:
                scrubbed.append(event)
                continue
            changed = True
            scrubbed.append(
                Event(name, event.attributes if attributes is None else attributes, event.timestamp)
            )
        return scrubbed if changed else None

    def _scrub_links(self, links: Sequence[Link], literals: tuple[str, ...]) -> list[Link] | None:
        if not links:
            return None
        scrubbed: list[Link] = []
        changed = False
        for link in links:
            attributes = self.scrub_attributes(link.attributes, None, literals)
            if attributes is None:
                scrubbed.append(link)
            else:
                changed = True
                scrubbed.append(Link(link.context, attributes))
        return scrubbed if changed else None


def failed_parts(parts: SpanParts) -> SpanParts:
    """Every string of the span replaced by the marker: what is left when scrubbing itself failed."""
    try:
        return SpanParts(
            SCRUBBING_FAILED,
            _failed_attributes(parts.attributes),
            [Event(SCRUBBING_FAILED, _failed_attributes(e.attributes), e.timestamp) for e in parts.events],
            [Link(link.context, _failed_attributes(link.attributes)) for link in parts.links],
            Status(parts.status.status_code, SCRUBBING_FAILED) if parts.status.description else parts.status,
        )
    except Exception:  # even that failed: keep nothing but the name marker
        return SpanParts(SCRUBBING_FAILED, {}, (), (), Status(parts.status.status_code))


def _failed_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {key: _failed_value(value) for key, value in (attributes or {}).items()}


def _failed_value(value: Any) -> Any:
    """Numbers and booleans kept, anything that may show text replaced by the marker."""
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, tuple | list):
        return tuple(v if isinstance(v, bool | int | float) else SCRUBBING_FAILED for v in value)
    return SCRUBBING_FAILED


def _is_attribute_value(value: Any) -> bool:
    if isinstance(value, _ATTRIBUTE_VALUE_TYPES):
        return True
    return isinstance(value, tuple | list) and all(isinstance(v, _ATTRIBUTE_VALUE_TYPES) for v in value)


def _redact_in_message(attributes: dict[str, Any], value: Any, replacement: Any) -> None:
    """A field redacted for its name was also formatted into the message (`'login {password}'`)."""
    message = attributes.get(_MESSAGE)
    text = value if isinstance(value, str) else str(value)
    if isinstance(message, str) and len(text) >= 3 and text in message:
        attributes[_MESSAGE] = message.replace(text, str(replacement))


_MESSAGE = "spyglass.msg"


def _raw(attributes: Any) -> Mapping[str, Any]:
    """The plain dict inside the SDK's `BoundedAttributes` (iterating the mapping itself goes through a
    Python-level `__getitem__` per key, which cost more than all the checks)."""
    raw = getattr(attributes, "_dict", None)
    if isinstance(raw, dict):
        return raw
    return attributes if isinstance(attributes, Mapping) else {}


def _frozen(attributes: Mapping[str, Any], old: Any) -> BoundedAttributes:
    return frozen_attributes(attributes, getattr(old, "dropped", 0))


def _write_back(span: ReadableSpan, parts: SpanParts, clean: SpanParts) -> None:
    """Ended spans are read-only: the processor that runs first replaces their containers for the sinks."""
    span._name = clean.name
    if clean.attributes is not parts.attributes:
        span._attributes = _frozen(clean.attributes, span._attributes)
    if clean.events is not parts.events:
        span._events = tuple(clean.events)
    if clean.links is not parts.links:
        span._links = tuple(clean.links)
    span._status = clean.status


class ScrubbingSpanProcessor(SpanProcessor):
    """Runs first among the processors, so every sink after it sees scrubbed spans."""

    def __init__(self, scrubber: Scrubber) -> None:
        self._scrubber = scrubber
        # What each open span held when it started, already clean: its end only checks what is new.
        self._checked_at_start: dict[int, dict[str, Any]] = {}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        parts = SpanParts(span.name, _raw(span._attributes), (), tuple(span.links))
        clean = self._scrubber.scrub_parts(parts)
        try:
            if clean is not parts:
                if clean.name != span.name:
                    span.update_name(clean.name)
                if clean.attributes is not parts.attributes:
                    span.set_attributes(dict(clean.attributes))
                if clean.links is not parts.links:
                    span._links = tuple(clean.links)
            if span.context is not None and parts.attributes:
                if len(self._checked_at_start) > 10_000:  # spans that never end must not pile up
                    self._checked_at_start.clear()
                self._checked_at_start[span.context.span_id] = dict(_raw(span._attributes))
        except Exception:
            log_internal_error("scrubbing.on_start")
            _blank(span)

    def on_end(self, span: ReadableSpan) -> None:
        checked = self._checked_at_start.pop(span.context.span_id, None) if span.context else None
        try:
            parts = SpanParts.of(span)
            clean = self._scrubber.scrub_parts(parts, checked)
            if clean is not parts:
                _write_back(span, parts, clean)
        except Exception:
            log_internal_error("scrubbing.on_end")
            _blank(span)

    def scrub_span(self, span: ReadableSpan, started: bool) -> None:
        """Scrub in place, on the pipeline thread, a snapshot taken at a span's start or the ended span."""
        if not started:
            self.on_end(span)
            return
        try:
            parts = SpanParts.of(span)
            clean = self._scrubber.scrub_parts(parts)
            if clean is not parts:
                _write_back(span, parts, clean)
            if span.context is not None and parts.attributes:
                if len(self._checked_at_start) > 10_000:  # spans that never end must not pile up
                    self._checked_at_start.clear()
                self._checked_at_start[span.context.span_id] = dict(_raw(span._attributes))
        except Exception:
            log_internal_error("scrubbing.start")
            _blank(span)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _blank(span: ReadableSpan) -> None:
    """The last resort when even writing the scrubbed values back failed: the sinks get no text at all."""
    try:
        span._name = SCRUBBING_FAILED
        span._attributes = BoundedAttributes(attributes=_failed_attributes(_raw(span._attributes)))
        span._events = ()
        span._links = ()
        span._status = Status(span.status.status_code)
    except Exception:
        log_internal_error("scrubbing.blank")
