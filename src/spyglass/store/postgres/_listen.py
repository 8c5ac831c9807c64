"""Waking live viewers when any writer commits: one `LISTEN` connection per store, shared by its waiters.

Every writer sends `NOTIFY` in its commit (`_changes.notify`). A thread of the store's own waits for those
notifications and wakes every `wait()`-er. Waiters still time out after their poll interval: a notification
sent while a waiter was reading, a listener reconnecting after the server went away, or a write by something
that does not notify, are then seen by polling, only later.
"""

from __future__ import annotations

import logging
import threading

import psycopg

from spyglass.store._backends import mask_url
from spyglass.store.postgres._changes import CHANNEL

_logger = logging.getLogger("spyglass.store")
_TICK = 0.5  # seconds the listening thread waits at a time (so that it sees close())
_RETRY_AFTER = 2.0  # seconds between attempts to connect again


class ChangeListener:
    """Started by the first `wait()`; stopped by `close()`."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._changed = threading.Condition()
        self._generation = 0  # notifications seen so far
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def wait(self, timeout: float) -> bool:
        """Wait at most `timeout` seconds for a writer's commit; whether one came."""
        with self._changed:
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(target=self._listen, name="spyglass-listen", daemon=True)
                self._thread.start()
            seen = self._generation
            return self._changed.wait_for(lambda: self._generation != seen, timeout)

    def close(self) -> None:
        self._closed.set()  # the thread closes its connection within a tick

    def _listen(self) -> None:
        while not self._closed.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._closed.is_set():
                        for _ in conn.notifies(timeout=_TICK):
                            with self._changed:
                                self._generation += 1
                                self._changed.notify_all()
            except psycopg.Error as exc:
                _logger.debug(
                    "spyglass: listening for store changes failed (%s); polling meanwhile", mask_url(str(exc))
                )
                self._closed.wait(_RETRY_AFTER)
