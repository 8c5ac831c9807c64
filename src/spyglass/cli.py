"""The `spyglass` command: a thin shell over the library (demo, run).

Exit codes: 2 for a bad command line or configuration (click's usage errors), 1 when something fails at
run time, and `spyglass run` exits with the code of the program it ran.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import runpy
import shlex
import shutil
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from ._config import CommandLine, _resolve_store, command_line
from ._errors import ConfigError
from ._store_option import STORE
from .version import __version__

# spyglass is installed from its source, not from a package index: the hint installs openai alone, into this
# very interpreter.
_OPENAI_MISSING = (
    "the demo needs the openai package, which this Python does not have: "
    "{python} -m pip install 'openai>=1.40'"
)
_STORE_HELP = (
    "Where to store the spans: a file or a postgresql:// URL (default: SPYGLASS_STORE, else "
    ".spyglass/spans.sqlite)."
)


# Frames of ours (and runpy's) above the traced program's own, left out of its traceback as `python` does.
_OUR_FILES = frozenset({__file__, runpy.__file__, "<frozen runpy>"})


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="spyglass")
def main() -> None:
    """See every call your program makes to the OpenAI API."""


@main.command(short_help="A short tour against a built-in server: no API key, no network.")
@click.option("--store", type=STORE, default=None, help=_STORE_HELP)
@click.option("--no-store", is_flag=True, help="Keep nothing: show the spans in the terminal only.")
def demo(store: Path | str | None, no_store: bool) -> None:
    """Run a short tour against a built-in OpenAI-compatible server: no API key, no network."""
    if store is not None and no_store:
        raise click.UsageError("--store and --no-store cannot be used together")
    if importlib.util.find_spec("openai") is None:
        raise click.ClickException(_OPENAI_MISSING.format(python=shlex.quote(sys.executable)))
    from .demo.tour import run_tour
    from .store._backends import mask_url

    path = None if no_store else (store or _resolve_store(None))
    click.secho(
        "spyglass demo: a built-in OpenAI-compatible server on 127.0.0.1, no API key, no network.\n",
        bold=True,
        err=True,
    )
    with _user_errors_as_click_errors():
        stored = run_tour(store=path)  # type: ignore[arg-type]  # a URL goes to configure() as it is
    click.echo("", err=True)
    if stored is None:
        click.secho("The spans were not stored (--no-store).", err=True)
    else:
        click.secho(f"The spans were stored in {mask_url(str(stored))}.", err=True)
        if "view" in main.commands:
            shown = shlex.quote(mask_url(str(stored)))
            store_option = "" if stored == _resolve_store(None) else f" --store {shown}"
            click.secho(f"Open them in the viewer with: {_spyglass_command()} view{store_option}", err=True)


@main.command(
    short_help="Run a script or module with every OpenAI client traced.",
    context_settings={"allow_interspersed_args": False},
)
@click.option(
    "-m",
    "as_module",
    is_flag=True,
    help="Run the module named by the first argument, as `python -m MODULE`.",
)
@click.option(
    "--service-name",
    metavar="NAME",
    help="The service.name of the spans (default: OTEL_SERVICE_NAME, else the script or module name).",
)
@click.option(
    "--console/--no-console",
    default=None,
    help="Print the spans in the terminal (default: SPYGLASS_CONSOLE, else on).",
)
@click.option("--store", type=STORE, default=None, help=_STORE_HELP)
@click.option("--no-store", is_flag=True, help="Do not store the spans.")
@click.option(
    "--capture-content/--no-capture-content",
    default=None,
    help="Record prompts and answers (default: SPYGLASS_CAPTURE_CONTENT, else on).",
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="SCRIPT [ARGS]...")
@click.pass_context
def run(
    ctx: click.Context,
    as_module: bool,
    service_name: str | None,
    console: bool | None,
    store: Path | str | None,
    no_store: bool,
    capture_content: bool | None,
    args: tuple[str, ...],
) -> None:
    """Run an unmodified Python script or module with every OpenAI client traced.

    Everything after the script (or after -m MODULE) is passed to the program, and spyglass exits with the
    program's exit code.

    The options given here win over the program's own spyglass.configure() call; --no-capture-content wins
    over everything, and --capture-content does not undo a program's capture_content=False.

    \b
    spyglass run my_script.py --its-own-flags
    spyglass run -m my_package.main --its-own-flags
    """
    if not args:
        raise click.UsageError(
            "-m needs a module name" if as_module else "give a script to run, or -m MODULE"
        )
    if store is not None and no_store:
        raise click.UsageError("--store and --no-store cannot be used together")
    target, program_args = args[0], args[1:]
    if as_module:
        _check_module(target)
    elif not Path(target).is_file():
        raise click.UsageError(f"no such script: {target}")
    import spyglass

    given = CommandLine(
        service_name=service_name,
        default_service_name=target if as_module else Path(target).stem,
        console=console,
        store=False if no_store else store,
        capture_content=capture_content,
    )
    exit_code = 0
    with command_line(given), _program_context(target, program_args, as_module):
        with _user_errors_as_click_errors():  # a store file that is not a store: exit code 1
            try:
                spyglass.configure()
            except ConfigError as exc:
                raise click.UsageError(str(exc)) from None
            spyglass.instrument_openai()
        try:
            if as_module:
                runpy.run_module(target, run_name="__main__", alter_sys=True)
            else:
                runpy.run_path(target, run_name="__main__")
        except SystemExit:
            raise  # its code is the program's exit code
        except BaseException as exc:
            _print_program_traceback(exc)
            exit_code = 130 if isinstance(exc, KeyboardInterrupt) else 1
        finally:
            spyglass.force_flush()
    ctx.exit(exit_code)


@main.command("import", short_help="Load OTLP JSON traces from a file into the store.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--store", type=STORE, default=None, help=_STORE_HELP)
def import_(file: Path, store: Path | str | None) -> None:
    """Load the traces of an OTLP JSON file (the viewer's "Export OTLP JSON", or an OTLP/HTTP JSON body)
    into the store. A file that is not valid OTLP JSON writes nothing."""
    from .importer import ImportFailed, import_otlp_json
    from .store._backends import mask_url

    path = store or _resolve_store(None)
    assert path is not None  # _resolve_store(None) is always a path
    with _user_errors_as_click_errors():
        try:
            count = import_otlp_json(file, path)
        except ImportFailed as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"Imported {count} span{'' if count == 1 else 's'} into {mask_url(str(path))}.", err=True)


def _spyglass_command() -> str:
    """How to run spyglass from this shell: `spyglass` when PATH finds this installation's script (an active
    virtual environment), else this very interpreter (`.venv/bin/python -m spyglass`)."""
    python = Path(sys.executable)
    found = shutil.which("spyglass")
    if found is not None and Path(found).parent.resolve() == python.parent.resolve():
        return "spyglass"
    with contextlib.suppress(ValueError):
        python = python.relative_to(Path.cwd())
    return f"{shlex.quote(str(python))} -m spyglass"


def _check_module(name: str) -> None:
    sys.path.insert(0, os.getcwd())
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    finally:
        sys.path.pop(0)
    if not found:
        raise click.UsageError(f"no module named {name}")


@contextmanager
def _program_context(target: str, program_args: tuple[str, ...], as_module: bool) -> Iterator[None]:
    """`sys.argv` and `sys.path[0]` as `python SCRIPT ARGS` / `python -m MODULE ARGS` would set them."""
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [target, *program_args]
    sys.path.insert(0, os.getcwd() if as_module else str(Path(target).resolve().parent))
    try:
        yield
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path


def _print_program_traceback(exc: BaseException) -> None:
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in _OUR_FILES:
        tb = tb.tb_next
    sys.stdout.flush()
    traceback.print_exception(type(exc), exc, tb)


@contextmanager
def _user_errors_as_click_errors() -> Iterator[None]:
    """Errors that mean "change your configuration or files" become one line and exit code 1."""
    from ._errors import SpyglassError

    try:
        from .store import StoreError
    except ImportError:  # pragma: no cover - an installation without the store
        errors: tuple[type[Exception], ...] = (SpyglassError,)
    else:
        errors = (SpyglassError, StoreError)
    try:
        yield
    except errors as exc:
        raise click.ClickException(str(exc)) from None


def _add_optional_commands() -> None:
    """Commands that live beside the parts they serve: the OTLP receiver and the web viewer."""
    from .receiver.command import serve

    main.add_command(serve)
    try:
        from .viewer.command import view
    except ImportError:  # the viewer is not part of this installation yet
        return
    main.add_command(view)


_add_optional_commands()


if __name__ == "__main__":  # pragma: no cover
    main()
