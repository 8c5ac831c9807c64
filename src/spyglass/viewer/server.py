"""Running the viewer: a listening socket on a loopback address, and uvicorn serving the app on it.

The socket is bound before the app is made, so the app knows its real port (for `--port 0`) and the
Host check can name it.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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


def _server(app: ASGIApp) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        # Live pages hold a stream open; do not wait for them on Ctrl+C.
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config)


def serve(app: ASGIApp, sock: socket.socket) -> None:
    """Serve until Ctrl+C."""
    _server(app).run(sockets=[sock])


@contextmanager
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
