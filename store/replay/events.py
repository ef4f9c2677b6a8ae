"""What each kind of event does to the state a replay shows: one handler per kind, over the
``Builder``'s rows (store/replay/build.py), which it changes, closes, appends or reads from the source.

Where each table's history comes from (classified against store/sqlite/schema.py):

- Mutable tables, rebuilt by a reducer over the events (store/payloads.py says what each one carries):
  ``tasks`` (status, agent, priority, base priority, attempts, error, lease, start and finish times, the
  failure that holds it; description and the other columns fixed at enqueue are read from the source
  row; ``result_data`` is the source's once the task completed, which it then stays; ``dependency_depth``
  is the source's current value), ``agents`` (status, current task, completion, blockers, heartbeat),
  ``milestones`` (status, plan state, hours spent), ``swarm_state``, ``gate_conditions`` (closure),
  ``reviewers`` (added, removed), ``sessions`` (status; their free-form state is the source's current
  one: the events say which keys were set, not to what), ``memory_entries`` (current version, deletion)
  and ``learning_records`` (archival).
- Append-only tables, each row placed at the event that wrote it: ``task_dependencies``, reports and
  their criteria, metrics, issues and recommendations (by the report's version in its event),
  ``gate_decisions``, ``gate_resumptions``, ``criterion_evidence``, ``session_events`` (the n-th row with
  the n-th event of its kind), ``queue_samples`` (by time: a sample slot's last value stands for the
  whole slot).
- ``search_items``, the search index's items (what store/memory.py writes with each memory and
  learning record), rebuilt by the reducer likewise: a memory's item from its first version, moved to
  each new version (keeping its id), dropped at its deletion, written anew at its restoration; a
  record's from its logging to its archival. Their ids are the cache's own, given in the order the
  items were written (the order ``recent`` lists them in); their vectors are not replayed.
- Not replayed (empty here): documents and their chunks' search items, the FTS index and the vectors
  (virtual tables, which cannot be views of the point: a replay's keyword search looks for the words
  in the items that held, store/replay/engine.py), ``schema_migrations`` aside.
- ``task_counts`` (kept by triggers in a live store) is kept by the reducer likewise, a version per
  change, so that the queue's counts never count the tasks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..rows import dumps
from .source import plain

if TYPE_CHECKING:
    from .build import Builder


# -- tasks ----------------------------------------------------------------------------------------


def task_enqueued(b: Builder, tid: Any, actor: str, p: dict[str, Any]) -> None:
    tid = int(tid)
    row = b.source_row("tasks", "id = ?", (tid,))
    if row is None:
        return
    base = row["base_priority"]
    if b.base_set:
        first = b.src.one("SELECT payload FROM events WHERE kind = 'task.base_priority_set' "
                          "AND entity_id = ? AND id > ? ORDER BY id LIMIT 1", (str(tid), b.event_id))
        if first is not None:
            base = json.loads(first["payload"]).get("was", base)
    row.update(status=p.get("status", row["status"]), priority=p.get("priority", row["priority"]),
               base_priority=base, result_data=None, error_message=None, assigned_agent=None, retry_count=0,
               lease_expires_at=None, updated_at=b.ts, started_at=None, finished_at=None, held_by=None)
    b.put("tasks", tid, row)
    for prerequisite in p.get("prerequisites") or ():
        b.append("task_dependencies", {"task_id": tid, "prerequisite_id": prerequisite})


def task_dependency(b: Builder, tid: Any, actor: str, p: dict[str, Any]) -> None:
    b.append("task_dependencies", {"task_id": int(tid), "prerequisite_id": p.get("prerequisite_id")})


def task_reprioritised(b: Builder, tid: Any, actor: str, p: dict[str, Any]) -> None:
    b.change("tasks", int(tid), priority=p.get("priority"))


def task_base_priority(b: Builder, tid: Any, actor: str, p: dict[str, Any]) -> None:
    b.change("tasks", int(tid), base_priority=p.get("base_priority"), updated_at=b.ts)


def task_claimed(b: Builder, tid: Any, actor: str, p: dict[str, Any]) -> None:
    tid = int(tid)
    task = b.get("tasks", tid)
    agent = p.get("agent")
    if task is None:
        return
    b.change("tasks", tid, status="running", assigned_agent=agent, started_at=b.ts,
             lease_expires_at=b.ts + task["timeout_seconds"], updated_at=b.ts)
    b.change("agents", agent, status="working", current_task_id=tid, completion=0.0, last_heartbeat=b.ts)


def _release(b: Builder, task: dict[str, Any], heard: bool) -> None:
    """The task's agent is done with it (idle if it was on it); ``heard``: it said so, a heartbeat."""
    held = b.get("agents", task["assigned_agent"]) if task["assigned_agent"] else None
    if held is None:
        return
    fields: dict[str, Any] = {"last_heartbeat": b.ts} if heard else {}
    if held["current_task_id"] == task["id"]:
        fields.update(status="idle", current_task_id=None)
    if fields:
        b.change("agents", held["name"], **fields)


def _end_run(b: Builder, tid: Any, p: dict[str, Any], *, book: bool = True, release: bool = True,
             **fields: Any) -> dict[str, Any] | None:
    """A run ended (completed, failed, retried, escalated, cancelled): its agent released, its time
    booked to its milestone (``book``: the hours the agent gave, else the time it ran), the task
    changed by ``fields``. The task as it was before, or None if there is none."""
    task = b.get("tasks", int(tid))
    if task is None:
        return None
    if release:
        _release(b, task, bool(p.get("heard")))
    started, hours = task["started_at"], p.get("hours")
    seconds = (None if started is None else round(b.ts - started, 3)) if hours is None else hours * 3600.0
    if book and task["milestone_id"] is not None and seconds:
        ms = b.get("milestones", task["milestone_id"])
        if ms is not None:
            b.change("milestones", ms["id"], hours_spent=ms["hours_spent"] + seconds / 3600.0)
    b.change("tasks", task["id"], updated_at=b.ts, **fields)
    return task


def task_completed(b: Builder, tid: Any, actor: str, p: dict[str, Any]) -> None:
    result = b.src.one("SELECT result_data FROM tasks WHERE id = ?", (int(tid),))
    _end_run(b, tid, p, status="completed", finished_at=b.ts, lease_expires_at=None,
             result_data=None if result is None else plain(result["result_data"]))


def task_failed(b: Builder, tid: Any, actor: str, p: dict[str, Any]) -> None:
    _end_run(b, tid, p, status="failed", error_message=p.get("error"), finished_at=b.ts,
             lease_expires_at=None)


def task_retried(b: Builder, tid: Any, actor: str, p: dict[str, Any]) -> None:
    task = b.get("tasks", int(tid))
    if task is None:
        return
    if p.get("manual"):  # a person put a failed task back: blocked until released
        b.change("tasks", task["id"], status="blocked", retry_count=task["retry_count"] + 1,
                 finished_at=None, assigned_agent=None, started_at=None, updated_at=b.ts)
        return
    _end_run(b, tid, p, status="ready", retry_count=task["retry_count"] + 1, error_message=p.get("error"),
             assigned_agent=None, started_at=None, lease_expires_at=None)


def task_cancelled(b: Builder, tid: Any, actor: str, p: dict[str, Any]) -> None:
    task = b.get("tasks", int(tid))
    if task is None:
        return
    reason = p.get("reason")
    # A person's act: no heartbeat, no hours booked; only a running task's agent is released.
    _end_run(b, tid, {}, book=False, release=task["status"] == "running", status="cancelled",
             finished_at=b.ts, lease_expires_at=None, held_by=None,
             error_message=reason if reason is not None else task["error_message"])


def task_escalated(b: Builder, tid: Any, actor: str, p: dict[str, Any]) -> None:
    if _end_run(b, tid, p, status="blocked", assigned_agent=None, started_at=None,
                lease_expires_at=None) is not None and p.get("debug_task") is not None:
        b.append("task_dependencies", {"task_id": int(tid), "prerequisite_id": p["debug_task"]})


def task_held(b: Builder, tid: Any, actor: str, p: dict[str, Any]) -> None:
    b.change("tasks", int(tid), held_by=p.get("failed_task"))


def task_unheld(b: Builder, tid: Any, actor: str, p: dict[str, Any]) -> None:
    b.change("tasks", int(tid), held_by=None)


# -- agents ---------------------------------------------------------------------------------------


def agent_registered(b: Builder, name: Any, actor: str, p: dict[str, Any]) -> None:
    held = b.get("agents", name)
    fixed = b.source_row("agents", "name = ?", (name,))
    stale = fixed["stale_after_seconds"] if fixed else 60.0
    grace = fixed["requeue_after_seconds"] if fixed else 300.0
    if held is None:
        b.put("agents", name, {
            **(fixed or {}), "name": name, "agent_type": p.get("agent_type"), "colour": p.get("colour"),
            "model": p.get("model"), "status": "idle", "current_task_id": None, "completion": 0.0,
            "blockers": "[]", "next_milestone": None, "last_heartbeat": b.ts, "stale_after_seconds": stale,
            "registered_at": b.ts, "requeue_after_seconds": grace, "blockers_since": None,
            "id": fixed["id"] if fixed else None,
        })
        return
    b.change("agents", name, agent_type=p.get("agent_type"),
             colour=p.get("colour") if p.get("colour") is not None else held["colour"],
             model=p.get("model") if p.get("model") is not None else held["model"],
             stale_after_seconds=stale, requeue_after_seconds=grace, last_heartbeat=b.ts,
             status="idle" if held["status"] == "offline" else held["status"])


def agent_action(b: Builder, name: Any, actor: str, p: dict[str, Any]) -> None:
    b.change("agents", name, last_heartbeat=b.ts)


# -- reviewers ------------------------------------------------------------------------------------


def reviewer_added(b: Builder, name: Any, actor: str, p: dict[str, Any]) -> None:
    fixed = b.source_row("reviewers", "name = ?", (name,)) or {"id": None, "public_key": None}
    held = b.get("reviewers", name)
    key = (held or {}).get("public_key") or (fixed["public_key"] if p.get("key") else None)
    b.put("reviewers", name, {**fixed, "name": name, "public_key": key, "added_at": b.ts,
                              "added_by": p.get("by"), "removed_at": None, "removed_by": None})


def reviewer_key(b: Builder, name: Any, actor: str, p: dict[str, Any]) -> None:
    fixed = b.source_row("reviewers", "name = ?", (name,))
    b.change("reviewers", name, public_key=fixed["public_key"] if fixed else None)


def reviewer_removed(b: Builder, name: Any, actor: str, p: dict[str, Any]) -> None:
    b.change("reviewers", name, removed_at=b.ts, removed_by=p.get("by"))


# -- milestones and gates -------------------------------------------------------------------------


def milestone_added(b: Builder, mid: Any, actor: str, p: dict[str, Any]) -> None:
    row = b.source_row("milestones", "id = ?", (int(mid),))
    if row is not None:
        row.update(status=p.get("status", row["status"]), hours_spent=0.0, plan_state="active", plan_version=0)
        b.put("milestones", int(mid), row)


def report_submitted(b: Builder, mid: Any, actor: str, p: dict[str, Any]) -> None:
    mid = int(mid)
    report = b.source_row("validation_reports", "milestone_id = ? AND version = ?", (mid, p.get("version")))
    if report is None:
        return
    b.append("validation_reports", report)
    for table in ("report_criteria", "report_metrics", "report_issues", "report_recommendations"):
        for row in b.source_rows(table, "report_id = ? ORDER BY position", (report["id"],)):
            b.append(table, row)
    held = b.get("milestones", mid)
    if held is not None and held["status"] == "open":
        b.change("milestones", mid, status="review")


def gate_decided(b: Builder, mid: Any, actor: str, p: dict[str, Any]) -> None:
    n = b.nth("gate.decided")
    decision = b.source_row("gate_decisions", f"1 = 1 ORDER BY id LIMIT 1 OFFSET {n}", ())
    if decision is not None:
        b.append("gate_decisions", decision)
        for row in b.source_rows("gate_conditions", "decision_id = ? ORDER BY id", (decision["id"],)):
            row.update(status="open", closed_by=None, closed_at=None, note=None, close_signature=None)
            b.put("gate_conditions", row["id"], row)
    b.last_reviewer = p.get("reviewer")
    if p.get("status") is not None:
        b.change("milestones", int(mid), status=p["status"])


def condition_closed(b: Builder, mid: Any, actor: str, p: dict[str, Any]) -> None:
    cid = p.get("condition_id")
    fixed = b.source_row("gate_conditions", "id = ?", (cid,))
    b.change("gate_conditions", cid, status="closed", closed_by=p.get("closed_by"), closed_at=b.ts,
             note=p.get("note"), close_signature=fixed["close_signature"] if fixed else None)


def append_nth(b: Builder, kind: str, table: str) -> None:
    """The row of ``table`` that the n-th event of ``kind`` wrote (each such event writes one)."""
    row = b.source_row(table, f"1 = 1 ORDER BY id LIMIT 1 OFFSET {b.nth(kind)}", ())
    if row is not None:
        b.append(table, row)


def evidence_added(b: Builder, mid: Any, actor: str, p: dict[str, Any]) -> None:
    append_nth(b, "gate.evidence_added", "criterion_evidence")


def milestone_review(b: Builder, mid: Any, actor: str, p: dict[str, Any]) -> None:
    b.change("milestones", int(mid), status="review")
    append_nth(b, "milestone.review", "gate_resumptions")


def swarm_paused(b: Builder, _id: Any, actor: str, p: dict[str, Any]) -> None:
    b.change("swarm_state", 1, paused=1, reason=p.get("reason"), paused_by=b.last_reviewer,
             paused_at=b.ts)


def swarm_resumed(b: Builder, _id: Any, actor: str, p: dict[str, Any]) -> None:
    b.change("swarm_state", 1, paused=0, reason=None, paused_by=None, paused_at=None)


# -- sessions, memory, records --------------------------------------------------------------------


def session_created(b: Builder, sid: Any, actor: str, p: dict[str, Any]) -> None:
    row = b.source_row("sessions", "id = ?", (sid,))
    if row is not None:
        row.update(status="created", updated_at=b.ts)
        b.put("sessions", sid, row)


def session_touched(b: Builder, sid: Any, actor: str, p: dict[str, Any]) -> None:
    b.change("sessions", sid, updated_at=b.ts)


def session_event(b: Builder, sid: Any, actor: str, p: dict[str, Any]) -> None:
    append_nth(b, "session.event", "session_events")


def memory_version(b: Builder, eid: Any, actor: str, p: dict[str, Any]) -> None:
    row = b.source_row("memory_entries", "id = ?", (int(eid),))
    if row is None:
        return
    key = (row["namespace"], row["key"])
    before = b.memory_current.get(key)
    if before is not None and before != row["id"]:
        b.change("memory_entries", before, is_current=0)
    row.update(is_current=1, deleted_at=None, deleted_by=None)
    b.put("memory_entries", row["id"], row)
    b.memory_current[key] = row["id"]
    item = b.search_refs.pop(("memory", before), None) if before is not None else None
    _search_item(b, "memory", row, item=item)


def memory_deleted(b: Builder, eid: Any, actor: str, p: dict[str, Any]) -> None:
    b.change("memory_entries", int(eid), deleted_at=b.ts, deleted_by=actor)
    _drop_item(b, "memory", int(eid))


def memory_restored(b: Builder, eid: Any, actor: str, p: dict[str, Any]) -> None:
    row = b.change("memory_entries", int(eid), deleted_at=None, deleted_by=None)
    if row is not None:  # a new item, written when the entry was (store/memory.py restore_memory)
        _search_item(b, "memory", row, created_at=row["created_at"])


def record_logged(b: Builder, rid: Any, actor: str, p: dict[str, Any]) -> None:
    row = b.source_row("learning_records", "id = ?", (int(rid),))
    if row is not None:
        row["archived_at"] = None
        b.put("learning_records", row["id"], row)
        _search_item(b, row["kind"], row)


def records_archived(b: Builder, _id: Any, actor: str, p: dict[str, Any]) -> None:
    for r in b.src.all("SELECT id, kind FROM learning_records WHERE archived_at = ?", (b.ts,)):
        b.change("learning_records", r["id"], archived_at=b.ts)
        _drop_item(b, r["kind"], r["id"])


# -- the search index: what store/memory.py writes with each memory and record --------------------


def _search_item(b: Builder, kind: str, row: dict[str, Any], *, item: int | None = None,
                 created_at: float | None = None) -> None:
    """The searchable item of a memory version or a learning record, as the live store writes it
    (``put_item``; ``item``: the item a new version of a memory moves, keeping its id). The ids are
    the cache's own, given in the order the items were written (the live store's order: ``recent``)."""
    from .. import learning
    from ..memory import _searchable

    if kind == "memory":
        value = json.loads(row["value"]) if row["is_json"] else row["value"]
        fields = {"namespace": row["namespace"], "title": row["key"], "body": _searchable(value, row["is_json"]),
                  "memory_type": row["memory_type"], "agent": row["created_by"]}
    else:
        fields = {"namespace": row["namespace"], "title": row["title"],
                  "body": learning.body(kind, json.loads(row["fields"])), "memory_type": None,
                  "agent": row["agent"], "milestone_id": row["milestone_id"]}
    held = b.get("search_items", item) if item is not None else None
    if held is None:
        item, b.search_next = b.search_next, b.search_next + 1
        held = {"id": item, "kind": kind, "task_id": row["task_id"], "milestone_id": None,
                "embedded_model": None}
    b.put("search_items", item, {**held, **fields, "ref_id": row["id"],
                                 "created_at": b.ts if created_at is None else created_at})
    b.search_refs[(kind, row["id"])] = item


def _drop_item(b: Builder, kind: str, ref_id: int) -> None:
    item = b.search_refs.pop((kind, ref_id), None)
    if item is not None:
        b.remove("search_items", item)


# -- each kind's handler --------------------------------------------------------------------------


Handler = Callable[["Builder", Any, str, dict[str, Any]], None]


def _task_status(status: str) -> Handler:
    def handler(b: Builder, tid: Any, actor: str, p: dict[str, Any]) -> None:
        b.change("tasks", int(tid), status=status, updated_at=b.ts)
    return handler


def _milestone_status(status: str) -> Handler:
    def handler(b: Builder, mid: Any, actor: str, p: dict[str, Any]) -> None:
        b.change("milestones", int(mid), status=status)
    return handler


def _milestone_plan(state: str) -> Handler:
    def handler(b: Builder, mid: Any, actor: str, p: dict[str, Any]) -> None:
        held = b.get("milestones", int(mid))
        if held is not None:
            b.change("milestones", int(mid), plan_state=state, plan_version=held["plan_version"] + 1)
    return handler


def _session_status(status: str) -> Handler:
    def handler(b: Builder, sid: Any, actor: str, p: dict[str, Any]) -> None:
        b.change("sessions", sid, status=status, updated_at=b.ts)
    return handler


def _agent_changed(heartbeat: bool) -> Handler:
    """``agent.heartbeat`` / ``agent.updated``: the fields given (blockers keep when each was first
    reported); a heartbeat stamps the time too."""
    def handler(b: Builder, name: Any, actor: str, p: dict[str, Any]) -> None:
        held = b.get("agents", name)
        if held is None:
            return
        fields = {k: p[k] for k in ("status", "current_task_id", "completion", "next_milestone") if k in p}
        if "blockers" in p:
            before = json.loads(held["blockers"] or "[]")
            since = json.loads(held["blockers_since"] or "{}")
            seen = {blocker: since.get(blocker) for blocker in before if since.get(blocker) is not None}
            fields["blockers"] = dumps(p["blockers"])
            fields["blockers_since"] = dumps({x: seen.get(x, b.ts) for x in p["blockers"] or ()})
        if heartbeat:
            fields["last_heartbeat"] = b.ts
        if fields:
            b.change("agents", name, **fields)
    return handler


#: What each kind of event does to the state (a kind not here changes nothing a replay shows).
HANDLERS: dict[str, Handler] = {
    "task.enqueued": task_enqueued,
    "task.dependency_added": task_dependency,
    "task.reprioritised": task_reprioritised,
    "task.base_priority_set": task_base_priority,
    "task.claimed": task_claimed,
    "task.completed": task_completed,
    "task.failed": task_failed,
    "task.retried": task_retried,
    "task.cancelled": task_cancelled,
    "task.held": task_held,
    "task.unheld": task_unheld,
    "task.escalated": task_escalated,
    "agent.registered": agent_registered,
    "agent.heartbeat": _agent_changed(True),
    "agent.updated": _agent_changed(False),
    "agent.action": agent_action,
    "reviewer.added": reviewer_added,
    "reviewer.key": reviewer_key,
    "reviewer.removed": reviewer_removed,
    "milestone.added": milestone_added,
    "milestone.review": milestone_review,
    "gate.report_submitted": report_submitted,
    "gate.decided": gate_decided,
    "gate.condition_closed": condition_closed,
    "gate.evidence_added": evidence_added,
    "swarm.paused": swarm_paused,
    "swarm.resumed": swarm_resumed,
    "session.created": session_created,
    "session.event": session_event,
    "session.state_set": session_touched,
    "memory.added": memory_version,
    "memory.updated": memory_version,
    "memory.deleted": memory_deleted,
    "memory.restored": memory_restored,
    "record.logged": record_logged,
    "record.archived": records_archived,
    **{f"task.{status}": _task_status(status) for status in ("blocked", "ready")},
    **{f"milestone.{kind}": _milestone_status(status) for kind, status in (("opened", "open"),
                                                                           ("approved", "approved"))},
    **{f"milestone.{kind}": _milestone_plan(state) for kind, state in (("cut", "cut"), ("deferred", "deferred"),
                                                                       ("reinstated", "active"))},
    **{f"session.{status}": _session_status(status) for status in ("active", "paused", "terminated", "archived")},
}


__all__ = ["HANDLERS", "Handler"]
