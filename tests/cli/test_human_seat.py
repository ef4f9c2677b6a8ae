"""A person's acts at the command line: only at an interactive terminal, after showing exactly what is
acted on, and confirmed there. Agents run swarmdeck without a terminal; a person deciding has one."""

from __future__ import annotations

import asyncio
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from swarmdeck.app.cli import seat
from swarmdeck.store import open_store

from signing_support import PASSPHRASE, decide, key
from test_cli import REPORT, expect_error, expect_json_error


def store_call(db: Path, *calls: tuple[str, tuple, dict]) -> list:
    """Run store methods on ``db`` in order (set-up an agent or a person did earlier)."""

    async def main() -> list:
        store = await open_store(db)
        try:
            return [await getattr(store, name)(*args, **kwargs) for name, args, kwargs in calls]
        finally:
            await store.close()

    return asyncio.run(main())


def call(name: str, *args, **kwargs) -> tuple[str, tuple, dict]:
    return name, args, kwargs


@pytest.fixture
def review(db: Path) -> Path:
    """M1 (one approval) in review on a report by the agent builder-1; reviewers alice and bob."""
    store_call(db,
               call("register_agent", "builder-1", agent_type="implementation"),
               call("add_reviewer", "alice", by="alice", public_key=key("alice")),
               call("add_reviewer", "bob", by="alice", public_key=key("bob")),
               call("add_milestone", "M1"),
               call("add_milestone", "M2"),
               call("submit_report", "M1", submitted_by="builder-1", **REPORT))
    return db


def signed(db: Path, act, *args, **kwargs):
    """A person's signed act (tests/signing_support.py) on ``db``, done earlier."""

    async def main():
        store = await open_store(db)
        try:
            return await act(store, *args, **kwargs)
        finally:
            await store.close()

    return asyncio.run(main())


def escalate(db: Path) -> None:
    signed(db, decide, "M1", decision="ESCALATE", rationale="security review", reviewer="alice")


def gate(db: Path):
    return store_call(db, call("gate_status", "M1"))[0]


# -- without a terminal: refused, one line, nothing done -------------------------------------------------


HUMAN_COMMANDS = [
    ["gate", "decide", "M1", "--decision", "APPROVE", "--rationale", "ok", "--reviewer", "bob"],
    ["gate", "resume", "--by", "bob", "--reason", "host booked"],
    ["gate", "close-condition", "1", "--by", "bob", "--note", "done"],
    ["reviewer", "add", "carol", "--by", "alice"],
    ["reviewer", "remove", "bob", "--by", "alice"],
]


@pytest.mark.parametrize("args", HUMAN_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_persons_act_without_a_terminal_is_refused(review, sd, args):
    before = (gate(review), store_call(review, call("list_reviewers", include_removed=True))[0])
    line = expect_error(sd(*args), 1, "is a person's act and needs an interactive terminal",
                        "run this from your own terminal, or use the dashboard")
    assert f"`swarmdeck {args[0]} {args[1]}`" in line
    expect_json_error(sd("--json", *args), 1, "not_a_human_seat", "interactive terminal")
    # Piped answers are no person either.
    expect_error(sd(*args, input="y\n"), 1, "needs an interactive terminal")
    assert (gate(review), store_call(review, call("list_reviewers", include_removed=True))[0]) == before


def test_an_agent_cannot_lift_a_humans_escalation_by_borrowing_a_name(review, sd):
    """`SWARMDECK_ACTOR=alice swarmdeck gate resume`, from an agent's tool call, lifted an ESCALATE."""
    escalate(review)
    result = sd("gate", "resume", "--note", "looks fine to me", env={"SWARMDECK_ACTOR": "alice"})
    expect_error(result, 1, "needs an interactive terminal")
    result = sd("gate", "resume", "--note", "fine", env={"SWARMDECK_REVIEWER": "alice"})
    expect_error(result, 1, "needs an interactive terminal")
    assert store_call(review, call("swarm_state"))[0].paused
    assert gate(review).resumptions == ()


def test_the_terminal_check_is_both_ends(monkeypatch):
    """stdin and stdout must both be terminals (an agent may hold one end, e.g. `script`'s stdout)."""
    monkeypatch.setattr(seat, "_tty", lambda stream: stream is seat.sys.stdin)
    assert not seat.is_human_seat()
    monkeypatch.setattr(seat, "_tty", lambda stream: True)
    assert seat.is_human_seat()
    monkeypatch.undo()
    with open(os.devnull) as null:
        assert not seat._tty(null)


# -- the version decided is the version shown ------------------------------------------------------------


def test_a_report_hash_that_is_not_current_is_a_conflict(review, human):
    old = gate(review).report.content_hash
    store_call(review, call("submit_report", "M1", submitted_by="builder-1", summary="swapped a second earlier"))
    result = human("--json", "gate", "decide", "M1", "--decision", "APPROVE", "--rationale", "ok",
                   "--reviewer", "bob", "--report-hash", old)
    expect_json_error(result, 1, "conflict", "changed since it was read (now version 2)")
    assert gate(review).decisions == ()


def test_a_report_that_changes_while_the_person_reads_is_not_decided(review, human, monkeypatch):
    """Today's CLI approved whatever was newest; now it decides the version it showed, or nothing."""
    shown = gate(review).report
    asked = []

    def agent_swaps_the_report(question: str) -> None:
        asked.append(question)
        # Another process (the agent) writes while the person reads: its own thread and event loop.
        with ThreadPoolExecutor(1) as other:
            other.submit(store_call, review, call("submit_report", "M1", submitted_by="builder-1",
                                                  summary="all green, honest")).result()

    monkeypatch.setattr(seat, "confirm", agent_swaps_the_report)
    result = human("gate", "decide", "M1", "--decision", "APPROVE", "--rationale", "ok", "--reviewer", "bob",
                   input=f"{PASSPHRASE}\n")  # the confirmation is the agent's swap: then the key is unlocked
    assert asked == [f"Record APPROVE on report v1 ({shown.content_hash[:12]})?"]
    assert f"hash       {shown.content_hash}" in result.stderr and "summary    M1 is done" in result.stderr
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("swarmdeck: the report of milestone 'M1' changed since it was read")
    assert gate(review).decisions == ()


def test_the_decision_records_the_version_shown(review, human):
    report = gate(review).report
    result = human("--json", "gate", "decide", "M1", "--decision", "REVISE", "--rationale", "docs missing",
                   "--reviewer", "alice")
    assert result.returncode == 0, result.stderr
    assert f"hash       {report.content_hash}" in result.stderr
    decided = json.loads(result.stdout)  # stdout is the result alone; the terminal dialogue is on stderr
    assert (decided["report_hash"], decided["report_version"], decided["reviewer"]) == (report.content_hash, 1, "alice")


def test_declining_records_nothing(review, human):
    result = human("gate", "decide", "M1", "--decision", "APPROVE", "--rationale", "ok", "--reviewer", "bob",
                   input="n\n")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines()[-1] == "swarmdeck: not confirmed: nothing was recorded"
    assert gate(review).decisions == ()


# -- who may act, even at a terminal -----------------------------------------------------------------


def test_at_a_terminal_an_agent_is_still_no_reviewer(review, human):
    store_call(review, call("register_agent", "helper", agent_type="implementation"))
    expect_error(human("gate", "decide", "M1", "--decision", "APPROVE", "--rationale", "ok", "--reviewer", "helper"),
                 1, "helper is a registered agent; agents never decide a gate")
    expect_error(human("gate", "decide", "M1", "--decision", "APPROVE", "--rationale", "ok",
                       "--reviewer", "Builder-1 "), 1, "builder-1 submitted this report and cannot decide it")
    expect_error(human("gate", "decide", "M1", "--decision", "APPROVE", "--rationale", "\u200b", "--reviewer", "bob"),
                 1, "a rationale is required")
    expect_error(human("gate", "decide", "M1", "--decision", "APPROVE", "--rationale", "ok", "--reviewer", "zed"),
                 1, "zed is not a registered reviewer", "swarmdeck reviewer add zed")
    assert gate(review).decisions == ()


def test_closing_a_condition_shows_it_and_records_who_when_and_a_note(review, human):
    signed(review, decide, "M1", decision="CONDITIONAL", rationale="ok", reviewer="alice",
           conditions=["write the docs", "raise coverage"])
    expect_error(human("gate", "close-condition", "1", "--by", "builder-1", "--note", "done"), 1,
                 "builder-1 submitted this report and cannot close its conditions")
    result = human("gate", "close-condition", "2", "--by", "bob", input=f"coverage is 91%\ny\n{PASSPHRASE}\n")
    assert result.returncode == 0, result.stderr
    assert "condition  2: raise coverage" in result.stderr and "How was it met" in result.stderr
    [_, closed] = gate(review).conditions
    assert (closed.closed_by, closed.note) == ("bob", "coverage is 91%") and closed.closed_at is not None
    status = human("gate", "status", "M1").stdout
    assert "condition 2 [closed] raise coverage (closed by bob at " in status
    assert "[verified: signed by bob's key]: coverage is 91%)" in status


def test_resume_says_what_it_lifts_and_records_why(review, human):
    escalate(review)
    result = human("gate", "resume", "--by", "bob", "--reason", "dedicated host booked")
    assert result.returncode == 0, result.stderr
    assert "paused     milestone 'M1' was escalated by alice: security review" in result.stderr
    assert "gate       M1 goes back to review" in result.stderr
    [resumption] = gate(review).resumptions
    assert (resumption.resumed_by, resumption.reason) == ("bob", "dedicated host booked")
    assert "resumed by bob at " in human("gate", "status", "M1").stdout


# -- the reviewer noun ----------------------------------------------------------------------------------


def test_reviewer_add_list_remove(db, sd, sdj, human, humanj):
    assert sd("reviewer", "list").stdout.startswith("no reviewers registered")
    first = humanj("reviewer", "add", "Alice ", "--by", "alice")
    assert {"id", "name", "added_at", "added_by", "removed_at", "removed_by", "public_key", "active"} <= set(first)
    assert (first["name"], first["added_by"], first["active"], first["public_key"]) == (
        "alice", "alice", True, key("alice").hex())  # the key made at this terminal
    result = human("reviewer", "add", "bob", "--by", "alice")
    assert result.returncode == 0 and "Registering bob as a reviewer (added by alice)" in result.stderr
    expect_error(human("reviewer", "add", "mallory", "--by", "mallory"), 1,
                 "only a registered reviewer can add a reviewer; mallory is not one")
    sdj("agent", "register", "builder-1", "--type", "implementation")
    expect_error(human("reviewer", "add", "Builder-1", "--by", "alice"), 1,
                 "builder-1 is a registered agent; a reviewer can never be an agent")
    expect_error(sd("agent", "register", "BOB", "--type", "implementation"), 1,
                 "bob is a registered reviewer; an agent can never be a reviewer")
    assert [r["name"] for r in sdj("reviewer", "list")] == ["alice", "bob"]

    removed = humanj("reviewer", "remove", "bob", "--by", "alice")
    assert (removed["active"], removed["removed_by"]) == (False, "alice")
    assert [r["name"] for r in sdj("reviewer", "list")] == ["alice"]
    assert [(r["name"], r["active"]) for r in sdj("reviewer", "list", "--all")] == [("alice", True), ("bob", False)]
    listed = sd("reviewer", "list", "--all").stdout.splitlines()
    assert listed[0].split() == ["NAME", "STATUS", "ADDED", "BY", "ADDED", "REMOVED", "BY", "REMOVED", "KEY"]
    assert listed[2].startswith("bob    removed  alice")
    expect_error(human("reviewer", "remove", "bob", "--by", "alice"), 1, "bob is not an active reviewer")
    expect_error(human("reviewer", "remove", "nobody", "--by", "alice"), 3, "'nobody' is not a registered reviewer")
