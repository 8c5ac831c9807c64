"""Recording a program's exception on a span, whatever the exception does when it is printed.

An exception's `__str__` is the program's code: it may raise, or return something that is not text. The
SDK's `record_exception` then raises too, and a span whose recording fails must still end, with an error
status and an exception event that says what could be read.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from . import _attribute_names as names
from ._encoding import clean_text


def exception_text(exc: BaseException) -> str:
    """`str(exc)`, or, when that raises or is not text, what `traceback` prints in its place."""
    try:
        text = str(exc)
    except Exception:
        return f"<{type(exc).__qualname__} str() failed>"
    return text if isinstance(text, str) else f"<{type(exc).__qualname__} str() failed>"


def record_exception(span: trace.Span, exc: BaseException, error_type: str, *, escaped: bool = True) -> None:
    """Status ERROR, the exception event and `error.type` on `span` (`escaped`: the exception left the
    span's code, rather than being logged inside it)."""
    text = exception_text(exc)
    try:
        span.record_exception(exc, escaped=escaped)
    except Exception:  # its message could not be read: the same event, with our text for the message
        span.add_event(
            "exception",
            {
                "exception.type": f"{type(exc).__module__}.{type(exc).__qualname__}",
                "exception.message": text,
                "exception.escaped": str(escaped),
            },
        )
    span.set_status(error_status(exc, text))
    span.set_attribute(names.ERROR_TYPE, error_type)


def error_status(exc: BaseException, text: str | None = None) -> Status:
    """The ERROR status a span gets for `exc`: `Type: message`, its message read safely."""
    message = exception_text(exc) if text is None else text
    return Status(StatusCode.ERROR, clean_text(f"{type(exc).__name__}: {message}", 4096))
