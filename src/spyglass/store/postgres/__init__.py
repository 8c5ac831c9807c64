"""The PostgreSQL backend of the store: many writers (programs and receivers) and readers on one database.

`PostgresSpanProcessor` writes spans as `SqliteSpanProcessor` does (same contract, same rows, made by
`spyglass.store._rows`); `PostgresSpanStore` has `SpanStore`'s public methods. Requires the `postgres`
extra (psycopg 3).
"""

from __future__ import annotations

from spyglass.store.postgres.reader import PostgresSpanStore
from spyglass.store.postgres.writer import PostgresSpanProcessor

__all__ = ["PostgresSpanProcessor", "PostgresSpanStore"]
