"""Running the viewer: a listening socket on a loopback address, and uvicorn serving the app on it.

The socket is bound before the app is made, so the app knows its real port (for `--port 0`) and the
Host check can name it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator

import uvicorn
from starlette.types import ASGIApp

DEFAULT_PORT = 8047
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int | None) -> socket.socket:
    """A listening socket on host:port; with `port=None`, DEFAULT_PORT or a free one if it is taken.

    Raises:
        OSError: the address cannot be used (the message says why).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        try:
            sock.bind((host, DEFAULT_PORT if port is None else port))
        except OSError:
            if port is not None:
                raise
            sock.bind((host, 0))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def url_for(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


# On Ctrl+C, requests under way get this long to finish; then the connections left, the live pages' event
# streams that never end by themselves, are closed (the pages reconnect to the next server on their own).
_GRACE_SECONDS = 0.15


class _Server(uvicorn.Server):
    """uvicorn's server, stopping within a second on Ctrl+C even with live pages open, without a traceback,
    and saying it is ready only once it serves (its Ctrl+C handler in place)."""

    on_ready: Callable[[], None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit and self.on_ready is not None:
            self.on_ready()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # A closed connection reads as a client disconnect: a stream then ends normally, where uvicorn's own
        # timeout would cancel its task (logging a CancelledError) after waiting longer.
        cut = asyncio.get_running_loop().call_later(_GRACE_SECONDS, self._close_connections)
        try:
            await super().shutdown(sockets)
        finally:
            cut.cancel()

    def _close_connections(self) -> None:
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.close()


def _server(app: ASGIApp) -> _Server:
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=1,  # a last resort: the connections are closed well before
    )
    return _Server(config)


def serve(app: ASGIApp, sock: socket.socket, on_ready: Callable[[], None] | None = None) -> None:
    """Serve until Ctrl+C (or SIGTERM); returns once the app has shut down.

    `on_ready` runs once the server is accepting connections: print "ready" there, so that a Ctrl+C
    right after it stops the server cleanly, as any later one does.
    """
    # uvicorn raises the Ctrl+C again once it has shut down cleanly: nothing is left to stop.
    with contextlib.suppress(KeyboardInterrupt):
        server = _server(app)
        server.on_ready = on_ready
        server.run(sockets=[sock])


@contextlib.contextmanager
def serving_in_thread(app: ASGIApp, sock: socket.socket) -> Iterator[str]:
    """Serve from a background thread (tests, benchmarks); yields the base URL."""
    server = _server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the viewer server did not start")
            threading.Event().wait(0.01)
        yield url_for(sock)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
