"""`spyglass view`: serve the local viewer for a store and open it in the browser."""

from __future__ import annotations

import secrets
import webbrowser
from pathlib import Path

import click

from spyglass._store_option import STORE
from spyglass.receiver.app import Receiver
from spyglass.receiver.command import check_store_file, listen, shown_store, store_path
from spyglass.viewer._security import local_hosts
from spyglass.viewer.app import create_app
from spyglass.viewer.server import is_loopback, serve, url_for


# Its own -h as well: click caches a command's help option on first use, so one invoked alone first
# would otherwise lose the -h it inherits from `spyglass`.
@click.command(
    short_help="Open the local web viewer of the stored spans.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--store",
    type=STORE,
    default=None,
    help="The store to show (default: SPYGLASS_STORE, else .spyglass/spans.sqlite).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="The address to listen on. Anything but a loopback address shows your prompts to the network.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="The port (0: any free port; default 8047, or a free one if it is taken).",
)
@click.option("--no-open", is_flag=True, help="Do not open a browser; just print the URL.")
@click.option(
    "--allow-replay",
    is_flag=True,
    help="Let the page send a recorded chat or Responses call again, edited, to the server it was recorded "
    "calling, with OPENAI_API_KEY from this environment (only to OPENAI_BASE_URL's host, by default "
    "api.openai.com; other servers get no key).",
)
def view(store: Path | str | None, host: str, port: int | None, no_open: bool, allow_replay: bool) -> None:
    """Serve a live web page of the traces in the store, on this machine only.

    The page shows traces as they are written, with their spans, conversations, tokens and costs. It
    also receives spans over OTLP/HTTP (POST /v1/traces, and the GenAI log records of POST /v1/logs) from
    any OpenTelemetry SDK into the same store.
    """
    path = store_path(store)
    check_store_file(path)  # a file that is not a usable store: exit code 1
    sock = listen(host, port)  # a port that cannot be had: exit code 3
    if not is_loopback(host):
        click.secho(
            f"Warning: listening on {host}, not on this machine only: anyone who can reach it can read "
            "the prompts and answers in the store.",
            fg="yellow",
            err=True,
        )
    if isinstance(path, Path) and not path.exists():
        click.secho(f"spyglass view: No spyglass store at {path}: the file does not exist yet", err=True)
        click.secho("The page says so too, and shows the traces once a program writes them.", err=True)
    real_port = sock.getsockname()[1]
    # The page also receives OTLP/HTTP, so spans from any OpenTelemetry SDK land in the same store.
    receiver = Receiver(path)
    app = create_app(
        path,
        token=secrets.token_urlsafe(32),
        allowed_hosts=local_hosts(real_port, host),
        extra_routes=receiver.routes,
        allow_replay=allow_replay,
    )
    url = url_for(sock)

    def ready() -> None:
        click.echo(f"spyglass viewer for {shown_store(path)}: {url}  (Ctrl+C to stop)")
        click.echo(f"OTLP/HTTP receiver: OTEL_EXPORTER_OTLP_ENDPOINT={url.rstrip('/')}")
        if not no_open:
            webbrowser.open(url)

    try:
        serve(app, sock, ready)
    finally:
        receiver.close()


if __name__ == "__main__":  # pragma: no cover
    view()
