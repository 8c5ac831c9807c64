"""The PostgreSQL schema as named migrations, applied under an advisory lock so concurrent openers agree.

A database written by a newer spyglass (an applied migration this code does not know) raises `StoreError`
and is left untouched.
"""

from __future__ import annotations

import time

import psycopg

from spyglass.store._backends import mask_url
from spyglass.store._errors import StoreError
from spyglass.store._schema import Migration
from spyglass.store._threads import SUMMARY_KEY

MIGRATIONS_TABLE = "spyglass_migrations"
_LOCK_KEY = 0x5350_5947  # "SPYG": one advisory lock for migrating

_INITIAL = Migration(
    "0001_spans_traces_tsvector",
    (
        "CREATE TABLE spyglass_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)",
        "INSERT INTO spyglass_meta (key, value) VALUES ('change_seq', 0)",
        """CREATE TABLE resources (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            digest TEXT NOT NULL UNIQUE,
            resource TEXT NOT NULL
        )""",
        """CREATE TABLE spans (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            trace_id TEXT NOT NULL,
            span_id TEXT NOT NULL,
            parent_span_id TEXT,
            name TEXT NOT NULL,
            span_kind TEXT NOT NULL,
            kind TEXT,
            message TEXT,
            start_ns BIGINT NOT NULL,
            end_ns BIGINT,
            duration_ns BIGINT,
            status_code TEXT NOT NULL,
            status_description TEXT,
            service_name TEXT,
            model TEXT,
            response_model TEXT,
            provider TEXT,
            operation TEXT,
            input_tokens BIGINT,
            output_tokens BIGINT,
            cost_usd DOUBLE PRECISION,
            prompt_preview TEXT,
            is_pending INTEGER NOT NULL,
            attributes TEXT NOT NULL,
            events TEXT NOT NULL,
            links TEXT NOT NULL,
            resource_id BIGINT REFERENCES resources (id),
            scope TEXT,
            row_bytes BIGINT NOT NULL,
            search TSVECTOR,
            UNIQUE (trace_id, span_id)
        )""",
        "CREATE INDEX spans_model ON spans (model, kind, duration_ns) WHERE model IS NOT NULL",
        "CREATE INDEX spans_search ON spans USING GIN (search)",
        """CREATE TABLE traces (
            trace_id TEXT PRIMARY KEY,
            start_ns BIGINT NOT NULL,
            end_ns BIGINT NOT NULL,
            duration_ns BIGINT NOT NULL,
            root_span_id TEXT,
            root_name TEXT,
            message TEXT,
            service_name TEXT,
            span_count BIGINT NOT NULL,
            pending_count BIGINT NOT NULL,
            error_count BIGINT NOT NULL,
            models TEXT NOT NULL,
            input_tokens BIGINT,
            output_tokens BIGINT,
            total_tokens BIGINT,
            cost_usd DOUBLE PRECISION,
            first_prompt TEXT,
            seq BIGINT NOT NULL,
            data_bytes BIGINT NOT NULL
        )""",
        "CREATE INDEX traces_start ON traces (start_ns DESC, trace_id DESC)",
        "CREATE INDEX traces_end ON traces (end_ns)",
        "CREATE INDEX traces_seq ON traces (seq)",
        "CREATE TABLE deletions (seq BIGINT NOT NULL, trace_id TEXT)",
        "CREATE INDEX deletions_seq ON deletions (seq)",
    ),
)


def _resolve_all_threads(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    from spyglass.store.postgres._ingest import resolve_all_threads  # the writers' code

    resolve_all_threads(conn)


# Threads, as in SQLite (store/_schema.py): the columns, the old spans' filled from their attributes.
_SESSION = "nullif(attributes::json ->> 'session.id', '')"
_CONVERSATION = "nullif(attributes::json ->> 'gen_ai.conversation.id', '')"
_PREVIOUS = "nullif(attributes::json ->> 'gen_ai.request.previous_response.id', '')"
_KEY = SUMMARY_KEY.format(column="thread_key", trace="traces")
_KEY_SOURCE = SUMMARY_KEY.format(column="thread_source", trace="traces")
_THREADS = Migration(
    "0002_threads",
    (
        """ALTER TABLE spans ADD COLUMN thread_key TEXT, ADD COLUMN thread_source TEXT,
            ADD COLUMN response_id TEXT, ADD COLUMN previous_response_id TEXT""",
        f"""UPDATE spans SET thread_key = coalesce({_SESSION}, {_CONVERSATION}),
            thread_source = CASE WHEN {_SESSION} IS NOT NULL THEN 'session'
                WHEN {_CONVERSATION} IS NOT NULL THEN 'conversation' END
            WHERE attributes LIKE '%session.id%' OR attributes LIKE '%gen_ai.conversation.id%'""",
        f"""UPDATE spans SET previous_response_id = {_PREVIOUS},
            response_id = CASE WHEN attributes::json ->> 'openai.api.type' = 'responses' OR {_PREVIOUS} IS NOT NULL
                THEN nullif(attributes::json ->> 'gen_ai.response.id', '') END
            WHERE attributes LIKE '%openai.api.type%' OR attributes LIKE '%previous_response.id%'""",
        """CREATE INDEX spans_thread_key ON spans (trace_id, thread_source, thread_key)
            WHERE thread_key IS NOT NULL""",
        "CREATE INDEX spans_response ON spans (response_id, trace_id) WHERE response_id IS NOT NULL",
        """CREATE INDEX spans_previous_response ON spans (previous_response_id, trace_id)
            WHERE previous_response_id IS NOT NULL""",
        """CREATE INDEX spans_chain ON spans (trace_id, start_ns)
            WHERE response_id IS NOT NULL OR previous_response_id IS NOT NULL""",
        """ALTER TABLE traces ADD COLUMN thread_key TEXT, ADD COLUMN thread_key_source TEXT,
            ADD COLUMN thread_id TEXT, ADD COLUMN thread_source TEXT""",
        f"UPDATE traces SET thread_key = {_KEY}, thread_key_source = {_KEY_SOURCE}",
        "UPDATE traces SET thread_id = thread_key, thread_source = thread_key_source",
        "CREATE INDEX traces_thread ON traces (thread_id, start_ns) WHERE thread_id IS NOT NULL",
    ),
    _resolve_all_threads,
)

# Changes are stamped with their transaction's id instead of a counter every writer had to lock (_changes.py).
# The old stamps would read as ids from the past or the future: nothing is new after the upgrade. The counter
# row stays for a writer of the previous version still running, whose changes live viewers then miss until
# it is restarted (it refuses to open the upgraded store).
_CHANGE_IDS = Migration(
    "0003_change_transaction_ids",
    ("UPDATE traces SET seq = 0 WHERE seq <> 0", "UPDATE deletions SET seq = 0 WHERE seq <> 0"),
)

# As in SQLite (store/_schema.py): each writer's drop counts, and log records waiting for their span.
_LOSSES_AND_WAITING_EVENTS = Migration(
    "0004_losses_waiting_events",
    (
        """CREATE TABLE losses (
            writer_id TEXT NOT NULL,
            sink TEXT NOT NULL,
            unit TEXT NOT NULL,
            service_name TEXT,
            host TEXT,
            pid BIGINT,
            count BIGINT NOT NULL,
            first_ns BIGINT NOT NULL,
            last_ns BIGINT NOT NULL,
            PRIMARY KEY (writer_id, sink)
        )""",
        """CREATE TABLE waiting_events (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            trace_id TEXT NOT NULL,
            span_id TEXT NOT NULL,
            received_ns BIGINT NOT NULL,
            bytes BIGINT NOT NULL,
            event TEXT NOT NULL
        )""",
        "CREATE INDEX waiting_events_span ON waiting_events (trace_id, span_id)",
        "CREATE INDEX waiting_events_received ON waiting_events (received_ns)",
    ),
)

# The models page reads every model call: from an index holding all it needs (as SQLite's `spans_model`), not
# the spans' wide rows (200,000 spans: 216 -> 50 ms).
_MODEL_SUMMARY_INDEX = Migration(
    "0005_model_summary_index",
    (
        """CREATE INDEX spans_model_summary ON spans (model, kind)
            INCLUDE (duration_ns, status_code, input_tokens, output_tokens, cost_usd, start_ns)
            WHERE model IS NOT NULL""",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (
    _INITIAL,
    _THREADS,
    _CHANGE_IDS,
    _LOSSES_AND_WAITING_EVENTS,
    _MODEL_SUMMARY_INDEX,
)


def connect(url: str, *, migrate: bool, timeout: int = 10) -> psycopg.Connection[tuple[object, ...]]:
    """Connect to the store at `url`, checked (and, with `migrate`, created or upgraded).

    Raises:
        StoreError: the database has a newer spyglass schema, or an older one and `migrate` is false.
        psycopg.OperationalError: the server cannot be reached now (the caller decides whether to retry).
    """
    conn = psycopg.connect(url, autocommit=True, connect_timeout=timeout)
    try:
        missing = _missing(conn, url)
        if missing and not migrate:
            raise StoreError(
                f"{mask_url(url)} has no spyglass store, or an older schema (missing migrations "
                f"{', '.join(missing)}); write to it once (spyglass serve or run --store) to create it"
            )
        if missing:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
                    "(name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION)"
                )
                still_missing = set(_missing(conn, url))  # another process may have migrated meanwhile
                for migration in MIGRATIONS:
                    if migration.name in still_missing:
                        for statement in migration.statements:
                            conn.execute(statement.encode())  # our own constant SQL
                        if migration.then is not None:
                            migration.then(conn)
                        conn.execute(
                            f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (%s, %s)",
                            (migration.name, time.time()),
                        )
    except BaseException:
        conn.close()
        raise
    return conn


def _missing(conn: psycopg.Connection[tuple[object, ...]], url: str) -> list[str]:
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (MIGRATIONS_TABLE,)).fetchone()
    applied = (
        [str(row[0]) for row in conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE} ORDER BY name")]
        if exists and exists[0]
        else []
    )
    known = [migration.name for migration in MIGRATIONS]
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise StoreError(
            f"{mask_url(url)} was written by a newer spyglass (unknown schema migrations "
            f"{', '.join(unknown)}); upgrade spyglass to use it. The database was left untouched."
        )
    return [name for name in known if name not in applied]
