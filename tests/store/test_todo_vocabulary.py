"""Seed 001's todo vocabulary where agents send it: in_progress as a status, and a todo list of
{content, status, activeForm} with a heartbeat, mapped to the agent's fields (both backends)."""

from __future__ import annotations

import pytest

from swarmdeck.store import AgentStatus, TaskStatus
from swarmdeck.store.errors import InvalidArgument
from swarmdeck.store.payloads import AgentChange

STORE_BACKENDS = ("sqlite", "postgres")

SEED_TODOS = [
    {"content": "Milestone 1: Core Schema Foundation", "status": "completed", "activeForm": "Executing Milestone 1"},
    {"content": "Validate Milestone 1 deliverables", "status": "in_progress", "activeForm": "Validating Milestone 1"},
    {"content": "Milestone 2: Memory Management System", "status": "pending", "activeForm": "Executing Milestone 2"},
    {"content": "Validate Milestone 2 deliverables", "status": "pending", "activeForm": "Validating Milestone 2"},
]


async def test_in_progress_is_working_for_an_agent_and_running_for_a_task(agents):
    store = agents
    assert (await store.heartbeat("a1", status="in_progress")).status is AgentStatus.WORKING
    assert (await store.update_agent("a1", status="completed")).status is AgentStatus.IDLE
    task = await store.enqueue_task(description="t")
    await store.claim_task(agent="a1")
    assert [t.id for t in await store.list_tasks(status="in_progress")] == [task.id]
    assert TaskStatus("in_progress") is TaskStatus.RUNNING
    with pytest.raises(InvalidArgument, match="agent status must be one of"):
        await store.heartbeat("a1", status="in-flight")


async def test_a_todo_list_gives_completion_status_and_what_the_agent_is_doing(agents):
    store = agents
    agent = await store.heartbeat("a1", todos=SEED_TODOS)
    assert agent.status is AgentStatus.WORKING and agent.completion == 25.0
    [beat] = await store.events(entity="agent", entity_id="a1", kind="agent.heartbeat", limit=1)
    payload = beat.typed()
    assert isinstance(payload, AgentChange) and payload.activity == "Validating Milestone 1"
    # What the agent gives itself wins over what the list implies.
    agent = await store.heartbeat("a1", todos=SEED_TODOS, completion=40, status="blocked")
    assert agent.status is AgentStatus.BLOCKED and agent.completion == 40
    done = [{**t, "status": "completed"} for t in SEED_TODOS]
    agent = await store.heartbeat("a1", todos=done)
    assert agent.status is AgentStatus.IDLE and agent.completion == 100


async def test_a_bad_todo_list_is_refused_and_writes_nothing(agents):
    store = agents
    before = await store.get_agent("a1")
    for bad, words in (([{"content": "x", "status": "doing"}], "status"),
                       ([{"content": "", "status": "pending"}], "content"),
                       ([{"content": "x", "status": "pending", "colour": "red"}], "colour"),
                       ("not a list", "todos")):
        with pytest.raises(InvalidArgument, match=words):
            await store.heartbeat("a1", todos=bad)
    assert await store.get_agent("a1") == before
