"""Which backend a store location names: a `postgresql://` (or `postgres://`) URL, else a SQLite file.

The one place that chooses; each backend's SQL lives in its own modules (`spyglass.store` for SQLite,
`spyglass.store.postgres` for PostgreSQL).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from spyglass._arguments import is_postgres_url
from spyglass._errors import ConfigError

if TYPE_CHECKING:
    from spyglass.store.writer import SqliteSpanProcessor


def mask_url(text: str) -> str:
    """`text` with the password of every PostgreSQL URL in it (userinfo or `password=` parameter) masked."""
    text = re.sub(r"(?i)(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
    return re.sub(r"(?i)(password=)[^&\s]*", r"\1***", text)


def store_processor(location: str | os.PathLike[str], **options: Any) -> SqliteSpanProcessor:
    """The span processor writing to the store at `location` (a SQLite file or a PostgreSQL URL); the
    PostgreSQL one subclasses `SqliteSpanProcessor`, keeping its contract."""
    if is_postgres_url(location):
        try:
            from spyglass.store.postgres.writer import PostgresSpanProcessor
        except ImportError as exc:  # not silently no store: the caller asked for this one
            raise ConfigError(
                f"store={mask_url(str(location))} needs psycopg: pip install 'spyglass[postgres]' ({exc})"
            ) from None
        return PostgresSpanProcessor(str(location), **options)
    from spyglass.store.writer import SqliteSpanProcessor

    return SqliteSpanProcessor(location, **options)


def open_store(location: str | os.PathLike[str], **options: Any) -> Any:
    """A `SpanStore` (SQLite) or `PostgresSpanStore` on `location`; both have the same public methods."""
    if is_postgres_url(location):
        from spyglass.store.postgres.reader import PostgresSpanStore

        options.pop("busy_timeout", None)
        return PostgresSpanStore(str(location), **options)
    from spyglass.store.reader import SpanStore

    return SpanStore(location, **options)
