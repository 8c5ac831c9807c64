"""User spans (`span()`), log records (`info()` and friends) and `suppress_instrumentation()`."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import sys
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from . import _attribute_names as names
from ._config import STATE, settings
from ._encoding import encode_value
from ._errors import log_internal_error
from ._exceptions import record_exception
from ._templates import format_message

F = TypeVar("F", bound=Callable[..., Any])

_SUPPRESS_KEY = otel_context._SUPPRESS_INSTRUMENTATION_KEY


def user_attributes(msg_template: str, fields: dict[str, Any], kind: str) -> dict[str, Any]:
    """The attributes of a user span or log: message, template, kind, and each field encoded safely."""
    limit = settings().max_attribute_length
    attributes: dict[str, Any] = {
        names.KIND: kind,
        names.MSG_TEMPLATE: msg_template,
        names.MSG: encode_value(format_message(msg_template, fields), limit)[0],
    }
    json_keys: list[str] = []
    for key, value in fields.items():
        encoded, is_json = encode_value(value, limit)
        attributes[key] = encoded
        if is_json:
            json_keys.append(key)
    if json_keys:
        attributes[names.JSON_KEYS] = json.dumps(json_keys)
    return attributes


class SpyglassSpan:
    """A span opened by `spyglass.span()`: a context manager, and a decorator for functions.

    Example:
        ```python
        with spyglass.span('Asking {who}', who='OpenAI') as span:
            span.set_attribute('answer_length', 42)
        ```
    """

    def __init__(self, msg_template: str, attributes: dict[str, Any], session: str | None = None) -> None:
        self._msg_template = msg_template
        self._attributes = attributes
        self._session = session
        self._span: trace.Span | None = None
        self._token: object | None = None

    @property
    def message(self) -> str:
        """The formatted message."""
        return format_message(self._msg_template, self._attributes)

    @property
    def otel_span(self) -> trace.Span | None:
        """The underlying OpenTelemetry span while it is open."""
        return self._span

    def set_attribute(self, key: str, value: Any) -> None:
        """Record one more attribute on the open span (any value, encoded safely)."""
        if self._span is None:
            self._attributes[key] = value
            return
        try:
            encoded, _ = encode_value(value, settings().max_attribute_length)
            self._span.set_attribute(key, encoded)
        except Exception:
            log_internal_error("span.set_attribute")

    def __enter__(self) -> SpyglassSpan:
        try:
            settings()  # configure with defaults on first use
            attributes = user_attributes(self._msg_template, self._attributes, names.KIND_SPAN)
            if self._session is not None:
                attributes[names.SESSION_ID] = str(self._session)
            self._span = STATE.tracer.start_span(self._msg_template, attributes=attributes)
            self._token = otel_context.attach(trace.set_span_in_context(self._span))
        except Exception:
            log_internal_error("span.__enter__")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        span, token = self._span, self._token
        self._span = self._token = None
        if span is None:
            return
        try:
            if exc is not None:
                record_exception(span, exc, type(exc).__qualname__)
        except Exception:
            log_internal_error("span.__exit__")
        finally:
            try:  # whatever the recording did, the span ends (else its row stays pending for good)
                span.end()
            except Exception:
                log_internal_error("span.end")
            if token is not None:
                otel_context.detach(token)  # type: ignore[arg-type]

    def __call__(self, func: F) -> F:
        """Use as a decorator: each call of `func` runs inside a new span with this message."""
        template, attributes, session = self._msg_template, self._attributes, self._session
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with SpyglassSpan(template, dict(attributes), session):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with SpyglassSpan(template, dict(attributes), session):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def span(msg_template: str, /, *, session: str | None = None, **attributes: Any) -> SpyglassSpan:
    """Open a span around a block of code (or, as a decorator, around each call of a function).

    `{field}` placeholders in the template are filled from the keyword arguments, which are also recorded
    as attributes. The span name is the template itself, so it stays low-cardinality.

    Args:
        msg_template: the message, with `{field}` placeholders.
        session: the conversation this work belongs to (a chat's or user session's id): recorded as the
            `session.id` attribute, it puts the whole trace in that thread, with every other trace of the
            same session, in the viewer's Threads. Not a placeholder field.
        **attributes: fields for the template, recorded as attributes.

    Example:
        ```python
        with spyglass.span('Asking OpenAI to write some code'):
            response = client.chat.completions.create(model='gpt-4', messages=[...])

        with spyglass.span('Answering {user}', user=user.name, session=chat.id):
            ...  # every trace with this session is one thread in the viewer
        ```
    """
    return SpyglassSpan(msg_template, attributes, session)


_LEVELS = {"debug": 5, "info": 9, "warn": 13, "error": 17}


def _log(level: str, msg_template: str, attributes: dict[str, Any], exc: BaseException | None = None) -> None:
    try:
        attrs = user_attributes(msg_template, attributes, names.KIND_LOG)
        attrs[names.LEVEL] = level
        attrs[names.LEVEL_NUM] = _LEVELS[level]
        now = time.time_ns()
        log_span = STATE.tracer.start_span(msg_template, attributes=attrs, start_time=now)
    except Exception:
        log_internal_error(f"log.{level}")
        return
    try:
        if exc is not None:
            record_exception(log_span, exc, type(exc).__qualname__, escaped=False)
        if level == "error":
            log_span.set_status(Status(StatusCode.ERROR, attrs[names.MSG]))
    except Exception:
        log_internal_error(f"log.{level}.exception")
    finally:
        log_span.end(end_time=now)


def debug(msg_template: str, /, **attributes: Any) -> None:
    """Record a debug-level log record."""
    _log("debug", msg_template, attributes)


def info(msg_template: str, /, **attributes: Any) -> None:
    """Record an info-level log record, e.g. `spyglass.info('got {n} choices', n=2)`."""
    _log("info", msg_template, attributes)


def warn(msg_template: str, /, **attributes: Any) -> None:
    """Record a warning-level log record."""
    _log("warn", msg_template, attributes)


def error(msg_template: str, /, **attributes: Any) -> None:
    """Record an error-level log record."""
    _log("error", msg_template, attributes)


def exception(msg_template: str, /, **attributes: Any) -> None:
    """Record an error-level log record with the exception being handled (call it in an `except` block)."""
    _log("error", msg_template, attributes, exc=sys.exc_info()[1])


@contextlib.contextmanager
def suppress_instrumentation() -> Iterator[None]:
    """Inside this block, instrumented libraries (spyglass's and OpenTelemetry's) record nothing."""
    token = otel_context.attach(otel_context.set_value(_SUPPRESS_KEY, True))
    try:
        yield
    finally:
        otel_context.detach(token)


def is_suppressed() -> bool:
    """True inside `suppress_instrumentation()`."""
    return bool(otel_context.get_value(_SUPPRESS_KEY))
