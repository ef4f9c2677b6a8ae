"""Seed 002's status report (its 09:00 / 13:00 / 18:00 sync): progress per milestone, blockers with
their ages, and the failures and decisions since the last digest.

Built from the ``Store`` protocol's public reads, so every backend gives the same digest. Where the last
digest ended (the newest event it covered) is remembered in the database as a memory entry
(``DIGEST_NAMESPACE``/``DIGEST_KEY``), so the next one, from whichever machine, starts there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .errors import Conflict, InvalidTransition, NotFound
from .events import EventKind
from .insights import events_since
from .models import TaskStatus

if TYPE_CHECKING:
    from . import Store

DIGEST_NAMESPACE = "swarmdeck:digest"
DIGEST_KEY = "last"
#: At most this many failures and decisions are listed in the text (the JSON has them all).
MAX_LISTED = 50


@dataclass(frozen=True, slots=True)
class MilestoneProgress:
    id: int
    name: str
    status: str
    done: int  # completed tasks
    total: int  # tasks, cancelled ones left out
    running: int
    blocked: int
    failed: int

    @property
    def percent(self) -> float | None:
        return None if not self.total else 100.0 * self.done / self.total


@dataclass(frozen=True, slots=True)
class Blocker:
    agent: str
    blocker: str
    since: datetime | None
    age_s: float | None


@dataclass(frozen=True, slots=True)
class Item:
    """A failure or a decision since the last digest: a task's or a gate's event, or a logged record."""

    event_id: int
    at: datetime
    source: str  # "task", "gate" or "record"
    ref: str  # the task or milestone id, or the record id
    by: str
    summary: str


@dataclass(frozen=True, slots=True)
class Digest:
    at: datetime
    after_event: int  # events after this id are covered
    since: datetime | None  # --since: events from this time on (and after_event)
    previous: datetime | None  # when the last digest was made (None: this is the first, or --since)
    through_event: int  # the newest event covered: where the next digest starts
    milestones: tuple[MilestoneProgress, ...]
    blockers: tuple[Blocker, ...]
    held_tasks: int  # tasks waiting on a task that failed for good
    failures: tuple[Item, ...]
    decisions: tuple[Item, ...]


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


async def last_digest(store: Store) -> tuple[int, datetime | None]:
    """The newest event the last digest covered, and when it was made; (0, None) before the first."""
    try:
        entry = await store.get_memory(DIGEST_NAMESPACE, DIGEST_KEY)
    except NotFound:
        return 0, None
    value = entry.value if isinstance(entry.value, dict) else {}
    event_id = value.get("event_id")
    if isinstance(event_id, bool) or not isinstance(event_id, int) or event_id < 0:
        return 0, None
    return event_id, entry.created_at


async def remember(store: Store, digest: Digest, *, by: str) -> None:
    """Make ``digest`` the last one: the next starts after its newest event."""
    value = {"event_id": digest.through_event, "at": digest.at.isoformat()}
    for _ in range(3):  # another digest may add (or a person delete) the entry meanwhile
        try:
            await store.update_memory(DIGEST_NAMESPACE, DIGEST_KEY, value, updated_by=by)
            return
        except NotFound:
            try:
                await store.add_memory(DIGEST_NAMESPACE, DIGEST_KEY, value, memory_type="episodic", created_by=by,
                                       metadata={"what": "where the last `swarmdeck digest` ended"})
                return
            except Conflict:
                continue
        except InvalidTransition:  # deleted: the digest's own entry comes back
            await store.restore_memory(DIGEST_NAMESPACE, DIGEST_KEY, restored_by=by)
    raise Conflict("the last digest's entry kept changing while this one was remembered; run it again")


async def build(store: Store, *, since: float | None = None, now: float | None = None) -> Digest:
    """The digest as of now: since the last digest, or from ``since`` (epoch seconds) when given."""
    now = store.clock() if now is None else now
    through = await store.latest_event_id()
    if since is None:
        after, previous = await last_digest(store)
    else:
        after, previous = 0, None

    progress = await store.milestone_progress()
    milestones = []
    for ms in await store.list_milestones():
        counts = progress.get(ms.id, {})
        total = sum(n for status, n in counts.items() if status != TaskStatus.CANCELLED)
        milestones.append(MilestoneProgress(
            ms.id, ms.name, str(ms.status), counts.get(TaskStatus.COMPLETED, 0), total,
            counts.get(TaskStatus.RUNNING, 0), counts.get(TaskStatus.BLOCKED, 0), counts.get(TaskStatus.FAILED, 0)))

    blockers = []
    for agent in await store.list_agents():
        for text, first in zip(agent.blockers, agent.blockers_since or (None,) * len(agent.blockers)):
            blockers.append(Blocker(agent.name, text, first, None if first is None else max(0.0, now - first.timestamp())))
    blockers.sort(key=lambda b: (-(b.age_s or 0.0), b.agent, b.blocker))
    held = len(await store.list_tasks(held_by_failure=True, limit=100_000))

    window: dict[str, Any] = {"since": since or 0.0, "after_id": after}
    failures, decisions = [], []
    failed = await events_since(store, EventKind.TASK_FAILED.value, **window)
    described = {t.id: t.description for t in await store.tasks_by_ids(int(e.entity_id) for e in failed
                                                                         if str(e.entity_id).isdigit())}
    for e in failed:
        task_id = int(e.entity_id) if str(e.entity_id).isdigit() else None
        what = described.get(task_id, "") if task_id is not None else ""
        error = e.payload.get("error") or "no error given"
        failures.append(Item(e.id, e.ts, "task", str(e.entity_id), str(e.payload.get("agent") or e.actor),
                             f"{_first_line(what)}: {_first_line(error)}" if what else _first_line(error)))
    for e in await events_since(store, EventKind.GATE_DECIDED.value, **window):
        p = e.payload
        decisions.append(Item(e.id, e.ts, "gate", str(e.entity_id), str(p.get("reviewer") or e.actor),
                              f"{p.get('decision', '?')} on {p.get('name') or 'milestone ' + str(e.entity_id)}"
                              + (f" (now {p['status']})" if p.get("status") else "")))
    for e in await events_since(store, EventKind.RECORD_LOGGED.value, **window):
        kind, title = e.payload.get("kind"), str(e.payload.get("title") or "")
        if kind in ("failure", "decision"):
            summary = await _record_summary(store, e.entity_id) or title.removeprefix(f"{kind}: ")
            item = Item(e.id, e.ts, "record", str(e.entity_id), e.actor, _first_line(summary, 240))
            (failures if kind == "failure" else decisions).append(item)
    failures.sort(key=lambda i: i.event_id)
    decisions.sort(key=lambda i: i.event_id)
    return Digest(_utc(now), after, None if since is None else _utc(since), previous, through,
                  tuple(milestones), tuple(blockers), held, tuple(failures), tuple(decisions))


async def _record_summary(store: Store, record_id: Any) -> str | None:
    """A failure as "feature: why it failed; lesson: ...", a decision as "decision (rationale)"."""
    try:
        record = await store.get_record(int(record_id))
    except (NotFound, TypeError, ValueError):
        return None
    f = record.fields
    if record.kind == "failure":
        return f"{_first_line(f.get('feature', ''))}: {_first_line(f.get('why_failed', ''))}; " \
               f"lesson: {_first_line(f.get('lesson', ''))}"
    return f"{_first_line(f.get('decision', ''))} (because {_first_line(f.get('rationale', ''))})"


def _first_line(text: str, limit: int = 160) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "age unknown"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def render(d: Digest, text: Callable[[str], str] = lambda s: s) -> str:
    """The digest as Markdown (which reads as plain text too). ``text`` renders what agents wrote:
    as it is for a terminal (the CLI scrubs it), escaped (``living_docs.md_line``) for a file."""
    if d.since is not None:
        scope = f"since {_stamp(d.since)}"
    elif d.previous is not None:
        scope = f"since the last digest ({_stamp(d.previous)}, after event {d.after_event})"
    else:
        scope = "since the swarm began (the first digest)"
    out = [f"# Swarm digest, {_stamp(d.at)}", "", f"Covers events {scope} through event {d.through_event}.", ""]

    out += ["## Progress per milestone", ""]
    if not d.milestones:
        out.append("No milestones.")
    for m in d.milestones:
        share = "no tasks" if m.percent is None else f"{m.done}/{m.total} tasks done ({m.percent:.0f}%)"
        extra = ", ".join(f"{n} {what}" for n, what in ((m.running, "running"), (m.blocked, "blocked"),
                                                       (m.failed, "failed")) if n)
        out.append(f"- **{text(m.name)}** ({m.status}): {share}" + (f"; {extra}" if extra else ""))
    out.append("")

    out += ["## Blockers", ""]
    if not d.blockers and not d.held_tasks:
        out.append("None.")
    for b in d.blockers:
        flag = " **(over 24h)**" if b.age_s is not None and b.age_s > 86400 else ""
        out.append(f"- {text(b.agent)}, blocked {_age(b.age_s)}{flag}: {text(_first_line(b.blocker))}")
    if d.held_tasks:
        out.append(f"- {d.held_tasks} task(s) wait on a task that failed for good")
    out.append("")

    for title, items in (("Failures", d.failures), ("Decisions", d.decisions)):
        out += [f"## {title} ({len(items)})", ""]
        if not items:
            out.append("None.")
        for i in items[-MAX_LISTED:] if len(items) > MAX_LISTED else items:
            where = {"task": f"task {i.ref}", "gate": f"gate of milestone {i.ref}", "record": f"record {i.ref}"}[i.source]
            out.append(f"- {_stamp(i.at)}, {where}, {text(i.by)}: {text(i.summary)}")
        if len(items) > MAX_LISTED:
            out.append(f"- and {len(items) - MAX_LISTED} earlier (see `--json`)")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
