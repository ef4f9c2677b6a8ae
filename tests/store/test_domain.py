"""The domain rules over a unit of work that is plain Python: the seam a second backend implements.

``MemoryUnit`` implements the task queue's part of ``store.domain.uow.Unit`` over dicts, with no
SQLite anywhere; the rules of store/domain/ (claim, complete, fail, retry, cancel, hold, reap,
dependencies and priorities) run
over it unchanged. Then the same random sequences of operations run over the SQLite store and over
the dicts, and every answer, refusal, task and change-feed event must be the same.
"""

from __future__ import annotations

import asyncio
import copy
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from swarmdeck.store import TaskStatus, open_store
from swarmdeck.store.domain import gates, liveness, tasks
from swarmdeck.store.domain.liveness import Housekeeping
from swarmdeck.store.domain.uow import Lease, Pause, PrerequisiteState, PriorityInputs, Silent, Unit
from swarmdeck.store.errors import NotFound, StoreError, SwarmPaused
from swarmdeck.store.models import UNFINISHED, TaskSource, from_ts
from swarmdeck.store.models import Task
from swarmdeck.store.sqlite.uow import SqliteUnit

EPOCH = 1_767_225_600.0
UNFINISHED_VALUES = {s.value for s in UNFINISHED}


# -- the unit of work over dicts -------------------------------------------------------------------


@dataclass
class Guard:
    locked: frozenset[int] = frozenset()
    passed: frozenset[int] = frozenset()
    escalation: tuple[int, int, str] | None = None


@dataclass
class Memory:
    """A whole "database": tasks, dependencies, agents, the pause flag and the change feed."""

    tasks: dict[int, dict[str, Any]] = field(default_factory=dict)
    deps: set[tuple[int, int]] = field(default_factory=set)  # (task, prerequisite)
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    paused: Pause = Pause(False, None)
    guard: Guard = field(default_factory=Guard)
    events: list[tuple[str, str, str | None, dict[str, Any]]] = field(default_factory=list)

    def register(self, name: str, now: float, stale: float = 60.0, grace: float = 300.0) -> None:
        self.agents[name] = dict(status="idle", current_task_id=None, completion=0.0, last_heartbeat=now,
                                 stale_after=stale, requeue_after=grace)

    def write(self, now: float, actor: str, rule, *args) -> Any:
        """Run ``rule(unit, *args)`` as one transaction: all of it, or (if it raises) none."""
        before = copy.deepcopy((self.tasks, self.deps, self.agents, self.events))
        try:
            return rule(MemoryUnit(self, now, actor), *args)
        except BaseException:
            self.tasks, self.deps, self.agents, self.events = before
            raise


class MemoryUnit:
    """``store.domain.uow.Unit`` (the task queue's part) over a ``Memory``."""

    def __init__(self, db: Memory, now: float, actor: str) -> None:
        self.db, self.now, self.actor = db, now, actor

    def event(self, kind: str, entity: str, entity_id: Any = None, payload: dict[str, Any] | None = None) -> None:
        # As a backend stores it: the id as text, the payload as JSON.
        self.db.events.append((kind, entity, None if entity_id is None else str(entity_id),
                               json.loads(json.dumps(payload or {}, default=str))))

    # -- the swarm and agents

    def swarm_pause(self, agent: str | None = None) -> Pause:
        return self.db.paused

    def gate_guard(self) -> Guard:
        return self.db.guard

    def agent_exists(self, name: str) -> bool:
        return name in self.db.agents

    def park_task(self, task_id: int) -> None:
        self.db.tasks[task_id].update(status="blocked", assigned_agent=None, started_at=None,
                                      lease_expires_at=None)

    def set_agent_working(self, name: str, task_id: int, *, seen_at: float) -> None:
        self.db.agents[name].update(status="working", current_task_id=task_id, completion=0.0,
                                    last_heartbeat=seen_at)

    def touch_agent(self, name: str, *, seen_at: float) -> bool:
        if name not in self.db.agents:
            return False
        self.db.agents[name]["last_heartbeat"] = seen_at
        return True

    def release_agent(self, name: str, task_id: int, *, seen_at: float | None = None) -> None:
        agent = self.db.agents.get(name)
        if agent is not None and seen_at is not None:
            agent["last_heartbeat"] = seen_at
        if agent is not None and agent["current_task_id"] == task_id:
            agent.update(status="idle", current_task_id=None)

    # -- tasks: reads

    def _prereqs(self, task_id: int) -> list[int]:
        return sorted(p for t, p in self.db.deps if t == task_id)

    def _dependents(self, task_id: int) -> list[int]:
        return sorted(t for t, p in self.db.deps if p == task_id)

    def task(self, task_id: int) -> Task:
        row = self.db.tasks.get(task_id)
        if row is None:
            raise NotFound(f"task {task_id} does not exist")
        prereqs = [(p, self.db.tasks[p]["status"]) for p in self._prereqs(task_id)]
        reason = None
        if row["status"] == TaskStatus.BLOCKED:
            reason = tasks.blocked_reason(prereqs, None, None, row["held_by"])
        loads = lambda text: None if text is None else json.loads(text)  # noqa: E731
        return Task(
            id=task_id, description=row["description"], summary=row["summary"], source=TaskSource(row["source"]),
            agent_type=row["agent_type"], base_priority=row["base_priority"], status=TaskStatus(row["status"]),
            priority=row["priority"], dependency_depth=row["dependency_depth"],
            prerequisites=tuple(p for p, _ in prereqs), milestone_id=row["milestone_id"],
            parent_task_id=row["parent_task_id"], session_id=row["session_id"], deadline=from_ts(row["deadline"]),
            estimated_duration_seconds=row["estimated_duration_seconds"], input_data=loads(row["input_json"]),
            result_data=loads(row["result_json"]), error_message=row["error_message"],
            assigned_agent=row["assigned_agent"], retry_count=row["retry_count"], max_retries=row["max_retries"],
            timeout_seconds=row["timeout_seconds"], created_at=from_ts(row["created_at"]),
            updated_at=from_ts(row["updated_at"]), started_at=from_ts(row["started_at"]),
            finished_at=from_ts(row["finished_at"]), blocked_reason=reason, held_by=row["held_by"],
        )

    def task_exists(self, task_id: int) -> bool:
        return task_id in self.db.tasks

    def prerequisite_states(self, task_ids) -> dict[int, PrerequisiteState]:
        out = {}
        for i in task_ids:
            if i in self.db.tasks:
                t = self.db.tasks[i]
                out[i] = PrerequisiteState(t["status"], t["dependency_depth"],
                                           i if t["status"] == TaskStatus.FAILED else t["held_by"])
        return out

    def dependents_of(self, task_id: int) -> list[int]:
        return self._dependents(task_id)

    def _down(self, roots) -> set[int]:
        seen, todo = set(roots), list(roots)
        while todo:
            for t in self._dependents(todo.pop()):
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        return seen

    def cascade_of(self, task_id: int) -> list[int]:
        return sorted(t for t in self._down([task_id]) if t != task_id
                      and self.db.tasks[t]["status"] not in ("completed", "cancelled"))

    def unfinished_prerequisites_of(self, task_ids) -> list[int]:
        return sorted({p for t, p in self.db.deps if t in set(task_ids)
                       and self.db.tasks[p]["status"] in UNFINISHED_VALUES})

    def upstream_edges(self, task_id: int) -> list[tuple[int, int]]:
        up, todo = {task_id}, [task_id]
        while todo:
            for p in self._prereqs(todo.pop()):
                if p not in up:
                    up.add(p)
                    todo.append(p)
        return sorted((t, p) for t, p in self.db.deps if t in up)

    def downstream_of(self, task_id: int) -> list[int]:
        return sorted(self._down([task_id]))

    def depth_edges(self, task_ids) -> list[tuple[int, int, int]]:
        wanted = set(task_ids)
        return sorted((t, p, self.db.tasks[p]["dependency_depth"]) for t, p in self.db.deps if t in wanted)

    def priority_inputs(self, task_ids) -> list[PriorityInputs]:
        out = []
        for i in sorted(set(task_ids)):
            t = self.db.tasks[i]
            n = sum(1 for d in self._dependents(i) if self.db.tasks[d]["status"] in UNFINISHED_VALUES)
            out.append(PriorityInputs(i, t["priority"], t["base_priority"], t["dependency_depth"], t["deadline"],
                                      t["estimated_duration_seconds"], t["source"], n))
        return out

    def waiting_with_deadline(self) -> list[int]:
        return sorted(i for i, t in self.db.tasks.items()
                      if t["deadline"] is not None and t["status"] in ("pending", "blocked", "ready"))

    def ready_to_release(self, *, dependents_of=None, task_id=None, milestone_id=None) -> list[int]:
        if dependents_of is not None:
            candidates = self._dependents(dependents_of)
        elif task_id is not None:
            candidates = [task_id] if task_id in self.db.tasks else []
        else:
            candidates = sorted(i for i, t in self.db.tasks.items() if t["milestone_id"] == milestone_id)
        return [i for i in candidates if self.db.tasks[i]["status"] == "blocked"
                and all(self.db.tasks[p]["status"] == "completed" for p in self._prereqs(i))]

    # -- tasks: writes

    def insert_task(self, *, input_json, **columns) -> int:
        task_id = max(self.db.tasks, default=0) + 1
        self.db.tasks[task_id] = dict(
            columns, input_json=input_json, result_json=None, error_message=None, assigned_agent=None,
            retry_count=0, created_at=self.now, updated_at=self.now, started_at=None, finished_at=None,
            lease_expires_at=None, held_by=None)
        return task_id

    def add_dependencies(self, task_id: int, prerequisite_ids) -> None:
        self.db.deps.update((task_id, p) for p in prerequisite_ids)

    def claim_next(self, agent: str, agent_type: str | None, locked) -> Task | None:
        ready = [(-t["priority"], i) for i, t in self.db.tasks.items() if t["status"] == "ready"
                 and (agent_type is None or t["agent_type"] == agent_type)
                 and (not locked or (t["milestone_id"] or 0) not in locked)]
        if not ready:
            return None
        _, task_id = min(ready)
        t = self.db.tasks[task_id]
        t.update(status="running", assigned_agent=agent, started_at=self.now,
                 lease_expires_at=self.now + t["timeout_seconds"], updated_at=self.now)
        return self.task(task_id)

    def _set(self, task_id: int, **values) -> None:
        self.db.tasks[task_id].update(values)

    def set_task_status(self, task_id: int, status: TaskStatus) -> None:
        self._set(task_id, status=status.value, updated_at=self.now)

    def mark_completed(self, task_id: int, result_json) -> Task | None:
        if self.db.tasks.get(task_id, {}).get("status") != "running":
            return None
        self._set(task_id, status="completed", result_json=result_json, finished_at=self.now,
                  lease_expires_at=None, updated_at=self.now)
        return self.task(task_id)

    def retry_later(self, task_id: int, error: str) -> None:
        t = self.db.tasks[task_id]
        t.update(status="ready", retry_count=t["retry_count"] + 1, error_message=error, assigned_agent=None,
                 started_at=None, lease_expires_at=None, updated_at=self.now)

    def mark_failed(self, task_id: int, error: str) -> None:
        self._set(task_id, status="failed", error_message=error, finished_at=self.now, lease_expires_at=None,
                  updated_at=self.now)

    def requeue_failed(self, task_id: int) -> None:
        t = self.db.tasks[task_id]
        t.update(status="blocked", retry_count=t["retry_count"] + 1, finished_at=None, assigned_agent=None,
                 started_at=None, updated_at=self.now)

    def mark_cancelled(self, task_id: int, reason) -> None:
        t = self.db.tasks[task_id]
        t.update(status="cancelled", finished_at=self.now, lease_expires_at=None, held_by=None, updated_at=self.now,
                 error_message=reason if reason is not None else t["error_message"])

    def set_priority(self, task_id: int, priority: float) -> None:
        self._set(task_id, priority=priority)

    def set_base_priority(self, task_id: int, base_priority: int) -> None:
        self._set(task_id, base_priority=base_priority, updated_at=self.now)

    def set_depth(self, task_id: int, depth: int) -> None:
        self._set(task_id, dependency_depth=depth)

    def add_milestone_hours(self, milestone_id: int, hours: float) -> None:
        raise AssertionError("no milestones here")

    # -- liveness

    def expired_leases(self) -> list[Lease]:
        return [Lease(i, t["assigned_agent"], t["timeout_seconds"]) for i, t in sorted(self.db.tasks.items())
                if t["status"] == "running" and t["lease_expires_at"] < self.now]

    def silent_agents_tasks(self) -> list[Silent]:
        out = []
        for i, t in sorted(self.db.tasks.items()):
            a = self.db.agents.get(t["assigned_agent"])
            if t["status"] != "running" or a is None:
                continue
            wait = a["stale_after"] + a["requeue_after"]
            if (a["last_heartbeat"] or 0) + wait < self.now and t["started_at"] + wait < self.now:
                out.append(Silent(i, t["assigned_agent"], max(a["last_heartbeat"] or 0, t["started_at"]),
                                  a["stale_after"], a["requeue_after"]))
        return out

    def hold(self, task_ids, failed_id: int) -> list[int]:
        held = []
        for i in self._down(task_ids):
            t = self.db.tasks[i]
            if t["held_by"] is None and t["status"] in UNFINISHED_VALUES:
                t["held_by"] = failed_id
                held.append(i)
        return held

    def held_by(self, failed_id: int) -> list[int]:
        return sorted(i for i, t in self.db.tasks.items() if t["held_by"] == failed_id)

    def set_held_by(self, task_id: int, failed_id) -> None:
        self._set(task_id, held_by=failed_id)

    def failed_upstream(self, task_id: int) -> list[int]:
        up, todo = {task_id}, [task_id]
        while todo:
            for p in self._prereqs(todo.pop()):
                if p not in up and self.db.tasks[p]["status"] in UNFINISHED_VALUES:
                    up.add(p)
                    todo.append(p)
        return sorted({p for t, p in self.db.deps if t in up and self.db.tasks[p]["status"] == "failed"})


def enqueue(db: Memory, now: float, *, prerequisites=(), base_priority=5, max_retries=3, actor="human",
            **kw) -> Task:
    new = tasks.new_task(
        description=kw.pop("description", "work"), source="human", agent_type=kw.pop("agent_type", "coder"),
        base_priority=base_priority, prerequisites=prerequisites, deadline=kw.pop("deadline", None),
        estimated_duration_seconds=None, milestone=None, parent_task_id=None, session_id=None, input_data=None,
        summary=None, max_retries=max_retries, timeout_seconds=kw.pop("timeout_seconds", 3600), actor=actor)
    return db.write(now, actor, tasks.enqueue, new)


# -- the rules over dicts alone --------------------------------------------------------------------


@pytest.fixture
def db() -> Memory:
    memory = Memory()
    memory.register("a1", EPOCH)
    return memory


class TestRulesWithoutADatabase:
    def test_a_claim_hands_out_the_best_ready_task_and_completing_it_releases_what_waited(self, db):
        chores = Housekeeping()
        low = enqueue(db, EPOCH, base_priority=1)
        high = enqueue(db, EPOCH, base_priority=9)
        after = enqueue(db, EPOCH, prerequisites=[high.id])
        assert after.status is TaskStatus.BLOCKED and after.blocked_reason == f"waiting for task {high.id} (ready)"
        got = db.write(EPOCH + 1, "a1", tasks.claim, "a1", None, chores)
        assert got.id == high.id and got.status is TaskStatus.RUNNING and db.agents["a1"]["current_task_id"] == high.id
        done = db.write(EPOCH + 2, "a1", tasks.complete, high.id, "a1", None, None)
        assert done.status is TaskStatus.COMPLETED and db.agents["a1"]["status"] == "idle"
        assert db.tasks[after.id]["status"] == "ready" and db.tasks[low.id]["status"] == "ready"
        assert [e[0] for e in db.events if e[2] == str(after.id)][-1] == "task.ready"

    def test_a_failure_without_retries_holds_everything_downstream_and_a_retry_of_it_frees_them(self, db):
        chores = Housekeeping()
        root = enqueue(db, EPOCH, max_retries=0)
        mid = enqueue(db, EPOCH, prerequisites=[root.id])
        leaf = enqueue(db, EPOCH, prerequisites=[mid.id])
        db.write(EPOCH, "a1", tasks.claim, "a1", None, chores)
        failed = db.write(EPOCH + 5, "a1", tasks.fail, root.id, "a1", "boom", True)
        assert failed.status is TaskStatus.FAILED
        assert (db.tasks[mid.id]["held_by"], db.tasks[leaf.id]["held_by"]) == (root.id, root.id)
        assert "held by task" in MemoryUnit(db, EPOCH, "x").task(leaf.id).blocked_reason
        # Retrying the leaf retries the failure that holds it.
        retried = db.write(EPOCH + 6, "human", tasks.retry, leaf.id)
        assert retried.id == leaf.id and db.tasks[root.id]["status"] == "ready"
        assert db.tasks[root.id]["retry_count"] == 1
        assert (db.tasks[mid.id]["held_by"], db.tasks[leaf.id]["held_by"]) == (None, None)

    def test_a_failure_with_retries_left_goes_back_to_ready(self, db):
        chores = Housekeeping()
        t = enqueue(db, EPOCH, max_retries=1)
        db.write(EPOCH, "a1", tasks.claim, "a1", None, chores)
        again = db.write(EPOCH + 1, "a1", tasks.fail, t.id, "a1", "flaky", True)
        assert again.status is TaskStatus.READY and again.retry_count == 1 and again.assigned_agent is None

    def test_cancel_cascades_to_every_unfinished_task_downstream_never_a_completed_one(self, db):
        chores = Housekeeping()
        a = enqueue(db, EPOCH)
        b = enqueue(db, EPOCH, prerequisites=[a.id])
        c = enqueue(db, EPOCH, prerequisites=[b.id])
        preview = db.write(EPOCH, "human", tasks.cancel, a.id, None, True)
        assert preview.cascaded_task_ids == (b.id, c.id) and db.tasks[a.id]["status"] == "ready"
        db.write(EPOCH, "a1", tasks.claim, "a1", None, chores)
        db.write(EPOCH, "a1", tasks.complete, a.id, "a1", None, None)
        result = db.write(EPOCH, "human", tasks.cancel, b.id, "not needed", False)
        assert result.cascaded_task_ids == (c.id,)
        assert [db.tasks[i]["status"] for i in (a.id, b.id, c.id)] == ["completed", "cancelled", "cancelled"]

    def test_a_refused_write_changes_nothing(self, db):
        t = enqueue(db, EPOCH)
        before = copy.deepcopy((db.tasks, db.events))
        with pytest.raises(StoreError, match="only running tasks can be completed"):
            db.write(EPOCH, "a1", tasks.complete, t.id, "a1", None, None)
        assert (db.tasks, db.events) == before

    def test_a_paused_swarm_hands_out_nothing(self, db):
        enqueue(db, EPOCH)
        db.paused = Pause(True, "maintenance")
        with pytest.raises(SwarmPaused, match="maintenance"):
            db.write(EPOCH, "a1", tasks.claim, "a1", None, Housekeeping())

    def test_the_gate_guard_opens_each_milestone_once_every_gate_before_it_passed(self):
        milestones = [(1, 1), (2, 2), (3, 1), (4, 1)]
        g = gates.guard(milestones, {1: {"alice"}, 2: {"alice"}, 3: {"bob"}}, None)
        # M2 lacks its second approval: M3 and M4 stay locked, however M3's gate went.
        assert (g.passed, g.locked, g.escalation) == (frozenset({1, 3}), frozenset({3, 4}), None)
        g = gates.guard(milestones, {1: {"alice"}, 2: {"alice", "bob"}}, (7, 2, "why"))
        assert (g.locked, g.escalation) == (frozenset({4}), (7, 2, "why"))

    def test_a_silent_agents_task_is_reaped(self, db):
        chores = Housekeeping()
        t = enqueue(db, EPOCH)
        db.write(EPOCH, "a1", tasks.claim, "a1", None, chores)
        assert db.write(EPOCH + 360, "system", liveness.reap, chores) == []
        assert db.write(EPOCH + 361, "system", liveness.reap, chores) == [t.id]
        assert db.tasks[t.id]["status"] == "ready" and db.tasks[t.id]["error_message"].startswith("a1 went silent")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_each_backends_unit_has_every_operation_of_the_unit_of_work(backend):
    if backend == "sqlite":
        unit = SqliteUnit
    else:
        from swarmdeck.store.postgres.uow import PgUnit as unit
    wanted = {name for name in dir(Unit) if not name.startswith("_")} | {"now", "actor", "event"}
    assert wanted - set(dir(unit)) == set()


# -- the same operations over SQLite and over dicts ------------------------------------------------

AGENTS = ("a1", "a2")

#: Enqueues weigh double (a graph to work on), and most tasks have no retry left (failures hold).
enqueues = st.tuples(st.just("enqueue"), st.integers(0, 10), st.lists(st.integers(0, 30), max_size=3),
                     st.sampled_from([0, 0, 1]), st.sampled_from(["coder", "coder", "tester"]))
operations = st.lists(st.one_of(
    enqueues, enqueues,
    st.tuples(st.just("claim"), st.sampled_from(AGENTS), st.sampled_from([None, "coder"])),
    st.tuples(st.just("complete"), st.integers(0, 30)),
    st.tuples(st.just("fail"), st.integers(0, 30), st.booleans()),
    st.tuples(st.just("retry"), st.integers(0, 30)),
    st.tuples(st.just("cancel"), st.integers(0, 30), st.booleans()),
    st.tuples(st.just("depend"), st.integers(0, 30), st.integers(0, 30)),
    st.tuples(st.just("base"), st.integers(0, 30), st.integers(0, 10)),
    st.tuples(st.just("wait"), st.sampled_from([1, 7, 400, 4000])),
    st.just(("reap",)),
), min_size=1, max_size=40)


async def _both(ops: list[tuple], path: Path) -> None:
    clock = [EPOCH]
    store = await open_store(path, create=True, clock=lambda: clock[0])
    db, chores = Memory(), Housekeeping()
    try:
        for name in AGENTS:
            await store.register_agent(name, agent_type="coder")
            db.register(name, clock[0])
        ids: list[int] = []

        def pick(i: int) -> int:
            return ids[i % len(ids)] if ids else 1

        for op in ops:
            now = clock[0]
            kind = op[0]
            if kind == "wait":
                clock[0] += op[1]
                continue
            if kind == "enqueue":
                _, base, prereqs, retries, agent_type = op
                args = dict(base_priority=base, prerequisites=sorted({pick(p) for p in prereqs}) if ids else [],
                            max_retries=retries, agent_type=agent_type)
                sql = store.enqueue_task(description="work", **args)
                mem = lambda: enqueue(db, now, **args)  # noqa: E731
            elif kind == "claim":
                sql = store.claim_task(agent=op[1], agent_type=op[2])
                mem = lambda: db.write(now, op[1], tasks.claim, op[1], op[2], chores)  # noqa: E731
            elif kind == "complete":
                task_id = pick(op[1])
                sql = store.complete_task(task_id)
                mem = lambda: db.write(now, "unknown", tasks.complete, task_id, None, None, None)  # noqa: E731
            elif kind == "fail":
                task_id = pick(op[1])
                sql = store.fail_task(task_id, error="boom", retry=op[2])
                mem = lambda: db.write(now, "unknown", tasks.fail, task_id, None, "boom", op[2])  # noqa: E731
            elif kind == "retry":
                task_id = pick(op[1])
                sql = store.retry_task(task_id)
                mem = lambda: db.write(now, "human", tasks.retry, task_id)  # noqa: E731
            elif kind == "depend":
                task_id, prereq = pick(op[1]), pick(op[2])
                sql = store.add_dependency(task_id, prereq)
                mem = lambda: db.write(now, "human", tasks.add_dependency, task_id, prereq)  # noqa: E731
            elif kind == "base":
                task_id = pick(op[1])
                sql = store.set_base_priority(task_id, op[2])
                mem = lambda: db.write(now, "human", tasks.set_base_priority, task_id, op[2])  # noqa: E731
            elif kind == "cancel":
                task_id = pick(op[1])
                sql = store.cancel_task(task_id, dry_run=op[2])
                mem = lambda: db.write(now, "human", tasks.cancel, task_id, None, op[2])  # noqa: E731
            else:
                sql = store.reap_timeouts()
                mem = lambda: [MemoryUnit(db, now, "x").task(i)  # noqa: E731
                               for i in db.write(now, "system", liveness.reap, chores)]
            try:
                got = await sql
            except StoreError as exc:
                with pytest.raises(type(exc)) as refused:
                    mem()
                assert str(refused.value) == str(exc), op
                continue
            assert mem() == got, op
            if kind == "enqueue":
                ids.append(got.id)
        # Every task, and the change feed of the tasks, the same.
        assert await store.tasks_by_ids(ids) == [MemoryUnit(db, clock[0], "x").task(i) for i in ids]
        feed = [(e.kind, e.entity, e.entity_id, e.payload) for e in await store.changes_since(0, limit=100_000)
                if e.entity == "task"]
        assert feed == db.events
        agents = {a.name: (a.status.value, a.current_task_id) for a in await store.list_agents()}
        assert agents == {n: (a["status"], a["current_task_id"]) for n, a in db.agents.items()}
    finally:
        await store.close()


#: A failure that holds a fan of tasks, one of them with a task of its own behind it; then a retry
#: from the far end, a lease that runs out, a cancel of what the failure held, and a dependency
#: added (and one refused: it would close a cycle).
FAN = [("enqueue", 5, [], 0, "coder"), ("enqueue", 3, [0], 0, "coder"), ("enqueue", 7, [0], 1, "coder"),
       ("enqueue", 5, [2], 0, "tester"), ("claim", "a1", None), ("fail", 0, True), ("retry", 3),
       ("claim", "a2", "coder"), ("wait", 4000), ("claim", "a1", None), ("wait", 400), ("reap",),
       ("fail", 0, False), ("cancel", 1, True), ("cancel", 1, False), ("complete", 2),
       ("enqueue", 2, [], 1, "coder"), ("depend", 4, 2), ("depend", 2, 4), ("base", 4, 9), ("claim", "a1", None)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
@example(FAN)
def test_the_rules_give_the_same_results_over_sqlite_and_over_dicts(ops):
    with tempfile.TemporaryDirectory(prefix="swarmdeck-domain-") as tmp:
        asyncio.run(_both(ops, Path(tmp) / "swarm.db"))
