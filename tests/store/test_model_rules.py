"""Rules that live on the models, so that every face asks the model instead of restating them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from store_support import submit

from swarmdeck.store import priority
from swarmdeck.store.models import AgentStatus, MilestoneStatus

from signing_support import decide

STORE_BACKENDS = ("sqlite", "postgres")


class TestAgentIsStale:
    async def test_the_model_and_the_store_agree_as_time_passes(self, store, clock):
        await store.register_agent("a1", agent_type="coder", stale_after_seconds=60)
        await store.heartbeat("a1", completion=10)
        await store.register_agent("quiet", agent_type="coder")  # registered, never beat since
        for step in (0, 30, 60, 61, 600):
            clock.now += step
            for agent in await store.list_agents():
                assert agent.is_stale(clock.now) is agent.stale, (agent.name, step)
                assert agent.heartbeat_age(clock.now) == agent.heartbeat_age_seconds

    async def test_the_rule(self, store, clock):
        agent = await store.register_agent("a1", agent_type="coder", stale_after_seconds=60)
        assert replace(agent, last_heartbeat=None).is_stale(clock.now)  # never heard from
        agent = await store.heartbeat("a1", completion=10)
        assert not agent.is_stale(clock.now + 60) and agent.is_stale(clock.now + 60.5)
        assert agent.is_stale(datetime.fromtimestamp(clock.now + 61, tz=timezone.utc))  # a datetime too
        assert agent.heartbeat_age(clock.now - 5) == 0.0  # a clock behind the heartbeat: no negative age
        offline = await store.update_agent("a1", status=AgentStatus.OFFLINE)
        assert not offline.is_stale(clock.now + 10_000)  # an agent that said it left is not stale


class TestGateDecidable:
    async def test_a_report_in_review_or_a_pass_no_verified_approval_backs(self, gated):
        store = gated
        gate = await store.gate_status("M1")
        assert not gate.decidable and not gate.unverified_pass  # open, no report yet
        await submit(store, "M1")
        gate = await store.gate_status("M1")
        assert gate.milestone.status is MilestoneStatus.REVIEW and gate.decidable
        await decide(store, "M1", reviewer="alice", decision="APPROVE", rationale="good")
        gate = await store.gate_status("M1")
        assert gate.verified_passed and not gate.decidable and not gate.unverified_pass
        # the same status without verified approvals behind it: the store takes it as in review again
        forged = replace(gate, verified_passed=False)
        assert forged.unverified_pass and forged.decidable
        assert not replace(forged, report=None).decidable


def test_a_base_priority_nudged_past_either_end_stays_there():
    assert [priority.clamp_base_priority(v) for v in (-1, 0, 5, 10, 11)] == [0, 0, 5, 10, 10]
    assert (priority.BASE_PRIORITY_MIN, priority.BASE_PRIORITY_MAX) == (0, 10)
