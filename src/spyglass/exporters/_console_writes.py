"""Console text written where it cannot cut the program's own lines.

The console renders on a thread of its own, so that a slow or blocked terminal never stalls the program.
But a write from that thread can land between the pieces of one of the program's own `print()` calls (each
argument, separator and end is a write of its own, and with `PYTHONUNBUFFERED` each is a system call that lets
our thread in), giving `answer:12:00:01 OK Chat Completion...`. So rendered text waits here, and is written:

- on the program's thread, at the next span boundary (a span starting or ending: never inside a `print()`),
  when the stream can take it without blocking (poll says writable, and at most 4 KiB at a time);
- by the console thread, once it has waited `DELAY` seconds (a program that prints nothing traced for a
  while), or at flush and exit.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections import deque
from typing import IO

from rich.console import Console

logger = logging.getLogger("spyglass")

# A pipe that poll() calls writable has room for at least this much: a write no longer than it never blocks.
_ATOMIC_BYTES = 4096

DELAY = 0.5  # seconds rendered text may wait for a span boundary before the console thread writes it


class PendingWrites:
    """Rendered console text waiting to be written to `console.file`."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._pending: deque[tuple[float, str]] = deque()
        self._lock = threading.Lock()  # held while writing: the program's thread never waits for it
        self._broken = False

    def add(self, text: str) -> None:
        if not self._broken:
            self._pending.append((time.monotonic(), text))

    def at_span_boundary(self) -> None:
        """On the program's thread: write what waits, unless that could block it (or is being written)."""
        if not self._pending or not self._lock.acquire(blocking=False):
            return
        try:
            file = self._console.file
            if _writable_now(file):
                self._write(file, limit=_ATOMIC_BYTES)
        finally:
            self._lock.release()

    def write_due(self) -> float | None:
        """On the console thread: write what has waited `DELAY`; seconds until the next text is due, if any."""
        pending = self._pending
        if not pending:
            return None
        wait = pending[0][0] + DELAY - time.monotonic()
        if wait > 0:
            return wait
        with self._lock:
            self._write(self._console.file)
        return None

    def write_all(self) -> None:
        with self._lock:
            self._write(self._console.file)

    def _write(self, file: IO[str], limit: int | None = None) -> None:
        """Write what waits, in order; with `limit`, only the texts that fit in that many bytes together."""
        pending = self._pending
        if not pending or self._broken:
            pending.clear()
            return
        parts: list[str] = []
        size = 0
        while pending:
            text = pending[0][1]
            size += len(text.encode("utf-8", "replace"))
            if limit is not None and size > limit:
                break
            parts.append(pending.popleft()[1])
        if not parts:
            return
        try:
            file.write("".join(parts))
            file.flush()
        except (OSError, ValueError) as exc:  # a closed pipe (`app.py | head`), a closed file
            # Where the console writes is gone: no bug to report, and no use trying again for every span.
            self._broken = True
            logger.warning(
                "spyglass: the console stopped: its output failed (%r); the other sinks go on", exc
            )


def _writable_now(file: IO[str]) -> bool:
    """Whether a write to `file` cannot block: in-memory files always; pipes and terminals when poll says so."""
    try:
        descriptor = file.fileno()
    except (AttributeError, OSError, ValueError):
        return True
    try:
        return bool(select.select([], [descriptor], [], 0)[1])
    except (OSError, ValueError):
        return False
