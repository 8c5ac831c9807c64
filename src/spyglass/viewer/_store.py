"""The viewer's handle on the store file: opened lazily, re-opened after a failure, never created.

The viewer may start before the program it watches has written anything, or the file may be replaced
while it runs, so each request asks for the store and gets either a `SpanStore` or the `StoreError` that
says what is wrong with the file.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from spyglass._arguments import is_postgres_url
from spyglass.store import StoreError
from spyglass.store._backends import mask_url, open_store

_WAITING_STREAMS = 100  # live pages waiting at once on threads; more wait their turn (they poll later)
_BUSY_TIMEOUT = 2.0  # seconds a delete waits for a writer's lock; the page should not hang longer


class StoreHandle:
    def __init__(self, path: Path | str) -> None:
        self._location = _location(path)
        self.location = self._location  # what writers of the viewer's own (replay, import) open
        # What the page shows: a PostgreSQL URL's password is masked.
        self.path: Path | str = (
            mask_url(self._location) if isinstance(self._location, str) else self._location
        )
        self._store: Any = None  # a SpanStore or a PostgresSpanStore (the same methods)
        self._lock = threading.Lock()
        self._waiting: anyio.CapacityLimiter | None = None

    def get(self) -> Any:
        """The open store. Raises `StoreError` when the file is missing or unusable (tried again next time)."""
        with self._lock:
            if self._store is None:
                # SpanStore never creates a file and leaves a foreign or corrupt one untouched.
                self._store = open_store(self._location, busy_timeout=_BUSY_TIMEOUT)
            return self._store

    def reset(self) -> None:
        """Forget the open store after an error, so the next request opens the file afresh."""
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()

    async def wait_for_change(self, seconds: float) -> None:
        """Wait until a writer commits (the store's `wait_for_change()`), `seconds` at most."""
        try:
            store = self.get()
        except StoreError:
            await anyio.sleep(seconds)  # the stream's next read reports it
            return
        # On a thread of its own pool, so that open live pages never take the threads requests run on; a
        # page closed meanwhile leaves it to time out.
        await anyio.to_thread.run_sync(
            store.wait_for_change, seconds, abandon_on_cancel=True, limiter=self._waiters()
        )

    def _waiters(self) -> anyio.CapacityLimiter:
        # Made in the app's event loop, on first use.
        if self._waiting is None:
            self._waiting = anyio.CapacityLimiter(_WAITING_STREAMS)
        return self._waiting

    def check(self) -> StoreError | None:
        try:
            self.get()
        except StoreError as exc:
            return exc
        return None

    close = reset


def _location(path: Path | str) -> Path | str:
    """A store file, or a PostgreSQL URL kept as the text it is (a socket URL `postgresql:///db?host=/run`
    too). A URL someone wrapped in `Path()` (`postgresql:/h/db`) is made a URL again."""
    if is_postgres_url(path):
        return str(path)
    text = str(path)
    for scheme in ("postgresql:", "postgres:"):
        if text.lower().startswith(scheme + "/"):
            rest = text[len(scheme) :].lstrip("/")
            return f"{text[: len(scheme)]}//{rest}"
    return Path(path)
