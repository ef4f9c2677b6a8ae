"""Seed 000's error escalation: a running task's agent hands it off to a new debugging task; the task
waits on it and is ready again for its agent type once it completes (both backends)."""

from __future__ import annotations

import pytest

from swarmdeck.store import AgentStatus, TaskStatus
from swarmdeck.store.errors import InvalidArgument, InvalidTransition, PermissionDenied

from store_support import row_counts

STORE_BACKENDS = ("sqlite", "postgres")


async def test_an_escalated_task_waits_on_its_debugging_task_then_is_ready_again(agents, clock):
    store = agents
    await store.register_agent("doc", agent_type="python-debugging-specialist")
    task = await store.enqueue_task(description="Implement the vector store", agent_type="coder", base_priority=7)
    await store.claim_task(agent="a1")
    clock.advance(120)
    handed = await store.escalate_task(task.id, agent="a1", note="ImportError: sqlite_vec on Python 3.12")
    waiting, helper = handed.task, handed.debug_task
    assert waiting.status is TaskStatus.BLOCKED and waiting.assigned_agent is None
    assert waiting.prerequisites == (helper.id,) and f"task {helper.id}" in waiting.blocked_reason
    assert helper.status is TaskStatus.READY and helper.agent_type == "python-debugging-specialist"
    assert helper.parent_task_id == task.id and helper.base_priority == 7
    assert helper.description == "ImportError: sqlite_vec on Python 3.12"
    assert helper.input_data == {"escalated_from": task.id, "by": "a1"}
    a1 = await store.get_agent("a1")
    assert a1.status is AgentStatus.IDLE and a1.current_task_id is None
    assert a1.last_heartbeat.timestamp() == clock()  # handing off is a sign of life
    [event] = [e for e in await store.events(entity="task", entity_id=task.id) if e.kind == "task.escalated"]
    assert event.payload == {"agent": "a1", "debug_task": helper.id, "agent_type": "python-debugging-specialist",
                             "note": "ImportError: sqlite_vec on Python 3.12", "heard": True}

    assert await store.claim_task(agent="a2", agent_type="coder") is None  # it waits
    assert (await store.claim_task(agent="doc", agent_type="python-debugging-specialist")).id == helper.id
    await store.complete_task(helper.id, agent="doc", result={"fix": "pin sqlite-vec 0.1.6"})
    assert (await store.get_task(task.id)).status is TaskStatus.READY
    again = await store.claim_task(agent="a2", agent_type="coder")  # any agent of its type resumes it
    assert again.id == task.id and again.status is TaskStatus.RUNNING


async def test_only_its_agent_escalates_a_running_task_with_a_note_and_a_refusal_writes_nothing(agents, where):
    store = agents
    task = await store.enqueue_task(description="t")
    before = row_counts(where)
    with pytest.raises(InvalidTransition, match="only a running task can be escalated"):
        await store.escalate_task(task.id, agent="a1", note="help")
    await store.claim_task(agent="a1")
    before = row_counts(where)
    with pytest.raises(PermissionDenied):
        await store.escalate_task(task.id, agent="a2", note="help")
    with pytest.raises(InvalidArgument, match="note must not be empty"):
        await store.escalate_task(task.id, agent="a1", note="  ")
    with pytest.raises(InvalidArgument):
        await store.escalate_task(task.id, agent="a1", note="help", to_type="")
    assert row_counts(where) == before
    assert (await store.get_task(task.id)).status is TaskStatus.RUNNING
