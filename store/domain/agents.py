"""Agents: registering one (never under a reviewer's name), the fields it reports with its
heartbeats, and the steps it logs."""

from __future__ import annotations

import math
from typing import Any

from .. import identity
from ..errors import InvalidArgument, NotFound, PermissionDenied
from ..events import EventKind
from ..limits import MAX_NAME, check_fields
from ..models import UNSET, Agent
from .uow import Unit


def not_registered(name: str) -> NotFound:
    return NotFound(entity="agent", key=name)


def check_registration(name: str, agent_type: str, colour: str | None, model: str | None,
                       stale_after_seconds: float, requeue_after_seconds: float, actor: str | None) -> str:
    """Check a registration; the agent's name in its canonical form (store/identity.py)."""
    check_fields(name=(name, MAX_NAME), agent_type=(agent_type, MAX_NAME), colour=(colour, MAX_NAME),
                 model=(model, MAX_NAME), actor=(actor, MAX_NAME))
    if not identity.has_content(name):
        raise InvalidArgument("an agent needs a name")
    name = identity.canonical(name, "the agent name")
    if not agent_type or not agent_type.strip():
        raise InvalidArgument("an agent needs an agent_type (its role)")
    if not (isinstance(stale_after_seconds, (int, float)) and math.isfinite(stale_after_seconds)
            and stale_after_seconds > 0):
        raise InvalidArgument("stale_after_seconds must be a positive number")
    if not (isinstance(requeue_after_seconds, (int, float)) and math.isfinite(requeue_after_seconds)
            and requeue_after_seconds >= 0):
        raise InvalidArgument("requeue_after_seconds must be a number of seconds, 0 or more")
    return name


def register(u: Unit, name: str, *, agent_type: str, colour: str | None, model: str | None,
             stale_after_seconds: float, requeue_after_seconds: float) -> Agent:
    """Register an agent, or update the registration of one that exists (its history stays)."""
    reviewer = u.reviewer(name)
    if reviewer is not None:  # an agent may not take a name that is (or was) a reviewer's
        was = " (removed; its history stays)" if reviewer.removed_at is not None else ""
        raise PermissionDenied(f"{name} is a registered reviewer{was}; an agent can never be a reviewer "
                               "(choose another name for the agent)")
    u.upsert_agent(name, agent_type=agent_type, colour=colour, model=model,
                   stale_after_seconds=float(stale_after_seconds), requeue_after_seconds=float(requeue_after_seconds))
    u.event(EventKind.AGENT_REGISTERED, "agent", name, {"agent_type": agent_type, "colour": colour, "model": model})
    return u.agent(name)


def check_update(
    *, status: Any = UNSET, current_task_id: Any = UNSET, completion: Any = UNSET,
    blockers: Any = UNSET, next_milestone: Any = UNSET, name: str, actor: str | None, todos: Any = UNSET,
) -> dict[str, Any]:
    """The agent fields to change (those given), checked by ``AgentUpdate``: ``status`` as its value
    (seed 001's in_progress read as working), ``blockers`` a list. A bare heartbeat gives none, and
    loads no model. ``todos``: seed 001's todo list (``todo_changes``), giving the fields not given
    otherwise and, under ``activity``, what the agent is doing (for the event, not a column)."""
    check_fields(name=(name, MAX_NAME), actor=(actor, MAX_NAME))
    if todos is not UNSET and todos is not None:
        changes = check_update(status=status, current_task_id=current_task_id, completion=completion,
                               blockers=blockers, next_milestone=next_milestone, name=name, actor=actor)
        derived, activity = todo_changes(todos, changes)
        return {**derived, **changes, **({"activity": activity} if activity is not None else {})}
    if status is current_task_id is completion is blockers is next_milestone is UNSET:
        return {}
    given = {"status": status, "current_task_id": current_task_id, "completion": completion,
             "blockers": blockers, "next_milestone": next_milestone}
    from ..inputs import AgentUpdate  # pydantic loads only when fields are given

    changes = AgentUpdate.given(**given).changes()
    if "status" in changes:
        changes["status"] = changes["status"].value
    if "blockers" in changes:
        changes["blockers"] = list(changes["blockers"])
    return changes


def todo_changes(todos: Any, given: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Seed 001's todo list (``[{content, status, activeForm}]``) as the agent's fields, for those not
    ``given`` otherwise: completion is the share of items completed, the status working while one is
    in_progress (idle once all are completed); and what the agent is doing: the in_progress item's
    activeForm (else its content), recorded with the heartbeat. Checked by ``TodoList``."""
    from ..inputs import TodoList

    items = TodoList.parse(todos=todos).todos
    changes: dict[str, Any] = {}
    current = next((i for i in items if i.status == "in_progress"), None)
    if items and "completion" not in given:
        changes["completion"] = round(100.0 * sum(i.status == "completed" for i in items) / len(items), 1)
    if "status" not in given:
        if current is not None:
            changes["status"] = "working"
        elif items and all(i.status == "completed" for i in items):
            changes["status"] = "idle"
    activity = None if current is None else (current.active_form or current.content)
    return changes, activity


def update(u: Unit, name: str, changes: dict[str, Any], *, heartbeat: bool) -> Agent:
    """Change the fields given; ``heartbeat`` also stamps the heartbeat time. ``activity`` among them
    (what the agent says it is doing: its todo list's activeForm) is recorded in the event alone."""
    changes = dict(changes)
    activity = changes.pop("activity", None)
    fields = {**changes, "last_heartbeat": u.now} if heartbeat else changes
    if not fields and activity is None:
        raise InvalidArgument("nothing to update: give at least one field")
    task_id = changes.get("current_task_id")
    if task_id is not None and not u.task_exists(task_id):
        raise NotFound(f"task {task_id} does not exist", entity="task", key=task_id)
    if "blockers" in changes:
        # Each blocker keeps the time it was first reported for as long as it is reported.
        try:
            before = u.agent(name)
        except NotFound:
            raise not_registered(name) from None
        seen = {b: s.timestamp() for b, s in zip(before.blockers, before.blockers_since) if s is not None}
        fields = {**fields, "blockers_since": {b: seen.get(b, u.now) for b in changes["blockers"] or ()}}
    if fields:
        agent = u.update_agent(name, fields)
    else:
        try:
            agent = u.agent(name)
        except NotFound:
            agent = None
    if agent is None:
        raise not_registered(name)
    payload = dict(changes) if activity is None else {**changes, "activity": activity}
    u.event(EventKind.AGENT_HEARTBEAT if heartbeat else "agent.updated", "agent", name, payload)
    return agent


def log_action(u: Unit, agent: str, payload: dict[str, Any]) -> None:
    """Record one step an agent took (seed 003's agent_logs), for the activity log and charts. A logged
    step is a sign of life: it counts as a heartbeat."""
    if not u.touch_agent(agent, seen_at=u.now):
        raise not_registered(agent)
    u.event(EventKind.AGENT_ACTION, "agent", agent, payload)
