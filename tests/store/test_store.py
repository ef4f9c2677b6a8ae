"""The SQLite store against a real database file: migrations, tasks, events, agents, gates, layering."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import tomllib
from collections import Counter
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest
import sqlean

from swarmdeck.store import (
    AgentStatus,
    Decision,
    MilestoneStatus,
    Store,
    TaskSource,
    TaskStatus,
    open_store,
    schema,
)
from swarmdeck.store.errors import (
    Conflict,
    CycleError,
    DatabaseMissing,
    InvalidArgument,
    InvalidTransition,
    NotASwarmdeckDatabase,
    NotFound,
    PermissionDenied,
    SchemaTooNew,
    StoreError,
    SwarmPaused,
)
from swarmdeck.store.models import ConditionStatus

REPO_ROOT = Path(__file__).resolve().parents[2]
TABLES = ("tasks", "task_dependencies", "events", "agents", "milestones", "validation_reports",
          "gate_decisions", "gate_conditions", "swarm_state")


# -- helpers ------------------------------------------------------------------------------------


def raw(path: Path) -> sqlean.Connection:
    """A plain connection, independent of the store, for looking at (or tampering with) the file."""
    return closing(sqlean.connect(str(path), isolation_level=None))


def row_counts(path: Path) -> dict[str, int]:
    with raw(path) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


async def state(store) -> tuple:
    """Everything a refused or dry-run write must leave exactly as it was."""
    return (
        await store.list_tasks(limit=100_000),
        await store.list_agents(),
        await store.list_milestones(),
        await store.latest_event_id(),
    )


async def claim(store, agent: str, expect: int, **kwargs):
    task = await store.claim_task(agent=agent, **kwargs)
    assert task is not None, f"{agent} got nothing; expected task {expect}"
    assert task.id == expect, f"{agent} got task {task.id}; expected {expect}"
    assert task.status is TaskStatus.RUNNING and task.assigned_agent == agent
    return task


async def run(store, task_id: int, agent: str = "a1"):
    """Claim (it must be the top ready task) and complete it."""
    await claim(store, agent, task_id)
    return await store.complete_task(task_id, agent=agent)


REPORT = dict(
    summary="all green",
    criteria=[{"name": "tests pass", "status": "met", "evidence": "CI run 12"}],
    metrics=[{"name": "p95 ms", "value": 80, "target": 100, "comparator": "<="}],
    issues=[{"severity": "low", "description": "a typo"}],
    recommendations=["ship it"],
    proposed_decision="APPROVE",
)


async def submit(store, milestone="M1", by="bot", **overrides):
    return await store.submit_report(milestone, submitted_by=by, **{**REPORT, **overrides})


@pytest.fixture
async def agents(store):
    await store.register_agent("a1", agent_type="coder")
    await store.register_agent("a2", agent_type="coder")
    return store


# -- opening and migrations ---------------------------------------------------------------------


class TestOpen:
    async def test_implements_the_protocol(self, store):
        assert isinstance(store, Store)

    async def test_opening_twice_is_a_no_op(self, store, db_path, clock):
        task = await store.enqueue_task(description="survives a reopen")
        await store.close()
        for _ in range(2):
            again = await open_store(db_path, clock=clock)
            try:
                assert await again.schema_version() == schema.SCHEMA_VERSION
                assert (await again.get_task(task.id)).description == "survives a reopen"
            finally:
                await again.close()
        with raw(db_path) as conn:
            rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
            assert [tuple(r) for r in rows] == [(i, name) for i, (name, _) in enumerate(schema.MIGRATIONS, 1)]
            assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
            assert conn.execute("PRAGMA application_id").fetchone()[0] == schema.APPLICATION_ID
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("SELECT count(*) FROM swarm_state").fetchone()[0] == 1

    async def test_sqlite_url(self, db_path, clock):
        s = await open_store(f"sqlite:///{db_path}", create=True, clock=clock)
        await s.close()
        assert db_path.exists()

    async def test_other_url_schemes_are_refused(self):
        with pytest.raises(InvalidArgument, match=r"unsupported database URL scheme 'postgres'.*sqlite:///"):
            await open_store("postgres://db.example/swarm")

    async def test_missing_file_without_create(self, tmp_path):
        path = tmp_path / "nowhere" / "swarm.db"
        with pytest.raises(DatabaseMissing) as info:
            await open_store(path)
        assert str(path) in str(info.value) and "swarmdeck init" in str(info.value)
        assert not path.exists() and not path.parent.exists()

    async def test_a_path_sqlite_cannot_open_fails_at_once(self, tmp_path):
        # A directory: SQLite refuses it when connecting, and the store must say so, not wait forever.
        with pytest.raises(DatabaseMissing, match="cannot open .*unable to open database file"):
            await asyncio.wait_for(open_store(tmp_path), 30)

    async def test_a_file_that_is_not_sqlite(self, tmp_path):
        path = tmp_path / "notes.db"
        content = b"meeting notes, definitely not a database\n" * 200
        path.write_bytes(content)
        with pytest.raises(NotASwarmdeckDatabase) as info:
            await open_store(path, create=True)
        assert str(path) in str(info.value) and "not a SQLite database" in str(info.value)
        assert path.read_bytes() == content

    async def test_a_sqlite_file_with_other_tables(self, tmp_path):
        path = tmp_path / "billing.db"
        with raw(path) as conn:
            conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
            conn.execute("INSERT INTO invoices (total) VALUES (9.5)")
        with pytest.raises(NotASwarmdeckDatabase) as info:
            await open_store(path, create=True)
        message = str(info.value)
        assert str(path) in message and "not a swarmdeck one" in message and "invoices" in message
        assert "--db" in message  # what to do about it
        # The refused file is left exactly as it was: no tables added, not switched to WAL.
        with raw(path) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            assert names == ["invoices"]
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
            assert conn.execute("PRAGMA user_version").fetchone()[0] == 0

    async def test_a_database_from_a_newer_swarmdeck(self, store, db_path, clock):
        await store.close()
        newer = schema.SCHEMA_VERSION + 1
        with raw(db_path) as conn:
            conn.execute(f"PRAGMA user_version = {newer}")
        with pytest.raises(SchemaTooNew) as info:
            await open_store(db_path, clock=clock)
        message = str(info.value)
        assert str(db_path) in message and f"schema {newer}" in message
        assert f"up to {schema.SCHEMA_VERSION}" in message and "upgrade swarmdeck" in message
        with raw(db_path) as conn:  # and it was not "migrated" down or touched
            assert conn.execute("PRAGMA user_version").fetchone()[0] == newer
            applied = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
            assert applied == schema.SCHEMA_VERSION

    async def test_errors_are_store_errors_with_codes(self, tmp_path):
        with pytest.raises(StoreError) as info:
            await open_store(tmp_path / "missing.db")
        assert info.value.code == "database_missing"

    async def test_a_closed_store_says_so(self, store):
        await store.close()
        with pytest.raises(StoreError, match="closed"):
            await store.list_tasks()
        with pytest.raises(StoreError, match="closed"):
            await store.enqueue_task(description="x")


# -- tasks -----------------------------------------------------------------------------------------


class TestEnqueue:
    async def test_ready_with_priority_from_the_formula(self, store, clock):
        task = await store.enqueue_task(description="write docs", source="agent_planner", base_priority=7,
                                        agent_type="writer", input_data={"file": "README.md"})
        assert task.status is TaskStatus.READY
        assert (task.description, task.source, task.agent_type) == (
            "write docs", TaskSource.AGENT_PLANNER, "writer",
        )
        assert task.input_data == {"file": "README.md"}
        assert task.created_at.timestamp() == clock.now
        # 0.30*70 + 0.25*0 + 0.25*50 + 0.15*0 + 0.05*50
        assert task.priority == pytest.approx(36.0)
        assert task.blocked_reason is None
        assert await store.get_task(task.id) == task

    async def test_blocked_by_unfinished_prerequisites(self, store):
        a = await store.enqueue_task(description="a")
        b = await store.enqueue_task(description="b", prerequisites=[a.id])
        assert b.status is TaskStatus.BLOCKED
        assert b.prerequisites == (a.id,)
        assert b.dependency_depth == 1
        assert b.blocked_reason == f"waiting for task {a.id} (ready)"
        assert await store.dependents(a.id) == [b.id]

    async def test_ready_when_prerequisites_already_completed(self, agents):
        store = agents
        a = await store.enqueue_task(description="a")
        await run(store, a.id)
        b = await store.enqueue_task(description="b", prerequisites=[a.id])
        assert b.status is TaskStatus.READY and b.dependency_depth == 1

    async def test_a_dependent_raises_its_prerequisites_blocking_score(self, store):
        a = await store.enqueue_task(description="a")
        before = a.priority
        await store.enqueue_task(description="b", prerequisites=[a.id])
        after = (await store.get_task(a.id)).priority
        assert after == pytest.approx(before + 0.15 * math.log10(2) * 33.33, abs=1e-3)
        assert (await store.priority_breakdown(a.id)).blocking == pytest.approx(math.log10(2) * 33.33)


CIRCULAR: dict = {}
CIRCULAR["self"] = CIRCULAR


class TestInvalidEnqueue:
    """Refused enqueues leave no partial state: no rows, no events."""

    @pytest.fixture
    async def seeded(self, store):
        live = await store.enqueue_task(description="live")
        dead = await store.enqueue_task(description="dead")
        await store.cancel_task(dead.id)
        return store, {"live": live.id, "dead": dead.id}

    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            ({"description": ""}, InvalidArgument, "non-empty description"),
            ({"description": "   "}, InvalidArgument, "non-empty description"),
            ({"base_priority": 11}, InvalidArgument, "must be a whole number from 0 to 10, not 11$"),
            ({"base_priority": -1}, InvalidArgument, "base_priority must be a whole number from 0 to 10"),
            ({"base_priority": 5.5}, InvalidArgument, "base_priority"),
            ({"base_priority": True}, InvalidArgument, "base_priority"),
            ({"source": "robot"}, InvalidArgument, "source must be one of human, agent_requirements"),
            ({"agent_type": " "}, InvalidArgument, "agent_type must not be empty"),
            ({"timeout_seconds": 0}, InvalidArgument, "timeout_seconds"),
            ({"max_retries": -1}, InvalidArgument, "max_retries"),
            ({"estimated_duration_seconds": 0}, InvalidArgument, "estimated_duration_seconds"),
            ({"deadline": datetime(2026, 3, 1)}, InvalidArgument, "deadline needs a timezone"),
            ({"deadline": float("nan")}, InvalidArgument, "deadline must be a datetime or epoch seconds"),
            ({"input_data": CIRCULAR}, InvalidArgument, "input_data must be JSON-serialisable"),
            ({"prerequisites": ["live", 9999]}, NotFound, "prerequisite task 9999 does not exist"),
            ({"prerequisites": ["dead"]}, InvalidArgument, "is cancelled and will never complete"),
            ({"parent_task_id": 9999}, NotFound, "parent task 9999 does not exist"),
            ({"milestone": "M9"}, NotFound, "milestone 'M9' does not exist"),
        ],
    )
    async def test_refused_and_nothing_written(self, seeded, db_path, kwargs, error, message):
        store, ids = seeded
        if "prerequisites" in kwargs:
            kwargs = {**kwargs, "prerequisites": [ids.get(p, p) for p in kwargs["prerequisites"]]}
        kwargs = {"description": "a valid description", **kwargs}
        before, counts = await state(store), row_counts(db_path)
        with pytest.raises(error, match=message):
            await store.enqueue_task(**kwargs)
        assert await state(store) == before
        assert row_counts(db_path) == counts


class TestDependencies:
    async def test_blocked_becomes_ready_only_when_the_last_prerequisite_completes(self, agents):
        store = agents
        a = await store.enqueue_task(description="a")
        b = await store.enqueue_task(description="b")
        c = await store.enqueue_task(description="c", prerequisites=[a.id, b.id])
        assert c.status is TaskStatus.BLOCKED

        await run(store, a.id)
        c_now = await store.get_task(c.id)
        assert c_now.status is TaskStatus.BLOCKED
        assert c_now.blocked_reason == f"waiting for task {b.id} (ready)"

        await claim(store, "a1", b.id)
        assert (await store.get_task(c.id)).blocked_reason == f"waiting for task {b.id} (running)"
        mark = await store.latest_event_id()
        await store.complete_task(b.id, agent="a1")
        assert (await store.get_task(c.id)).status is TaskStatus.READY
        kinds = [(e.kind, e.entity_id) for e in await store.changes_since(mark)]
        assert kinds == [("task.completed", str(b.id)), ("task.ready", str(c.id))]

    async def test_a_failed_prerequisite_keeps_dependents_blocked(self, agents):
        store = agents
        a = await store.enqueue_task(description="a", max_retries=0)
        b = await store.enqueue_task(description="b", prerequisites=[a.id])
        await claim(store, "a1", a.id)
        await store.fail_task(a.id, agent="a1", error="compiler crashed")
        assert (await store.get_task(b.id)).status is TaskStatus.BLOCKED

    async def test_add_dependency_blocks_a_ready_task_and_deepens_its_dependents(self, store):
        a = await store.enqueue_task(description="a")
        b = await store.enqueue_task(description="b")
        c = await store.enqueue_task(description="c", prerequisites=[b.id])
        assert (b.dependency_depth, c.dependency_depth) == (0, 1)
        b2 = await store.add_dependency(b.id, a.id)
        assert b2.status is TaskStatus.BLOCKED and b2.prerequisites == (a.id,)
        assert b2.dependency_depth == 1
        c2 = await store.get_task(c.id)
        assert c2.dependency_depth == 2
        # Depth feeds the priority: 0.25 * 10 points per level.
        assert c2.priority == pytest.approx(c.priority + 2.5)
        # Adding the same edge again is a no-op.
        mark = await store.latest_event_id()
        assert (await store.add_dependency(b.id, a.id)).prerequisites == (a.id,)
        assert await store.latest_event_id() == mark

    async def test_cycles_are_refused(self, store, db_path):
        a = await store.enqueue_task(description="a")
        b = await store.enqueue_task(description="b", prerequisites=[a.id])
        c = await store.enqueue_task(description="c", prerequisites=[b.id])
        before, counts = await state(store), row_counts(db_path)
        with pytest.raises(CycleError) as info:
            await store.add_dependency(a.id, c.id)
        assert str(info.value) == (
            f"task {a.id} cannot wait for task {c.id}: that would form the cycle "
            f"{a.id} -> {c.id} -> {b.id} -> {a.id}"
        )
        with pytest.raises(CycleError, match=f"{b.id} -> {b.id}"):
            await store.add_dependency(b.id, b.id)
        assert await state(store) == before
        assert row_counts(db_path) == counts

    async def test_unknown_or_running_tasks(self, agents):
        store = agents
        a = await store.enqueue_task(description="a")
        b = await store.enqueue_task(description="b")
        with pytest.raises(NotFound, match="task 999 does not exist"):
            await store.add_dependency(a.id, 999)
        await claim(store, "a1", a.id)
        with pytest.raises(InvalidArgument, match=f"task {a.id} is running; prerequisites can only be added"):
            await store.add_dependency(a.id, b.id)

    async def test_execution_plan(self, store):
        a = await store.enqueue_task(description="a")
        b = await store.enqueue_task(description="b", prerequisites=[a.id])
        c = await store.enqueue_task(description="c", prerequisites=[a.id])
        d = await store.enqueue_task(description="d", prerequisites=[b.id, c.id])
        e = await store.enqueue_task(description="e")
        plan = await store.execution_plan([d.id, c.id, b.id, a.id, e.id])
        assert plan.batches == ((a.id, e.id), (b.id, c.id), (d.id,))
        assert (plan.total_batches, plan.max_parallelism) == (3, 2)
        # Prerequisites outside the set count as met.
        plan = await store.execution_plan([b.id, c.id, d.id])
        assert plan.batches == ((b.id, c.id), (d.id,))
        with pytest.raises(InvalidArgument, match="at least one task"):
            await store.execution_plan([])
        with pytest.raises(NotFound, match="no such task: 998, 999"):
            await store.execution_plan([a.id, 999, 998])


class TestClaim:
    async def test_highest_priority_first(self, agents):
        store = agents
        low = await store.enqueue_task(description="low", base_priority=2)
        high = await store.enqueue_task(description="high", base_priority=9)
        mid = await store.enqueue_task(description="mid", base_priority=5)
        tie = await store.enqueue_task(description="tie", base_priority=5)
        order = [(await store.claim_task(agent="a1")).id for _ in range(4)]
        assert order == [high.id, mid.id, tie.id, low.id]  # ties go to the older task
        assert await store.claim_task(agent="a1") is None

    async def test_filtered_by_agent_type(self, agents):
        store = agents
        coder = await store.enqueue_task(description="code", agent_type="coder", base_priority=9)
        review = await store.enqueue_task(description="review", agent_type="reviewer", base_priority=1)
        assert await store.claim_task(agent="a1", agent_type="tester") is None
        await claim(store, "a1", review.id, agent_type="reviewer")
        assert await store.claim_task(agent="a2", agent_type="reviewer") is None
        await claim(store, "a2", coder.id, agent_type="coder")

    async def test_claim_marks_the_agent_working(self, agents):
        store = agents
        t = await store.enqueue_task(description="t")
        task = await claim(store, "a1", t.id)
        assert task.started_at is not None
        agent = await store.get_agent("a1")
        assert (agent.status, agent.current_task_id) == (AgentStatus.WORKING, t.id)
        done = await store.complete_task(t.id, agent="a1", result={"ok": True})
        assert done.status is TaskStatus.COMPLETED and done.result_data == {"ok": True}
        agent = await store.get_agent("a1")
        assert (agent.status, agent.current_task_id) == (AgentStatus.IDLE, None)

    async def test_unregistered_agent_is_refused(self, store):
        t = await store.enqueue_task(description="t")
        before = await state(store)
        with pytest.raises(NotFound, match="'ghost' is not registered; run `swarmdeck agent register ghost --type TYPE`"):
            await store.claim_task(agent="ghost")
        assert await state(store) == before
        assert (await store.get_task(t.id)).status is TaskStatus.READY

    async def test_wrong_agent_cannot_complete_or_fail(self, agents):
        store = agents
        t = await store.enqueue_task(description="t")
        await claim(store, "a1", t.id)
        before = await state(store)
        with pytest.raises(PermissionDenied, match=f"task {t.id} is assigned to a1, not a2"):
            await store.complete_task(t.id, agent="a2")
        with pytest.raises(PermissionDenied, match="assigned to a1, not a2"):
            await store.fail_task(t.id, agent="a2", error="sabotage")
        assert await state(store) == before

    async def test_only_running_tasks_complete(self, agents):
        store = agents
        t = await store.enqueue_task(description="t")
        with pytest.raises(InvalidTransition, match=f"{t.id} is ready; only running tasks can be completed"):
            await store.complete_task(t.id, agent="a1")
        await run(store, t.id)
        with pytest.raises(InvalidTransition, match="is completed; only running tasks can be failed"):
            await store.fail_task(t.id, error="late", agent="a1")

    async def test_fail_retries_until_max_retries(self, agents):
        store = agents
        t = await store.enqueue_task(description="flaky", max_retries=2)
        for attempt in (1, 2):
            await claim(store, "a1", t.id)
            task = await store.fail_task(t.id, agent="a1", error=f"attempt {attempt} broke")
            assert task.status is TaskStatus.READY
            assert task.retry_count == attempt and task.assigned_agent is None
            assert task.error_message == f"attempt {attempt} broke"
        await claim(store, "a1", t.id)
        task = await store.fail_task(t.id, agent="a1", error="third time")
        assert task.status is TaskStatus.FAILED
        assert (task.retry_count, task.error_message) == (2, "third time")
        assert task.finished_at is not None
        kinds = [e.kind for e in reversed(await store.events(entity="task", entity_id=t.id))]
        assert kinds.count("task.retried") == 2 and kinds[-1] == "task.failed"

    async def test_fail_without_retry(self, agents):
        store = agents
        t = await store.enqueue_task(description="t", max_retries=3)
        await claim(store, "a1", t.id)
        task = await store.fail_task(t.id, agent="a1", error="hopeless", retry=False)
        assert task.status is TaskStatus.FAILED and task.retry_count == 0
        with pytest.raises(InvalidArgument, match="error must not be empty"):
            await store.fail_task(t.id, agent="a1", error=" ")

    async def test_timeout_retries_then_fails(self, agents, clock):
        store = agents
        t = await store.enqueue_task(description="slow", timeout_seconds=60, max_retries=1)
        await claim(store, "a1", t.id)
        clock.advance(60)
        assert await store.reap_timeouts() == []  # at the timeout, not past it
        clock.advance(1)
        reaped = await store.reap_timeouts()
        assert [r.id for r in reaped] == [t.id]
        assert reaped[0].status is TaskStatus.READY and reaped[0].retry_count == 1
        assert reaped[0].error_message == "timed out after 60 s with a1"
        agent = await store.get_agent("a1")
        assert (agent.status, agent.current_task_id) == (AgentStatus.IDLE, None)

        await claim(store, "a2", t.id)
        with pytest.raises(PermissionDenied):  # the timed-out agent no longer owns it
            await store.complete_task(t.id, agent="a1")
        clock.advance(61)
        # The next claim reaps first: retries are used up, so the task fails and nothing is left.
        assert await store.claim_task(agent="a1") is None
        task = await store.get_task(t.id)
        assert task.status is TaskStatus.FAILED
        assert task.error_message == "timed out after 60 s with a2"
        assert (await store.get_agent("a2")).current_task_id is None

    async def test_the_next_claim_retries_a_timed_out_task(self, agents, clock):
        store = agents
        t = await store.enqueue_task(description="slow", timeout_seconds=10, max_retries=3)
        await claim(store, "a1", t.id)
        clock.advance(11)
        task = await claim(store, "a2", t.id)
        assert task.retry_count == 1

    async def test_retry_task_of_a_failed_task(self, agents):
        store = agents
        t = await store.enqueue_task(description="t", max_retries=0)
        with pytest.raises(InvalidArgument, match=f"task {t.id} is ready; only failed tasks can be retried"):
            await store.retry_task(t.id)
        await claim(store, "a1", t.id)
        await store.fail_task(t.id, agent="a1", error="boom")
        task = await store.retry_task(t.id)
        assert task.status is TaskStatus.READY
        assert (task.retry_count, task.assigned_agent, task.finished_at) == (1, None, None)
        await claim(store, "a2", t.id)
        assert (await store.complete_task(t.id, agent="a2")).status is TaskStatus.COMPLETED


class TestCancel:
    async def test_cascades_to_transitive_dependents_only(self, agents, db_path):
        store = agents
        done = await store.enqueue_task(description="done", base_priority=10)
        await run(store, done.id)
        root = await store.enqueue_task(description="root")
        b = await store.enqueue_task(description="b", prerequisites=[root.id])
        c = await store.enqueue_task(description="c", prerequisites=[b.id])
        d = await store.enqueue_task(description="d", prerequisites=[c.id, done.id])
        other = await store.enqueue_task(description="other", prerequisites=[done.id])
        unrelated = await store.enqueue_task(description="unrelated")
        done_before = await store.get_task(done.id)

        before = await state(store)
        preview = await store.cancel_task(root.id, dry_run=True)
        assert preview.dry_run and preview.cancelled_task_id == root.id
        assert preview.cascaded_task_ids == (b.id, c.id, d.id)
        assert preview.total_cancelled == 4
        assert await state(store) == before  # the preview changed nothing, not even the event feed

        mark = await store.latest_event_id()
        result = await store.cancel_task(root.id, reason="scope cut")
        assert result.cascaded_task_ids == preview.cascaded_task_ids and not result.dry_run
        for tid in (root.id, b.id, c.id, d.id):
            task = await store.get_task(tid)
            assert task.status is TaskStatus.CANCELLED and task.error_message == "scope cut"
        assert await store.get_task(done.id) == done_before
        assert (await store.get_task(other.id)).status is TaskStatus.READY
        assert (await store.get_task(unrelated.id)).status is TaskStatus.READY
        events = await store.changes_since(mark)
        cancelled = [(e.entity_id, e.payload.get("cascade_from"))
                     for e in events if e.kind == "task.cancelled"]
        assert cancelled == [(str(root.id), None)] + [(str(t), root.id) for t in (b.id, c.id, d.id)]

    async def test_a_completed_task_downstream_is_never_touched(self, agents, db_path):
        store = agents
        root = await store.enqueue_task(description="root")
        done = await store.enqueue_task(description="done", base_priority=10)
        await run(store, done.id)
        # A completed task that waits on root: no API call makes this state, but the rule must hold.
        with raw(db_path) as conn:
            conn.execute("INSERT INTO task_dependencies VALUES (?, ?)", (done.id, root.id))
        done_before = await store.get_task(done.id)
        assert done.id not in (await store.cancel_task(root.id, dry_run=True)).cascaded_task_ids
        assert (await store.cancel_task(root.id)).cascaded_task_ids == ()
        assert await store.get_task(done.id) == done_before

    async def test_cancelling_a_running_task_frees_its_agent(self, agents):
        store = agents
        t = await store.enqueue_task(description="t")
        await claim(store, "a1", t.id)
        await store.cancel_task(t.id)
        agent = await store.get_agent("a1")
        assert (agent.status, agent.current_task_id) == (AgentStatus.IDLE, None)

    async def test_finished_tasks_cannot_be_cancelled(self, agents):
        store = agents
        t = await store.enqueue_task(description="t")
        await run(store, t.id)
        before = await state(store)
        with pytest.raises(InvalidTransition, match="completed and cancelled tasks cannot be cancelled"):
            await store.cancel_task(t.id)
        with pytest.raises(InvalidTransition):
            await store.cancel_task(t.id, dry_run=True)
        assert await state(store) == before

    async def test_cancel_restores_the_prerequisites_priority(self, store):
        a = await store.enqueue_task(description="a")
        b = await store.enqueue_task(description="b", prerequisites=[a.id])
        assert (await store.get_task(a.id)).priority > a.priority
        await store.cancel_task(b.id)
        assert (await store.get_task(a.id)).priority == pytest.approx(a.priority)


class TestPriority:
    async def test_urgency_is_refreshed_as_the_deadline_nears(self, store, clock):
        deadline = clock.now + 2 * 86400
        t = await store.enqueue_task(description="due in two days", deadline=deadline)
        assert (await store.priority_breakdown(t.id)).urgency == 30.0
        assert t.priority == pytest.approx(27.5)  # 15 + 0.25*30 + 5
        assert t.deadline.timestamp() == deadline

        clock.advance(86400 + 1)  # less than a day left
        assert (await store.priority_breakdown(t.id)).urgency == 50.0
        assert (await store.get_task(t.id)).priority == pytest.approx(27.5)  # stored value not yet refreshed
        mark = await store.latest_event_id()
        assert await store.refresh_priorities() == [t.id]
        assert (await store.get_task(t.id)).priority == pytest.approx(32.5)
        [event] = await store.changes_since(mark)
        assert (event.kind, event.payload) == ("task.reprioritised", {"priority": 32.5, "was": 27.5})
        assert await store.refresh_priorities() == []  # nothing moved since

        clock.advance(86400)  # past the deadline: urgency 100
        await store.refresh_priorities()
        assert (await store.get_task(t.id)).priority == pytest.approx(45.0)

    async def test_claim_sees_current_urgency(self, agents, clock):
        store = agents
        steady = await store.enqueue_task(description="no deadline")
        due = await store.enqueue_task(description="due", deadline=clock.now + 2 * 86400)
        assert steady.priority > due.priority
        clock.advance(2 * 86400 - 1800)  # half an hour left: urgency 80
        await claim(store, "a1", due.id)
        await claim(store, "a2", steady.id)

    async def test_urgency_with_an_estimate(self, store, clock):
        t = await store.enqueue_task(description="t", deadline=clock.now + 7200,
                                     estimated_duration_seconds=3600)
        assert (await store.priority_breakdown(t.id)).urgency == pytest.approx(100 * math.exp(-1))
        clock.advance(3601)  # less time left than the estimate
        assert (await store.priority_breakdown(t.id)).urgency == 100.0

    async def test_set_base_priority(self, agents):
        store = agents
        t = await store.enqueue_task(description="t", base_priority=5)
        updated = await store.set_base_priority(t.id, 9)
        assert updated.base_priority == 9
        assert updated.priority == pytest.approx(t.priority + 12.0)  # 0.30 * 40
        breakdown = await store.priority_breakdown(t.id)
        assert breakdown.base == 90.0 and breakdown.total == pytest.approx(updated.priority)
        kinds = [(e.kind, e.payload) for e in await store.events(entity="task", entity_id=t.id, limit=2)]
        assert kinds == [("task.reprioritised", {"priority": updated.priority, "was": t.priority}),
                         ("task.base_priority_set", {"base_priority": 9, "was": 5})]
        with pytest.raises(InvalidArgument, match="from 0 to 10, not 11"):
            await store.set_base_priority(t.id, 11)
        await run(store, t.id)
        before = await state(store)
        with pytest.raises(InvalidArgument, match="completed; its priority no longer matters"):
            await store.set_base_priority(t.id, 3)
        assert await state(store) == before
        with pytest.raises(NotFound):
            await store.set_base_priority(999, 3)

    async def test_priority_breakdown_of_a_missing_task(self, store):
        with pytest.raises(NotFound, match="task 404 does not exist"):
            await store.priority_breakdown(404)


class TestQueueStatus:
    async def test_counts_and_summary(self, agents, clock):
        store = agents
        x = await store.enqueue_task(description="x", base_priority=10)
        f = await store.enqueue_task(description="f", base_priority=9)
        r = await store.enqueue_task(description="r", base_priority=8)
        await run(store, x.id)
        await claim(store, "a1", f.id)
        await store.fail_task(f.id, agent="a1", error="no", retry=False)
        await claim(store, "a2", r.id)
        clock.advance(10)
        ready1 = await store.enqueue_task(description="ready 1", base_priority=1)
        clock.advance(10)
        await store.enqueue_task(description="ready 2", base_priority=1)
        await store.enqueue_task(description="blocked", prerequisites=[r.id])
        c = await store.enqueue_task(description="cancelled")
        await store.cancel_task(c.id)

        status = await store.queue_status()
        assert status.counts == {"pending": 0, "blocked": 1, "ready": 2, "running": 1, "completed": 1,
                                 "failed": 1, "cancelled": 1}
        assert status.total == 7
        tasks = await store.list_tasks(limit=100)
        assert Counter(t.status.value for t in tasks) == +Counter(status.counts)
        unfinished = [t.priority for t in tasks if not t.status.finished]
        assert status.average_priority == pytest.approx(round(sum(unfinished) / len(unfinished), 2))
        assert status.oldest_pending == ready1.created_at  # the running one, older, does not count
        assert status.paused is False

    async def test_empty_queue(self, store):
        status = await store.queue_status()
        assert status.total == 0 and status.average_priority is None and status.oldest_pending is None

    async def test_list_tasks_filters(self, agents):
        store = agents
        a = await store.enqueue_task(description="a", agent_type="coder", base_priority=2)
        b = await store.enqueue_task(description="b", agent_type="writer", source="agent_planner",
                                     base_priority=8)
        await claim(store, "a1", b.id)
        assert [t.id for t in await store.list_tasks()] == [b.id, a.id]  # newest first
        assert [t.id for t in await store.list_tasks(status="ready")] == [a.id]
        by_priority = await store.list_tasks(status=["ready", "running"])
        assert [t.id for t in by_priority] == [b.id, a.id]
        assert [t.id for t in await store.list_tasks(agent_type="writer")] == [b.id]
        assert [t.id for t in await store.list_tasks(source="agent_planner")] == [b.id]
        assert [t.id for t in await store.list_tasks(assigned_agent="a1")] == [b.id]
        assert [t.id for t in await store.tasks_by_ids([b.id, 999, a.id])] == [a.id, b.id]
        with pytest.raises(InvalidArgument, match="status must be one of"):
            await store.list_tasks(status="sleeping")


# -- the change feed --------------------------------------------------------------------------------


class TestEvents:
    async def test_changes_since_returns_exactly_the_new_events_in_order(self, store, clock):
        mark = await store.latest_event_id()
        a = await store.enqueue_task(description="a")
        await store.register_agent("a1", agent_type="coder")
        await store.claim_task(agent="a1")
        await store.complete_task(a.id, agent="a1")
        events = await store.changes_since(mark)
        assert [(e.kind, e.entity, e.entity_id, e.actor) for e in events] == [
            ("task.enqueued", "task", str(a.id), "human"),
            ("agent.registered", "agent", "a1", "a1"),
            ("task.claimed", "task", str(a.id), "a1"),
            ("task.completed", "task", str(a.id), "a1"),
        ]
        ids = [e.id for e in events]
        assert ids == sorted(ids) and len(set(ids)) == len(ids) and ids[0] > mark
        assert ids[-1] == await store.latest_event_id()
        assert all(e.ts.timestamp() == clock.now for e in events)
        assert events[2].payload == {"agent": "a1"}
        assert await store.changes_since(ids[-1]) == []
        assert await store.changes_since(mark, limit=2) == events[:2]
        assert await store.changes_since(ids[1]) == events[2:]

    async def test_events_queries(self, agents):
        store = agents
        a = await store.enqueue_task(description="a")
        await store.enqueue_task(description="b")
        newest_first = await store.events(entity="task", entity_id=a.id)
        assert [e.kind for e in newest_first] == ["task.enqueued"]
        assert {e.actor for e in await store.events(actor="a2")} == {"a2"}
        assert [e.entity_id for e in await store.events(kind="task.enqueued")] == [str(a.id + 1), str(a.id)]

    async def test_a_refused_write_adds_no_event(self, agents):
        store = agents
        t = await store.enqueue_task(description="t")
        mark = await store.latest_event_id()
        refused = [
            store.complete_task(t.id, agent="a1"),
            store.claim_task(agent="nobody"),
            store.add_dependency(t.id, t.id),
            store.heartbeat("nobody"),
            store.set_base_priority(t.id, 42),
            store.retry_task(t.id),
            store.decide_gate("M1", decision="APPROVE", rationale="x", reviewer="r"),
        ]
        for call in refused:
            with pytest.raises(StoreError):
                await call
        assert await store.latest_event_id() == mark
        assert await store.changes_since(mark) == []

    async def test_events_are_written_in_the_same_transaction(self, agents, monkeypatch):
        """If appending the event fails, the change it describes is rolled back with it."""
        from swarmdeck.store.sqlite import base

        store = agents
        t = await store.enqueue_task(description="t")
        await claim(store, "a1", t.id)
        before = await state(store)
        original = base.Tx.event

        async def failing(self, kind, *args, **kwargs):
            if kind == "task.completed":
                raise RuntimeError("disk full while logging")
            return await original(self, kind, *args, **kwargs)

        monkeypatch.setattr(base.Tx, "event", failing)
        with pytest.raises(RuntimeError, match="disk full"):
            await store.complete_task(t.id, agent="a1")
        assert await state(store) == before
        assert (await store.get_task(t.id)).status is TaskStatus.RUNNING
        assert (await store.get_agent("a1")).status is AgentStatus.WORKING
        monkeypatch.undo()
        assert (await store.complete_task(t.id, agent="a1")).status is TaskStatus.COMPLETED


# -- agents ----------------------------------------------------------------------------------------


class TestAgents:
    async def test_register_is_an_upsert(self, store, clock):
        first = await store.register_agent("a1", agent_type="coder", colour="red", model="opus")
        assert (first.status, first.stale, first.heartbeat_age_seconds) == (AgentStatus.IDLE, False, 0.0)
        clock.advance(100)
        again = await store.register_agent("a1", agent_type="reviewer", stale_after_seconds=5)
        assert again.id == first.id
        assert (again.agent_type, again.colour, again.model) == ("reviewer", "red", "opus")
        assert again.stale_after_seconds == 5.0
        assert again.registered_at == first.registered_at
        assert again.last_heartbeat.timestamp() == clock.now
        assert [a.name for a in await store.list_agents()] == ["a1"]
        with pytest.raises(InvalidArgument, match="needs an agent_type"):
            await store.register_agent("a2", agent_type="")
        with pytest.raises(InvalidArgument, match="stale_after_seconds must be a positive number"):
            await store.register_agent("a2", agent_type="coder", stale_after_seconds=0)

    async def test_heartbeat_updates_fields(self, store, clock):
        await store.register_agent("a1", agent_type="coder")
        clock.advance(30)
        agent = await store.heartbeat("a1", status="blocked", completion=40, blockers=["waiting on API key"],
                                      next_milestone="M2")
        assert agent.status is AgentStatus.BLOCKED
        assert (agent.completion, agent.blockers, agent.next_milestone) == (
            40.0, ("waiting on API key",), "M2",
        )
        assert agent.last_heartbeat.timestamp() == clock.now and agent.heartbeat_age_seconds == 0.0
        assert await store.get_agent("a1") == agent
        [event] = await store.events(entity="agent", entity_id="a1", limit=1)
        assert event.kind == "agent.heartbeat" and event.payload["completion"] == 40.0
        # update_agent changes fields without touching the heartbeat
        clock.advance(5)
        updated = await store.update_agent("a1", blockers=[])
        assert updated.blockers == () and updated.last_heartbeat == agent.last_heartbeat
        assert updated.heartbeat_age_seconds == 5.0

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"completion": 101}, "completion must be a percentage from 0 to 100"),
            ({"status": "asleep"}, "agent status must be one of idle, working"),
            ({"blockers": "one string"}, "blockers must be a list of strings"),
            ({"current_task_id": 999}, "task 999 does not exist"),
        ],
    )
    async def test_bad_heartbeats_are_refused(self, store, fields, message):
        await store.register_agent("a1", agent_type="coder")
        before = await state(store)
        with pytest.raises(StoreError, match=message):
            await store.heartbeat("a1", **fields)
        assert await state(store) == before

    async def test_stale_is_not_idle(self, store, clock):
        await store.register_agent("idle-one", agent_type="coder", stale_after_seconds=30)
        await store.register_agent("busy-one", agent_type="coder", stale_after_seconds=30)
        await store.heartbeat("busy-one", status="working")
        await store.register_agent("gone", agent_type="coder", stale_after_seconds=30)
        await store.update_agent("gone", status="offline")
        clock.advance(30)
        assert not any(a.stale for a in await store.list_agents())  # exactly at the threshold
        clock.advance(1)
        agents = {a.name: a for a in await store.list_agents()}
        assert agents["idle-one"].stale and agents["idle-one"].status is AgentStatus.IDLE
        assert agents["busy-one"].stale and agents["busy-one"].status is AgentStatus.WORKING
        assert agents["busy-one"].heartbeat_age_seconds == 31.0
        assert not agents["gone"].stale and agents["gone"].status is AgentStatus.OFFLINE
        fresh = await store.heartbeat("busy-one")
        assert not fresh.stale and fresh.status is AgentStatus.WORKING
        named = await store.agents_by_names(["gone", "idle-one", "nobody"])
        assert [a.name for a in named] == ["gone", "idle-one"]

    async def test_unknown_agent(self, store):
        before = await state(store)
        with pytest.raises(NotFound, match="agent 'ghost' is not registered"):
            await store.get_agent("ghost")
        with pytest.raises(NotFound, match="run `swarmdeck agent register ghost --type TYPE`"):
            await store.heartbeat("ghost")
        with pytest.raises(NotFound, match="ghost"):
            await store.update_agent("ghost", completion=10)
        assert await state(store) == before

    async def test_log_action(self, store):
        with pytest.raises(NotFound, match="'a1' is not registered"):
            await store.log_action("a1", phase="build", action="pytest")
        await store.register_agent("a1", agent_type="impl")
        await store.log_action("a1", phase="build", action="pytest", duration_ms=1200, success=False,
                               error_message="2 failed")
        [event] = await store.events(actor="a1", limit=1)
        assert event.kind == "agent.action"
        assert event.payload == {"phase": "build", "action": "pytest", "duration_ms": 1200, "success": False,
                                 "error_message": "2 failed"}
        with pytest.raises(InvalidArgument, match="duration_ms must be a non-negative number"):
            await store.log_action("a1", phase="build", action="x", duration_ms=-1)


# -- milestones and gates ------------------------------------------------------------------------


@pytest.fixture
async def gated(agents):
    store = agents
    await store.add_milestone("M1", objective="foundations", hour_budget=40)
    await store.add_milestone("M2", objective="features")
    return store


class TestMilestones:
    async def test_first_opens_later_ones_locked(self, gated):
        store = gated
        assert [(m.name, m.position, m.status) for m in await store.list_milestones()] == [
            ("M1", 1, MilestoneStatus.OPEN), ("M2", 2, MilestoneStatus.LOCKED),
        ]
        m3 = await store.add_milestone("M3", deliverables=["api"], acceptance_criteria=["p95 < 100 ms"])
        assert m3.status is MilestoneStatus.LOCKED
        assert (m3.deliverables, m3.acceptance_criteria) == (("api",), ("p95 < 100 ms",))
        assert (await store.get_milestone("M3")) == m3 == (await store.get_milestone(m3.id))
        with pytest.raises(InvalidArgument, match="'M1' already exists"):
            await store.add_milestone("M1")
        with pytest.raises(InvalidArgument, match="required_approvals"):
            await store.add_milestone("M4", required_approvals=0)
        with pytest.raises(NotFound, match="milestone 'M9' does not exist"):
            await store.get_milestone("M9")

    async def test_a_milestone_added_after_every_gate_passed_opens(self, gated):
        store = gated
        await submit(store, "M1")
        await store.decide_gate("M1", decision="APPROVE", rationale="ok", reviewer="alice")
        await submit(store, "M2")
        await store.decide_gate("M2", decision="APPROVE", rationale="ok", reviewer="alice")
        assert (await store.add_milestone("M3")).status is MilestoneStatus.OPEN

    async def test_locked_milestone_tasks_wait_for_the_gate(self, gated):
        store = gated
        prep = await store.enqueue_task(description="prep", milestone="M1")
        assert prep.status is TaskStatus.READY and prep.milestone_id == (await store.get_milestone("M1")).id
        x = await store.enqueue_task(description="x", milestone="M2")
        y = await store.enqueue_task(description="y", milestone="M2")
        z = await store.enqueue_task(description="z", milestone="M2", prerequisites=[prep.id])
        assert x.status is TaskStatus.BLOCKED
        assert x.blocked_reason == "milestone 'M2' is not open yet (its gate is closed)"
        assert z.blocked_reason == (
            f"waiting for task {prep.id} (ready); milestone 'M2' is not open yet (its gate is closed)"
        )
        # Only M1's task can be claimed.
        await claim(store, "a1", prep.id)
        assert await store.claim_task(agent="a2") is None

        await submit(store, "M1")
        gate = await store.gate_status("M1")
        assert (gate.unblocks, gate.next_milestone) == (2, "M2")  # z still waits on prep
        await store.decide_gate("M1", decision="APPROVE", rationale="solid", reviewer="alice")
        assert (await store.get_milestone("M1")).status is MilestoneStatus.APPROVED
        assert (await store.get_milestone("M2")).status is MilestoneStatus.OPEN
        assert [t.status for t in await store.tasks_by_ids([x.id, y.id, z.id])] == [
            TaskStatus.READY, TaskStatus.READY, TaskStatus.BLOCKED,
        ]
        await store.complete_task(prep.id, agent="a1")
        assert (await store.get_task(z.id)).status is TaskStatus.READY

    async def test_hours_spent(self, gated, clock):
        store = gated
        t = await store.enqueue_task(description="t", milestone="M1")
        await claim(store, "a1", t.id)
        clock.advance(1800)
        await store.complete_task(t.id, agent="a1")
        assert (await store.get_milestone("M1")).hours_spent == pytest.approx(0.5)


class TestGates:
    async def test_report_round_trip(self, gated):
        store = gated
        assert await store.get_report("M1") is None
        report = await submit(store, "M1")
        assert (report.version, report.submitted_by, report.summary) == (1, "bot", "all green")
        assert report.criteria[0].evidence == "CI run 12" and report.metrics[0].met
        assert report.proposed_decision is Decision.APPROVE
        assert await store.get_report("M1") == report == await store.get_report("M1", version=1)
        assert (await store.get_milestone("M1")).status is MilestoneStatus.REVIEW
        assert await store.gates_awaiting_review() == 1
        with pytest.raises(InvalidTransition, match="'M2' is locked; reports can be submitted only"):
            await submit(store, "M2")
        with pytest.raises(NotFound):
            await store.get_report("M1", version=7)

    async def test_a_decision_needs_a_report(self, gated):
        with pytest.raises(InvalidTransition, match="milestone 'M1' has no validation report to decide"):
            await gated.decide_gate("M1", decision="APPROVE", rationale="ok", reviewer="alice")

    async def test_the_submitter_cannot_decide(self, gated, db_path):
        store = gated
        await submit(store, "M1", by="bot")
        before, counts = await state(store), row_counts(db_path)
        with pytest.raises(PermissionDenied, match="bot submitted this report and cannot decide it"):
            await store.decide_gate("M1", decision="APPROVE", rationale="looks good to me", reviewer="bot")
        assert await state(store) == before and row_counts(db_path) == counts
        assert (await store.get_milestone("M1")).status is MilestoneStatus.REVIEW

    @pytest.mark.parametrize("rationale", ["", "   "])
    async def test_a_rationale_is_required(self, gated, db_path, rationale):
        store = gated
        await submit(store, "M1")
        counts = row_counts(db_path)
        with pytest.raises(InvalidArgument, match="a rationale is required"):
            await store.decide_gate("M1", decision="APPROVE", rationale=rationale, reviewer="alice")
        assert row_counts(db_path) == counts

    async def test_approve_records_who_what_when_and_which_version(self, gated, clock):
        store = gated
        report = await submit(store, "M1")
        clock.advance(60)
        decision = await store.decide_gate("M1", decision="approve", rationale="  solid  ", reviewer="alice",
                                           report_hash=report.content_hash)
        assert decision.decision is Decision.APPROVE
        assert (decision.reviewer, decision.rationale) == ("alice", "solid")
        assert (decision.report_id, decision.report_version, decision.report_hash) == (
            report.id, 1, report.content_hash,
        )
        assert decision.decided_at.timestamp() == clock.now
        assert await store.latest_decision("M1") == decision
        assert await store.latest_decision("M1", after_id=decision.id) is None
        gate = await store.gate_status("M1")
        assert gate.decisions == (decision,) and gate.approvals == ("alice",)

    async def test_conditional_until_the_last_condition_closes(self, gated):
        store = gated
        await submit(store, "M1")
        with pytest.raises(InvalidArgument, match="CONDITIONAL decision needs at least one condition"):
            await store.decide_gate("M1", decision="CONDITIONAL", rationale="mostly", reviewer="alice")
        await store.decide_gate("M1", decision="CONDITIONAL", rationale="mostly", reviewer="alice",
                                conditions=["add docs", "fix flake", "  "])
        assert (await store.get_milestone("M1")).status is MilestoneStatus.CONDITIONAL
        assert (await store.get_milestone("M2")).status is MilestoneStatus.OPEN  # it proceeds
        first, second = (await store.gate_status("M1")).conditions
        assert (first.text, second.text) == ("add docs", "fix flake")
        assert first.status is ConditionStatus.OPEN

        closed = await store.close_condition(first.id, closed_by="carol", note="docs merged")
        assert (closed.status, closed.closed_by, closed.note) == (
            ConditionStatus.CLOSED, "carol", "docs merged",
        )
        assert (await store.get_milestone("M1")).status is MilestoneStatus.CONDITIONAL
        with pytest.raises(InvalidTransition, match=f"condition {first.id} is already closed"):
            await store.close_condition(first.id, closed_by="carol")
        await store.close_condition(second.id, closed_by="carol")
        assert (await store.get_milestone("M1")).status is MilestoneStatus.APPROVED
        with pytest.raises(NotFound):
            await store.close_condition(999, closed_by="carol")

    async def test_revise_returns_the_milestone_to_work(self, gated):
        store = gated
        v1 = await submit(store, "M1")
        await store.decide_gate("M1", decision="REVISE", rationale="coverage too low", reviewer="alice")
        assert (await store.get_milestone("M1")).status is MilestoneStatus.OPEN
        assert (await store.get_milestone("M2")).status is MilestoneStatus.LOCKED
        with pytest.raises(InvalidTransition, match="'M1' is open; only a milestone in review"):
            await store.decide_gate("M1", decision="APPROVE", rationale="ok", reviewer="alice")
        v2 = await submit(store, "M1", summary="coverage fixed")
        assert v2.version == 2 and v2.content_hash != v1.content_hash
        assert (await store.get_milestone("M1")).status is MilestoneStatus.REVIEW
        assert await store.get_report("M1", version=1) == v1
        decision = await store.decide_gate("M1", decision="APPROVE", rationale="better", reviewer="alice")
        assert decision.report_version == 2
        assert (await store.get_milestone("M2")).status is MilestoneStatus.OPEN

    async def test_escalate_pauses_the_swarm_until_resumed(self, gated):
        store = gated
        t = await store.enqueue_task(description="t", milestone="M1")
        await submit(store, "M1")
        await store.decide_gate("M1", decision="ESCALATE", rationale="security review needed",
                                reviewer="alice")
        assert (await store.get_milestone("M1")).status is MilestoneStatus.ESCALATED
        swarm = await store.swarm_state()
        assert swarm.paused and swarm.paused_by == "alice"
        assert (await store.queue_status()).paused

        before = await state(store)
        with pytest.raises(SwarmPaused) as info:
            await store.claim_task(agent="a1")
        assert str(info.value) == (
            "the swarm is paused (milestone 'M1' was escalated by alice: security review needed); "
            "claims resume when a human runs `swarmdeck gate resume`"
        )
        assert await state(store) == before

        with pytest.raises(InvalidArgument, match="say who resumes"):
            await store.resume_swarm(by=" ")
        resumed = await store.resume_swarm(by="lead", note="reviewed")
        assert not resumed.paused and resumed.reason is None
        assert (await store.get_milestone("M1")).status is MilestoneStatus.REVIEW
        await claim(store, "a1", t.id)
        with pytest.raises(InvalidTransition, match="the swarm is not paused"):
            await store.resume_swarm(by="lead")
        await store.decide_gate("M1", decision="APPROVE", rationale="cleared", reviewer="alice")
        assert (await store.get_milestone("M2")).status is MilestoneStatus.OPEN

    async def test_two_approvals_from_two_reviewers(self, agents):
        store = agents
        await store.add_milestone("M1", required_approvals=2)
        await store.add_milestone("M2")
        await submit(store, "M1")
        await store.decide_gate("M1", decision="APPROVE", rationale="good", reviewer="alice")
        gate = await store.gate_status("M1")
        assert gate.milestone.status is MilestoneStatus.REVIEW and gate.approvals == ("alice",)
        assert (await store.get_milestone("M2")).status is MilestoneStatus.LOCKED

        mark = await store.latest_event_id()
        with pytest.raises(PermissionDenied, match="alice has already approved this report version"):
            await store.decide_gate("M1", decision="APPROVE", rationale="really good", reviewer="alice")
        assert await store.latest_event_id() == mark

        await store.decide_gate("M1", decision="APPROVE", rationale="agreed", reviewer="bob")
        gate = await store.gate_status("M1")
        assert gate.milestone.status is MilestoneStatus.APPROVED and gate.approvals == ("alice", "bob")
        assert (await store.get_milestone("M2")).status is MilestoneStatus.OPEN

    async def test_a_stale_report_hash_is_a_conflict(self, gated, db_path):
        store = gated
        v1 = await submit(store, "M1")
        v2 = await submit(store, "M1", summary="one more fix")
        counts = row_counts(db_path)
        with pytest.raises(Conflict, match=r"milestone 'M1' changed since it was read \(now version 2\)"):
            await store.decide_gate("M1", decision="APPROVE", rationale="ok", reviewer="alice",
                                    report_hash=v1.content_hash)
        assert row_counts(db_path) == counts
        decision = await store.decide_gate("M1", decision="APPROVE", rationale="ok", reviewer="alice",
                                           report_hash=v2.content_hash)
        assert decision.report_hash == v2.content_hash

    async def test_decisions_are_append_only_in_the_database(self, gated, db_path):
        store = gated
        await submit(store, "M1")
        decision = await store.decide_gate("M1", decision="APPROVE", rationale="ok", reviewer="alice")
        with raw(db_path) as conn:
            with pytest.raises(sqlean.DatabaseError, match="append-only: they cannot be changed"):
                conn.execute("UPDATE gate_decisions SET decision = 'REVISE' WHERE id = ?", (decision.id,))
            with pytest.raises(sqlean.DatabaseError, match="append-only: they cannot be deleted"):
                conn.execute("DELETE FROM gate_decisions WHERE id = ?", (decision.id,))
            row = conn.execute(
                "SELECT decision, reviewer FROM gate_decisions WHERE id = ?", (decision.id,)
            ).fetchone()
            assert tuple(row) == ("APPROVE", "alice")
        assert await store.latest_decision("M1") == decision

    async def test_bad_decisions_and_reports(self, gated):
        store = gated
        with pytest.raises(InvalidArgument, match="criterion status must be one of"):
            await submit(store, "M1", criteria=[{"name": "x", "status": "done"}])
        assert await store.get_report("M1") is None
        await submit(store, "M1")
        with pytest.raises(InvalidArgument, match="decision must be one of APPROVE"):
            await store.decide_gate("M1", decision="SHIP", rationale="ok", reviewer="alice")
        with pytest.raises(InvalidArgument, match="only be attached to a CONDITIONAL"):
            await store.decide_gate("M1", decision="APPROVE", rationale="ok", reviewer="alice",
                                    conditions=["x"])


# -- read-only seats -------------------------------------------------------------------------------


class TestReadOnly:
    async def test_reads_work_and_writes_are_refused(self, gated, db_path, clock):
        store = gated
        t = await store.enqueue_task(description="t")
        await submit(store, "M1")
        ro = await open_store(db_path, read_only=True, clock=clock)
        try:
            assert [x.id for x in await ro.list_tasks()] == [t.id]
            assert (await ro.queue_status()).total == 1
            assert (await ro.gate_status("M1")).report is not None
            counts = row_counts(db_path)
            writes = [
                ro.enqueue_task(description="x"),
                ro.claim_task(agent="a1"),
                ro.cancel_task(t.id),
                ro.cancel_task(t.id, dry_run=True),
                ro.set_base_priority(t.id, 1),
                ro.add_dependency(t.id, t.id),
                ro.register_agent("a3", agent_type="coder"),
                ro.heartbeat("a1"),
                ro.add_milestone("M9"),
                ro.submit_report("M1", submitted_by="bot"),
                ro.decide_gate("M1", decision="APPROVE", rationale="ok", reviewer="alice"),
                ro.resume_swarm(by="lead"),
                ro.refresh_priorities(),
                ro.reap_timeouts(),
                ro.log_action("a1", phase="p", action="a"),
            ]
            for call in writes:
                with pytest.raises(PermissionDenied, match="read-only"):
                    await call
            assert row_counts(db_path) == counts
        finally:
            await ro.close()


# -- layering ------------------------------------------------------------------------------------


class TestLayering:
    def test_import_linter_store_contract_is_kept(self, tmp_path):
        """pyproject's import-linter contracts on swarmdeck.store, run as configured, from the repo root.

        Only the store's contracts: another layer breaking its own contract is not the store's failure.
        """
        config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
        contracts = [c for c in config["contracts"] if "swarmdeck.store" in c.get("source_modules", ())]
        assert any("textual" in c["forbidden_modules"] for c in contracts)
        lines = ["[tool.importlinter]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in config.items() if k != "contracts"]
        for contract in contracts:
            lines += ["", "[[tool.importlinter.contracts]]"]
            lines += [f"{k} = {json.dumps(v)}" for k, v in contract.items()]
        store_only = tmp_path / "importlinter.toml"
        store_only.write_text("\n".join(lines) + "\n")
        lint_imports = Path(sys.executable).with_name("lint-imports")
        proc = subprocess.run([str(lint_imports), "--no-cache", "--config", str(store_only)], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "the store never imports the UI KEPT" in proc.stdout
        assert "BROKEN" not in proc.stdout

    def test_importing_the_store_does_not_load_textual(self):
        code = (
            "import json, sys, swarmdeck.store, swarmdeck.store.sqlite\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich') "
            "or m.startswith(('swarmdeck.app', 'swarmdeck.widgets')))))\n"
            "print('swarmdeck.store.sqlite.gates' in sys.modules)"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        loaded, sanity = proc.stdout.splitlines()
        assert json.loads(loaded) == []
        assert sanity == "True"


async def test_completing_books_reported_hours_or_the_time_it_ran(store, clock):
    await store.add_milestone("M1", hour_budget=10)
    await store.register_agent("a1", agent_type="impl")
    first = await store.enqueue_task(description="measured", milestone="M1")
    second = await store.enqueue_task(description="reported", milestone="M1")
    await store.claim_task(agent="a1")
    clock.advance(1800)
    await store.complete_task(first.id, agent="a1")
    assert (await store.get_milestone("M1")).hours_spent == pytest.approx(0.5)
    await store.claim_task(agent="a1")
    await store.complete_task(second.id, agent="a1", hours=3)
    assert (await store.get_milestone("M1")).hours_spent == pytest.approx(3.5)
    with pytest.raises(InvalidArgument, match="hours must be a non-negative number"):
        await store.complete_task(second.id, agent="a1", hours=-1)
