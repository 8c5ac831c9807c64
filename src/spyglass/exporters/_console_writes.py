"""Console text written where it cannot cut the program's own lines.

The console renders on a thread of its own, so that a slow or blocked terminal never stalls the program.
But a write from that thread can land between the pieces of one of the program's own `print()` calls (each
argument, separator and end is a write of its own, and with `PYTHONUNBUFFERED` each is a system call that lets
our thread in), giving `answer:12:00:01 OK Chat Completion...`. So rendered text waits here, and is written:

- on the program's thread, at the next span boundary (a span starting or ending: never inside a `print()`),
  when the stream can take it without blocking (poll says writable, and at most 4 KiB at a time);
- by the console thread, once it has waited `DELAY` seconds (a program that prints nothing traced for a
  while), or at flush and exit.

No write here ever blocks, on any thread: a thread blocked in a write holds the stream's lock, and at exit
the interpreter, unable to flush `sys.stdout`, would abort the program. Text waits while the stream is not
writable (a pipe nobody reads), up to `MAX_PENDING_CHARS`; past that it is dropped and counted, and what
still waits at exit is counted as not recorded.
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
RETRY = 0.05  # seconds before the console thread tries again a stream that was not writable
MAX_PENDING_CHARS = 4 * 1024 * 1024
_FLUSH_WAIT = 1.0  # seconds a flush waits, at most, for a stream that is not writable


class PendingWrites:
    """Rendered console text waiting to be written to `console.file`."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._pending: deque[tuple[float, str]] = deque()
        self._pending_chars = 0
        self._lock = threading.Lock()  # held while writing: the program's thread never waits for it
        self._broken = False
        self.dropped = 0  # texts dropped because too much waited

    @property
    def waiting(self) -> int:
        """Texts not written yet."""
        return len(self._pending)

    def add(self, text: str) -> None:
        if self._broken:
            return
        if self._pending_chars + len(text) > MAX_PENDING_CHARS:
            self.dropped += 1
            return
        self._pending_chars += len(text)
        self._pending.append((time.monotonic(), text))

    def at_span_boundary(self) -> None:
        """On the program's thread: write what waits, unless that could block it (or is being written)."""
        if not self._pending or not self._lock.acquire(blocking=False):
            return
        try:
            self._write_what_fits()
        finally:
            self._lock.release()

    def write_due(self) -> float | None:
        """On the console thread: write what has waited `DELAY`; seconds until it should be called again."""
        pending = self._pending
        if not pending:
            return None
        wait = pending[0][0] + DELAY - time.monotonic()
        if wait > 0:
            return wait
        with self._lock:
            self._write_what_fits()
        return RETRY if pending else None

    def write_all(self) -> None:
        """At flush and exit: write everything, waiting at most `_FLUSH_WAIT` for the stream to take it."""
        deadline = time.monotonic() + _FLUSH_WAIT
        with self._lock:
            while self._write_what_fits() and time.monotonic() < deadline:
                _wait_writable(self._console.file, deadline - time.monotonic())

    def _write_what_fits(self) -> bool:
        """Write waiting text, in order, while the stream takes it without blocking; True if some is left."""
        pending = self._pending
        file = self._console.file
        while pending and not self._broken:
            if not _writable_now(file):
                return True
            self._write_piece(file)
        if self._broken:
            pending.clear()
            self._pending_chars = 0
        return bool(pending)

    def _write_piece(self, file: IO[str]) -> None:
        """Write the oldest texts that fit in `_ATOMIC_BYTES` together (a longer text, a piece of it)."""
        pending = self._pending
        parts: list[str] = []
        size = 0
        while pending:
            text = pending[0][1]
            size += len(text.encode("utf-8", "replace"))
            if size > _ATOMIC_BYTES:
                break
            parts.append(pending.popleft()[1])
        if not parts:  # one text longer than a write that cannot block: its head (4 bytes a char at most)
            added, text = pending[0]
            cut = _ATOMIC_BYTES // 4
            parts.append(text[:cut])
            pending[0] = (added, text[cut:])
        written = "".join(parts)
        self._pending_chars -= len(written)
        try:
            file.write(written)
            file.flush()
        except (OSError, ValueError) as exc:  # a closed pipe (`app.py | head`), a closed file
            # Where the console writes is gone: no bug to report, and no use trying again for every span.
            self._broken = True
            logger.warning(
                "spyglass: the console stopped: its output failed (%r); the other sinks go on", exc
            )


def _wait_writable(file: IO[str], timeout: float) -> None:
    try:
        select.select([], [file.fileno()], [], max(timeout, 0.0))
    except (AttributeError, OSError, ValueError):
        time.sleep(min(max(timeout, 0.0), RETRY))


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
