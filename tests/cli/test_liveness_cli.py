"""Operators see tasks held by failures and free them in one command; agents set their grace period."""

from __future__ import annotations


def test_held_tasks_are_counted_listed_and_retried_in_one_step(sd, sdj):
    sdj("agent", "register", "builder-1", "--type", "general")
    root = sdj("task", "enqueue", "migrate the schema", "--max-retries", "0")["id"]
    child = sdj("task", "enqueue", "backfill", "--after", root)["id"]
    sdj("task", "claim", "--agent", "builder-1")
    failed = sdj("task", "fail", root, "--agent", "builder-1", "--error", "disk full")
    assert failed["status"] == "failed"

    status = sd("task", "status")
    assert status.returncode == 0
    assert "1 blocked by tasks that failed for good: see `swarmdeck task list --held`" in status.stdout
    assert sdj("task", "status")["held_by_failure"] == 1
    listed = sd("task", "list", "--held")
    assert f"blocked, held by {root}" in listed.stdout and "backfill" in listed.stdout
    assert [t["id"] for t in sdj("task", "list", "--held")] == [child]
    assert "held by task" in sdj("task", "get", child)["blocked_reason"]

    again = sdj("task", "retry", child)  # the held task: its failure is retried
    assert again["id"] == child and again["held_by"] is None
    assert sdj("task", "get", root)["status"] == "ready"
    assert sdj("task", "list", "--held") == []
    assert "failed for good" not in sd("task", "status").stdout


def test_an_agent_sets_how_long_it_may_be_silent_before_losing_its_tasks(sdj):
    agent = sdj("agent", "register", "slow-1", "--type", "general", "--requeue-after", "20m")
    assert agent["requeue_after_seconds"] == 1200
    assert sdj("agent", "register", "fast-1", "--type", "general")["requeue_after_seconds"] == 300
