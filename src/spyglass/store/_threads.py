"""Which thread (conversation) each trace belongs to, worked out when its spans are written.

A trace's own key comes first: the `session.id` of one of its spans (`spyglass.span(..., session=...)`, the
root's first), else a `gen_ai.conversation.id` (the Responses API's `conversation`). A trace without one
that continues a Responses call of another trace (`previous_response_id`) joins that trace's thread; a chain
of such traces with no key anywhere is a thread named by the response id that starts it. A trace in none of
these is in no thread.

Spans arrive in any order, from several writers: a trace continuing a response not stored yet is named by
that response id, which is what the chain is named once the response's trace arrives (when that trace made
one call). Each batch re-resolves the traces it touched, the traces they continue (which become the start of
a chain) and, when a trace's thread changed, the traces continuing it. The caller runs this inside its write
transaction, once every writer before it has committed (the change counter's lock), so writers agree.

The SQL is the same on both backends but for a parameter's placeholder and how a list is passed (`ThreadSql`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

_MAX_VISITS = 10_000  # traces re-resolved in one batch at most

Thread = tuple[str | None, str | None]  # (thread id, source: session, conversation or responses)


@dataclass(frozen=True)
class ThreadSql:
    """How one backend runs the queries below: rows of a query, a statement, and a list as a parameter."""

    rows: Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]
    run: Callable[[str, Sequence[Any]], None]
    placeholder: str  # "?" or "%s"
    in_list: str  # "IN (SELECT value FROM json_each(?))" or "= ANY(%s)"
    as_list: Callable[[list[str]], Any]  # the parameter for `in_list`

    def sql(self, text: str) -> str:
        return text.replace("?", self.placeholder).replace("{in}", self.in_list)


# The trace's own key: a session on any of its spans first, the root's first, then a conversation.
SUMMARY_KEY = """(SELECT k.{column} FROM spans AS k WHERE k.trace_id = {trace}.trace_id AND k.thread_key IS NOT NULL
    ORDER BY k.thread_source DESC, k.parent_span_id IS NOT NULL, k.start_ns, k.id LIMIT 1)"""

# The summary's thread_key, thread_key_source, thread_id, thread_source: a trace's thread starts as its own
# key; `resolve_threads` then sets the thread of a trace in a response chain.
SUMMARY_THREAD_COLUMNS = ", ".join(
    SUMMARY_KEY.format(column=column, trace="g") for column in ("thread_key", "thread_source") * 2
)


def resolve_threads(db: ThreadSql, trace_ids: list[str], seq: int) -> None:
    """Set `thread_id` of the traces of these in a response chain (and of the traces whose thread they
    change), stamping `seq` on each trace that changes so live viewers see it. The others' thread is their
    own key, which the trace summary sets (`SUMMARY_KEY`)."""
    chained = [row[0] for row in db.rows(db.sql(_CHAINED), (db.as_list(trace_ids),))]
    if chained:
        _Resolver(db).resolve(chained, seq)


def chain_neighbours(db: ThreadSql, trace_ids: list[str]) -> list[str]:
    """The other traces holding a response these continue, or continuing a response of theirs: the traces
    whose thread may change when these are deleted (resolve them again afterwards)."""
    rows = db.rows(db.sql(_NEIGHBOURS), (db.as_list(trace_ids),) * 2)
    gone = set(trace_ids)
    return sorted({row[0] for row in rows} - gone)


# Two lookups by the response indexes (an OR would scan every span).
_NEIGHBOURS = """SELECT n.trace_id FROM spans AS n WHERE n.response_id IN (SELECT d.previous_response_id
        FROM spans AS d WHERE d.trace_id {in} AND d.previous_response_id IS NOT NULL)
    UNION SELECT n.trace_id FROM spans AS n WHERE n.previous_response_id IN (SELECT d.response_id
        FROM spans AS d WHERE d.trace_id {in} AND d.response_id IS NOT NULL)"""


def resolve_all(db: ThreadSql, seq: int) -> None:
    """Resolve every trace in a response chain (a store migrated to threads)."""
    ids = [row[0] for row in db.rows("SELECT DISTINCT trace_id FROM spans WHERE response_id IS NOT NULL", ())]
    for start in range(0, len(ids), 500):
        resolve_threads(db, ids[start : start + 500], seq)


_CHAINED = """SELECT trace_id FROM traces WHERE trace_id IN (SELECT DISTINCT trace_id FROM spans
    WHERE trace_id {in} AND (response_id IS NOT NULL OR previous_response_id IS NOT NULL)) ORDER BY start_ns"""


class _Resolver:
    """The response-chain part. A trace's thread is its own key, else the thread its parent (the trace
    holding the response it continues) has stored, so each trace looks one step up its chain, and a change
    is passed down to the traces continuing it. What a trace's spans say is read once per batch."""

    def __init__(self, db: ThreadSql) -> None:
        self._db = db
        self._responses: dict[str, list[str]] = {}
        self._parents: dict[str, tuple[str | None, str | None]] = {}

    def resolve(self, chained: list[str], seq: int) -> None:
        # Parents first (a trace continued for the first time becomes the start of a chain), then the
        # traces of the batch in start order; a trace is seen again when its parent's thread changes.
        touched = set(chained)
        parents = [
            parent for parent in map(self._parent, chained) if parent is not None and parent not in touched
        ]
        queue: deque[str] = deque(dict.fromkeys([*parents, *chained]))
        visits = 0
        while queue and visits < _MAX_VISITS:
            trace_id = queue.popleft()
            visits += 1
            row = self._row(trace_id)
            if row is None:
                continue
            new = self._thread_of(trace_id, row)
            changed = (row[2], row[3]) != new
            if changed:
                self._db.run(
                    self._db.sql(
                        "UPDATE traces SET thread_id = ?, thread_source = ?, seq = ? WHERE trace_id = ?"
                    ),
                    (*new, seq, trace_id),
                )
            if changed or trace_id in touched:
                touched.discard(trace_id)
                queue.extend(child for child in self._children(trace_id) if child not in queue)

    def _row(self, trace_id: str) -> tuple[Any, ...] | None:
        """(own key, its source, stored thread, its source) of a trace."""
        rows = self._db.rows(
            self._db.sql(
                "SELECT thread_key, thread_key_source, thread_id, thread_source FROM traces WHERE trace_id = ?"
            ),
            (trace_id,),
        )
        return tuple(rows[0]) if rows else None

    def _thread_of(self, trace_id: str, row: tuple[Any, ...]) -> Thread:
        if row[0]:
            return row[0], row[1]
        previous, parent = self._previous_and_parent(trace_id)
        if previous is not None:
            if parent is None:
                return previous, "responses"  # its trace is not here (yet): the chain is named by it
            stored = self._row(parent)
            if stored is not None and stored[2]:
                return stored[2], stored[3]
            responses = self._responses_of(parent)  # the start of the chain, not known to be one yet
            return (responses[0] if responses else previous), "responses"
        responses = self._responses_of(trace_id)
        if responses and self._children(trace_id):
            return responses[0], "responses"
        return None, None

    def _responses_of(self, trace_id: str) -> list[str]:
        found = self._responses.get(trace_id)
        if found is None:
            rows = self._db.rows(
                self._db.sql(
                    "SELECT response_id FROM spans WHERE trace_id = ? AND response_id IS NOT NULL"
                    " ORDER BY start_ns, response_id"
                ),
                (trace_id,),
            )
            found = self._responses[trace_id] = list(dict.fromkeys(row[0] for row in rows))
        return found

    def _previous_and_parent(self, trace_id: str) -> tuple[str | None, str | None]:
        """The first response this trace continues that is not one of its own, and the trace holding it."""
        found = self._parents.get(trace_id)
        if found is None:
            own = set(self._responses_of(trace_id))
            rows = self._db.rows(
                self._db.sql(
                    "SELECT previous_response_id FROM spans WHERE trace_id = ? AND previous_response_id IS NOT NULL"
                    " ORDER BY start_ns, previous_response_id"
                ),
                (trace_id,),
            )
            previous = next((row[0] for row in rows if row[0] not in own), None)
            parent = None
            if previous is not None:
                holders = self._db.rows(
                    self._db.sql(
                        "SELECT trace_id FROM spans WHERE response_id = ? ORDER BY start_ns LIMIT 1"
                    ),
                    (previous,),
                )
                parent = holders[0][0] if holders and holders[0][0] != trace_id else None
            found = self._parents[trace_id] = (previous, parent)
        return found

    def _parent(self, trace_id: str) -> str | None:
        return self._previous_and_parent(trace_id)[1]

    def _children(self, trace_id: str) -> list[str]:
        """The traces continuing one of this trace's responses."""
        responses = self._responses_of(trace_id)
        if not responses:
            return []
        rows = self._db.rows(
            self._db.sql(
                "SELECT DISTINCT trace_id FROM spans WHERE previous_response_id {in} AND trace_id <> ?"
            ),
            (self._db.as_list(responses), trace_id),
        )
        return sorted(row[0] for row in rows)
