"""Seed rows over the CLI: PROJECT COMPLETE after the last gate (`milestone list`, `task status`), and seed 001's todo words."""

from __future__ import annotations

import asyncio

from signing_support import decide, key

from swarmdeck.store import open_store


async def _first_gate(db) -> None:
    store = await open_store(db)
    try:
        await store.register_agent("bot", agent_type="validator")
        await store.add_reviewer("alice", by="alice", public_key=key("alice"))
        await store.submit_report("M1", submitted_by="bot", summary="done", proposed_decision="APPROVE")
        await decide(store, "M1", decision="APPROVE", rationale="ok", reviewer="alice")
    finally:
        await store.close()


def test_the_status_and_the_milestones_say_project_complete_after_the_last_gate(db, sd, sdj):
    sdj("milestone", "add", "M1")
    sdj("milestone", "add", "M2")
    asyncio.run(_first_gate(db))
    assert "PROJECT COMPLETE" not in sd("milestone", "list").stdout
    assert "PROJECT COMPLETE" not in sd("task", "status").stdout
    assert sdj("task", "status")["project_complete"] is False
    asyncio.run(_last_gate(db))
    listed = sd("milestone", "list").stdout
    assert listed.rstrip().endswith("PROJECT COMPLETE: every milestone's gate has passed")
    assert "PROJECT COMPLETE" in sd("task", "status").stdout
    status = sdj("task", "status")
    assert status["project_complete"] is True and status["total"] == 0  # the queue's figures, as before
    assert [m["name"] for m in sdj("milestone", "list")] == ["M1", "M2"]  # --json: the list, as before


async def _last_gate(db) -> None:
    store = await open_store(db)
    try:
        await store.submit_report("M2", submitted_by="bot", summary="done", proposed_decision="APPROVE")
        await decide(store, "M2", decision="APPROVE", rationale="ok", reviewer="alice")
    finally:
        await store.close()


def test_seed_001s_todo_words_are_accepted_where_agents_send_them(sd, sdj):
    """Kept here with the other seed-001 rows: in_progress as a status, a todo list with a heartbeat."""
    import json

    sdj("agent", "register", "w1", "--type", "impl")
    assert sdj("agent", "heartbeat", "w1", "--status", "in_progress")["status"] == "working"
    todos = [{"content": "Milestone 1", "status": "completed", "activeForm": "Executing Milestone 1"},
             {"content": "Validate Milestone 1", "status": "in_progress", "activeForm": "Validating [b]M1[/b]"}]
    agent = sdj("agent", "heartbeat", "w1", "--todos", json.dumps(todos))
    assert agent["completion"] == 50 and agent["status"] == "working"
    sdj("task", "enqueue", "t", "--type", "impl")
    sdj("task", "claim", "--agent", "w1", "--no-context")
    assert len(sdj("task", "list", "--status", "in_progress")) == 1
    bad = sd("agent", "heartbeat", "w1", "--todos", '[{"content": "x", "status": "doing"}]')
    assert bad.returncode != 0 and "status" in bad.stderr and bad.stdout == ""


def test_a_running_task_is_escalated_to_a_debugging_task_and_resumes_after_it(sd, sdj):
    sdj("agent", "register", "w1", "--type", "impl")
    sdj("agent", "register", "doc", "--type", "python-debugging-specialist")
    task = sdj("task", "enqueue", "Implement the parser", "--type", "impl")
    sdj("task", "claim", "--agent", "w1", "--no-context")
    out = sd("task", "escalate", str(task["id"]), "--agent", "w1", "--note", "KeyError [red]x[/red] in parse()")
    assert out.returncode == 0, out.stderr
    assert f"task {task['id']} waits on debugging task" in out.stdout and "[red]x[/red]" in out.stdout
    assert sdj("task", "get", str(task["id"]))["status"] == "blocked"
    helper = sdj("task", "claim", "--agent", "doc", "--no-context")
    assert helper["parent_task_id"] == task["id"] and helper["agent_type"] == "python-debugging-specialist"
    sdj("task", "complete", str(helper["id"]), "--agent", "doc")
    assert sdj("task", "get", str(task["id"]))["status"] == "ready"
    again = sd("task", "escalate", str(task["id"]), "--note", "again")
    assert again.returncode != 0 and "only a running task can be escalated" in again.stderr
