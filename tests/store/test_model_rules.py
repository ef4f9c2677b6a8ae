"""Rules that live on the models, so that every face asks the model instead of restating them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from swarmdeck.store.models import AgentStatus


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
