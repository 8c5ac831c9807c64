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

MAX_CHAIN = 1000  # traces followed up a chain at most
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


def resolve_threads(db: ThreadSql, trace_ids: list[str], seq: int) -> None:
    """Set `thread_id` of these traces (and of the traces whose thread they change), stamping `seq` on each
    trace that changes so live viewers see it."""
    ids = db.as_list(trace_ids)
    chained = [row[0] for row in db.rows(db.sql(_CHAINED), (ids,))]
    # Most traces are in no response chain: their thread is their own key, in one statement.
    db.run(db.sql(_SET_OWN_KEY), (seq, ids, db.as_list(chained)))
    if chained:
        _Resolver(db).resolve(chained, seq)


def resolve_all(db: ThreadSql, seq: int) -> None:
    """Resolve every trace (a store migrated to threads)."""
    ids = [row[0] for row in db.rows("SELECT trace_id FROM traces", ())]
    for start in range(0, len(ids), 500):
        resolve_threads(db, ids[start : start + 500], seq)


_CHAINED = """SELECT DISTINCT trace_id FROM spans WHERE trace_id {in}
    AND (response_id IS NOT NULL OR previous_response_id IS NOT NULL)"""
_SET_OWN_KEY = """UPDATE traces SET thread_id = thread_key, thread_source = thread_key_source, seq = ?
    WHERE trace_id {in} AND NOT trace_id {in}
    AND (coalesce(thread_id, '') <> coalesce(thread_key, '')
        OR coalesce(thread_source, '') <> coalesce(thread_key_source, ''))"""


class _Resolver:
    """The response-chain part, memoized for one batch (what it reads does not change during the batch)."""

    def __init__(self, db: ThreadSql) -> None:
        self._db = db
        self._responses: dict[str, list[str]] = {}
        self._threads: dict[str, Thread] = {}

    def resolve(self, chained: list[str], seq: int) -> None:
        touched = set(chained)
        queue: deque[str] = deque(chained)
        for trace_id in chained:  # a trace continued for the first time becomes the start of a chain
            parent = self._parent(trace_id)
            if parent is not None:
                queue.append(parent)
        visited: set[str] = set()
        while queue and len(visited) < _MAX_VISITS:
            trace_id = queue.popleft()
            if trace_id in visited:
                continue
            visited.add(trace_id)
            new = self.thread_of(trace_id)
            current = self._db.rows(
                self._db.sql("SELECT thread_id, thread_source FROM traces WHERE trace_id = ?"), (trace_id,)
            )
            if not current:
                continue
            changed = tuple(current[0]) != new
            if changed:
                self._db.run(
                    self._db.sql(
                        "UPDATE traces SET thread_id = ?, thread_source = ?, seq = ? WHERE trace_id = ?"
                    ),
                    (*new, seq, trace_id),
                )
            if changed or trace_id in touched:
                queue.extend(self._children(trace_id))

    def thread_of(self, trace_id: str) -> Thread:
        """The thread of a trace: its own key, else its response chain's."""
        memo = self._threads.get(trace_id)
        if memo is None:
            memo = self._threads[trace_id] = self._walk(trace_id)
        return memo

    def _walk(self, start: str) -> Thread:
        """Up the chain of continued responses to a trace with its own key, or to the chain's start."""
        current, seen = start, {start}
        for _ in range(MAX_CHAIN):
            key = self._db.rows(
                self._db.sql("SELECT thread_key, thread_key_source FROM traces WHERE trace_id = ?"),
                (current,),
            )
            if key and key[0][0]:
                return key[0][0], key[0][1]
            previous = self._external_previous(current)
            if previous is None:
                break
            parent = self._trace_of(previous)
            if parent is None or parent in seen:  # not stored (yet), or a loop: the chain is named by it
                return previous, "responses"
            seen.add(parent)
            current = parent
        else:
            return None, None  # too long to follow
        responses = self._responses_of(current)
        if responses and (current != start or self._children(current)):
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

    def _external_previous(self, trace_id: str) -> str | None:
        """The first response this trace continues that is not one of its own."""
        own = set(self._responses_of(trace_id))
        rows = self._db.rows(
            self._db.sql(
                "SELECT previous_response_id FROM spans WHERE trace_id = ? AND previous_response_id IS NOT NULL"
                " ORDER BY start_ns, previous_response_id"
            ),
            (trace_id,),
        )
        return next((row[0] for row in rows if row[0] not in own), None)

    def _trace_of(self, response_id: str) -> str | None:
        rows = self._db.rows(
            self._db.sql("SELECT trace_id FROM spans WHERE response_id = ? ORDER BY start_ns LIMIT 1"),
            (response_id,),
        )
        return rows[0][0] if rows else None

    def _parent(self, trace_id: str) -> str | None:
        previous = self._external_previous(trace_id)
        parent = None if previous is None else self._trace_of(previous)
        return None if parent == trace_id else parent

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
