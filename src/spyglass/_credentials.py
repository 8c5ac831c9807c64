"""The instrumented clients' own credentials, so the scrubber redacts them wherever they appear.

A server may echo the key it was sent ("Incorrect API key provided: ..."), into the exception message, the
status and the console. Whatever its shape (an Azure key is 32 hex digits, matched by no pattern), the
client's own key, Azure AD token and auth headers are known exactly: the instrumentation remembers each
client it traces, and the scrubber reads their credentials when it scrubs a span, so a key refreshed by the
SDK (`api_key=` a function) is the current one.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import Any

_clients: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()

_ATTRIBUTES = ("api_key", "admin_api_key", "_azure_ad_token")
_HEADER_HINTS = ("auth", "key", "token", "secret", "cookie")
_SCHEMES = ("bearer ", "basic ", "token ")
# Shorter strings are not redacted literally: a test key like "x" would redact every x in every span.
MIN_LENGTH = 8
_SENTINELS = frozenset({"<missing API key>"})  # what openai's Azure client holds when it has no key


def remember_client_credentials(client: Any) -> None:
    """Redact `client`'s credentials from every span from now on (cheap when it is already known)."""
    try:
        if client in _clients:
            return
        with _lock:
            _clients.add(client)
    except TypeError:  # not weak-referenceable or not hashable: nothing to remember it by
        pass


def known_credentials() -> tuple[str, ...]:
    """The credentials of every live client remembered, longest first (a key may contain a shorter one)."""
    global _cached
    if not _clients:
        return ()
    with _lock:
        clients = list(_clients)
    # Read for every span scrubbed: the raw values are compared with what they were last time, and only
    # a change (a new client, a refreshed key) pays for finding the credentials in them again.
    raw = tuple(_raw_credentials(client) for client in clients)
    cached = _cached
    if cached is not None and cached[0] == raw:
        return cached[1]
    found: set[str] = set()
    for client in clients:
        found.update(_credentials_of(client))
    credentials = tuple(sorted(found, key=len, reverse=True))
    _cached = (raw, credentials)
    return credentials


_cached: tuple[tuple[object, ...], tuple[str, ...]] | None = None


def _raw_credentials(client: Any) -> tuple[object, ...]:
    headers = getattr(client, "_custom_headers", None)
    return (
        id(client),
        *(getattr(client, name, None) for name in _ATTRIBUTES),
        tuple(headers.items()) if isinstance(headers, Mapping) else None,
    )


def _credentials_of(client: Any) -> list[str]:
    values = [getattr(client, name, None) for name in _ATTRIBUTES]
    headers = getattr(client, "_custom_headers", None)
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if isinstance(name, str) and any(hint in name.lower() for hint in _HEADER_HINTS):
                values.append(value)
    found = []
    for value in values:
        if not isinstance(value, str):
            continue
        lowered = value.lower()
        for scheme in _SCHEMES:
            if lowered.startswith(scheme):
                value = value[len(scheme) :].strip()
                break
        if len(value) >= MIN_LENGTH and value not in _SENTINELS:
            found.append(value)
    return found
