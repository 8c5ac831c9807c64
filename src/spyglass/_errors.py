"""spyglass's own exceptions and the one place internal errors are reported."""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger("spyglass")


class SpyglassError(Exception):
    """Base class of the errors spyglass raises on bad configuration or bad input."""


class ConfigError(SpyglassError, ValueError):
    """`configure()` or `instrument_openai()` was given something it cannot use; the message says what."""


_reported: set[str] = set()
_reported_lock = threading.Lock()


def log_internal_error(where: str) -> None:
    """Report a failure inside spyglass once per place, through `logging`; the user's call goes on.

    Call it from an `except` block: the traceback of the exception being handled is logged with it.
    """
    with _reported_lock:
        if where in _reported:
            return
        _reported.add(where)
    logger.exception(
        "spyglass: internal error in %s; the call went on uninstrumented. Please report this.", where
    )


def reset_reported_errors() -> None:
    """Forget which internal errors were reported (for tests)."""
    with _reported_lock:
        _reported.clear()
