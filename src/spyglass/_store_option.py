"""The `--store` option's type, shared by `run`, `demo`, `view` and `serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ._arguments import is_postgres_url


class StoreLocation(click.ParamType):  # type: ignore[type-arg]  # generic in newer click only
    """`--store`: a file path, or a `postgresql://` URL kept as text (a `Path` would mangle its `//`)."""

    name = "PATH|URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path | str:
        if isinstance(value, Path):
            return value
        if is_postgres_url(value):
            return str(value)
        return Path(_FILE.convert(value, param, ctx))


STORE = StoreLocation()
_FILE = click.Path(dir_okay=False, path_type=Path)
