"""Agents in the store, on both backends: registering, heartbeats, staleness, logged actions."""

from __future__ import annotations

import pytest

from swarmdeck.app.cli._base import message as cli_message
from swarmdeck.store import AgentStatus
from swarmdeck.store.errors import InvalidArgument, NotFound, StoreError

from store_support import state

STORE_BACKENDS = ("sqlite", "postgres")


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
        with pytest.raises(NotFound) as info:
            await store.heartbeat("ghost")
        assert "run `swarmdeck agent register ghost --type TYPE`" in cli_message(info.value)
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
