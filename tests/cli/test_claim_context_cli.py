"""`swarmdeck task claim` brings the past failures and decisions that concern the claimed task."""

from __future__ import annotations

from test_cli import expect_error


def setup_swarm(sdj) -> None:
    sdj("agent", "register", "w1", "--type", "impl")
    sdj("milestone", "add", "M1 Foundation")
    sdj("failure", "log", "--feature", "claim loop", "--approach", "polling the queue every 10 ms",
        "--why", "database locked under load", "--lesson", "use BEGIN IMMEDIATE [bold]and[/bold] back off",
        "--namespace", "project:a", "--milestone", "M1")
    sdj("decision", "log", "--decision", "claim loop waits on the change feed", "--rationale", "no polling",
        "--namespace", "project:a")
    sdj("failure", "log", "--feature", "css", "--approach", "sass", "--why", "slow", "--lesson", "precompile",
        "--namespace", "project:a")
    sdj("failure", "log", "--feature", "claim loop", "--approach", "threads", "--why", "locked",
        "--lesson", "async", "--namespace", "project:b")


def test_a_claim_shows_the_lessons_that_concern_the_task(sd, sdj):
    setup_swarm(sdj)
    task = sdj("task", "enqueue", "Rewrite the claim loop", "--type", "impl")
    claimed = sdj("task", "claim", "--agent", "w1")
    assert claimed["id"] == task["id"] and claimed["status"] == "running"  # the task's fields, as before
    context = claimed["context"]
    assert context["mode"] == "keyword"
    assert {lesson["title"] for lesson in context["lessons"]} == {
        "failure: claim loop", "decision: claim loop waits on the change feed"}
    assert len(context["lessons"]) == 3  # the default limit: project:b's failure too

    sdj("task", "enqueue", "claim loop metrics", "--type", "impl")
    out = sd("task", "claim", "--agent", "w1", "--context-namespace", "project:a", "--context-milestone", "M1")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "past failures and decisions" in text and "why failed: database locked under load" in text
    assert "use BEGIN IMMEDIATE [bold]and[/bold] back off" in text  # agent text shown literally
    assert "project:b" not in text and "no polling" not in text  # the milestone filter keeps M1's alone


def test_no_context_is_the_task_alone_and_bad_filters_claim_nothing(sd, sdj):
    setup_swarm(sdj)
    sdj("task", "enqueue", "claim loop", "--type", "impl")
    expect_error(sd("task", "claim", "--agent", "w1", "--context-milestone", "M9"), 3, "M9")
    assert sd("task", "claim", "--agent", "w1", "--context-limit", "99").returncode == 2
    assert sdj("task", "list", "--status", "ready")[0]["status"] == "ready"  # nothing was claimed
    bare = sdj("task", "claim", "--agent", "w1", "--no-context")
    assert "context" not in bare and bare["status"] == "running"
    assert sdj("task", "claim", "--agent", "w1") is None
    assert sd("task", "claim", "--agent", "w1").stdout.strip() == "no ready task"


def test_an_embedder_given_ranks_by_meaning_too(sdj):
    setup_swarm(sdj)
    sdj("task", "enqueue", "claim loop", "--type", "impl")
    sdj("memory", "index", "--embedder", "hash")
    claimed = sdj("task", "claim", "--agent", "w1", "--embedder", "hash")
    assert claimed["context"]["mode"] == "hybrid" and claimed["context"]["lessons"]
