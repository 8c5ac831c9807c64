"""The `spyglass` command: a thin shell over the library (demo, run)."""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

import click

from ._config import _resolve_store
from .version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="spyglass")
def main() -> None:
    """See every call your program makes to the OpenAI API."""


@main.command()
@click.option(
    "--store",
    "store",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to store the spans (default: SPYGLASS_STORE, else .spyglass/spans.sqlite).",
)
@click.option("--no-store", is_flag=True, help="Keep nothing: show the spans in the terminal only.")
def demo(store: Path | None, no_store: bool) -> None:
    """Run a short tour against a built-in OpenAI-compatible server: no API key, no network."""
    try:
        import openai  # noqa: F401
    except ImportError:
        raise click.ClickException(
            "the demo needs the openai package: pip install 'spyglass[openai]'"
        ) from None
    from .demo.tour import run_tour

    path = None if no_store else (store or _resolve_store(None))
    click.secho(
        "spyglass demo: a built-in OpenAI-compatible server on 127.0.0.1, no API key, no network.\n",
        bold=True,
        err=True,
    )
    stored = run_tour(store=path)
    click.echo("", err=True)
    if stored is not None:
        click.secho(f"The spans were stored in {stored}.", err=True)
        click.secho("Open them in the viewer with: spyglass view", err=True)


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("-m", "module", metavar="MODULE", help="Run a module, as `python -m MODULE`.")
@click.option("--no-console", is_flag=True, help="Do not print spans in the terminal.")
@click.option("--service-name", metavar="NAME", help="The service name of the spans.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(module: str | None, no_console: bool, service_name: str | None, args: tuple[str, ...]) -> None:
    """Run an unmodified Python script or module with every OpenAI client traced.

    \b
    spyglass run my_script.py --its-own-args
    spyglass run -m my_package.main
    """
    if module is None and not args:
        raise click.UsageError("give a script to run, or -m MODULE")
    target = module or args[0]
    if module is None and not Path(target).is_file():
        raise click.UsageError(f"no such script: {target}")
    import spyglass

    name = service_name or os.environ.get("OTEL_SERVICE_NAME") or (module or Path(target).stem)
    spyglass.configure(service_name=name, console=False if no_console else None)
    try:
        spyglass.instrument_openai()
    except spyglass.ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    sys.argv = [target, *(args if module else args[1:])]
    try:
        if module:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            sys.path.insert(0, str(Path(target).resolve().parent))
            runpy.run_path(target, run_name="__main__")
    finally:
        spyglass.force_flush()


if __name__ == "__main__":  # pragma: no cover
    main()
