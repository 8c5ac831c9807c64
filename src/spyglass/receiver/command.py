"""`spyglass serve`: a headless OTLP/HTTP receiver writing into a store.

Like `spyglass view`, it checks its store and binds its port before it says it is ready (exit codes 1 and 3,
docs/cli.md), and stops on Ctrl+C within a second.
"""

from __future__ import annotations

import ipaddress
import socket
import sqlite3
from pathlib import Path

import click

from spyglass._config import _resolve_store
from spyglass._errors import ConfigError
from spyglass._store_option import STORE
from spyglass.receiver.app import DEFAULT_MAX_BODY_BYTES, receiver_app
from spyglass.store import StoreError
from spyglass.store._backends import mask_url
from spyglass.store._schema import check
from spyglass.viewer.server import bind
from spyglass.viewer.server import serve as serve_app


class CannotListen(click.ClickException):
    """The address cannot be listened on (port taken, not allowed): exit code 3."""

    exit_code = 3


def shown_store(location: Path | str) -> str:
    """A store as messages show it: a URL's password masked."""
    return mask_url(str(location))


def store_path(store: Path | str | None) -> Path | str:
    """`--store`, else `SPYGLASS_STORE`, else the default; a bad `SPYGLASS_STORE` is a usage error (exit 2)."""
    if store is not None:
        return store
    try:
        path = _resolve_store(None)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if path is None:
        raise click.UsageError("SPYGLASS_STORE turns the store off; give one with --store PATH")
    return path


def check_store_file(path: Path | str) -> None:
    """Refuse a store file that spyglass must not or cannot use, without creating or changing anything.

    A missing file is fine: it is made when the first spans arrive. A PostgreSQL store is connected to
    (its schema created if missing, refused if newer than this spyglass).

    Raises:
        click.ClickException: one line saying what is wrong with the store (exit code 1).
    """
    if isinstance(path, str):
        _check_postgres(path)
        return
    if not path.exists():
        return
    if path.is_dir():
        raise click.ClickException(
            f"{path} is a folder, not a spyglass store file: give the file with --store"
        )
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise click.ClickException(f"cannot open the spyglass store {path}: {exc}") from None
    try:
        check(conn, path)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        conn.close()


def _check_postgres(url: str) -> None:
    try:
        import psycopg

        from spyglass.store.postgres import _schema
    except ImportError as exc:
        raise click.ClickException(
            f"a PostgreSQL store needs psycopg: pip install 'spyglass[postgres]' ({exc})"
        ) from None
    try:
        _schema.connect(url, migrate=True).close()
    except (psycopg.Error, StoreError) as exc:
        raise click.ClickException(
            f"cannot use the spyglass store {mask_url(url)}: {mask_url(str(exc).strip())}"
        ) from None


def listen(host: str, port: int | None) -> socket.socket:
    """The listening socket; `port=None` is the viewer's default port, or a free one if it is taken."""
    try:
        return bind(host, port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CannotListen(
            f"cannot listen on {host}:{port if port is not None else 'any port'}: {reason}; "
            "choose another address or port (--port 0 picks a free one)"
        ) from None


# Its own -h as well: click caches a command's help option on first use, so one invoked alone first
# would otherwise lose the -h it inherits from `spyglass`.
@click.command(
    short_help="Receive OpenTelemetry spans over OTLP/HTTP into a store.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--store",
    type=STORE,
    default=None,
    help="The store to write to: a file or a postgresql:// URL (default: SPYGLASS_STORE, else "
    ".spyglass/spans.sqlite).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=4318, show_default=True, help="The port.")
@click.option(
    "--token",
    envvar=["SPYGLASS_TOKEN", "SPYGLASS_RECEIVER_TOKEN"],
    default=None,
    help="Require 'Authorization: Bearer <token>' (or set SPYGLASS_TOKEN); needed off loopback.",
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_BODY_BYTES,
    show_default=True,
    help="The largest request body accepted.",
)
def serve(store: Path | str | None, host: str, port: int, token: str | None, max_body_bytes: int) -> None:
    """Receive OpenTelemetry spans over OTLP/HTTP (POST /v1/traces) and store them.

    GenAI log records sent to POST /v1/logs (a conversation sent apart from its span) join their spans.
    Point any OpenTelemetry SDK or Collector at it, e.g.
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318. Listens on 127.0.0.1 unless told otherwise.
    """
    path = store_path(store)
    if not _is_loopback(host) and not token:
        raise click.UsageError(
            f"refusing to listen on {host} without a token: anyone who can reach this port could write to "
            "the store. Set --token (or SPYGLASS_TOKEN); senders then pass it with "
            "OTEL_EXPORTER_OTLP_HEADERS='Authorization=Bearer <token>'."
        )
    check_store_file(path)
    sock = listen(host, port)
    app = receiver_app(path, token=token, max_body_bytes=max_body_bytes)
    bound = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    ready = (
        f"spyglass: receiving OTLP/HTTP on http://{shown_host}:{bound}/v1/traces into {shown_store(path)}  "
        "(Ctrl+C to stop)"
    )
    serve_app(app, sock, lambda: click.echo(ready, err=True))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
