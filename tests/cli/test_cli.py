"""The `swarmdeck` CLI end to end: its entry point in this process (tests/support.py ``invoke``), a real
database file, real exit codes. The real process is smoke-tested in test_smoke.py."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path

from signing_support import PASSPHRASE
from support import Ran


TASK_FIELDS = {
    "id", "description", "summary", "source", "agent_type", "base_priority", "status", "priority",
    "dependency_depth", "prerequisites", "milestone_id", "parent_task_id", "session_id", "deadline",
    "estimated_duration_seconds", "input_data", "result_data", "error_message", "assigned_agent",
    "retry_count", "max_retries", "timeout_seconds", "created_at", "updated_at", "started_at",
    "finished_at", "blocked_reason", "held_by",
}
AGENT_FIELDS = {
    "name", "agent_type", "colour", "model", "status", "current_task_id", "completion", "blockers",
    "next_milestone", "last_heartbeat", "stale_after_seconds", "registered_at", "heartbeat_age_seconds",
    "stale", "requeue_after_seconds",
}
MILESTONE_FIELDS = {
    "id", "name", "position", "objective", "planned_weeks", "hour_budget", "hours_spent", "deliverables",
    "acceptance_criteria", "status", "required_approvals", "created_at",
}
DECISION_FIELDS = {
    "id", "milestone_id", "report_id", "report_version", "report_hash", "decision", "rationale", "reviewer",
    "decided_at",
}
EVENT_FIELDS = {"id", "ts", "actor", "kind", "entity", "entity_id", "payload"}

#: Text an agent might write that must never drive a terminal or a Textual/Rich renderer.
EVIL = ("[bold red]x[/] [@click=app.quit]q[/] [link=http://x]y[/link] \x1b[31mred\x1b[0m \x9b2J "
        "\u202eexe.txt\u202c z\u200bw\u2060j\ufeff\xad")
#: How plain text shows the control, bidi and invisible characters: as escapes.
EVIL_SHOWN = "\\x1b[31mred\\x1b[0m \\x9b2J \\u202eexe.txt\\u202c z\\u200bw\\u2060j\\ufeff\\xad"
#: What must never reach a terminal raw.
RAW = ("\x1b", "\x9b", "\u202e", "\u202c", "\u200b", "\u2060", "\ufeff", "\xad")
#: The markup of EVIL without its control characters: as hostile as a name can be (names with
#: control characters are refused, see store/identity.py).
EVIL_NAME = "[bold red]x[/] [@click=app.quit]q[/] [link=http://x]y[/link]"

REPORT = {
    "summary": "M1 is done",
    "criteria": [{"name": "tests pass", "status": "met", "evidence": "CI run 42"},
                 {"name": "docs", "status": "not_met", "evidence": ""}],
    "metrics": [{"name": "p95 latency", "value": 80, "target": 100, "comparator": "<=", "unit": "ms"},
                {"name": "coverage", "value": 70, "target": 85, "comparator": ">=", "unit": "%"}],
    "issues": [{"severity": "medium", "description": "flaky test in CI"}],
    "recommendations": ["write the docs first"],
    "proposed_decision": "CONDITIONAL",
}


def expect_error(result: Ran, code: int, *fragments: str) -> str:
    """Exit code `code`, nothing on stdout, one human line on stderr naming every fragment."""
    assert "Traceback" not in result.stderr
    assert result.returncode == code, (result.returncode, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("swarmdeck: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def expect_json_error(result: Ran, code: int, kind: str, *fragments: str) -> str:
    """Exit code `code` and exactly {"error": {"code": kind, "message": ...}} on one stderr line."""
    assert "Traceback" not in result.stderr
    assert result.returncode == code, (result.returncode, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    body = json.loads(lines[0])
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == kind
    for fragment in fragments:
        assert fragment in body["error"]["message"]
    return body["error"]["message"]


def ids(tasks: list[dict]) -> list[int]:
    return [t["id"] for t in tasks]


def json_lines(result: Ran) -> list[dict]:
    """`events tail --json` output: one JSON object per line, nothing else."""
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


# -- finding and creating the database -----------------------------------------------------------------


def test_init_creates_the_database_and_is_idempotent(tmp_path, run_sd):
    path = tmp_path / "deep" / "er" / "swarm.db"
    first = run_sd("--db", path, "init")
    assert first.returncode == 0, first.stderr
    assert path.is_file()
    assert first.stdout.startswith(f"swarm database ready at {path} (schema ")
    again = run_sd("--db", path, "init", "--json")
    assert again.returncode == 0
    body = json.loads(again.stdout)
    assert set(body) == {"db", "schema_version"} and body["db"] == str(path)
    assert body["schema_version"] >= 1 and f"(schema {body['schema_version']})" in first.stdout


def test_default_database_path(tmp_path, run_sd):
    """--db, else $SWARMDECK_DB, else the nearest .swarmdeck/swarm.db above the cwd, else ./.swarmdeck/."""
    project = tmp_path / "project"
    sub = project / "a" / "b"
    sub.mkdir(parents=True)
    assert not any((p / ".swarmdeck" / "swarm.db").exists() for p in tmp_path.resolve().parents), \
        "a .swarmdeck/swarm.db above the test directory would be found first"

    def db_of(result) -> Path:
        assert result.returncode == 0, result.stderr
        return Path(json.loads(result.stdout)["db"]).resolve()

    # Nothing anywhere above: ./.swarmdeck/swarm.db in the working directory.
    assert db_of(run_sd("--json", "init", cwd=sub)) == (sub / ".swarmdeck" / "swarm.db").resolve()
    assert db_of(run_sd("--json", "init", cwd=project)) == (project / ".swarmdeck" / "swarm.db").resolve()

    # From project/a the nearest database is project's; from project/a/b it is b's own.
    enqueued = run_sd("--json", "task", "enqueue", "in the project db", cwd=project / "a")
    assert enqueued.returncode == 0, enqueued.stderr
    from_a = run_sd("--json", "task", "list", cwd=project / "a")
    from_b = run_sd("--json", "task", "list", cwd=sub)
    assert [t["description"] for t in json.loads(from_a.stdout)] == ["in the project db"]
    assert json.loads(from_b.stdout) == []
    assert not (project / "a" / ".swarmdeck").exists()

    # $SWARMDECK_DB beats the nearest database, and --db beats $SWARMDECK_DB.
    env_db = tmp_path / "env" / "swarm.db"
    assert db_of(run_sd("--json", "init", cwd=sub, env={"SWARMDECK_DB": str(env_db)})) == env_db.resolve()
    assert env_db.is_file()
    flag_db = tmp_path / "flag.db"
    got = run_sd("--db", flag_db, "--json", "init", cwd=sub, env={"SWARMDECK_DB": str(env_db)})
    assert db_of(got) == flag_db.resolve()
    listed = run_sd("--json", "task", "list", cwd=sub, env={"SWARMDECK_DB": str(env_db)})
    assert json.loads(listed.stdout) == []


def test_commands_on_a_missing_database_say_run_init_and_create_nothing(tmp_path, run_sd):
    missing = tmp_path / "nowhere" / "swarm.db"
    for args in (
        ["task", "list"],
        ["task", "enqueue", "write the parser"],
        ["task", "claim", "--agent", "w1"],
        ["agent", "register", "w1", "--type", "impl"],
        ["milestone", "add", "M1"],
        ["gate", "submit", "M1", "--summary", "done"],
        ["events", "tail"],
    ):
        expect_error(run_sd("--db", missing, *args), 1, f"no swarmdeck database at {missing}",
                     "`swarmdeck init`")
    expect_json_error(run_sd("--db", missing, "task", "enqueue", "x", "--json"), 1, "database_missing",
                      "swarmdeck init")
    assert not (tmp_path / "nowhere").exists()
    # The same through $SWARMDECK_DB, and through the default path in an empty directory.
    from_env = run_sd("agent", "list", env={"SWARMDECK_DB": str(missing)})
    expect_error(from_env, 1, str(missing), "swarmdeck init")
    empty = tmp_path / "empty"
    empty.mkdir()
    default = empty.resolve() / ".swarmdeck" / "swarm.db"
    expect_error(run_sd("task", "enqueue", "x", cwd=empty), 1, str(default), "swarmdeck init")
    assert list(tmp_path.iterdir()) == [empty] and list(empty.iterdir()) == []


def test_unusable_database_paths_are_one_line_errors(tmp_path, run_sd):
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("hello, not SQLite\n")
    expect_error(run_sd("--db", not_a_db, "task", "list"), 1, "not a SQLite database")
    # A database "inside" a regular file can never be created.
    expect_error(run_sd("--db", not_a_db / "sub" / "swarm.db", "init"), 1, "cannot use the database")
    expect_json_error(run_sd("--json", "--db", not_a_db / "swarm.db", "init"), 1, "os_error")
    expect_error(run_sd("--db", tmp_path, "task", "list"), 2, "is a directory")


# -- tasks ----------------------------------------------------------------------------------------------


def test_task_enqueue_claim_complete_get_list(sd, sdj):
    assert sdj("agent", "register", "w1", "--type", "general")["name"] == "w1"
    sdj("agent", "register", "w2", "--type", "docs")

    a = sdj("task", "enqueue", "build the parser", "--priority", "7", "--estimate", "30m",
            "--deadline", "+2h", "--input", '{"files": ["a.py", "b.py"]}', "--summary", "parser",
            "--max-retries", "2", "--timeout", "2h", "--session", "s-1")
    assert TASK_FIELDS <= set(a)
    assert (a["id"], a["status"], a["base_priority"], a["source"], a["agent_type"]) == \
        (1, "ready", 7, "human", "general")
    assert a["input_data"] == {"files": ["a.py", "b.py"]}
    assert (a["summary"], a["session_id"], a["max_retries"]) == ("parser", "s-1", 2)
    assert (a["estimated_duration_seconds"], a["timeout_seconds"]) == (1800, 7200)
    ahead = datetime.fromisoformat(a["deadline"]) - datetime.fromisoformat(a["created_at"])
    assert timedelta(hours=1, minutes=59) < ahead < timedelta(hours=2, minutes=1)
    assert 0 < a["priority"] <= 100

    b = sdj("task", "enqueue", "test the parser", "--after", "1", "--source", "agent_planner",
            "--parent", "1")
    assert (b["status"], b["prerequisites"], b["dependency_depth"], b["parent_task_id"]) == \
        ("blocked", [1], 1, 1)
    assert "waiting for task 1" in b["blocked_reason"]
    c = sdj("task", "enqueue", "document the parser", "--type", "docs")
    assert c["status"] == "ready"

    # --json before the noun and after the verb give the same answer.
    before, after = sd("--json", "task", "get", "2"), sd("task", "get", "2", "--json")
    assert before.returncode == after.returncode == 0
    assert json.loads(before.stdout) == json.loads(after.stdout)
    assert json.loads(before.stdout)["id"] == 2

    human = sd("task", "get", "2")
    assert human.returncode == 0
    assert human.stdout.startswith("task 2  [blocked]  priority ")
    assert "  description: test the parser" in human.stdout
    assert "  blocked: waiting for task 1 (ready)" in human.stdout

    assert ids(sdj("task", "list")) == [3, 2, 1]  # newest first
    assert ids(sdj("task", "list", "--status", "blocked")) == [2]
    assert sorted(ids(sdj("task", "list", "--status", "ready", "--status", "blocked"))) == [1, 2, 3]
    assert ids(sdj("task", "list", "--type", "docs")) == [3]
    assert ids(sdj("task", "list", "--source", "agent_planner")) == [2]
    table = sd("task", "list").stdout.splitlines()
    assert table[0].split() == ["ID", "STATUS", "PRIORITY", "TYPE", "AGENT", "DESCRIPTION"]
    assert len(table) == 4 and table[1].split()[:2] == ["3", "ready"]

    claimed = sdj("task", "claim", "--agent", "w2", "--type", "docs")
    assert (claimed["id"], claimed["status"], claimed["assigned_agent"]) == (3, "running", "w2")
    claimed = sdj("task", "claim", "--agent", "w1")
    assert (claimed["id"], claimed["status"], claimed["assigned_agent"]) == (1, "running", "w1")
    assert claimed["started_at"] is not None
    worker = sdj("agent", "get", "w1")
    assert (worker["status"], worker["current_task_id"]) == ("working", 1)

    # Nothing ready: null with --json, a sentence without, and success either way.
    assert sdj("task", "claim", "--agent", "w1") is None
    nothing = sd("task", "claim", "--agent", "w1")
    assert (nothing.returncode, nothing.stdout) == (0, "no ready task\n")

    # Another agent cannot complete w1's task.
    expect_error(sd("task", "complete", "1", "--agent", "w2"), 1, "assigned to w1")
    done = sdj("task", "complete", "1", "--agent", "w1", "--result", '{"ok": true}')
    assert (done["status"], done["result_data"]) == ("completed", {"ok": True})
    assert done["finished_at"] is not None
    assert sdj("task", "get", "2")["status"] == "ready"  # its only prerequisite completed
    worker = sdj("agent", "get", "w1")
    assert (worker["status"], worker["current_task_id"]) == ("idle", None)

    # A result from stdin.
    docs = sdj("task", "complete", "3", "--agent", "w2", "--result", "-", input='{"pages": 3}\n')
    assert docs["result_data"] == {"pages": 3}
    assert '  result: {"pages": 3}' in sd("task", "get", "3").stdout

    status = sdj("task", "status")
    assert status["counts"] == {"pending": 0, "blocked": 0, "ready": 1, "running": 0, "completed": 2,
                                "failed": 0, "cancelled": 0}
    assert (status["total"], status["paused"]) == (3, False)
    assert 0 < status["average_priority"] <= 100
    assert sd("task", "status").stdout.startswith(
        "3 tasks: pending 0  blocked 0  ready 1  running 0  completed 2")


def test_fail_retry_priority_depend_plan_cancel(sd, sdj):
    sdj("agent", "register", "w", "--type", "general")
    chores = [sdj("task", "enqueue", name) for name in ("design", "build", "ship", "chores")][-1]
    assert sdj("task", "depend", "2", "--on", "1")["prerequisites"] == [1]
    dep = sdj("task", "depend", "3", "--on", "2")
    assert (dep["status"], dep["dependency_depth"]) == ("blocked", 2)
    expect_json_error(sd("--json", "task", "depend", "1", "--on", "3"), 1, "cycle", "cycle 1 -> 3 -> 2 -> 1")
    expect_error(sd("task", "depend", "1", "--on", "99"), 3, "task 99 does not exist")

    plan = sdj("task", "plan", "1", "2", "3", "4")
    assert plan == {"batches": [[1, 4], [2], [3]], "total_batches": 3, "max_parallelism": 2,
                    "critical_path": [1, 2, 3], "critical_seconds": 0.0}
    assert sd("task", "plan", "1", "2", "3", "4").stdout.splitlines() == [
        "batch 1: 1, 4", "batch 2: 2", "batch 3: 3", "3 batch(es), max parallelism 2",
        "critical path: 1 -> 2 -> 3 (no estimates: the longest chain)",
    ]
    expect_error(sd("task", "plan", "1", "99"), 3, "99")

    raised = sdj("task", "priority", "4", "9")
    assert raised["base_priority"] == 9 and raised["priority"] > chores["priority"]

    # A failure with retries left goes back to ready; --no-retry fails it for good; retry revives it.
    assert sdj("task", "claim", "--agent", "w")["id"] == 4  # now the highest priority
    failed = sdj("task", "fail", "4", "--error", "tests broke", "--agent", "w")
    assert (failed["status"], failed["retry_count"], failed["error_message"]) == ("ready", 1, "tests broke")
    assert failed["assigned_agent"] is None
    assert sdj("task", "claim", "--agent", "w")["id"] == 4
    failed = sdj("task", "fail", "4", "--error", "still broken", "--no-retry")
    assert (failed["status"], failed["retry_count"]) == ("failed", 1)
    expect_error(sd("task", "fail", "4", "--error", "x"), 1,
                 "task 4 is failed; only running tasks can be failed")
    retried = sdj("task", "retry", "4")
    assert (retried["status"], retried["retry_count"]) == ("ready", 2)
    expect_error(sd("task", "retry", "4"), 1, "task 4 is ready; only failed tasks, and tasks held by failed ones, can be retried")

    # A dry run previews the cascade and changes nothing.
    preview = sdj("task", "cancel", "1", "--dry-run")
    assert preview == {"cancelled_task_id": 1, "cascaded_task_ids": [2, 3], "dry_run": True,
                       "total_cancelled": 3}
    human = sd("task", "cancel", "1", "--dry-run")
    assert human.stdout == "would cancel task 1 and 2 dependent(s): 2, 3\n"
    assert sdj("task", "list", "--status", "cancelled") == []

    done = sdj("task", "cancel", "1", "--reason", "scope cut")
    assert done == {"cancelled_task_id": 1, "cascaded_task_ids": [2, 3], "dry_run": False,
                    "total_cancelled": 3}
    assert sorted(ids(sdj("task", "list", "--status", "cancelled"))) == [1, 2, 3]
    assert sdj("task", "get", "3")["error_message"] == "scope cut"
    expect_error(sd("task", "cancel", "1"), 1,
                 "task 1 is cancelled; completed and cancelled tasks cannot be cancelled")
    expect_error(sd("task", "priority", "2", "8"), 1, "task 2 is cancelled")
    expect_error(sd("task", "enqueue", "after a dead task", "--after", "1"), 1,
                 "cancelled and will never complete")


def test_reap_retries_a_timed_out_task(sd, sdj):
    sdj("agent", "register", "w", "--type", "general")
    sdj("task", "enqueue", "slow", "--timeout", "1", "--max-retries", "1")
    assert sdj("task", "claim", "--agent", "w")["status"] == "running"
    # Poll the condition (the 1 s lease running out) with a deadline; no blind sleep.
    deadline = time.monotonic() + 20
    reaped: list = []
    while not reaped:
        assert time.monotonic() < deadline, "the lease never expired"
        reaped = sdj("task", "reap")
    assert len(reaped) == 1
    task = reaped[0]
    assert (task["id"], task["status"], task["retry_count"], task["assigned_agent"]) == (1, "ready", 1, None)
    assert "timed out" in task["error_message"]
    assert sd("task", "reap").stdout == "0 task(s) timed out or left by silent agents: retried or failed\n"
    assert sdj("agent", "get", "w")["current_task_id"] is None


# -- agents ---------------------------------------------------------------------------------------------


def test_agent_register_heartbeat_update_get_list_log(sd, sdj):
    sdj("task", "enqueue", "t")
    w1 = sdj("agent", "register", "w1", "--type", "impl", "--colour", "red", "--model", "opus",
             "--stale-after", "2m")
    assert AGENT_FIELDS <= set(w1)
    assert (w1["agent_type"], w1["colour"], w1["model"]) == ("impl", "red", "opus")
    assert w1["stale_after_seconds"] == 120
    assert (w1["status"], w1["stale"], w1["blockers"], w1["completion"]) == ("idle", False, [], 0)
    assert 0 <= w1["heartbeat_age_seconds"] < 60
    sdj("agent", "register", "a0", "--type", "review")

    beat = sdj("agent", "heartbeat", "w1", "--status", "working", "--task", "1", "--completion", "40",
               "--blocker", "needs API key", "--blocker", "CI red", "--next-milestone", "M2")
    assert (beat["status"], beat["current_task_id"], beat["completion"]) == ("working", 1, 40)
    assert (beat["blockers"], beat["next_milestone"]) == (["needs API key", "CI red"], "M2")
    assert beat["last_heartbeat"] >= w1["last_heartbeat"]

    # update changes fields without counting as a heartbeat.
    upd = sdj("agent", "update", "w1", "--no-task", "--clear-blockers", "--status", "blocked")
    assert (upd["status"], upd["current_task_id"], upd["blockers"]) == ("blocked", None, [])
    assert upd["last_heartbeat"] == beat["last_heartbeat"]

    before = json.loads(sd("--json", "agent", "get", "w1").stdout)
    after = json.loads(sd("agent", "get", "w1", "--json").stdout)
    assert before.pop("heartbeat_age_seconds") <= after.pop("heartbeat_age_seconds")  # the clock moved on
    assert before == after
    human = sd("agent", "get", "w1").stdout.splitlines()
    assert human[0].startswith("w1  [blocked]  type impl  heartbeat ")
    assert human[1] == "  task: -  completion: 40%  next milestone: M2"
    assert [a["name"] for a in sdj("agent", "list")] == ["a0", "w1"]
    table = sd("agent", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "STATUS", "TYPE", "TASK", "DONE", "HEARTBEAT"]
    assert table[2].split()[:5] == ["w1", "blocked", "impl", "-", "40%"]

    assert sdj("agent", "log", "w1", "--phase", "impl", "--action", "edit parser.py", "--duration-ms", "12.5",
               "--failed", "--error", "syntax error") == {"logged": True}
    assert sd("agent", "log", "w1", "--phase", "impl", "--action", "run tests").stdout == "logged\n"
    logged = json_lines(sd("events", "tail", "--limit", "2", "--json"))
    assert [e["kind"] for e in logged] == ["agent.action", "agent.action"]
    assert logged[0]["payload"] == {"phase": "impl", "action": "edit parser.py", "duration_ms": 12.5,
                                    "success": False, "error_message": "syntax error"}
    assert logged[1]["payload"]["success"] is True

    expect_error(sd("agent", "get", "ghost"), 3, "'ghost' is not registered")
    expect_json_error(sd("agent", "get", "ghost", "--json"), 3, "not_found", "ghost")
    expect_error(sd("agent", "heartbeat", "w1", "--task", "99"), 3, "task 99 does not exist")
    expect_error(sd("agent", "update", "w1"), 1, "nothing to update")
    expect_error(sd("agent", "register", "w3"), 2, "--type")


# -- milestones and gates ---------------------------------------------------------------------------------


def test_milestones_reports_decisions_and_conditions(tmp_path, sd, sdj, human, humanj):
    # Reports come from registered agents; decisions from registered reviewers (people, at a terminal).
    for agent in ("alice", "dave"):
        sdj("agent", "register", agent, "--type", "validation")
    for reviewer in ("bob", "carol", "erin"):
        humanj("reviewer", "add", reviewer, "--by", "bob")
    m1 = sdj("milestone", "add", "M1", "--objective", "parse everything", "--weeks", "1-2", "--budget", "40",
             "--deliverable", "parser", "--criterion", "tests pass", "--criterion", "docs")
    assert MILESTONE_FIELDS <= set(m1)
    assert (m1["id"], m1["status"], m1["planned_weeks"], m1["hour_budget"]) == (1, "open", "1-2", 40)
    assert (m1["deliverables"], m1["acceptance_criteria"]) == (["parser"], ["tests pass", "docs"])
    m2 = sdj("milestone", "add", "M2", "--approvals", "2")
    assert (m2["status"], m2["required_approvals"]) == ("locked", 2)
    gated = sdj("task", "enqueue", "M2 work", "--milestone", "M2")
    assert (gated["status"], gated["milestone_id"]) == ("blocked", 2)
    assert "milestone 'M2' is not open yet" in gated["blocked_reason"]

    assert [(m["name"], m["status"]) for m in sdj("milestone", "list")] == [("M1", "open"), ("M2", "locked")]
    assert sdj("milestone", "show", "1") == sdj("milestone", "show", "M1")
    assert sd("milestone", "show", "M1").stdout.splitlines() == [
        "milestone 1 M1  [open]  weeks 1-2  hours 0.0/40",
        "  objective: parse everything",
        "  deliverable: parser",
        "  criterion 1: tests pass",
        "  criterion 2: docs",
    ]
    expect_error(sd("milestone", "show", "M9"), 3, "milestone 'M9' does not exist")
    expect_error(sd("milestone", "add", "M1"), 1, "already exists")

    gate = sdj("gate", "status", "M1")
    assert (gate["report"], gate["decisions"]) == (None, [])
    assert (gate["next_milestone"], gate["unblocks"]) == ("M2", 1)
    text = sd("gate", "status", "M1").stdout
    assert "approving one opens M2: 1 task, 1 ready now." in text and "no report submitted yet" in text

    report_file = tmp_path / "report.json"
    report_file.write_text(json.dumps(REPORT))
    report = sdj("gate", "submit", "M1", "--file", str(report_file), "--by", "alice")
    assert (report["version"], report["submitted_by"], report["summary"]) == (1, "alice", "M1 is done")
    assert report["criteria"] == REPORT["criteria"]
    assert [(m["name"], m["met"]) for m in report["metrics"]] == [("p95 latency", True), ("coverage", False)]
    assert report["issues"] == REPORT["issues"] and report["recommendations"] == ["write the docs first"]
    assert report["proposed_decision"] == "CONDITIONAL" and len(report["content_hash"]) == 64
    shown = sd("gate", "status", "M1").stdout
    assert shown.startswith("gate of M1  [review]  approvals 0/1\n")
    assert "report v1 by alice" in shown
    assert "  criterion 1 [met] tests pass: CI run 42" in shown and "  criterion 2 [not_met] docs" in shown
    assert "  metric coverage: 70% (target >= 85) MISSED" in shown
    assert "  issue [medium] flaky test in CI" in shown

    # Who may decide, and with what.
    def decide(decision: str, *more: str, env: dict | None = None):
        return human("gate", "decide", "M1", "--decision", decision, *more, env=env)

    msg = expect_error(decide("APPROVE", "--rationale", "lgtm", "--reviewer", "alice"), 1,
                       "alice submitted this report and cannot decide it")
    assert "another reviewer" in msg
    expect_json_error(decide("APPROVE", "--rationale", "lgtm", "--json", env={"SWARMDECK_REVIEWER": "alice"}),
                      1, "permission_denied", "cannot decide")
    expect_error(sd("gate", "decide", "M1", "--decision", "APPROVE", "--reviewer", "bob"), 2, "--rationale")
    expect_error(decide("APPROVE", "--rationale", "   ", "--reviewer", "bob"), 1, "a rationale is required")
    expect_error(decide("CONDITIONAL", "--rationale", "ok", "--reviewer", "bob"), 1,
                 "needs at least one condition")
    expect_json_error(decide("APPROVE", "--rationale", "ok", "--reviewer", "bob", "--report-hash", "0" * 64,
                             "--json"), 1, "conflict", "changed since it was read")
    assert sdj("gate", "status", "M1")["decisions"] == []  # none of the refusals left a decision

    decision = humanj("gate", "decide", "M1", "--decision", "conditional", "--rationale", "good enough",
                   "--reviewer", "bob", "--condition", "write the docs", "--condition", "raise coverage",
                   "--report-hash", report["content_hash"], "--accept-unmet")
    assert DECISION_FIELDS <= set(decision)
    assert (decision["decision"], decision["reviewer"]) == ("CONDITIONAL", "bob")
    assert decision["rationale"] == "good enough" and decision["accepted_unmet"] == ["docs"]
    assert (decision["report_version"], decision["report_hash"]) == (1, report["content_hash"])

    gate = sdj("gate", "status", "M1")
    assert gate["milestone"]["status"] == "conditional" and gate["approvals"] == ["bob"]
    assert [(c["id"], c["text"], c["status"]) for c in gate["conditions"]] == [
        (1, "write the docs", "open"), (2, "raise coverage", "open")]
    assert sdj("milestone", "show", "M2")["status"] == "open"  # CONDITIONAL lets the next milestone proceed
    assert sdj("task", "get", str(gated["id"]))["status"] == "ready"
    assert "  condition 1 [open] write the docs" in sd("gate", "status", "M1").stdout
    expect_error(decide("APPROVE", "--rationale", "x", "--reviewer", "carol"), 1,
                 "only a milestone in review can be decided")

    closed = humanj("gate", "close-condition", "1", "--by", "carol", "--note", "docs merged")
    assert (closed["status"], closed["closed_by"], closed["note"]) == ("closed", "carol", "docs merged")
    expect_error(human("gate", "close-condition", "1", "--by", "carol"), 1, "condition 1 is already closed")
    expect_error(human("gate", "close-condition", "99", "--by", "carol"), 3, "condition 99 does not exist")
    assert sdj("milestone", "show", "M1")["status"] == "conditional"
    # Without --note, the person is asked how it was met.
    assert human("gate", "close-condition", "2", "--by", "carol", input=f"coverage at 90%\ny\n{PASSPHRASE}\n").stdout == \
        "condition 2 closed\n"
    assert sdj("milestone", "show", "M1")["status"] == "approved"  # the last condition closed

    # A report from stdin, on the milestone that just opened; --summary overrides the file's.
    piped = sdj("gate", "submit", "M2", "--file", "-", "--by", "dave", "--summary", "from a pipe",
                input=json.dumps({"summary": "ignored", "recommendations": ["ship it"]}))
    assert (piped["summary"], piped["recommendations"]) == ("from a pipe", ["ship it"])
    assert piped["milestone_id"] == 2
    first = humanj("gate", "decide", "M2", "--decision", "APPROVE", "--rationale", "fine", "--reviewer", "bob")
    assert first["decision"] == "APPROVE"
    gate = sdj("gate", "status", "M2")
    assert (gate["milestone"]["status"], gate["approvals"]) == ("review", ["bob"])  # 1 of 2 approvals
    again = human("gate", "decide", "M2", "--decision", "APPROVE", "--rationale", "again", "--reviewer", "bob")
    expect_error(again, 1, "bob has already approved")
    humanj("gate", "decide", "M2", "--decision", "APPROVE", "--rationale", "fine too", "--reviewer", "erin")
    assert sdj("milestone", "show", "M2")["status"] == "approved"
    expect_error(sd("gate", "submit", "M2", "--summary", "late"), 1, "M2' is approved")


def test_gate_submit_rejects_bad_reports(tmp_path, sd, sdj):
    sdj("milestone", "add", "M1")
    bad = tmp_path / "bad.json"
    cases = [
        ("[1, 2]", 1, "must hold a JSON object"),
        ('{"verdict": "yes"}', 1, "unknown report field(s): verdict"),
        ('{"criteria": [{"name": "x", "status": "done"}]}', 1, "criterion status must be one of"),
        ('{"metrics": [{"name": "m", "value": "fast", "target": 1}]}', 1, "must be a finite number"),
        ("{not json", 2, "not valid JSON"),
    ]
    for text, code, fragment in cases:
        bad.write_text(text)
        expect_error(sd("gate", "submit", "M1", "--file", str(bad)), code, fragment)
    expect_error(sd("gate", "submit", "M1", "--file", str(tmp_path / "absent.json")), 2, "cannot read")
    expect_error(sd("gate", "submit", "M9", "--summary", "x"), 3, "milestone 'M9' does not exist")
    assert sdj("gate", "status", "M1")["report"] is None
    assert sdj("milestone", "show", "M1")["status"] == "open"


def test_escalate_pauses_claims_until_resume(sd, sdj, human, humanj):
    sdj("milestone", "add", "M1")
    sdj("agent", "register", "w", "--type", "general")
    sdj("agent", "register", "alice", "--type", "validation")
    humanj("reviewer", "add", "bob", "--by", "bob")
    sdj("task", "enqueue", "keep going")
    sdj("gate", "submit", "M1", "--by", "alice", "--summary", "not sure")
    humanj("gate", "decide", "M1", "--decision", "ESCALATE", "--rationale", "security concern",
           "--reviewer", "bob")

    expect_error(sd("task", "claim", "--agent", "w"), 4, "the swarm is paused", "security concern",
                 "gate resume")
    expect_json_error(sd("--json", "task", "claim", "--agent", "w"), 4, "swarm_paused")
    assert sdj("task", "status")["paused"] is True
    assert "[swarm PAUSED]" in sd("task", "status").stdout
    assert sdj("milestone", "show", "M1")["status"] == "escalated"
    assert sdj("task", "get", "1")["status"] == "ready"  # refused claims took nothing

    assert humanj("gate", "resume", "--by", "bob", "--note", "fixed") == {
        "paused": False, "reason": None, "paused_by": None, "paused_at": None, "escalation_id": None}
    expect_error(human("gate", "resume", "--by", "bob"), 1, "the swarm is not paused")
    assert sdj("milestone", "show", "M1")["status"] == "review"
    assert sdj("task", "claim", "--agent", "w")["id"] == 1
    kinds = [e["kind"] for e in json_lines(sd("events", "tail", "--limit", "4", "--json"))]
    assert kinds == ["swarm.paused", "milestone.review", "swarm.resumed", "task.claimed"]


# -- errors ------------------------------------------------------------------------------------------------


def test_error_exit_codes_and_single_line_messages(sd, sdj):
    sdj("task", "enqueue", "t")

    # refused: 1, with the store's own sentence.
    assert expect_error(sd("task", "complete", "1"), 1) == \
        "swarmdeck: task 1 is ready; only running tasks can be completed"
    for placement in (["--json", "task", "complete", "1"], ["task", "complete", "1", "--json"]):
        message = expect_json_error(sd(*placement), 1, "invalid_transition")
        assert message == "task 1 is ready; only running tasks can be completed"

    # not found: 3.
    assert expect_error(sd("task", "get", "99"), 3) == "swarmdeck: task 99 does not exist"
    for placement in (["--json", "task", "get", "99"], ["task", "get", "99", "--json"]):
        expect_json_error(sd(*placement), 3, "not_found", "task 99 does not exist")
    expect_error(sd("task", "cancel", "99", "--dry-run"), 3)
    expect_error(sd("task", "claim", "--agent", "nobody"), 3, "'nobody' is not registered")

    # usage: 2, one line too, JSON when asked for (wherever --json is).
    usage = [
        (["task", "get", "abc"], "TASK_ID"),
        (["task", "bogus"], "No such command 'bogus'"),
        (["task", "enqueue"], "Missing argument 'DESCRIPTION'"),
        (["task", "priority", "1", "11"], "BASE_PRIORITY"),
        (["task", "enqueue", "t", "--deadline", "someday"], "not a time"),
        (["task", "enqueue", "t", "--input", "{oops"], "not valid JSON"),
        (["--jsno", "task", "list"], "No such option"),
        (["task", "get", "99999999999999999999"], "TASK_ID"),
    ]
    for args, fragment in usage:
        expect_error(sd(*args), 2, fragment)
    expect_json_error(sd("--json", "task", "get", "abc"), 2, "usage", "TASK_ID")
    expect_json_error(sd("task", "get", "abc", "--json"), 2, "usage", "TASK_ID")
    expect_json_error(sd("--json", "task", "bogus"), 2, "usage", "bogus")

    # Numbers SQLite cannot hold never reach the driver as a crash.
    expect_error(sd("events", "tail", "--since", "99999999999999999999"), 2, "--since")
    expect_error(sd("milestone", "show", "99999999999999999999"), 3, "does not exist")
    expect_error(sd("gate", "close-condition", "99999999999999999999"), 2)

    # Help and version still work, on stdout, with exit 0.
    helped = sd("task", "--help")
    assert helped.returncode == 0 and "enqueue" in helped.stdout and helped.stderr == ""
    version = sd("--version")
    assert version.returncode == 0 and version.stdout.startswith("swarmdeck, version ")


def test_a_refused_write_leaves_no_trace(sd, sdj):
    sdj("milestone", "add", "M1")
    sdj("agent", "register", "w", "--type", "general")
    sdj("task", "enqueue", "the only task")
    tasks_before, agents_before = sdj("task", "list"), sdj("agent", "list")
    last_event = json.loads(sd("events", "tail", "--limit", "1", "--json").stdout)["id"]

    refused = [
        (["task", "enqueue", "x", "--after", "1", "--after", "99"], 3),
        (["task", "enqueue", "x", "--milestone", "M9"], 3),
        (["task", "enqueue", "x", "--parent", "42"], 3),
        (["task", "enqueue", "   "], 1),
        (["task", "complete", "1"], 1),
        (["agent", "heartbeat", "w", "--task", "99", "--status", "working"], 3),
        (["gate", "decide", "M1", "--decision", "APPROVE", "--rationale", "x", "--reviewer", "bob"], 1),
    ]
    for args, code in refused:
        expect_error(sd(*args), code)

    assert sdj("task", "list") == tasks_before
    assert [{k: v for k, v in a.items() if k != "heartbeat_age_seconds"} for a in sdj("agent", "list")] == \
        [{k: v for k, v in a.items() if k != "heartbeat_age_seconds"} for a in agents_before]
    since = sd("events", "tail", "--since", str(last_event), "--json")
    assert (since.returncode, since.stdout, since.stderr) == (0, "", "")
    assert sdj("task", "status")["total"] == 1


# -- the change feed -----------------------------------------------------------------------------------


def test_events_tail(sd, sdj):
    assert sd("events", "tail").stdout == ""  # nothing happened yet
    assert sd("events", "tail", "--json").stdout == ""
    sdj("task", "enqueue", "one")
    sdj("task", "enqueue", "two", "--after", "1")
    sdj("agent", "register", "w", "--type", "general")

    raw = sd("--json", "events", "tail")
    events = json_lines(raw)
    assert all(EVENT_FIELDS <= set(e) for e in events)
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert [e["kind"] for e in events] == [
        "task.enqueued", "task.enqueued", "task.reprioritised", "agent.registered"]
    assert (events[1]["entity"], events[1]["entity_id"]) == ("task", "2")
    assert events[1]["payload"]["prerequisites"] == [1]
    assert events[3]["actor"] == "w"

    assert sd("events", "tail", "--json").stdout == raw.stdout  # both placements
    since = json_lines(sd("events", "tail", "--since", str(events[1]["id"]), "--json"))
    assert since == events[2:]
    assert json_lines(sd("events", "tail", "--limit", "2", "--json")) == events[-2:]
    assert json_lines(sd("events", "tail", "--since", "0", "--limit", "1", "--json")) == events[:1]

    human = sd("events", "tail").stdout.splitlines()
    assert len(human) == 4
    assert "task.enqueued" in human[0] and "task:1" in human[0]
    assert "agent.registered" in human[3] and "agent:w" in human[3]


# -- untrusted text -----------------------------------------------------------------------------------------


def test_untrusted_text_round_trips_in_json_and_is_inert_in_human_output(tmp_path, sd, sdj, humanj):
    def inert(text: str) -> None:
        assert not [ch for ch in RAW if ch in text]
        assert EVIL_SHOWN in text
        for markup in ("[bold red]x[/]", "[@click=app.quit]q[/]", "[link=http://x]y[/link]"):
            assert markup in text

    task = sdj("task", "enqueue", EVIL, "--summary", EVIL)
    assert task["description"] == EVIL and task["summary"] == EVIL
    assert sdj("task", "get", "1")["description"] == EVIL
    inert(sd("task", "get", "1").stdout)
    assert not [ch for ch in RAW if ch in sd("task", "list").stdout]

    # A name with control characters is no name: refused, and the refusal is inert too.
    refused = sd("agent", "register", EVIL, "--type", "impl")
    expect_error(refused, 1, "contains a control character (U+001B)")
    assert "\x1b" not in refused.stderr and "\x9b" not in refused.stderr
    agent = sdj("agent", "register", EVIL_NAME, "--type", EVIL)
    assert agent["name"] == EVIL_NAME and agent["agent_type"] == EVIL
    beat = sdj("agent", "heartbeat", EVIL_NAME, "--blocker", EVIL, "--next-milestone", EVIL)
    assert beat["blockers"] == [EVIL] and beat["next_milestone"] == EVIL
    assert sdj("agent", "get", EVIL_NAME)["blockers"] == [EVIL]
    inert(sd("agent", "get", EVIL_NAME).stdout)
    inert(sd("agent", "list").stdout)
    humanj("reviewer", "add", "bob", "--by", "bob")

    sdj("milestone", "add", "M1", "--objective", EVIL)
    report_file = tmp_path / "evil.json"
    report_file.write_text(json.dumps({
        "summary": EVIL,
        "criteria": [{"name": EVIL, "status": "met", "evidence": EVIL}],
        "issues": [{"severity": "high", "description": EVIL}],
        "recommendations": [EVIL],
    }))
    report = sdj("gate", "submit", "M1", "--file", str(report_file), "--by", EVIL_NAME)
    assert report["summary"] == EVIL and report["submitted_by"] == EVIL_NAME
    assert report["criteria"] == [{"name": EVIL, "status": "met", "evidence": EVIL}]
    decision = humanj("gate", "decide", "M1", "--decision", "REVISE", "--rationale", EVIL, "--reviewer", "bob")
    assert decision["rationale"] == EVIL
    gate = sdj("gate", "status", "M1")
    assert gate["report"]["issues"][0]["description"] == EVIL and gate["report"]["recommendations"] == [EVIL]
    inert(sd("gate", "status", "M1").stdout)
    inert(sd("milestone", "show", "M1").stdout)

    sdj("--actor", EVIL, "task", "enqueue", "enqueued by whoever says so")  # an actor is not checked as a name
    events = json_lines(sd("events", "tail", "--limit", "100", "--json"))
    assert any(e["actor"] == EVIL_NAME and e["entity_id"] == EVIL_NAME for e in events)
    assert any(e["actor"] == EVIL for e in events)
    inert(sd("events", "tail", "--limit", "100").stdout)

    # Error messages quote what was typed, still inert.
    missing = sd("agent", "get", "no " + EVIL)
    expect_error(missing, 3, "is not registered")
    assert not [ch for ch in RAW if ch in missing.stderr]
    failed = sd("task", "fail", "1", "--error", EVIL)
    expect_error(failed, 1, "only running tasks can be failed")
