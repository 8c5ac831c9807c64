"""`instrument_openai()`: a span for every call an `openai` client makes.

Every endpoint of the SDK funnels into one method, `request()` on its base client classes, with the API path,
the body and the stream flag. We replace that method once with a dispatcher that asks whether *this* client
(or its class) is instrumented, and if so wraps the call (`_wrappers`). Being on the base classes, it covers
clients of every kind (OpenAI, Azure, clients created later); instances are marked one by one, and their
`with_options()` / `copy()` copies inherit the mark.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Iterable
from dataclasses import replace
from types import TracebackType
from typing import Any

from ..._config import Settings, settings
from ..._credentials import remember_client_credentials
from ..._errors import ConfigError
from ._cost import load_prices
from ._wrappers import async_request, sync_request

__all__ = ["Instrumentation", "instrument_openai"]

_MARK = "_spyglass_instrumentation"

_lock = threading.RLock()
_by_class: dict[type, Instrumentation] = {}
_by_instance: weakref.WeakKeyDictionary[Any, Instrumentation] = weakref.WeakKeyDictionary()
_originals: dict[type, Any] = {}  # base client class -> its original request()


class Instrumentation:
    """What `instrument_openai()` returns: undo it with `.uninstrument()` or by leaving a `with` block.

    Example:
        ```python
        with spyglass.instrument_openai(client):
            client.chat.completions.create(...)  # traced
        client.chat.completions.create(...)  # not traced
        ```
    """

    def __init__(self, suppress_other_instrumentation: bool, capture_content: bool | None) -> None:
        self.suppress_other_instrumentation = suppress_other_instrumentation
        self.capture_content = capture_content
        self._classes: list[type] = []
        self._instances: weakref.WeakSet[Any] = weakref.WeakSet()
        self._settings_cache: tuple[Settings, Settings] | None = None
        self.active = True

    def settings(self) -> Settings:
        """The global settings, with this instrumentation's own `capture_content` when it has one."""
        current = settings()
        if self.capture_content is None:
            return current
        cache = self._settings_cache
        if cache is None or cache[0] is not current:
            own = self.capture_content and current.capture_content_allowed  # `run --no-capture-content` wins
            cache = self._settings_cache = (current, replace(current, capture_content=own))
        return cache[1]

    def uninstrument(self) -> None:
        """Stop tracing the clients this instrumentation covers. Calling it again does nothing."""
        with _lock:
            if not self.active:
                return
            self.active = False
            for cls in self._classes:
                if _by_class.get(cls) is self:
                    del _by_class[cls]
            for client in list(self._instances):
                if _by_instance.get(client) is self:
                    del _by_instance[client]
                    client.__dict__.pop(_MARK, None)
            _restore_if_unused()

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.uninstrument()

    def _add_instance(self, client: Any) -> None:
        _by_instance[client] = self
        client.__dict__[_MARK] = self
        self._instances.add(client)


def instrument_openai(
    client: Any = None,
    *,
    suppress_other_instrumentation: bool = True,
    capture_content: bool | None = None,
) -> Instrumentation:
    """Trace every call made through an OpenAI client: one span per call, two for a stream.

    Args:
        client: an `openai.OpenAI` / `AsyncOpenAI` / `AzureOpenAI` / `AsyncAzureOpenAI` instance, a client
            class, an iterable of them, or None for every client, including ones created later.
        suppress_other_instrumentation: keep HTTP-level instrumentations (httpx...) from adding a second,
            less informative span under each call (default True).
        capture_content: record prompts and answers; None follows `configure(capture_content=...)`.

    Returns:
        A handle; `.uninstrument()` (or leaving it as a context manager) removes the instrumentation.
        Instrumenting the same client again returns the handle it already has.

    Example:
        ```python
        client = openai.Client()
        spyglass.instrument_openai(client)
        ```
    """
    try:
        import openai
        from openai._base_client import AsyncAPIClient, SyncAPIClient
    except ImportError:  # pragma: no cover - depends on the installation
        raise ConfigError("instrument_openai() needs the openai package: pip install openai") from None
    settings()  # configure with defaults on first use, as the reference does
    load_prices()  # before any traced call: see its docstring
    targets = _targets(client, openai, (SyncAPIClient, AsyncAPIClient))
    with _lock:
        existing = {_by_class.get(t) if isinstance(t, type) else _by_instance.get(t) for t in targets}
        if len(existing) == 1 and None not in existing:
            found = existing.pop()
            assert found is not None
            return found
        instrumentation = Instrumentation(suppress_other_instrumentation, capture_content)
        for target in targets:
            if isinstance(target, type):
                _by_class[target] = instrumentation
                instrumentation._classes.append(target)
            else:
                instrumentation._add_instance(target)
        _install(SyncAPIClient, AsyncAPIClient)
        _install_copy_hooks(openai)
    return instrumentation


def _targets(client: Any, openai: Any, bases: tuple[type, type]) -> list[Any]:
    if client is None:
        return list(bases)
    items = [client] if isinstance(client, type) or not isinstance(client, Iterable) else list(client)
    for item in items:
        cls = item if isinstance(item, type) else type(item)
        if not issubclass(cls, bases):
            raise ConfigError(f"instrument_openai() takes OpenAI clients or client classes, got {item!r}")
    return items


def _lookup(client: Any) -> Instrumentation | None:
    found = client.__dict__.get(_MARK)
    if found is not None:
        return found  # type: ignore[no-any-return]
    if _by_class:
        for cls in type(client).__mro__:
            found = _by_class.get(cls)
            if found is not None:
                return found
    return None


def _install(sync_base: type, async_base: type) -> None:
    if sync_base in _originals:
        return
    original_sync = sync_base.__dict__["request"]
    original_async = async_base.__dict__["request"]

    # `functools.wraps` keeps what introspection reads (name, qualified name, docstring, annotations,
    # `__wrapped__`, so `inspect.signature` and `typing.get_type_hints` see the SDK's own method).
    @functools.wraps(original_sync)
    def request(self: Any, cast_to: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
        instrumentation = _lookup(self)
        if instrumentation is None:
            return original_sync(self, cast_to, options, *args, **kwargs)
        remember_client_credentials(self)  # redacted wherever they appear, e.g. echoed by the server
        return sync_request(original_sync, instrumentation, self, cast_to, options, args, kwargs)

    @functools.wraps(original_async)
    async def async_request_(self: Any, cast_to: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
        instrumentation = _lookup(self)
        if instrumentation is None:
            return await original_async(self, cast_to, options, *args, **kwargs)
        remember_client_credentials(self)
        return await async_request(original_async, instrumentation, self, cast_to, options, args, kwargs)

    _originals[sync_base] = original_sync
    _originals[async_base] = original_async
    sync_base.request = request  # type: ignore[attr-defined]
    async_base.request = async_request_  # type: ignore[attr-defined]


# client class -> the names it defines itself among `copy` / `with_options`, and their original objects
_copy_originals: dict[type, dict[str, Any]] = {}
_COPY_NAMES = ("copy", "with_options")


def _install_copy_hooks(openai: Any) -> None:
    """`client.with_options(...)` / `client.copy(...)` return a new client: give it the original's mark."""
    classes = [openai.OpenAI, openai.AsyncOpenAI, openai.AzureOpenAI, openai.AsyncAzureOpenAI]
    for cls in classes:
        if cls in _copy_originals:
            continue
        originals = {name: cls.__dict__[name] for name in _COPY_NAMES if name in cls.__dict__}
        if not originals:
            continue
        _copy_originals[cls] = originals
        wrappers: dict[int, Any] = {}  # by original: `with_options = copy` stays one object
        for name, original in originals.items():
            wrapper = wrappers.get(id(original))
            if wrapper is None:
                wrapper = wrappers[id(original)] = _marking_copy(original)
            setattr(cls, name, wrapper)


def _marking_copy(original: Any) -> Any:
    @functools.wraps(original)
    def copy(self: Any, *args: Any, **kwargs: Any) -> Any:
        new = original(self, *args, **kwargs)
        instrumentation = self.__dict__.get(_MARK)
        if instrumentation is not None and instrumentation.active:
            with _lock:
                instrumentation._add_instance(new)
        return new

    return copy


def _restore_if_unused() -> None:
    if _by_class or len(_by_instance):
        return
    for base, original in _originals.items():
        base.request = original  # type: ignore[attr-defined]
    _originals.clear()
    for cls, originals in _copy_originals.items():
        for name, original in originals.items():
            setattr(cls, name, original)
    _copy_originals.clear()
