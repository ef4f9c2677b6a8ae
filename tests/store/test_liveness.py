"""Work never waits on the dead: a silent agent's tasks go back to the queue, and tasks held by a
prerequisite that failed for good say so and can be retried or cancelled in one step."""

from __future__ import annotations

import pytest

from swarmdeck.store import TaskStatus
from swarmdeck.store.errors import InvalidArgument, InvalidTransition, PermissionDenied

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
