"""Retention (seed 003's "Data Retention" table): what the policy archives, and what it never touches. Pure.

Archived means flagged (``learning_records.archived_at``) and taken out of the search index, never deleted:
``memory search --archived`` (``Store.search_archive``) still finds an archived record by its words, and
``record show`` still reads it. The policy archives:

- agent logs older than 90 days (the seed: "auto-delete after 90 days"; kept here, archived);
- pipeline states older than 90 days (the seed: "archive after 90 days");
- docs cache entries past their expiry (their ``expires_at``, else fetched + 7 days: ``insights.docs_expiry``).

``older_than`` (seconds) replaces the 90 days for agent logs and pipeline states; a docs cache entry goes
when it expires, whatever the age given.

Finished tasks (seed 003: "events and finished tasks archived by a policy"): a task that is done,
cancelled or failed for good (``failed``: its retries are spent, or it was failed with no retry) and
finished more than ``tasks_older_than`` seconds ago (90 days by default) is archived, flagged
(``tasks.archived_at``), never deleted: left out of the queue screen, ``task list`` and the MCP task
listing unless the archive is asked for, never claimed (it is finished), still read by id (``task show``),
still counted by the charts and insights (they read every task), and still found by whatever points to it
(memories, records, events). A finished task that something live depends on (a dependent not finished)
stays live, and is counted as kept. Retrying an archived failed task brings it back to life.

What it never touches, and why: failures, estimates, retrospectives, decisions, patterns, spikes and the
other learning kinds ("forever: learning data"); the gate's reports and decisions (append-only, signed);
and the event log: append-only and hash-chained (removing or changing one event breaks the chain the audit
checks), and the history a replay rebuilds is built on it, so it is kept whole, whatever its age: no event
is deleted or flagged. The report counts the events older than the age, as kept, so the operator sees what
the policy leaves and why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .errors import InvalidArgument
from .models import LearningRecord

DAY_S = 86400.0
#: Seed 003: agent logs 90 days, pipeline states archived after 90 days.
DEFAULT_AGE_S = 90 * DAY_S
#: Seed 003's "finished tasks archived by a policy": finished more than 90 days ago.
DEFAULT_TASK_AGE_S = 90 * DAY_S
#: A finished task's statuses: done, cancelled, failed for good (a task with retries left is ready again).
FINISHED = ("completed", "cancelled", "failed")
#: The kinds archived by age; docs_cache goes by its expiry.
BY_AGE = ("agent_log", "pipeline_state")
ARCHIVED_KINDS = (*BY_AGE, "docs_cache")
#: Why what the policy keeps is kept (the report's ``kept`` rows).
KEPT_WHY = {
    "events": "append-only and hash-chained: the log is kept whole, a replay of history is built on it",
    "finished tasks": "a task not finished depends on them",
}


@dataclass(frozen=True, slots=True)
class PruneGroup:
    """One kind the policy archives: how many records, and the oldest and newest of them."""

    kind: str
    count: int
    oldest: datetime | None
    newest: datetime | None
    rule: str


@dataclass(frozen=True, slots=True)
class Kept:
    """Something older than the age that the policy keeps, counted, with why."""

    what: str
    count: int
    why: str


@dataclass(frozen=True, slots=True)
class Prune:
    """What a prune archives (``applied``: it did; else a dry run that changed nothing) and what it keeps."""

    applied: bool
    #: The age past which agent logs and pipeline states go, in seconds.
    older_than_s: float
    archived: tuple[PruneGroup, ...]
    kept: tuple[Kept, ...]
    #: Finished tasks archived (or, in a dry run, that would be): finished over ``tasks_older_than_s`` ago,
    #: nothing live depending on them.
    tasks: PruneGroup | None = None
    tasks_older_than_s: float = DEFAULT_TASK_AGE_S

    @property
    def total(self) -> int:
        """Learning records archived (the finished tasks are ``tasks.count``)."""
        return sum(g.count for g in self.archived)

    @property
    def age(self) -> str:
        return age_words(self.older_than_s)

    @property
    def tasks_age(self) -> str:
        return age_words(self.tasks_older_than_s)


def age_words(seconds: float) -> str:
    """An age as a person says it: ``90 days``, ``12 hours``, ``30 seconds``."""
    for unit, size in (("days", DAY_S), ("hours", 3600.0), ("minutes", 60.0)):
        if seconds >= size:
            return f"{round(seconds / size, 2):g} {unit}"
    return f"{seconds:g} seconds"


def check_age(older_than: float | None, what: str = "older_than", default: float = DEFAULT_AGE_S) -> float:
    """The age (seconds) past which agent logs and pipeline states go (``what``: the argument's name, and
    ``default`` its age when None): the seed's 90 days by default."""
    if older_than is None:
        return default
    if isinstance(older_than, bool) or not isinstance(older_than, (int, float)) or not older_than > 0 \
            or older_than == float("inf"):
        raise InvalidArgument(f"{what} must be a positive number of seconds, not {older_than!r}")
    return float(older_than)


def due(records: Iterable[LearningRecord], *, now: float, age: float) -> list[LearningRecord]:
    """The records the policy archives now: agent logs and pipeline states logged before ``now - age``, docs
    cache entries past their expiry. ``records``: the not yet archived ones of ``ARCHIVED_KINDS``."""
    from .insights import docs_expiry

    cutoff = now - age
    out = []
    for r in records:
        if r.kind in BY_AGE and r.created_at.timestamp() < cutoff:
            out.append(r)
        elif r.kind == "docs_cache" and docs_expiry(r) < now:
            out.append(r)
    return out


def tasks_group(finished_at: list[float], age: float) -> PruneGroup:
    """The finished tasks a prune archives, from their ``finished_at`` times."""
    from .models import from_ts

    return PruneGroup("finished tasks", len(finished_at), from_ts(min(finished_at, default=None)),
                      from_ts(max(finished_at, default=None)),
                      f"done, cancelled or failed for good over {age_words(age)} ago, no unfinished task "
                      "depending on them")


def plan(records: list[LearningRecord], *, age: float, kept: dict[str, int], applied: bool,
         tasks: PruneGroup | None = None, task_age: float = DEFAULT_TASK_AGE_S) -> Prune:
    """The report of a prune over the records ``due`` chose (and the finished tasks, ``tasks``)."""
    by_age = f"logged over {age_words(age)} ago"
    rules = {"agent_log": by_age, "pipeline_state": by_age,
             "docs_cache": "past its expiry (expires_at, else fetched + 7 days)"}
    groups = []
    for kind in ARCHIVED_KINDS:
        mine = [r.created_at for r in records if r.kind == kind]
        groups.append(PruneGroup(kind, len(mine), min(mine, default=None), max(mine, default=None), rules[kind]))
    return Prune(applied, age, tuple(groups), tuple(Kept(what, n, KEPT_WHY[what]) for what, n in kept.items()),
                 tasks, task_age)
