"""`spyglass serve`: a headless OTLP/HTTP receiver writing into a store (the lead registers it in the CLI)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click
import uvicorn

from spyglass._config import _resolve_store
from spyglass.receiver.app import DEFAULT_MAX_BODY_BYTES, receiver_app


# Its own -h as well: click caches a command's help option on first use, so one invoked alone first
# would otherwise lose the -h it inherits from `spyglass`.
@click.command(
    short_help="Receive OpenTelemetry spans over OTLP/HTTP into a store.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--store",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The store to write to (default: SPYGLASS_STORE, else .spyglass/spans.sqlite).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=4318, show_default=True, help="The port.")
@click.option(
    "--token",
    envvar="SPYGLASS_RECEIVER_TOKEN",
    default=None,
    help="Require 'Authorization: Bearer <token>' (or set SPYGLASS_RECEIVER_TOKEN).",
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_BODY_BYTES,
    show_default=True,
    help="The largest request body accepted.",
)
def serve(store: Path | None, host: str, port: int, token: str | None, max_body_bytes: int) -> None:
    """Receive OpenTelemetry spans over OTLP/HTTP (POST /v1/traces) and store them.

    GenAI log records sent to POST /v1/logs (a conversation sent apart from its span) join their spans.
    Point any OpenTelemetry SDK or Collector at it, e.g.
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318. Listens on 127.0.0.1 unless told otherwise.
    """
    path = store if store is not None else _resolve_store(None)
    if path is None:
        raise click.UsageError("no store: SPYGLASS_STORE is off; pass --store PATH")
    if not _is_loopback(host) and not token:
        click.echo(
            f"warning: listening on {host} without --token: anyone who can reach this port can write to "
            f"{path}. Set --token (or SPYGLASS_RECEIVER_TOKEN) to require a bearer token.",
            err=True,
        )
    click.echo(f"spyglass: receiving OTLP/HTTP on http://{host}:{port}/v1/traces into {path}", err=True)
    app = receiver_app(path, token=token, max_body_bytes=max_body_bytes)
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False, access_log=False)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
