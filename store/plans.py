"""A milestone's plan beside its gate: prerequisites, schedule (start date and planned weeks against
progress), and money (hours at an hour rate against a money budget). Pure: every seat (CLI, MCP,
dashboard) shows what these functions say."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from .errors import InvalidArgument
from .models import Milestone, PlanState

_WEEKS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:[-–]\s*(\d+(?:\.\d+)?))?\s*$")


def check_plan(*, after: Sequence[int | str] | None, starts_on: str | date | None,
               money_budget: float | None,
               hour_rate: float | None) -> tuple[list[int | str] | None, str | None]:
    """The plan fields of a new milestone, checked: the prerequisites as given (a list of references),
    and the start date as ISO text. InvalidArgument saying what is wrong."""
    if after is not None:
        if isinstance(after, (str, bytes)) or not all(
                isinstance(a, (int, str)) and not isinstance(a, bool) for a in after):
            raise InvalidArgument("after must be a list of milestones (ids or names)")
        after = list(after)
    if isinstance(starts_on, datetime):
        starts_on = starts_on.date()
    if isinstance(starts_on, date):
        starts_on = starts_on.isoformat()
    elif starts_on is not None:
        try:
            starts_on = date.fromisoformat(str(starts_on).strip()).isoformat()
        except ValueError:
            raise InvalidArgument(f"starts_on must be a date like 2026-12-01, not {starts_on!r}") from None
    for what, value in (("money_budget", money_budget), ("hour_rate", hour_rate)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value < 0):
            raise InvalidArgument(f"{what} must be a non-negative amount")
    return after, starts_on


def week_span(planned_weeks: str | None) -> float | None:
    """How many weeks ``planned_weeks`` spans: "1-2" is two weeks, "3" one, "2.5" two and a half
    (a single number is a length unless it is a whole week number); None if it says no length."""
    m = _WEEKS.match(planned_weeks or "")
    if m is None:
        return None
    lo, hi = float(m[1]), m[2]
    if hi is None:
        return 1.0 if lo.is_integer() else lo
    return max(float(hi) - lo + 1, 1.0)


@dataclass(frozen=True, slots=True)
class Schedule:
    """Where a milestone stands against its calendar."""

    starts: date
    ends: date
    #: Share of the planned time gone (0-1) and of its tasks done (0-1, None with no tasks).
    time_used: float
    work_done: float | None
    #: Days ahead (positive) or behind (negative) of schedule: work done against time used.
    variance_days: float | None

    def words(self) -> str:
        if self.variance_days is None:
            return f"{self.starts:%Y-%m-%d} → {self.ends:%Y-%m-%d}"
        v = round(self.variance_days)
        state = "on schedule" if v == 0 else f"{abs(v)} d {'ahead' if v > 0 else 'behind'}"
        return f"{self.starts:%Y-%m-%d} → {self.ends:%Y-%m-%d}  {state}"


def schedule(ms: Milestone, progress: Mapping[str, int] | None, today: date) -> Schedule | None:
    """The milestone's schedule on ``today`` (None without a start date or a length in weeks). A gate
    that passed is done; otherwise work done is its completed tasks out of those not cancelled."""
    span = week_span(ms.planned_weeks)
    if ms.starts_on is None or span is None:
        return None
    try:
        starts = date.fromisoformat(ms.starts_on)
    except ValueError:  # only a row written around swarmdeck: no schedule, rather than no screen
        return None
    days = span * 7
    ends = starts + timedelta(days=math.ceil(days) - 1)
    used = min(max(((today - starts).days + 1) / days, 0.0), 1.0)
    counts = dict(progress or {})
    total = sum(n for s, n in counts.items() if s != "cancelled")
    done = 1.0 if ms.status.passed else (counts.get("completed", 0) / total if total else None)
    out_of_plan = ms.plan_state is not PlanState.ACTIVE
    variance = None if out_of_plan or today < starts or done is None else (done - used) * days
    return Schedule(starts, ends, used, done, variance)


def money(ms: Milestone) -> str | None:
    """Cost spent beside the money budget ("$4,800 of $76,336 (6%)"), None when neither is set."""
    cost = ms.cost_spent
    if cost is None and ms.money_budget is None:
        return None
    spent = "-" if cost is None else f"${cost:,.0f}"
    if ms.money_budget is None:
        return f"{spent} spent"
    share = f" ({cost / ms.money_budget:.0%})" if cost is not None and ms.money_budget else ""
    return f"{spent} of ${ms.money_budget:,.0f}{share}"


def prerequisite_names(ms: Milestone, milestones: Sequence[Milestone]) -> list[str]:
    """The names of the milestones ``ms`` waits for (without explicit ones: the one before it)."""
    from .graph import milestone_prerequisites

    by_id = {m.id: m.name for m in milestones}
    prerequisites = milestone_prerequisites((m.id, m.prerequisites) for m in milestones)
    return [by_id.get(p, f"#{p}") for p in prerequisites.get(ms.id, ())]


def plan_words(ms: Milestone) -> str | None:
    """"CUT" / "DEFERRED" for a milestone out of the plan, None for one in it."""
    return None if ms.in_plan else ms.plan_state.value.upper()


@dataclass(frozen=True, slots=True)
class PlanView:
    """A milestone's plan as every seat shows it."""

    #: The names of the milestones whose gates open it (explicit: given when it was added).
    after: tuple[str, ...]
    explicit: bool
    schedule: Schedule | None
    money: str | None
    plan_state: PlanState
    #: Who cut or deferred it and why ("carol: timeline slipped"), when known.
    why: str | None = None

    @property
    def worth_showing(self) -> bool:
        """Whether it says more than a plain line of milestones does."""
        return self.explicit or self.schedule is not None or self.money is not None \
            or self.plan_state is not PlanState.ACTIVE

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs: after, schedule, money, and whether it is out of the plan."""
        out = []
        if self.plan_state is not PlanState.ACTIVE:
            # What it means is the gate's standing sentence (store/gates.py), said once beside it.
            out.append(("plan", self.plan_state.value.upper() + (f" by {self.why}" if self.why else "")))
        if self.explicit or self.after:
            out.append(("after", ", ".join(self.after) if self.after else "nothing: it opened at once"))
        if self.schedule is not None:
            out.append(("schedule", self.schedule.words()))
        if self.money is not None:
            out.append(("money", self.money))
        return out


def view(ms: Milestone, milestones: Sequence[Milestone], progress: Mapping[str, int] | None,
         today: date, why: str | None = None) -> PlanView:
    return PlanView(tuple(prerequisite_names(ms, milestones)), ms.prerequisites is not None,
                    schedule(ms, progress, today), money(ms), ms.plan_state, why)


async def why_out_of_plan(store: Any, ms: Milestone) -> str | None:
    """Who took ``ms`` out of the plan and why ("carol: timeline slipped"), from its newest cut or
    defer event; None while it is in the plan."""
    from .events import EventKind

    if ms.in_plan:
        return None
    kind = EventKind.MILESTONE_CUT if ms.plan_state is PlanState.CUT else EventKind.MILESTONE_DEFERRED
    found = await store.events(entity="milestone", entity_id=ms.id, kind=kind, limit=1)
    if not found:
        return None
    payload = found[0].payload
    return f"{payload.get('by') or found[0].actor}: {payload.get('reason') or '-'}"


@dataclass(frozen=True, slots=True)
class Neighbours:
    """A gate's place in the graph: what passing it opens now, what follows it whatever its status,
    and the gates it still waits for (all as milestones, in order)."""

    opens: tuple[Milestone, ...]
    following: tuple[Milestone, ...]
    waits_for: tuple[Milestone, ...]


def neighbours(ms: Milestone, milestones: Sequence[Milestone]) -> Neighbours:
    """``ms``'s neighbours among ``milestones`` (every milestone, in order). Passing ``ms`` opens the
    locked milestones in the plan that depend on it and on nothing else that has not passed."""
    from .graph import milestone_prerequisites

    prerequisites = milestone_prerequisites((m.id, m.prerequisites) for m in milestones)
    by_id = {m.id: m for m in milestones}

    def passed(p: int) -> bool:
        return p in by_id and by_id[p].status.passed and by_id[p].in_plan

    following = [m for m in milestones if ms.id in prerequisites[m.id]]
    opens = [m for m in following if m.status.value == "locked" and m.in_plan
             and all(p == ms.id or passed(p) for p in prerequisites[m.id])]
    waits = [by_id[p] for p in prerequisites.get(ms.id, ()) if p in by_id and not passed(p)]
    return Neighbours(tuple(opens), tuple(following), tuple(waits))


def names(milestones: Sequence[Milestone]) -> str | None:
    """"A, B" (None for none): how a gate names the milestones it opens or follows."""
    return ", ".join(m.name for m in milestones) or None


def check_replan(state: PlanState | str, by: str, reason: str) -> tuple[PlanState, str, str]:
    """A cut, defer or reinstate's arguments, checked: the state, who (canonical) and why."""
    from . import identity
    from .limits import MAX_NAME, MAX_TEXT, check_fields

    check_fields(by=(by, MAX_NAME), reason=(reason, MAX_TEXT))
    try:
        state = PlanState(state)
    except ValueError:
        raise InvalidArgument(f"state must be one of {', '.join(s.value for s in PlanState)}") from None
    if not identity.has_content(by):
        raise InvalidArgument("say who changes the plan (by)")
    who = identity.canonical(by, "the name of who changes the plan")
    return state, who, identity.require_content(reason, "the reason")


async def execution_plan(db: Any, ids: list[int], edges: Mapping[int, Iterable[int]],
                         facts: Mapping[int, tuple[int | None, float | None]]) -> Any:
    """The gated execution plan of ``ids`` (store/graph.py), given their prerequisite ``edges`` and
    each task's (milestone id, estimate): the milestones' prerequisites read through ``db``."""
    from . import graph
    from .rows import prerequisite_ids

    milestones = [(r[0], prerequisite_ids(r[1])) for r in await db._all(
        "SELECT id, prerequisites FROM milestones ORDER BY position")]
    try:
        return graph.gated_execution_plan(ids, edges, {t: f[0] for t, f in facts.items()},
                                          {t: f[1] for t, f in facts.items()}, milestones)
    except ValueError as e:  # only a cycle written around swarmdeck can get here
        raise InvalidArgument(str(e)) from None
