"""Files the store must not use: a clear StoreError naming the file, and the file left byte-for-byte as it was."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from store_helpers import Tracing

from spyglass.store import SpanStore, SqliteSpanProcessor, StoreError


def _open_both_and_expect(path: Path, match: str, *, wal: bool = False) -> None:
    before = path.read_bytes()
    with pytest.raises(StoreError, match=match) as raised:
        SqliteSpanProcessor(path)
    assert str(path) in str(raised.value)
    with pytest.raises(StoreError, match=match):
        SpanStore(path)
    with pytest.raises(StoreError, match=match):
        SpanStore(path, readonly=True)
    assert path.read_bytes() == before
    if not wal:  # nothing switched the file to WAL mode
        assert sorted(os.listdir(path.parent)) == [path.name]


def test_a_missing_file_is_a_clear_error_for_a_reader(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        SpanStore(tmp_path / "nope.sqlite")
    assert not (tmp_path / "nope.sqlite").exists()


def test_a_foreign_sqlite_database_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        conn.execute("INSERT INTO users (email) VALUES ('ada@example.com')")
    conn.close()
    _open_both_and_expect(path, "not a spyglass store")


def test_a_database_with_another_application_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 1234")
    conn.execute("CREATE TABLE _spyglass_migrations (name TEXT)")
    conn.commit()
    conn.close()
    _open_both_and_expect(path, "not a spyglass store")


def test_a_file_that_is_not_sqlite_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    _open_both_and_expect(path, "not a SQLite database")


def test_a_store_from_a_newer_spyglass_is_refused_and_untouched(
    store_path: Path, make_tracing: Callable[..., Tracing]
) -> None:
    tracing = make_tracing()
    tracing.llm_span()
    tracing.shutdown()
    conn = sqlite3.connect(store_path)
    with conn:
        conn.execute("INSERT INTO _spyglass_migrations (name, applied_at) VALUES ('0042_from_the_future', 0)")
    conn.close()
    _open_both_and_expect(store_path, "newer spyglass", wal=True)


def test_a_corrupt_store_raises_store_error_and_is_kept(
    store_path: Path, make_tracing: Callable[..., Tracing]
) -> None:
    tracing = make_tracing()
    for index in range(200):
        tracing.llm_span(f"question {index} " + "padding " * 50)
    tracing.shutdown()
    data = bytearray(store_path.read_bytes())
    page = 4096
    data[page * 3 : len(data) - page] = b"\xde\xad\xbe\xef" * ((len(data) - 4 * page) // 4)
    store_path.write_bytes(bytes(data))

    with pytest.raises(StoreError, match=str(store_path)):
        store = SpanStore(store_path, readonly=True)
        try:
            for trace in store.list_traces(limit=1000):
                store.get_trace(trace["trace_id"])
        finally:
            store.close()
    assert store_path.read_bytes() == bytes(data)


def test_an_empty_file_becomes_a_store(tmp_path: Path, open_store: Callable[..., SpanStore]) -> None:
    path = tmp_path / "empty.sqlite"
    path.touch()
    tracing = Tracing(path)
    tracing.llm_span()
    tracing.shutdown()
    assert len(open_store(path).list_traces()) == 1
