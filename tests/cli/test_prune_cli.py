"""`swarmdeck prune` (the retention policy, store/retention.py) and `memory search --archived`, end to end."""

from __future__ import annotations

import pytest
from test_cli import expect_error, expect_json_error


@pytest.fixture(autouse=True)
def _hash_embedder(monkeypatch) -> None:
    monkeypatch.setenv("SWARMDECK_EMBEDDER", "hash")


def seed(sdj) -> dict:
    return {
        "log": sdj("record", "log", "agent_log", "--field", "agent_name=builder", "--field", "phase=build",
                   "--field", "action=compile [bold]zanzibar[/bold] \x1b[31m"),
        "doc": sdj("record", "log", "docs_cache", "--field", "library=fastapi", "--field", "version=0.115",
                   "--field", "expires_at=2020-01-01"),
        "failure": sdj("failure", "log", "--feature", "zanzibar", "--approach", "a", "--why", "b",
                       "--lesson", "c"),
    }


def counts(report: dict) -> dict:
    return {g["kind"]: g["count"] for g in report["archived"]}


def test_a_dry_run_lists_what_goes_and_changes_nothing(sd, sdj):
    seed(sdj)
    report = sdj("prune", "--dry-run")
    assert report["applied"] is False and counts(report) == {"agent_log": 0, "pipeline_state": 0, "docs_cache": 1}
    assert {k["what"] for k in report["kept"]} == {"events", "finished tasks"}
    out = sd("prune", "--dry-run", "--older-than", "0.001").stdout
    assert out.startswith("would archive (dry run: nothing changed): 2 record(s)")
    assert "events:" in out and "hash-chained" in out
    assert len(sdj("record", "list")) == 3


def test_prune_archives_and_the_archive_stays_searchable_as_plain_text(sd, sdj):
    made = seed(sdj)
    report = sdj("prune", "--older-than", "0.001")
    assert report["applied"] is True and counts(report) == {"agent_log": 1, "pipeline_state": 0, "docs_cache": 1}
    assert [r["id"] for r in sdj("record", "list")] == [made["failure"]["id"]]
    hits = sdj("memory", "search", "zanzibar", "--mode", "keyword")
    assert [(h["kind"], h["ref_id"]) for h in hits] == [("failure", made["failure"]["id"])]
    found = sdj("memory", "search", "zanzibar", "--archived")
    assert [r["id"] for r in found] == [made["log"]["id"]] and found[0]["archived_at"]
    assert sdj("memory", "search", "zanzibar", "--archived", "--kind", "docs_cache") == []
    out = sd("memory", "search", "ZANZIBAR", "--archived").stdout
    assert "agent_log: builder" in out and "\x1b" not in out
    shown = sd("record", "get", str(made["log"]["id"])).stdout
    assert "archived " in shown.splitlines()[0]
    assert "[bold]zanzibar[/bold]" in shown and "\x1b" not in shown
    assert sdj("prune")["archived"] and counts(sdj("prune")) == {"agent_log": 0, "pipeline_state": 0,
                                                                 "docs_cache": 0}


def test_a_read_only_seat_cannot_prune(sd, sdj):
    seed(sdj)
    expect_error(sd("--read-only", "prune"), 1, "read-only")
    assert sdj("--read-only", "prune", "--dry-run")["applied"] is False
    assert counts(sdj("prune", "--dry-run")) == {"agent_log": 0, "pipeline_state": 0, "docs_cache": 1}


@pytest.mark.parametrize("args, fragment", [
    (["prune", "--older-than", "soon"], "--older-than"),
    (["prune", "--older-than", "0"], "older_than must be a positive"),
    (["memory", "search", "x", "--archived", "--since", "1d"], "--archived searches by words"),
    (["memory", "search", "x", "--archived", "--kind", "memory"], "unknown record kind"),
])
def test_bad_input_is_one_clear_line(sd, sdj, args, fragment):
    seed(sdj)
    expect_error(sd(*args), 2 if "--since" in args or "soon" in args else 1, fragment)
    expect_json_error(sd("--json", *args), 2 if "--since" in args or "soon" in args else 1,
                      "usage" if "--since" in args or "soon" in args else "invalid_argument", fragment)
    assert len(sdj("record", "list")) == 3


def finished_tasks(sdj) -> dict:
    """A task done, and one done that a ready task waits on."""
    import time

    sdj("agent", "register", "w1", "--type", "impl")
    done = sdj("task", "enqueue", "parse [bold]zanzibar[/bold] \x1b[31m", "--type", "impl")
    needed = sdj("task", "enqueue", "schema", "--type", "impl")
    for task in (done, needed):
        claimed = sdj("task", "claim", "--agent", "w1", "--no-context")
        sdj("task", "complete", str(claimed["id"] if "id" in claimed else claimed["task"]["id"]), "--agent", "w1")
    waiting = sdj("task", "enqueue", "uses the schema", "--type", "other", "--after", str(needed["id"]))
    time.sleep(0.05)
    return {"done": done["id"], "needed": needed["id"], "waiting": waiting["id"]}


def test_finished_tasks_are_archived_listed_on_request_and_shown_by_id(sd, sdj):
    ids = finished_tasks(sdj)
    dry = sdj("prune", "--dry-run", "--tasks-older-than", "0.01")
    assert dry["tasks"]["count"] == 1 and {t["id"] for t in sdj("task", "list")} == set(ids.values())
    out = sd("prune", "--tasks-older-than", "0.01").stdout
    assert "finished tasks: 1 (finished" in out and "finished tasks: 1 older than" in out
    assert "task list --archived" in out
    assert {t["id"] for t in sdj("task", "list")} == {ids["needed"], ids["waiting"]}
    assert [t["id"] for t in sdj("task", "list", "--archived")] == [ids["done"]]
    assert sdj("task", "get", str(ids["done"]))["archived_at"]
    shown = sd("task", "get", str(ids["done"])).stdout
    assert "archived:" in shown and "[bold]zanzibar[/bold]" in shown and "\x1b" not in shown
    listed = sd("task", "list", "--archived").stdout
    assert "[bold]zanzibar[/bold]" in listed and "\x1b" not in listed


@pytest.mark.parametrize("value, code, fragment", [
    ("soon", 2, "--tasks-older-than"),
    ("0", 1, "tasks_older_than must be a positive"),
    ("-3d", 2, "--tasks-older-than"),
])
def test_a_bad_task_age_is_one_clear_line_and_nothing_changes(sd, sdj, value, code, fragment):
    ids = finished_tasks(sdj)
    expect_error(sd("prune", "--tasks-older-than", value), code, fragment)
    assert {t["id"] for t in sdj("task", "list")} == set(ids.values())
    assert sdj("task", "list", "--archived") == []
