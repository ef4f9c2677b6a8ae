"""Plans at the command line: milestones added after others, with a start date, a money budget and an
hour rate; `milestone show` with the plan; cut, defer and reinstate as a person's act; `task plan`
waiting at the gates and naming the critical path."""

from __future__ import annotations

import json

from test_cli import expect_error


def test_a_graph_of_milestones_with_schedule_and_money(sdj, sd, humanj):
    humanj("reviewer", "add", "carol", "--by", "carol")
    sdj("milestone", "add", "P1")
    sdj("milestone", "add", "P2")
    p3 = sdj("milestone", "add", "P3", "--after", "P1", "--after", "P2", "--weeks", "1-2",
             "--starts", "2026-12-01", "--budget", "100", "--money", "76336", "--rate", "120")
    assert (p3["status"], p3["prerequisites"], p3["starts_on"]) == ("locked", [1, 2], "2026-12-01")
    assert (p3["money_budget"], p3["hour_rate"], p3["cost_spent"], p3["plan_state"]) == (76336, 120, 0, "active")
    shown = sdj("milestone", "show", "P3")
    assert shown["plan"]["after"] == ["P1", "P2"] and shown["plan"]["money"] == "$0 of $76,336 (0%)"
    assert shown["plan"]["schedule"]["starts"] == "2026-12-01"
    text = sd("milestone", "show", "P3").stdout
    assert "  after: P1, P2" in text and "  money: $0 of $76,336 (0%)" in text and "  schedule: 2026-12-01" in text
    # a plain milestone in line shows no plan lines
    assert "after:" not in sd("milestone", "show", "P1").stdout

    expect_error(sd("milestone", "add", "P4", "--after", "P9"), 3, "milestone 'P9' does not exist")
    expect_error(sd("milestone", "add", "P4", "--starts", "soon"), 1, "starts_on must be a date")
    assert [m["name"] for m in sdj("milestone", "list")] == ["P1", "P2", "P3"]


def test_cut_defer_and_reinstate_are_a_persons_acts(sdj, sd, human, humanj):
    humanj("reviewer", "add", "carol", "--by", "carol")
    sdj("agent", "register", "bot", "--type", "impl")
    sdj("milestone", "add", "M1")
    sdj("milestone", "add", "M2", "--after", "M1")
    task = sdj("task", "enqueue", "docker", "--milestone", "M1")
    # an agent's run (no terminal) is refused before anything is read
    expect_error(sd("milestone", "cut", "M1", "--by", "carol", "--reason", "x"), 1, "terminal")
    refused = human("milestone", "cut", "M1", "--by", "bot", "--reason", "mine now")
    assert refused.returncode != 0 and "agents never cut" in refused.stderr
    cut = humanj("milestone", "cut", "M1", "--by", "carol", "--reason", "timeline slipped")
    assert cut["plan_state"] == "cut"
    held = sdj("task", "get", str(task["id"]))
    assert held["status"] == "blocked" and "milestone 'M1' is cut" in held["blocked_reason"]
    assert "CUT by carol: timeline slipped" in sd("milestone", "show", "M1").stdout
    assert sdj("milestone", "list")[0]["plan_state"] == "cut"
    # asked for a reason when none is given, then confirmed
    back = humanj("milestone", "reinstate", "M1", "--by", "carol", input="room again\ny\n")
    assert back["plan_state"] == "active" and sdj("task", "get", str(task["id"]))["status"] == "ready"
    deferred = humanj("milestone", "defer", "M2", "--by", "carol", "--reason", "after the release")
    assert deferred["plan_state"] == "deferred"
    lines = sd("--json", "events", "tail", "--limit", "100").stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert [(e["actor"], e["payload"]["reason"]) for e in events if e["kind"] == "milestone.reinstated"] == [
        ("carol", "room again")]


def test_the_plan_waits_at_gates_and_names_the_critical_path(sdj, sd):
    sdj("milestone", "add", "P1")
    sdj("milestone", "add", "P2")
    sdj("milestone", "add", "P3", "--after", "P1")
    a = sdj("task", "enqueue", "schema", "--milestone", "P1", "--estimate", "1h")["id"]
    b = sdj("task", "enqueue", "memory", "--milestone", "P2", "--estimate", "10m")["id"]
    c = sdj("task", "enqueue", "cache", "--milestone", "P3", "--estimate", "2h")["id"]
    plan = sdj("task", "plan", str(a), str(b), str(c))
    assert plan["batches"] == [[a], [b, c]] and plan["critical_path"] == [a, c]
    assert plan["critical_seconds"] == 3 * 3600
    assert f"critical path: {a} -> {c} (3h by estimate)" in sd("task", "plan", str(a), str(b), str(c)).stdout
