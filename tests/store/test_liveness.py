"""Work never waits on the dead: a silent agent's tasks go back to the queue, and tasks held by a
prerequisite that failed for good say so and can be retried or cancelled in one step."""

from __future__ import annotations

import pytest

from swarmdeck.store import TaskStatus
from swarmdeck.store.errors import InvalidArgument, PermissionDenied

STORE_BACKENDS = ("sqlite", "postgres")

STALE, GRACE = 60, 300  # the defaults: stale after a minute, tasks released five minutes later


class TestSilentAgents:
    async def test_a_silent_agents_task_returns_to_the_queue_after_its_grace_period(self, agents, clock):
        store = agents
        task = await store.enqueue_task(description="long job")  # lease: an hour
        await store.claim_task(agent="a1")
        clock.advance(STALE + GRACE)  # exactly at the end of the grace period: not yet
        assert await store.reap_timeouts() == []
        clock.advance(1)
        [back] = await store.reap_timeouts()
        assert back.id == task.id and back.status is TaskStatus.READY and back.assigned_agent is None
        assert back.retry_count == 1  # counted as a retry
        assert back.error_message == "a1 went silent: no heartbeat for 6 min (stale after 60 s, its tasks released 5 min later)"
        [retried] = await store.events(entity="task", entity_id=task.id, kind=None, limit=1)
        assert retried.kind == "task.retried" and retried.payload["error"] == back.error_message
        # Another agent takes it; the silent one, back too late, cannot complete it.
        assert (await store.claim_task(agent="a2")).id == task.id
        with pytest.raises(PermissionDenied):
            await store.complete_task(task.id, agent="a1")
        assert (await store.get_agent("a1")).current_task_id is None

    async def test_heartbeats_keep_a_task_however_long_it_runs(self, agents, clock):
        store = agents
        task = await store.enqueue_task(description="long job", timeout_seconds=10 * 3600)
        await store.claim_task(agent="a1")
        for _ in range(20):
            clock.advance(STALE)
            await store.heartbeat("a1")
            assert await store.reap_timeouts() == []
        assert (await store.get_task(task.id)).status is TaskStatus.RUNNING

    async def test_the_grace_period_counts_from_the_claim_if_that_came_later(self, agents, clock):
        store = agents
        clock.advance(3600)  # a1 last spoke an hour ago (its registration), then claims
        task = await store.enqueue_task(description="t")
        await store.claim_task(agent="a1")
        clock.advance(STALE + GRACE - 1)
        assert await store.reap_timeouts() == []
        clock.advance(2)
        assert [t.id for t in await store.reap_timeouts()] == [task.id]

    async def test_the_grace_period_is_the_agents_own(self, store, clock):
        await store.register_agent("quick", agent_type="coder", stale_after_seconds=10, requeue_after_seconds=20)
        await store.register_agent("patient", agent_type="coder", requeue_after_seconds=3600)
        assert (await store.get_agent("patient")).requeue_after_seconds == 3600
        quick = await store.enqueue_task(description="q", timeout_seconds=10 * 3600)
        patient = await store.enqueue_task(description="p", timeout_seconds=10 * 3600)
        await store.claim_task(agent="quick")
        await store.claim_task(agent="patient")
        clock.advance(31)
        assert [t.id for t in await store.reap_timeouts()] == [quick.id]
        clock.advance(STALE + 3600)
        assert [t.id for t in await store.reap_timeouts()] == [patient.id]
        with pytest.raises(InvalidArgument, match="requeue_after_seconds"):
            await store.register_agent("bad", agent_type="coder", requeue_after_seconds=-1)

    async def test_a_claim_releases_a_silent_agents_task_without_anyone_reaping(self, agents, clock):
        store = agents
        task = await store.enqueue_task(description="only one")
        await store.claim_task(agent="a1")
        clock.advance(STALE + GRACE + 1)
        got = await store.claim_task(agent="a2")
        assert got is not None and got.id == task.id and got.retry_count == 1

    async def test_a_silent_agents_task_fails_once_its_retries_are_used(self, agents, clock):
        store = agents
        task = await store.enqueue_task(description="t", max_retries=0)
        await store.claim_task(agent="a1")
        clock.advance(STALE + GRACE + 1)
        [failed] = await store.reap_timeouts()
        assert failed.id == task.id and failed.status is TaskStatus.FAILED
        assert failed.error_message.startswith("a1 went silent")


async def fail_for_good(store, task_id: int, agent: str = "a1") -> None:
    got = await store.claim_task(agent=agent)
    assert got.id == task_id
    await store.fail_task(task_id, agent=agent, error="tests failed", retry=False)


class TestHeldByFailure:
    async def test_a_failure_marks_every_task_waiting_on_it_and_they_are_counted(self, agents):
        store = agents
        root = await store.enqueue_task(description="root")
        child = await store.enqueue_task(description="child", prerequisites=[root.id])
        grandchild = await store.enqueue_task(description="grandchild", prerequisites=[child.id])
        unrelated = await store.enqueue_task(description="unrelated", base_priority=0)
        assert (await store.queue_status()).held_by_failure == 0
        mark = await store.latest_event_id()
        await fail_for_good(store, root.id)
        for t in (child, grandchild):
            t = await store.get_task(t.id)
            assert t.status is TaskStatus.BLOCKED and t.held_by == root.id
            assert t.blocked_reason.startswith(f"held by task {root.id}, which failed for good: retry or cancel it")
        assert (await store.get_task(unrelated.id)).held_by is None
        assert (await store.queue_status()).held_by_failure == 2
        held = [e for e in await store.changes_since(mark) if e.kind == "task.held"]
        assert sorted(int(e.entity_id) for e in held) == [child.id, grandchild.id]
        assert all(e.payload == {"failed_task": root.id} for e in held)

    async def test_a_retry_with_retries_left_holds_nothing(self, agents):
        store = agents
        root = await store.enqueue_task(description="root")
        child = await store.enqueue_task(description="child", prerequisites=[root.id])
        await store.claim_task(agent="a1")
        await store.fail_task(root.id, agent="a1", error="flaky")  # retried: ready again
        assert (await store.get_task(child.id)).held_by is None
        assert (await store.queue_status()).held_by_failure == 0

    async def test_retrying_a_held_task_retries_the_failures_that_hold_it_in_one_step(self, agents):
        store = agents
        left = await store.enqueue_task(description="left")
        right = await store.enqueue_task(description="right")
        child = await store.enqueue_task(description="child", prerequisites=[left.id, right.id])
        await fail_for_good(store, left.id)
        await fail_for_good(store, right.id)
        assert (await store.get_task(child.id)).held_by == left.id
        again = await store.retry_task(child.id)
        assert again.id == child.id and again.status is TaskStatus.BLOCKED and again.held_by is None
        assert again.blocked_reason == f"waiting for task {left.id} (ready), {right.id} (ready)"
        for t in (left, right):
            t = await store.get_task(t.id)
            assert t.status is TaskStatus.READY and t.retry_count == 1
        assert (await store.queue_status()).held_by_failure == 0
        # And the work flows again: both complete, the child becomes ready.
        for _ in range(2):
            t = await store.claim_task(agent="a1")
            await store.complete_task(t.id, agent="a1")
        assert (await store.get_task(child.id)).status is TaskStatus.READY

    async def test_retrying_one_of_two_failures_leaves_the_task_held_by_the_other(self, agents):
        store = agents
        left = await store.enqueue_task(description="left")
        right = await store.enqueue_task(description="right")
        child = await store.enqueue_task(description="child", prerequisites=[left.id, right.id])
        await fail_for_good(store, left.id)
        await fail_for_good(store, right.id)
        await store.retry_task(left.id)
        assert (await store.get_task(child.id)).held_by == right.id
        assert (await store.queue_status()).held_by_failure == 1

    async def test_cancelling_the_failure_cancels_what_it_holds_in_one_step(self, agents):
        store = agents
        root = await store.enqueue_task(description="root")
        child = await store.enqueue_task(description="child", prerequisites=[root.id])
        grandchild = await store.enqueue_task(description="grandchild", prerequisites=[child.id])
        await fail_for_good(store, root.id)
        result = await store.cancel_task(root.id, reason="not needed any more")
        assert result.cascaded_task_ids == (child.id, grandchild.id)
        assert (await store.get_task(grandchild.id)).status is TaskStatus.CANCELLED
        assert (await store.queue_status()).held_by_failure == 0

    async def test_new_work_on_a_failed_or_held_task_is_held_at_once(self, agents):
        store = agents
        root = await store.enqueue_task(description="root")
        child = await store.enqueue_task(description="child", prerequisites=[root.id])
        await fail_for_good(store, root.id)
        late = await store.enqueue_task(description="late", prerequisites=[child.id])
        assert late.held_by == root.id
        other = await store.enqueue_task(description="other", base_priority=0)
        waits = await store.add_dependency(other.id, root.id)
        assert waits.status is TaskStatus.BLOCKED and waits.held_by == root.id
        assert (await store.queue_status()).held_by_failure == 3

    async def test_only_failed_or_held_tasks_can_be_retried(self, agents):
        store = agents
        t = await store.enqueue_task(description="t")
        with pytest.raises(InvalidArgument, match="only failed tasks, and tasks held by failed ones"):
            await store.retry_task(t.id)

    async def test_a_reaped_task_that_runs_out_of_retries_holds_its_dependents(self, agents, clock):
        store = agents
        root = await store.enqueue_task(description="root", max_retries=0, timeout_seconds=10)
        child = await store.enqueue_task(description="child", prerequisites=[root.id])
        await store.claim_task(agent="a1")
        clock.advance(11)
        await store.reap_timeouts()
        assert (await store.get_task(child.id)).held_by == root.id


class TestSignsOfLife:
    """A claim, a completion or failure reported by its agent, and a logged step count as heartbeats:
    an agent busy with work never shows stale for want of a separate heartbeat."""

    async def test_a_claim_a_completion_and_a_logged_step_are_heartbeats(self, agents, clock):
        store = agents
        task = await store.enqueue_task(description="t")
        clock.advance(STALE * 10)
        assert (await store.get_agent("a1")).is_stale(clock())
        await store.claim_task(agent="a1")
        a1 = await store.get_agent("a1")
        assert a1.last_heartbeat.timestamp() == clock() and not a1.is_stale(clock())
        clock.advance(STALE * 10)
        await store.log_action("a1", phase="implement", action="wrote it")
        assert (await store.get_agent("a1")).last_heartbeat.timestamp() == clock()
        clock.advance(STALE * 10)
        await store.complete_task(task.id, agent="a1")
        assert (await store.get_agent("a1")).last_heartbeat.timestamp() == clock()
        assert (await store.get_agent("a2")).is_stale(clock())  # nobody else's heartbeat moved

    async def test_a_failure_its_agent_reports_is_one_and_a_humans_act_is_not(self, agents, clock):
        store = agents
        task = await store.enqueue_task(description="t", max_retries=5)
        await store.claim_task(agent="a1")
        clock.advance(STALE * 10)
        await store.fail_task(task.id, error="boom", agent="a1")
        assert (await store.get_agent("a1")).last_heartbeat.timestamp() == clock()
        seen = clock()
        await store.claim_task(agent="a1")
        seen = clock()
        clock.advance(STALE * 10)
        await store.complete_task(task.id, actor="operator")  # a person marks it done: a1 said nothing
        assert (await store.get_agent("a1")).last_heartbeat.timestamp() == seen

    async def test_a_step_logged_for_an_unknown_agent_is_refused_and_writes_nothing(self, store):
        from swarmdeck.store.errors import NotFound

        with pytest.raises(NotFound):
            await store.log_action("ghost", phase="p", action="a")
        assert await store.events(entity="agent", entity_id="ghost") == []
