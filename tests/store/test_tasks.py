"""Tasks in the store, on both backends: enqueue, dependencies, claim, cancel, priority, queue status,
hours, queue samples."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime

import pytest

from swarmdeck.store import AgentStatus, TaskSource, TaskStatus
from swarmdeck.app.cli._base import message as cli_message
from swarmdeck.store.errors import (
    CycleError, InvalidArgument, InvalidTransition, NotFound, PermissionDenied, Remedy,
)

from store_support import claim, counts_of, state, tamper
from support import wait_for

STORE_BACKENDS = ("sqlite", "postgres")


async def run(store, task_id: int, agent: str = "a1"):
    """Claim (it must be the top ready task) and complete it."""
    await claim(store, agent, task_id)
    return await store.complete_task(task_id, agent=agent)


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
    async def test_refused_and_nothing_written(self, seeded, kwargs, error, message):
        store, ids = seeded
        if "prerequisites" in kwargs:
            kwargs = {**kwargs, "prerequisites": [ids.get(p, p) for p in kwargs["prerequisites"]]}
        kwargs = {"description": "a valid description", **kwargs}
        before, counts = await state(store), await counts_of(store)
        with pytest.raises(error, match=message):
            await store.enqueue_task(**kwargs)
        assert await state(store) == before
        assert await counts_of(store) == counts


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

    async def test_cycles_are_refused(self, store):
        a = await store.enqueue_task(description="a")
        b = await store.enqueue_task(description="b", prerequisites=[a.id])
        c = await store.enqueue_task(description="c", prerequisites=[b.id])
        before, counts = await state(store), await counts_of(store)
        with pytest.raises(CycleError) as info:
            await store.add_dependency(a.id, c.id)
        assert str(info.value) == (
            f"task {a.id} cannot wait for task {c.id}: that would form the cycle "
            f"{a.id} -> {c.id} -> {b.id} -> {a.id}"
        )
        with pytest.raises(CycleError, match=f"{b.id} -> {b.id}"):
            await store.add_dependency(b.id, b.id)
        assert await state(store) == before
        assert await counts_of(store) == counts

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
        with pytest.raises(NotFound, match="'ghost' is not registered") as info:
            await store.claim_task(agent="ghost")
        # The store names what is missing; the CLI words what to do about it.
        assert (info.value.entity, info.value.key, info.value.remedy) == ("agent", "ghost", Remedy.REGISTER_AGENT)
        assert cli_message(info.value).endswith(
            "'ghost' is not registered; run `swarmdeck agent register ghost --type TYPE`")
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
        with pytest.raises(InvalidArgument, match=f"task {t.id} is ready; only failed tasks, and tasks held by failed ones, can be retried"):
            await store.retry_task(t.id)
        await claim(store, "a1", t.id)
        await store.fail_task(t.id, agent="a1", error="boom")
        task = await store.retry_task(t.id)
        assert task.status is TaskStatus.READY
        assert (task.retry_count, task.assigned_agent, task.finished_at) == (1, None, None)
        await claim(store, "a2", t.id)
        assert (await store.complete_task(t.id, agent="a2")).status is TaskStatus.COMPLETED


class TestCancel:
    async def test_cascades_to_transitive_dependents_only(self, agents):
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

    async def test_a_completed_task_downstream_is_never_touched(self, agents):
        store = agents
        root = await store.enqueue_task(description="root")
        done = await store.enqueue_task(description="done", base_priority=10)
        await run(store, done.id)
        # A completed task that waits on root: no API call makes this state, but the rule must hold.
        await tamper(store, "INSERT INTO task_dependencies VALUES (?, ?)", (done.id, root.id))
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


async def _milestone_rows(store, *rows) -> None:
    """Milestones as rows (name, status, required approvals), in order: what the claim and enqueue
    read, whichever area wrote them."""
    for position, (name, status, required) in enumerate(rows, 1):
        await tamper(store, "INSERT INTO milestones (name, position, objective, status, required_approvals, "
                            "created_at) VALUES (?, ?, '', ?, ?, 0)", (name, position, status, required))


class TestMilestonesAsTheClaimSeesThem:
    async def test_a_task_of_a_milestone_no_gate_opened_is_never_handed_out(self, agents):
        store = agents
        await _milestone_rows(store, ("M1", "open", 1), ("M2", "open", 1))  # M2's status says open
        later = await store.enqueue_task(description="M2 work", milestone="M2", base_priority=10)
        now = await store.enqueue_task(description="M1 work", milestone="M1", base_priority=0)
        assert later.status is TaskStatus.READY  # as its milestone's status column says
        # ... but M1's gate has no approval: M2's task is passed over, M1's handed out.
        await claim(store, "a1", now.id)
        assert await store.claim_task(agent="a2") is None
        assert (await store.get_task(later.id)).status is TaskStatus.READY

    async def test_a_task_of_a_locked_milestone_is_blocked_and_its_hours_are_booked(self, agents, clock):
        store = agents
        await _milestone_rows(store, ("M1", "open", 1), ("M2", "locked", 1))
        blocked = await store.enqueue_task(description="M2 work", milestone="M2")
        assert blocked.status is TaskStatus.BLOCKED
        assert blocked.blocked_reason == (
            "milestone 'M2' is not open yet: it opens when the gate before it passes")
        work = await store.enqueue_task(description="M1 work", milestone=1)
        await claim(store, "a1", work.id)
        clock.advance(1800)
        await store.complete_task(work.id, agent="a1", hours=2)
        [hours] = await store._all("SELECT hours_spent FROM milestones WHERE name = 'M1'")
        assert hours[0] == pytest.approx(2.0)
        assert await store.claim_task(agent="a1") is None


# -- queue samples (what the queue chart draws) -----------------------------------------------------


async def _samples(store) -> dict[int, tuple[int, int]]:
    return {r[0]: (r[1], r[2]) for r in await store._all("SELECT slot, ready, running FROM queue_samples")}


async def _latest_sample(store) -> tuple[int, int] | None:
    samples = await _samples(store)
    return samples[max(samples)] if samples else None


async def test_the_queue_is_sampled_once_a_second_and_the_rest_follows(agents, clock):
    """The first change samples in its own transaction; changes within the next second do not, and
    a timer or the close samples them."""
    store = agents
    await store.enqueue_task(description="first")
    assert await _latest_sample(store) == (1, 0)
    for i in range(4):
        await store.enqueue_task(description=f"t{i}")
    assert await _latest_sample(store) == (1, 0)  # not in every write
    async def timer_sampled() -> bool:
        return await _latest_sample(store) == (5, 0)

    await wait_for(timer_sampled, "the timer's sample", tries=300)
    await store.claim_task(agent="a1")
    clock.advance(5)
    await store.claim_task(agent="a1")  # seconds later: sampled in its own transaction
    assert await _latest_sample(store) == (3, 2)


async def test_each_slot_keeps_the_counts_its_last_change_left(store, clock):
    """A change left due in one 10 s slot is written into that slot by the first write of the next
    (before that write's own changes): every slot's sample is the queue after its last change."""
    await store.enqueue_task(description="first")  # sampled: 1 ready
    for i in range(3):
        await store.enqueue_task(description=f"t{i}")  # due: 4 ready
    slot = int(clock.now // 10)
    clock.advance(10)
    await store.enqueue_task(description="next slot")
    assert {s: ready for s, (ready, _) in (await _samples(store)).items()} == {slot: 4, slot + 1: 5}


async def test_a_nul_character_is_kept_by_sqlite_and_refused_whole_by_postgresql(store, store_backend):
    """PostgreSQL's text and jsonb cannot hold U+0000; there the write is refused (InvalidArgument) and
    nothing of it is kept, where SQLite keeps the text as given."""
    before, counts = await state(store), await counts_of(store)
    for kwargs in ({"description": "a\x00b"}, {"description": "d", "input_data": {"k": "x\x00y"}}):
        if store_backend == "postgres":
            with pytest.raises(InvalidArgument, match="refused by the database"):
                await store.enqueue_task(**kwargs)
        else:
            task = await store.enqueue_task(**kwargs)
            assert (task.description, task.input_data) == (kwargs["description"], kwargs.get("input_data"))
    if store_backend == "postgres":
        assert await state(store) == before and await counts_of(store) == counts
