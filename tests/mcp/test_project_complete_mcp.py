"""Over MCP, milestone_list and task_queue_status say when the last gate has ended the project."""

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
