"""Threads: traces grouped into conversations by session, conversation id or Responses chain, on both backends."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dirty_equals import IsInt
from pg_cluster import both_backends  # noqa: F401  # `store_path`: every test on both backends
from store_helpers import Tracing, llm_attributes

from spyglass import _attribute_names as names
from spyglass.store import SpanStore, StoreError


def _responses_call(
    tracing: Tracing, prompt: str, response_id: str, previous: str | None = None, **extra: Any
) -> None:
    """One Responses API call as the openai integration records it, in a trace of its own."""
    attributes = {
        **llm_attributes(prompt),
        names.OPENAI_PATH: "/responses",
        names.OPENAI_API_TYPE: "responses",
        names.RESPONSE_ID: response_id,
        names.USAGE_INPUT_TOKENS: 10,
        names.USAGE_OUTPUT_TOKENS: 5,
        names.COST_USD: 0.001,
        **extra,
    }
    if previous is not None:
        attributes[names.REQUEST_PREVIOUS_RESPONSE_ID] = previous
    with tracing.tracer.start_as_current_span(f"responses {prompt}", attributes=attributes):
        pass


def _session_turn(tracing: Tracing, session: str, prompt: str, **llm: Any) -> None:
    """A user span carrying the session (as `spyglass.span(..., session=...)` makes), an LLM call inside."""
    with tracing.tracer.start_as_current_span(
        f"turn {prompt}",
        attributes={names.KIND: names.KIND_SPAN, names.MSG: f"turn {prompt}", "session.id": session},
    ):
        tracing.llm_span(prompt, **llm)


def _threads(store: SpanStore, **filters: Any) -> dict[str, list[str]]:
    """Each listed thread's traces' first prompts, in order."""
    return {
        thread["thread_id"]: [trace["first_prompt"] for trace in store.get_thread(thread["thread_id"])]
        for thread in store.list_threads(**filters)
    }


def test_a_session_on_a_parent_span_puts_the_whole_trace_in_its_thread(
    tracing: Tracing, open_store: Callable[..., SpanStore]
) -> None:
    _session_turn(tracing, "chat-1", "Hello there", input_tokens=10, output_tokens=2, cost=0.001)
    tracing.llm_span("Unrelated question")
    _session_turn(tracing, "chat-2", "Other chat")
    _session_turn(
        tracing, "chat-1", "And a follow-up", input_tokens=30, output_tokens=4, cost=None, error=True
    )
    tracing.flush()
    store = open_store()

    assert _threads(store) == {"chat-1": ["Hello there", "And a follow-up"], "chat-2": ["Other chat"]}
    chat = store.list_threads()[0]
    traces = store.get_thread("chat-1")
    assert chat == {
        "thread_id": "chat-1",
        "source": "session",
        "trace_count": 2,
        "span_count": 4,
        "start_ns": traces[0]["start_ns"],
        "end_ns": traces[1]["end_ns"],
        "last_start_ns": traces[1]["start_ns"],
        "duration_ns": traces[1]["end_ns"] - traces[0]["start_ns"],
        "busy_ns": traces[0]["duration_ns"] + traces[1]["duration_ns"],
        "status": "error",
        "error_count": 1,
        "pending_count": 0,
        "models": ["gpt-4o"],
        "input_tokens": 10,  # the failed call reported no usage
        "output_tokens": 2,
        "total_tokens": 12,
        "cost_usd": 0.001,
        "first_prompt": "Hello there",
        "message": "turn Hello there",
        "service_name": "checkout",
        "seq": IsInt(),
    }
    assert [trace["thread_id"] for trace in traces] == ["chat-1", "chat-1"]
    calls = store.get_thread_calls("chat-1")
    assert [(call["kind"], call["prompt_preview"]) for call in calls] == [
        ("llm", "Hello there"),
        ("llm", "And a follow-up"),
    ]
    assert calls == [
        span for trace in traces for span in store.get_trace(trace["trace_id"]) if span["kind"] == "llm"
    ]
    assert [call["prompt_preview"] for call in store.get_thread_calls("chat-1", traces=1)] == ["Hello there"]
    before_second = store.get_thread_calls("chat-1", traces=5, before=traces[1]["start_ns"])
    assert [call["prompt_preview"] for call in before_second] == ["Hello there"]
    assert store.get_thread_calls("chat-1", before=traces[0]["start_ns"]) == []
    assert {trace["thread_source"] for trace in traces} == {"session"}
    unrelated = [trace for trace in store.list_traces() if trace["first_prompt"] == "Unrelated question"]
    assert unrelated[0]["thread_id"] is None


def test_a_conversation_id_groups_traces_and_a_session_wins_over_it(
    tracing: Tracing, open_store: Callable[..., SpanStore]
) -> None:
    _responses_call(tracing, "first", "resp_1", **{names.CONVERSATION_ID: "conv_9"})
    _responses_call(tracing, "second", "resp_2", **{names.CONVERSATION_ID: "conv_9"})
    with tracing.tracer.start_as_current_span("outer", attributes={"session.id": "mine"}):
        _responses_call(tracing, "third", "resp_3", **{names.CONVERSATION_ID: "conv_9"})
    tracing.flush()
    store = open_store()
    assert _threads(store) == {"mine": ["third"], "conv_9": ["first", "second"]}
    assert [thread["source"] for thread in store.list_threads()] == ["session", "conversation"]


def test_a_responses_chain_is_one_thread_whatever_order_its_traces_arrive_in(
    make_tracing: Callable[..., Tracing], open_store: Callable[..., SpanStore]
) -> None:
    # Three writers (as three processes would be) holding their spans until flushed: the turns are made in
    # order, and the last one reaches the store first, the first one last.
    first, second, third = (make_tracing(flush_interval=600) for _ in range(3))
    _responses_call(first, "turn one", "resp_a")
    _responses_call(first, "a call nobody continues", "resp_z")
    _responses_call(second, "turn two", "resp_b", previous="resp_a")
    _responses_call(third, "turn three", "resp_c", previous="resp_b")
    third.flush()
    store = open_store()
    assert _threads(store) == {"resp_b": ["turn three"]}  # named by the response it continues, not stored yet
    second.flush()
    assert _threads(store) == {"resp_a": ["turn two", "turn three"]}
    first.flush()
    assert _threads(store) == {"resp_a": ["turn one", "turn two", "turn three"]}
    assert store.list_threads()[0]["source"] == "responses"
    assert store.list_threads()[0]["cost_usd"] == pytest.approx(0.003)


def test_a_trace_continuing_a_session_trace_joins_the_session(
    tracing: Tracing, open_store: Callable[..., SpanStore]
) -> None:
    with tracing.tracer.start_as_current_span("turn", attributes={"session.id": "support-42"}):
        _responses_call(tracing, "my order is late", "resp_1")
    _responses_call(tracing, "where is it now?", "resp_2", previous="resp_1")
    tracing.flush()
    assert _threads(open_store()) == {"support-42": ["my order is late", "where is it now?"]}


def test_calls_chained_within_one_trace_make_no_thread(
    tracing: Tracing, open_store: Callable[..., SpanStore]
) -> None:
    with tracing.user_span("agent loop"):
        _responses_call(tracing, "step one", "resp_1")
        _responses_call(tracing, "step two", "resp_2", previous="resp_1")
    tracing.flush()
    store = open_store()
    assert store.list_threads() == []
    assert store.list_traces()[0]["thread_id"] is None


def test_thread_filters_search_and_paging(tracing: Tracing, open_store: Callable[..., SpanStore]) -> None:
    _session_turn(tracing, "cheap", "Translate bonjour", model="gpt-4o-mini", cost=0.00001)
    _session_turn(tracing, "dear", "Summarise the quarterly report", cost=0.02)
    _session_turn(tracing, "dear", "Now the annual one", cost=0.03)
    _session_turn(tracing, "broken", "Name a nonexistent model", model="gpt-9", error=True)
    tracing.flush()
    store = open_store()

    def ids(**filters: Any) -> list[str]:
        return [thread["thread_id"] for thread in store.list_threads(**filters)]

    assert ids() == ["broken", "dear", "cheap"]
    assert ids(model="gpt-4o-mini") == ["cheap"]
    assert ids(status="error") == ["broken"]
    assert ids(status="ok") == ["dear", "cheap"]
    assert ids(min_cost=0.04) == ["dear"]  # the thread's total, not one trace's
    assert ids(min_tokens=30) == ["dear"]
    assert ids(service="checkout") == ["broken", "dear", "cheap"]
    assert ids(search="quarterly") == ["dear"]
    assert ids(search="annu") == ["dear"]  # the last word as a prefix
    assert ids(search="quarterly annual") == []  # every word in one span
    assert ids(max_duration=3600) == ["broken", "dear", "cheap"]
    first_page = store.list_threads(limit=2)
    assert [thread["thread_id"] for thread in first_page] == ["broken", "dear"]
    assert ids(before=first_page[-1]["last_start_ns"]) == ["cheap"]
    assert store.get_thread("no such thread") == []


def test_changes_since_reports_a_trace_that_joins_a_thread_later(
    tracing: Tracing, open_store: Callable[..., SpanStore]
) -> None:
    _responses_call(tracing, "turn one", "resp_1")
    tracing.flush()
    store = open_store()
    cursor = store.current_cursor()
    assert store.list_traces()[0]["thread_id"] is None
    _responses_call(tracing, "turn two", "resp_2", previous="resp_1")
    tracing.flush()
    changes = store.changes_since(cursor)
    assert sorted((trace["first_prompt"], trace["thread_id"]) for trace in changes["traces"]) == [
        ("turn one", "resp_1"),
        ("turn two", "resp_1"),
    ]


def _downgrade_to_the_first_schema(store_path: Path | str) -> None:
    """Make the store what spyglass wrote before threads: no thread columns, no 0002 migration."""
    statements = [
        *(
            f"DROP INDEX {index}"
            for index in ("spans_thread_key", "spans_response", "spans_previous_response")
        ),
        "DROP INDEX spans_chain",
        "DROP INDEX traces_thread",
        *(
            f"ALTER TABLE spans DROP COLUMN {column}"
            for column in ("thread_key", "thread_source", "response_id", "previous_response_id")
        ),
        *(
            f"ALTER TABLE traces DROP COLUMN {column}"
            for column in ("thread_key", "thread_key_source", "thread_id", "thread_source")
        ),
    ]
    if isinstance(store_path, Path):
        with sqlite3.connect(store_path) as conn:
            for statement in statements:
                conn.execute(statement)
            conn.execute("DELETE FROM _spyglass_migrations WHERE name = '0002_threads'")
    else:
        with psycopg.connect(store_path, autocommit=True) as pg:
            for statement in statements:
                pg.execute(statement.encode())
            pg.execute("DELETE FROM spyglass_migrations WHERE name = '0002_threads'")


def test_a_store_from_before_threads_is_migrated_and_its_traces_grouped(
    tracing: Tracing, store_path: Path | str, open_store: Callable[..., SpanStore]
) -> None:
    _session_turn(tracing, "chat-1", "Hello there")
    _session_turn(tracing, "chat-1", "Again")
    _responses_call(tracing, "turn one", "resp_1")
    _responses_call(tracing, "turn two", "resp_2", previous="resp_1")
    tracing.llm_span("Alone")
    tracing.flush()
    tracing.shutdown()
    _downgrade_to_the_first_schema(store_path)
    with pytest.raises(StoreError, match=r"older (spyglass )?schema"):
        open_store(readonly=True)  # read-only cannot upgrade it, and says so

    store = open_store()  # opened for writing: migrated
    assert _threads(store) == {"resp_1": ["turn one", "turn two"], "chat-1": ["Hello there", "Again"]}
    assert [trace["thread_id"] for trace in store.list_traces() if trace["first_prompt"] == "Alone"] == [None]


@pytest.mark.parametrize("batches", ["a batch per trace", "one batch"])
def test_a_long_chain_arriving_last_turn_first_ends_as_one_thread(
    tracing: Tracing, open_store: Callable[..., SpanStore], batches: str
) -> None:
    turns = 40
    for turn in reversed(range(turns)):  # the last turn reaches the store first, the first one last
        _responses_call(
            tracing, f"turn {turn}", f"resp_{turn}", previous=f"resp_{turn - 1}" if turn else None
        )
        if batches == "a batch per trace":
            tracing.flush()
    tracing.flush()
    store = open_store()
    (thread,) = store.list_threads()
    assert (thread["thread_id"], thread["trace_count"]) == ("resp_0", turns)
    assert {trace["thread_id"] for trace in store.list_traces(limit=100)} == {"resp_0"}


def test_two_writers_at_once_agree_on_a_chains_thread(
    make_tracing: Callable[..., Tracing], open_store: Callable[..., SpanStore]
) -> None:
    # Each writer commits its own batches on its own thread; the turns of one chain are split between them,
    # so a turn and the one it continues are often written at the same moment by the two.
    writers = [
        make_tracing(flush_interval=0.001, batch_size=1),
        make_tracing(flush_interval=0.001, batch_size=1),
    ]
    turns = 60

    def write(parity: int) -> None:
        for turn in range(parity, turns, 2):
            _responses_call(
                writers[parity], f"turn {turn}", f"resp_{turn}", previous=f"resp_{turn - 1}" if turn else None
            )

    threads = [threading.Thread(target=write, args=(parity,)) for parity in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for writer in writers:
        writer.flush()
    store = open_store()
    assert [(thread["thread_id"], thread["trace_count"]) for thread in store.list_threads()] == [
        ("resp_0", turns)
    ]


def test_deleting_a_trace_in_the_middle_of_a_chain_splits_its_thread(
    tracing: Tracing, open_store: Callable[..., SpanStore]
) -> None:
    """What is left is grouped as if the deleted trace had never been written."""
    for number, (response, previous) in enumerate(
        [("resp_a", None), ("resp_b", "resp_a"), ("resp_c", "resp_b"), ("resp_d", "resp_c")], start=1
    ):
        _responses_call(tracing, f"turn {number}", response, previous=previous)
    tracing.flush()
    store = open_store()
    assert _threads(store) == {"resp_a": ["turn 1", "turn 2", "turn 3", "turn 4"]}
    cursor = store.current_cursor()
    [second] = [trace["trace_id"] for trace in store.list_traces() if trace["first_prompt"] == "turn 2"]
    assert store.delete_trace(second)
    assert _threads(store) == {"resp_b": ["turn 3", "turn 4"]}  # named by the response it continues
    [first] = [trace for trace in store.list_traces() if trace["first_prompt"] == "turn 1"]
    assert first["thread_id"] is None  # nothing continues it now: no thread, as a lone call
    changed = store.changes_since(cursor)
    assert changed["deleted"] == [second]
    assert sorted(trace["first_prompt"] for trace in changed["traces"]) == ["turn 1", "turn 3", "turn 4"]

    [fourth] = [trace["trace_id"] for trace in store.list_traces() if trace["first_prompt"] == "turn 4"]
    assert store.delete_trace(fourth)  # the end of a chain: the rest stays one thread
    assert _threads(store) == {"resp_b": ["turn 3"]}
