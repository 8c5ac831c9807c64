"""The viewer's handle on the store file: opened lazily, re-opened after a failure, never created.

The viewer may start before the program it watches has written anything, or the file may be replaced
while it runs, so each request asks for the store and gets either a `SpanStore` or the `StoreError` that
says what is wrong with the file.
"""

from __future__ import annotations

import threading
from pathlib import Path

from spyglass.store import SpanStore, StoreError

_BUSY_TIMEOUT = 2.0  # seconds a delete waits for a writer's lock; the page should not hang longer


class StoreHandle:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._store: SpanStore | None = None
        self._lock = threading.Lock()

    def get(self) -> SpanStore:
        """The open store. Raises `StoreError` when the file is missing or unusable (tried again next time)."""
        with self._lock:
            if self._store is None:
                # SpanStore never creates a file and leaves a foreign or corrupt one untouched.
                self._store = SpanStore(self.path, busy_timeout=_BUSY_TIMEOUT)
            return self._store

    def reset(self) -> None:
        """Forget the open store after an error, so the next request opens the file afresh."""
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()

    def check(self) -> StoreError | None:
        try:
            self.get()
        except StoreError as exc:
            return exc
        return None

    close = reset
