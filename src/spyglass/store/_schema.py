"""The store's schema as named migrations, and opening a file safely.

Each migration has a name and is recorded in the `_spyglass_migrations` table when applied, so a file tells
which schema it has. Before anything is written, the file is checked: a file that is not SQLite, a SQLite
database that belongs to something else, or one written by a newer spyglass raises `StoreError` and is left
exactly as it was (no pragma that rewrites the header runs before the check).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spyglass.store._errors import StoreError
from spyglass.store._threads import SUMMARY_KEY

APPLICATION_ID = 0x5350_5947  # "SPYG" in the SQLite header, so `file` and friends can tell it is ours
MIGRATIONS_TABLE = "_spyglass_migrations"


@dataclass(frozen=True)
class Migration:
    """One named schema change: statements run in a single transaction, then recorded by name.

    `then`, when given, runs in the same transaction after the statements, with the connection: the Python
    part of a migration (filling a new column from what SQL alone cannot work out).
    """

    name: str
    statements: tuple[str, ...]
    then: Callable[[Any], None] | None = None


_INITIAL = Migration(
    "0001_spans_traces_fts",
    (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        "INSERT INTO meta (key, value) VALUES ('change_seq', 0)",
        """CREATE TABLE resources (
            id INTEGER PRIMARY KEY,
            digest TEXT NOT NULL UNIQUE,
            resource TEXT NOT NULL
        )""",
        """CREATE TABLE spans (
            id INTEGER PRIMARY KEY,
            trace_id TEXT NOT NULL,
            span_id TEXT NOT NULL,
            parent_span_id TEXT,
            name TEXT NOT NULL,
            span_kind TEXT NOT NULL,
            kind TEXT,
            message TEXT,
            start_ns INTEGER NOT NULL,
            end_ns INTEGER,
            duration_ns INTEGER,
            status_code TEXT NOT NULL,
            status_description TEXT,
            service_name TEXT,
            model TEXT,
            response_model TEXT,
            provider TEXT,
            operation TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cost_usd REAL,
            prompt_preview TEXT,
            is_pending INTEGER NOT NULL,
            attributes TEXT NOT NULL,
            events TEXT NOT NULL,
            links TEXT NOT NULL,
            resource_id INTEGER REFERENCES resources (id),
            scope TEXT
        )""",
        "CREATE UNIQUE INDEX spans_trace_span ON spans (trace_id, span_id)",
        # Covers model_summary(): aggregates and percentile lookups never touch the table itself.
        """CREATE INDEX spans_model_stats ON spans
            (model, kind, duration_ns, status_code, input_tokens, output_tokens, cost_usd, start_ns)
            WHERE model IS NOT NULL""",
        """CREATE TABLE traces (
            trace_id TEXT PRIMARY KEY,
            start_ns INTEGER NOT NULL,
            end_ns INTEGER NOT NULL,
            duration_ns INTEGER NOT NULL,
            root_span_id TEXT,
            root_name TEXT,
            message TEXT,
            service_name TEXT,
            span_count INTEGER NOT NULL,
            pending_count INTEGER NOT NULL,
            error_count INTEGER NOT NULL,
            models TEXT NOT NULL,
            input_tokens INTEGER,
            output_tokens INTEGER,
            total_tokens INTEGER,
            cost_usd REAL,
            first_prompt TEXT,
            seq INTEGER NOT NULL
        )""",
        "CREATE INDEX traces_start ON traces (start_ns DESC, trace_id DESC)",
        "CREATE INDEX traces_end ON traces (end_ns)",
        "CREATE INDEX traces_seq ON traces (seq)",
        # trace_id NULL records a clear(): everything up to that seq is gone.
        "CREATE TABLE deletions (seq INTEGER NOT NULL, trace_id TEXT)",
        "CREATE INDEX deletions_seq ON deletions (seq)",
        "CREATE VIRTUAL TABLE spans_fts USING fts5 (text, tokenize = 'unicode61 remove_diacritics 2')",
    ),
)


def _resolve_all_threads(conn: sqlite3.Connection) -> None:
    from spyglass.store._ingest import resolve_all_threads  # the writer's code; imports the schema itself

    resolve_all_threads(conn)


# Threads: the columns that group traces into conversations (filled from each span's attributes by
# `_rows.span_to_row`; see store/_threads.py for how a trace's thread is worked out), the old spans' filled
# from their attributes here.
_JSON_TEXT = "json_extract(attributes, '$.\"{}\"')"
_SESSION = _JSON_TEXT.format("session.id")
_CONVERSATION = _JSON_TEXT.format("gen_ai.conversation.id")
_PREVIOUS = _JSON_TEXT.format("gen_ai.request.previous_response.id")
_KEY = SUMMARY_KEY.format(column="thread_key", trace="traces")
_KEY_SOURCE = SUMMARY_KEY.format(column="thread_source", trace="traces")
_THREADS = Migration(
    "0002_threads",
    (
        "ALTER TABLE spans ADD COLUMN thread_key TEXT",
        "ALTER TABLE spans ADD COLUMN thread_source TEXT",
        "ALTER TABLE spans ADD COLUMN response_id TEXT",
        "ALTER TABLE spans ADD COLUMN previous_response_id TEXT",
        f"""UPDATE spans SET
            thread_key = coalesce(nullif({_SESSION}, ''), nullif({_CONVERSATION}, '')),
            thread_source = CASE WHEN nullif({_SESSION}, '') IS NOT NULL THEN 'session'
                WHEN nullif({_CONVERSATION}, '') IS NOT NULL THEN 'conversation' END
            WHERE attributes LIKE '%session.id%' OR attributes LIKE '%gen_ai.conversation.id%'""",
        f"""UPDATE spans SET previous_response_id = nullif({_PREVIOUS}, ''),
            response_id = CASE WHEN {_JSON_TEXT.format("openai.api.type")} = 'responses'
                OR nullif({_PREVIOUS}, '') IS NOT NULL THEN nullif({_JSON_TEXT.format("gen_ai.response.id")}, '') END
            WHERE attributes LIKE '%openai.api.type%' OR attributes LIKE '%previous_response.id%'""",
        # Covering, so a trace's key is found without reading its spans' rows (big attributes first).
        """CREATE INDEX spans_thread_key ON spans (trace_id, thread_source, thread_key, parent_span_id, start_ns)
            WHERE thread_key IS NOT NULL""",
        "CREATE INDEX spans_response ON spans (response_id, trace_id) WHERE response_id IS NOT NULL",
        """CREATE INDEX spans_previous_response ON spans (previous_response_id, trace_id)
            WHERE previous_response_id IS NOT NULL""",
        """CREATE INDEX spans_chain ON spans (trace_id, start_ns, response_id, previous_response_id)
            WHERE response_id IS NOT NULL OR previous_response_id IS NOT NULL""",
        "ALTER TABLE traces ADD COLUMN thread_key TEXT",  # the trace's own session or conversation id
        "ALTER TABLE traces ADD COLUMN thread_key_source TEXT",
        "ALTER TABLE traces ADD COLUMN thread_id TEXT",  # the thread it is in (its key, or its response chain's)
        "ALTER TABLE traces ADD COLUMN thread_source TEXT",  # session, conversation or responses
        f"UPDATE traces SET thread_key = {_KEY}, thread_key_source = {_KEY_SOURCE}",
        "UPDATE traces SET thread_id = thread_key, thread_source = thread_key_source",
        "CREATE INDEX traces_thread ON traces (thread_id, start_ns) WHERE thread_id IS NOT NULL",
    ),
    _resolve_all_threads,
)

# What was lost, where users look: each writer's drop counts by sink (the viewer shows them), and GenAI log
# records acknowledged by a receiver while their span has not come yet (any receiver joins them to it).
_LOSSES_AND_WAITING_EVENTS = Migration(
    "0003_losses_waiting_events",
    (
        """CREATE TABLE losses (
            writer_id TEXT NOT NULL,
            sink TEXT NOT NULL,
            unit TEXT NOT NULL,
            service_name TEXT,
            host TEXT,
            pid INTEGER,
            count INTEGER NOT NULL,
            first_ns INTEGER NOT NULL,
            last_ns INTEGER NOT NULL,
            PRIMARY KEY (writer_id, sink)
        )""",
        """CREATE TABLE waiting_events (
            id INTEGER PRIMARY KEY,
            trace_id TEXT NOT NULL,
            span_id TEXT NOT NULL,
            received_ns INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            event TEXT NOT NULL
        )""",
        "CREATE INDEX waiting_events_span ON waiting_events (trace_id, span_id)",
        "CREATE INDEX waiting_events_received ON waiting_events (received_ns)",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (_INITIAL, _THREADS, _LOSSES_AND_WAITING_EVENTS)


def open_for_writing(path: str | os.PathLike[str], *, busy_timeout: float) -> sqlite3.Connection:
    """Open (creating if needed) a store file for writing: checked, migrated, WAL mode.

    Raises:
        StoreError: the file is not SQLite, not a spyglass store, corrupt, or from a newer spyglass.
        sqlite3.OperationalError: the file cannot be opened or stays locked (the caller decides what to do).
        OSError: its folder cannot be created.
    """
    folder = Path(path).parent
    if not folder.is_dir():  # the default lives in .spyglass/, made on first use; prompts are never committed
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ".gitignore").write_text("# Made by spyglass: the store holds prompts and answers.\n*\n")
    conn = sqlite3.connect(
        os.fspath(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
        _prepare_for_writing(conn, Path(path))
    except BaseException:
        conn.close()
        raise
    return conn


def open_for_reading(
    path: str | os.PathLike[str], *, readonly: bool, busy_timeout: float
) -> sqlite3.Connection:
    """Open an existing store file. With `readonly`, nothing is ever written to it.

    Raises:
        StoreError: the file is missing, not SQLite, not a spyglass store, corrupt, or has an older or newer
            schema that cannot be used as it is.
    """
    file = Path(path)
    if not file.exists():
        raise StoreError(f"No spyglass store at {file}: the file does not exist")
    if file.is_dir():
        raise StoreError(f"{file} is a directory, not a spyglass store file")
    conn, readonly = _connect_existing(file, readonly=readonly, busy_timeout=busy_timeout)
    try:
        missing = check(conn, file)
        if missing and readonly:
            raise StoreError(
                f"{file} has an older spyglass schema (missing migrations {', '.join(missing)}); open it "
                "once for writing to upgrade it"
            )
        if missing:
            _configure_wal(conn)
            migrate(conn, file)
    except BaseException:
        conn.close()
        raise
    return conn


def check(conn: sqlite3.Connection, file: Path) -> list[str]:
    """Check that `conn` is an empty database or a spyglass store we understand, without writing anything.

    Returns:
        The names of the migrations not yet applied (all of them for an empty database).
    """
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        applied = _applied(conn) if MIGRATIONS_TABLE in tables else []
    except sqlite3.DatabaseError as exc:
        raise _unusable(file, exc) from exc
    user_tables = {name for name in tables if not name.startswith("sqlite_")}
    if app_id not in (0, APPLICATION_ID) or (user_tables and MIGRATIONS_TABLE not in user_tables):
        raise StoreError(
            f"{file} is a SQLite database that is not a spyglass store (it has tables "
            f"{', '.join(sorted(user_tables)) or 'none'}"
            f"{f' and application_id {app_id:#x}' if app_id else ''}); it was left untouched. "
            "Point spyglass at another file."
        )
    known = [migration.name for migration in MIGRATIONS]
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise StoreError(
            f"{file} was written by a newer spyglass (unknown schema migrations {', '.join(unknown)}); "
            "upgrade spyglass to read it. The file was left untouched."
        )
    return [name for name in known if name not in applied]


def migrate(conn: sqlite3.Connection, file: Path) -> None:
    """Apply the missing migrations in one write transaction, re-checking under the lock.

    Several processes may open a new file at once; the one that gets the write lock first migrates, and the
    others find the migrations recorded when they get it.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        missing = set(check(conn, file))
        if missing:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_at REAL)"
            )
            for migration in MIGRATIONS:
                if migration.name in missing:
                    for statement in migration.statements:
                        conn.execute(statement)
                    if migration.then is not None:
                        migration.then(conn)
                    conn.execute(
                        f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)",
                        (migration.name, time.time()),
                    )
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _prepare_for_writing(conn: sqlite3.Connection, file: Path) -> None:
    try:
        missing = check(conn, file)
    except StoreError as exc:
        if isinstance(exc.__cause__, sqlite3.OperationalError):
            raise exc.__cause__ from None  # read-only or locked, not a bad file: the writer warns and retries
        raise
    if len(missing) == len(MIGRATIONS):
        # Only effective before the first table exists; lets pruning give pages back to the file system.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    _configure_wal(conn)
    if missing:
        try:
            migrate(conn, file)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):
                raise
            raise _unusable(file, exc) from exc


def _configure_wal(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    # Span and trace ids are random, so index inserts land on random pages: a bigger cache than the
    # default 2 MB keeps a large store's index pages in memory.
    conn.execute(f"PRAGMA cache_size = {-_WRITER_CACHE_KIB}")


_WRITER_CACHE_KIB = 32 * 1024


def _connect_existing(file: Path, *, readonly: bool, busy_timeout: float) -> tuple[sqlite3.Connection, bool]:
    uri = file.resolve().as_uri()
    try:
        conn = sqlite3.connect(
            f"{uri}?mode={'ro' if readonly else 'rw'}",
            uri=True,
            timeout=busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.OperationalError as exc:
        if readonly:
            raise StoreError(f"Cannot open the spyglass store {file}: {exc}") from exc
        # A file we may not write (read-only file or directory) can still be read.
        return _connect_existing(file, readonly=True, busy_timeout=busy_timeout)
    return conn, readonly


def _applied(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE} ORDER BY rowid")]


def _unusable(file: Path, exc: sqlite3.DatabaseError) -> StoreError:
    if "not a database" in str(exc):
        return StoreError(f"{file} is not a SQLite database (it was left untouched): {exc}")
    return StoreError(f"{file} is corrupt or unreadable as a spyglass store (it was left untouched): {exc}")
