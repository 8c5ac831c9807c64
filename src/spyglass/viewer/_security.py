"""What keeps the viewer a local, read-mostly page: the Host check, security headers and the launch token.

A page on another site can make the browser send requests to 127.0.0.1, and DNS rebinding can even make
them same-origin, so every request must name one of our hosts (with our port) in `Host`, and anything that
deletes needs the token only our own page was given.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_HEADER = "x-spyglass-token"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Images from a conversation load only when the user clicks them, from wherever the model put them.
        "img-src 'self' data: https: http:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def local_hosts(port: int, extra_host: str | None = None) -> list[str]:
    """The `Host` values a browser sends for the viewer on `port`: the loopback names, plus `extra_host`."""
    names = ["localhost", "127.0.0.1", "[::1]"]
    if extra_host is not None and extra_host not in ("localhost", "127.0.0.1", "::1"):
        names.append(f"[{extra_host}]" if ":" in extra_host else extra_host)
    return [f"{name}:{port}" for name in names]


class SecurityMiddleware:
    """Rejects requests whose `Host` is not ours, and adds the security headers to every response."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        self.allowed_hosts = frozenset(host.lower() for host in allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = Request(scope).headers.get("host", "").lower()
        if host not in self.allowed_hosts:
            response = PlainTextResponse(
                "This spyglass viewer only answers requests for its own address.", status_code=421
            )
            await response(scope, receive, self._with_headers(send))
            return
        await self.app(scope, receive, self._with_headers(send))

    @staticmethod
    def _with_headers(send: Send) -> Send:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in _HEADERS}
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": [*headers, *_HEADERS]}
            await send(message)

        return send_with_headers


def token_ok(request: Request, token: str) -> bool:
    given = request.headers.get(TOKEN_HEADER, "")
    return hmac.compare_digest(given.encode(), token.encode())


def origin_ok(request: Request, allowed_hosts: Iterable[str]) -> bool:
    """The request comes from our own page: a browser names the page's origin on every POST it sends."""
    origin = request.headers.get("origin", "").lower()
    return origin in {f"http://{host.lower()}" for host in allowed_hosts}


def write_refused(request: Request, token: str, allowed_hosts: Iterable[str]) -> str | None:
    """Why a request that sends or writes something must be refused, or None: it must be a POST from our
    own page (its Origin) carrying this launch's token (the Host was checked by the middleware)."""
    if request.method != "POST":
        return "only POST"
    if not origin_ok(request, allowed_hosts):
        return "the request does not come from this viewer's page (Origin)"
    if not token_ok(request, token):
        return "missing or wrong X-Spyglass-Token"
    return None
