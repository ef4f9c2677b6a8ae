"""Seed rows over MCP: project_complete (milestone_list, task_queue_status), and seed 001's todo words."""

from __future__ import annotations

from mcp_support import mcp_tools, opened
from signing_support import decide, key


async def test_project_complete_once_every_gate_passed(db):
    async with opened(db) as store:
        await store.register_agent("bot", agent_type="validator")
        await store.add_reviewer("alice", by="alice", public_key=key("alice"))
        await store.add_milestone("M1")
    async with mcp_tools(db) as t:
        assert (await t.ok("milestone_list"))["project_complete"] is False
        assert (await t.ok("task_queue_status"))["project_complete"] is False
        await t.ok("gate_submit_report", milestone="M1", submitted_by="bot", summary="done")
    async with opened(db) as store:
        await decide(store, "M1", decision="APPROVE", rationale="ok", reviewer="alice")
    async with mcp_tools(db) as t:
        assert (await t.ok("milestone_list"))["project_complete"] is True
        assert (await t.ok("task_queue_status"))["project_complete"] is True


async def test_seed_001s_todo_words_over_mcp(db):
    async with mcp_tools(db) as t:
        await t.ok("agent_register", name="w1", agent_type="impl")
        assert (await t.ok("agent_heartbeat", agent="w1", status="in_progress"))["status"] == "working"
        beat = await t.ok("agent_heartbeat", agent="w1", todos=[
            {"content": "Milestone 1", "status": "in_progress", "activeForm": "Executing Milestone 1"},
            {"content": "Validate Milestone 1", "status": "pending", "activeForm": "Validating Milestone 1"}])
        assert beat["completion"] == 0 and beat["status"] == "working"
        assert "status" in await t.error("agent_heartbeat", agent="w1", todos=[{"content": "x", "status": "doing"}])
        await t.ok("task_enqueue", description="t", source="human", agent_type="impl")
        await t.ok("task_claim", agent="w1", context=False)
        assert (await t.ok("task_list", status="in_progress"))["count"] == 1
    async with opened(db) as store:
        [event] = await store.events(entity="agent", entity_id="w1", kind="agent.heartbeat", limit=1)
        assert event.payload["activity"] == "Executing Milestone 1"


async def test_a_handoff_over_mcp_waits_on_a_debugging_task(db):
    async with mcp_tools(db) as t:
        await t.ok("agent_register", name="w1", agent_type="impl")
        await t.ok("agent_register", name="doc", agent_type="python-debugging-specialist")
        task = (await t.ok("task_enqueue", description="parser", source="human", agent_type="impl"))["task_id"]
        await t.ok("task_claim", agent="w1", context=False)
        assert "assigned to w1" in await t.error("task_handoff", task_id=task, agent="doc", note="help")
        handed = await t.ok("task_handoff", task_id=task, agent="w1", note="KeyError in parse()")
        assert handed["task"]["status"] == "blocked" and handed["debug_task"]["description"] == "KeyError in parse()"
        helper = await t.ok("task_claim", agent="doc", agent_type="python-debugging-specialist", context=False)
        await t.ok("task_complete", task_id=helper["task"]["id"], agent="doc")
        resumed = await t.ok("task_claim", agent="w1", agent_type="impl", context=False)
        assert resumed["task"]["id"] == task


async def test_task_list_leaves_archived_tasks_out_unless_asked(db):
    import asyncio

    async with opened(db) as store:
        await store.register_agent("w1", agent_type="impl")
        old = await store.enqueue_task(description="old work", agent_type="impl")
        await store.claim_task(agent="w1")
        await store.complete_task(old.id, agent="w1")
        live = await store.enqueue_task(description="live work", agent_type="impl")
        await asyncio.sleep(0.02)
        assert (await store.prune(dry_run=False, tasks_older_than=0.01)).tasks.count == 1
    async with mcp_tools(db) as t:
        assert [x["id"] for x in (await t.ok("task_list"))["tasks"]] == [live.id]
        archived = (await t.ok("task_list", archived=True))["tasks"]
        assert [x["id"] for x in archived] == [old.id] and archived[0]["archived_at"]
        got = await t.ok("task_get", task_id=old.id)
        assert got["id"] == old.id and got["archived_at"]
