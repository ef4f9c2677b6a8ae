"""What an agent learns before it works: the past failures and decisions most relevant to a task, and a
claim that returns them with the task. One rule for the CLI (`task claim`), the MCP server
(`task_claim`) and Python callers.

The claim is the store's own (``Store.claim_task``) and commits before the lookup starts: the lookup
never holds the claim's transaction, and a claim that finds nothing ready looks nothing up. The lookup
is the shared search (``rules.search``): semantic and keyword fused when an embedder is given (its less
relevant hits left out), else keyword alone; filtered by namespace before its limit, and by milestone
among a few times more hits than it returns (the search index filters by namespace, not milestone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import rules
from .errors import InvalidArgument
from .models import SearchMode, Task

#: The record kinds a claim brings along: what went wrong before, and what was decided.
KINDS = ("failure", "decision")

#: How many lessons a claim brings by default, and at most.
DEFAULT_LIMIT = 3
MAX_LIMIT = 20

#: How many hits are read per lesson kept when a milestone filter is applied after the search.
OVERFETCH = 5

#: The task text a lookup searches with is cut to this many characters.
MAX_QUERY = 2000


@dataclass(frozen=True, slots=True)
class Lesson:
    """A past failure or decision, with the record's fields and how relevant the search found it."""

    record_id: int
    kind: str
    title: str
    namespace: str
    fields: dict[str, Any]
    agent: str | None
    task_id: int | None
    milestone_id: int | None
    created_at: datetime
    #: 0-1 as store/search.py calibrates it (None when the search gave none).
    relevance: float | None


@dataclass(frozen=True, slots=True)
class Context:
    """The lessons for a task, best first, with the mode that ranked them (``keyword`` or ``hybrid``) and
    a note when semantic ranking was asked for and could not serve (keyword results then)."""

    lessons: list[Lesson] = field(default_factory=list)
    mode: str = SearchMode.KEYWORD.value
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """A claim's answer: the task (None when nothing was ready) and, when asked for, its context."""

    task: Task | None
    context: Context | None = None


def check_limit(limit: Any) -> int:
    """How many lessons to bring: a whole number from 0 to MAX_LIMIT, or InvalidArgument."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"the number of lessons must be a whole number from 0 to {MAX_LIMIT}, not {limit!r}")
    return limit


def query_of(task: Task) -> str:
    """What a task is about, as a search query: its description and summary."""
    text = task.description if not task.summary else f"{task.description}\n{task.summary}"
    return text[:MAX_QUERY]


async def lessons_for(store: Any, task: Task, *, embedder: Any = None, namespace_prefix: str | None = None,
                      milestone_id: int | None = None, limit: int = DEFAULT_LIMIT) -> Context:
    """The ``limit`` past failures and decisions most relevant to ``task``: under ``namespace_prefix``
    (whole segments, as search takes it) and of ``milestone_id`` when given."""
    limit = check_limit(limit)
    if limit == 0:
        return Context()
    depth = limit * OVERFETCH if milestone_id is not None else limit
    answer = await rules.search(store, query_of(task),
                                mode=SearchMode.HYBRID if embedder is not None else SearchMode.KEYWORD,
                                embedder=embedder, kinds=list(KINDS), namespace_prefix=namespace_prefix or None,
                                limit=depth)
    hits = [h for h in answer.hits if milestone_id is None or h.milestone_id == milestone_id][:limit]
    lessons = []
    for hit in hits:
        r = await store.get_record(hit.ref_id)
        lessons.append(Lesson(r.id, r.kind, r.title, r.namespace, r.fields, r.agent, r.task_id, r.milestone_id,
                              r.created_at, hit.relevance))
    note = f"{answer.reason}; keyword results only" if answer.fell_back else None
    return Context(lessons, answer.mode.value, note)


async def claim_with_lessons(store: Any, *, agent: str, agent_type: str | None = None, context: bool = True,
                             embedder: Any = None, namespace_prefix: str | None = None,
                             milestone_id: int | None = None, limit: int = DEFAULT_LIMIT) -> Claim:
    """Claim the highest-priority ready task (``Store.claim_task``); then, once the claim committed and
    if ``context``, look up its lessons (``lessons_for``). A bad ``limit`` is refused before the claim."""
    check_limit(limit)
    task = await store.claim_task(agent=agent, agent_type=agent_type)
    if task is None or not context:
        return Claim(task)
    return Claim(task, await lessons_for(store, task, embedder=embedder, namespace_prefix=namespace_prefix,
                                         milestone_id=milestone_id, limit=limit))
