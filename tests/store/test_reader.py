"""SpanStore queries: full-text search, filters, the model summary, live changes, deleting."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from dirty_equals import IsInt
from pg_cluster import both_backends  # noqa: F401  # `store_path`: every test on both backends
from store_helpers import Tracing

from spyglass.store import SpanStore, StoreError, reader


def _prompts(traces: list) -> list[str]:
    return [trace["first_prompt"] for trace in traces]


@pytest.fixture
def filled(tracing: Tracing, open_store: Callable[..., SpanStore]) -> SpanStore:
    """Four traces, newest last: a cheap one, an expensive one, a failed one, a slow one."""
    tracing.llm_span(
        "Translate bonjour into English",
        "Hello",
        model="gpt-4o-mini",
        input_tokens=5,
        output_tokens=1,
        cost=0.00001,
    )
    tracing.llm_span(
        "Summarise the quarterly report",
        "Revenue grew by twelve percent",
        model="gpt-4o",
        input_tokens=3000,
        output_tokens=400,
        cost=0.012,
    )
    tracing.llm_span("Name a nonexistent model", model="gpt-9", error=True)
    with tracing.user_span("Slow batch job"):
        time.sleep(0.05)
        tracing.llm_span(
            "Write a haiku about autumn leaves",
            "Crimson leaves drifting",
            model="gpt-4o",
            input_tokens=20,
            output_tokens=12,
            cost=None,
        )
    tracing.flush()
    return open_store()


@pytest.fixture(params=["few matches", "many matches"])
def search_plan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run search tests through both query plans (collect the matches / walk the traces)."""
    if request.param == "many matches":
        monkeypatch.setattr(reader, "_FEW_MATCHES", 0)


@pytest.mark.usefixtures("search_plan")
def test_full_text_search_finds_words_from_prompts_and_answers(filled: SpanStore) -> None:
    assert _prompts(filled.list_traces(search="quarterly")) == ["Summarise the quarterly report"]
    assert _prompts(filled.list_traces(search="twelve percent")) == ["Summarise the quarterly report"]
    assert _prompts(filled.list_traces(search="CRIMSON")) == ["Write a haiku about autumn leaves"]
    assert _prompts(filled.list_traces(search="bonj")) == ["Translate bonjour into English"]  # a prefix
    assert _prompts(filled.list_traces(search="terse geographer")) == _prompts(filled.list_traces())  # system
    assert filled.list_traces(search="twelve crimson") == []  # every word, in one span
    assert filled.list_traces(search='"unbalanced AND (') == []  # FTS syntax is not passed through


@pytest.mark.usefixtures("search_plan")
def test_filters(filled: SpanStore) -> None:
    assert _prompts(filled.list_traces(status="error")) == ["Name a nonexistent model"]
    assert len(filled.list_traces(status="ok")) == 3
    assert _prompts(filled.list_traces(model="gpt-4o")) == [
        "Write a haiku about autumn leaves",
        "Summarise the quarterly report",
    ]
    assert _prompts(filled.list_traces(min_duration=0.05)) == ["Write a haiku about autumn leaves"]
    assert len(filled.list_traces(max_duration=0.04)) == 3
    assert _prompts(filled.list_traces(min_tokens=1000)) == ["Summarise the quarterly report"]
    assert _prompts(filled.list_traces(min_cost=0.001)) == ["Summarise the quarterly report"]
    assert len(filled.list_traces(service="checkout")) == 4
    assert filled.list_traces(service="billing") == []
    assert _prompts(filled.list_traces(model="gpt-4o", search="haiku", status="ok")) == [
        "Write a haiku about autumn leaves"
    ]


def test_paging_with_before(filled: SpanStore) -> None:
    first = filled.list_traces(limit=3)
    rest = filled.list_traces(limit=3, before=first[-1]["start_ns"])
    assert _prompts(first + rest) == _prompts(filled.list_traces())
    assert len(rest) == 1


def test_model_summary(filled: SpanStore) -> None:
    summary = filled.model_summary()
    assert [
        (row["model"], row["calls"], row["errors"], row["input_tokens"], row["output_tokens"])
        for row in summary
    ] == [
        ("gpt-4o", 2, 0, 3020, 412),
        ("gpt-4o-mini", 1, 0, 5, 1),
        ("gpt-9", 1, 1, 0, 0),
    ]
    gpt4o = summary[0]
    assert gpt4o["cost_usd"] == pytest.approx(0.012)
    assert gpt4o["error_rate"] == 0 and summary[2]["error_rate"] == 1
    durations = sorted(
        span["duration_ns"]
        for trace in filled.list_traces(model="gpt-4o")
        for span in filled.get_trace(trace["trace_id"])
        if span["kind"] == "llm"
    )
    assert (gpt4o["p50_duration_ns"], gpt4o["p95_duration_ns"]) == (durations[0], durations[1])
    assert filled.model_summary(since_ns=time.time_ns()) == []


def test_changes_since_reports_new_updated_and_deleted_traces(
    tracing: Tracing, open_store: Callable[..., SpanStore]
) -> None:
    tracing.llm_span("first question")
    tracing.flush()
    store = open_store()
    start = store.current_cursor()
    assert store.changes_since(start) == {
        "cursor": start,
        "traces": [],
        "deleted": [],
        "cleared": False,
        "more": False,
    }

    with tracing.user_span("a job") as job:
        tracing.flush()
        changes = store.changes_since(start)
        assert [trace["status"] for trace in changes["traces"]] == ["pending"]
        cursor = changes["cursor"]
        assert cursor > start
    tracing.flush()
    changes = store.changes_since(cursor)
    assert [(trace["trace_id"], trace["status"]) for trace in changes["traces"]] == [
        (format(job.get_span_context().trace_id, "032x"), "ok")
    ]
    cursor = changes["cursor"]

    (oldest,) = store.list_traces(search="first")
    assert store.delete_trace(oldest["trace_id"]) is True
    assert store.delete_trace(oldest["trace_id"]) is False
    changes = store.changes_since(cursor)
    assert changes == {
        "cursor": IsInt(gt=cursor),
        "traces": [],
        "deleted": [oldest["trace_id"]],
        "cleared": False,
        "more": False,
    }
    assert store.get_trace(oldest["trace_id"]) == []
    assert store.list_traces(search="first") == []

    store.clear()
    changes = store.changes_since(changes["cursor"])
    assert changes["cleared"] is True
    assert store.list_traces() == [] and store.stats() == {"traces": 0, "spans": 0, "bytes": IsInt()}
    tracing.llm_span("after clearing")
    tracing.flush()
    assert _prompts(store.list_traces()) == ["after clearing"]


def test_changes_since_pages_by_whole_changes(tracing: Tracing, open_store: Callable[..., SpanStore]) -> None:
    for index in range(7):
        tracing.llm_span(f"question {index}")
        tracing.flush()
    store = open_store()
    seen: list[str] = []
    cursor, more = 0, True
    while more:
        changes = store.changes_since(cursor, limit=3)
        seen += [trace["first_prompt"] for trace in changes["traces"]]
        cursor, more = changes["cursor"], changes["more"]
    assert seen == [f"question {index}" for index in range(7)]


def test_get_span_and_get_trace_of_unknown_ids(filled: SpanStore) -> None:
    assert filled.get_trace("0" * 32) == []
    assert filled.get_span("0" * 32, "0" * 16) is None
    assert filled.get_trace_summary("0" * 32) is None


def test_a_read_only_store_reads_and_refuses_to_write(filled: SpanStore, open_store) -> None:
    readonly = open_store(readonly=True)  # the same store (`path` hides a URL's password)
    assert len(readonly.list_traces()) == 4
    with pytest.raises(StoreError, match="read-only"):
        readonly.clear()
    assert len(filled.list_traces()) == 4


def test_get_trace_json_is_get_trace_as_json(tracing: Tracing, open_store: Callable[..., SpanStore]) -> None:
    import json

    from opentelemetry.trace import Link

    with tracing.user_span("Planning a trip") as root:
        tracing.llm_span("Paris?", cost=0.1 + 0.2)  # a cost that needs all 17 digits
        tracing.llm_span("Rome?", error=True)
        with tracing.tracer.start_as_current_span(
            'odd "quoted" \\ name \u00e9\ud83d\ude00', links=[Link(root.get_span_context(), {"why": "retry"})]
        ) as odd:
            odd.add_event("tick", {"n": 1, "text": "line\nbreak\x00"})
        running = tracing.tracer.start_span("still running", attributes={"nested": '{"a": [1, 2]}'})
        tracing.flush()
        store = open_store()
        trace_id = format(root.get_span_context().trace_id, "032x")
        records = store.get_trace(trace_id)
        assert len(records) == 5 and any(record["is_pending"] for record in records)
        assert json.loads(store.get_trace_json(trace_id)) == records
        running.end()
    assert store.get_trace_json("0" * 32) == "[]"


def test_get_waterfall_json_is_the_waterfall_fields_of_get_trace_as_a_browser_reads_them(
    tracing: Tracing, open_store: Callable[..., SpanStore]
) -> None:
    """Every span, in order, as a row of `WaterfallSpan`'s fields as `get_trace()` has them; integers JavaScript
    cannot hold exactly as strings; links as ids; of the attributes only the conversation, where it is text."""
    import json

    from opentelemetry.trace import Link

    with tracing.user_span("Planning a trip") as root:
        tracing.llm_span("Paris?", cost=0.1 + 0.2)  # a cost that needs all 17 digits
        tracing.llm_span("Rome?", error=True)
        with tracing.tracer.start_as_current_span(
            'odd "quoted" \\ name \u00e9\ud83d\ude00',
            links=[Link(root.get_span_context(), {"why": "retry", "big": 2**60})],
            attributes={"gen_ai.output.messages": ["not", "json text"], "job.id": 2**60 + 1},
        ) as odd:
            odd.add_event("tick", {"n": 1})
        running = tracing.tracer.start_span("still running", attributes={"gen_ai.input.messages": "[]"})
        tracing.flush()
        store = open_store()
        trace_id = format(root.get_span_context().trace_id, "032x")
        records = store.get_trace(trace_id)
        rows = json.loads(store.get_waterfall_json(trace_id))
        sent = [dict(zip(reader.WATERFALL_FIELDS, row, strict=True)) for row in rows]
        running.end()

    def as_sent(value: object) -> object:
        return str(value) if isinstance(value, int) and abs(value) > reader.JS_SAFE_INTEGER else value

    fields = [field for field in reader.WATERFALL_FIELDS if field not in ("links", "attributes")]
    assert [{field: span[field] for field in fields} for span in sent] == [
        {field: as_sent(record[field]) for field in fields}  # type: ignore[literal-required]
        for record in records
    ]
    by_name = {span["name"]: span for span in sent}
    assert by_name["still running"]["is_pending"] is True and by_name["still running"]["end_ns"] is None
    assert by_name["still running"]["attributes"] == {"gen_ai.input.messages": "[]"}
    assert isinstance(sent[0]["start_ns"], str) and sent[0]["start_ns"] == str(records[0]["start_ns"])
    [paris] = [span for span in sent if span["cost_usd"] is not None and span["status_code"] != "ERROR"]
    assert paris["cost_usd"] == 0.1 + 0.2
    [record] = [record for record in records if record["span_id"] == paris["span_id"]]
    assert set(paris["attributes"]) == {"gen_ai.input.messages", "gen_ai.output.messages"}
    assert paris["attributes"]["gen_ai.input.messages"] == record["attributes"]["gen_ai.input.messages"]
    [odd_span] = [span for span in sent if span["name"].startswith("odd")]
    assert odd_span["links"] == [
        {"trace_id": trace_id, "span_id": format(root.get_span_context().span_id, "016x")}
    ]
    assert odd_span["attributes"] == {}  # an array is no conversation, and job.id is the full span's
    assert str(2**60) not in json.dumps(sent) and str(2**60 + 1) not in json.dumps(sent)
    assert store.get_waterfall_json("0" * 32) == "[]"


def test_get_default_span_is_the_first_failed_call_else_the_first_call_else_the_first_span(
    tracing: Tracing, open_store: Callable[..., SpanStore]
) -> None:
    with tracing.user_span("Two calls, the second failed") as failing:
        tracing.llm_span("Paris?")
        tracing.llm_span("Rome?", error=True)
    with tracing.user_span("Two calls") as calling:
        with tracing.user_span("a step"):
            pass
        tracing.llm_span("Paris?")
        tracing.llm_span("Rome?")
    with tracing.user_span("No call") as plain, tracing.user_span("a step"):
        pass
    tracing.flush()
    store = open_store()

    def default(root: object) -> tuple[str, str | None, str]:
        trace_id = format(root.get_span_context().trace_id, "032x")  # type: ignore[attr-defined]
        span = store.get_default_span(trace_id)
        assert span is not None and span in store.get_trace(trace_id)  # the whole record
        return span["name"], span["prompt_preview"], span["status_code"]

    assert default(failing) == ("chat gpt-4o", "Rome?", "ERROR")
    assert default(calling) == ("chat gpt-4o", "Paris?", "UNSET")
    assert default(plain)[0] == "No call"
    assert store.get_default_span("0" * 32) is None
