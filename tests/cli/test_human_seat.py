"""A person's acts at the command line: only at an interactive terminal, after showing exactly what is
acted on, and confirmed there. Agents run swarmdeck without a terminal; a person deciding has one."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from swarmdeck.app.cli import seat
from swarmdeck.store import open_store

from signing_support import PASSPHRASE, decide, key
from test_cli import REPORT, expect_error, expect_json_error

SWARMDECK = shutil.which("swarmdeck", path=str(Path(sys.executable).parent)) or shutil.which("swarmdeck")


def clean_env() -> dict[str, str]:
    """The developer's own SWARMDECK_* settings cannot steer the command under test (but the test's own
    key folder is where its reviewers' keys are)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWARMDECK_") or k == "SWARMDECK_KEYS"}
    env["PYTHONIOENCODING"] = "utf-8"
    return env


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


# -- in a real terminal ----------------------------------------------------------------------------------


class Terminal:
    """`swarmdeck` with stdin, stdout and stderr on a pseudo-terminal, as a person's shell runs it."""

    def __init__(self, *args: str) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([SWARMDECK, *args], stdin=slave, stdout=slave, stderr=slave,
                                     env=clean_env(), close_fds=True)
        os.close(slave)
        self.seen = ""

    def read_until(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            assert time.monotonic() < deadline, f"never saw {text!r}; saw {self.seen!r}"
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the other end closed
                    chunk = b""
                if not chunk:
                    assert text in self.seen, f"the command ended before {text!r}: {self.seen!r}"
                self.seen += chunk.decode(errors="replace").replace("\r\n", "\n")
        return self.seen

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def finish(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, f"the command never ended: {self.seen!r}"
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.seen += os.read(self.master, 4096).decode(errors="replace").replace("\r\n", "\n")
                except OSError:
                    pass
        os.close(self.master)
        return self.proc.returncode


def test_deciding_at_a_terminal_shows_the_version_and_asks(review):
    report = gate(review).report
    term = Terminal("--db", str(review), "gate", "decide", "M1", "--decision", "approve",
                    "--rationale", "criteria met", "--reviewer", "Bob")
    shown = term.read_until("[y/N]")
    for fragment in ("Deciding the gate of milestone 1 M1 as bob", "report     v1 by builder-1",
                     f"hash       {report.content_hash}", "summary    M1 is done", "decision   APPROVE",
                     "rationale  criteria met", "approvals  0/1 so far",
                     f"Record APPROVE on report v1 ({report.content_hash[:12]})?"):
        assert fragment in shown, fragment
    assert gate(review).decisions == ()  # nothing until the person says so
    term.type("y")
    term.read_until("Passphrase of bob's signing key")
    term.type(PASSPHRASE)
    assert term.finish() == 0
    assert PASSPHRASE not in term.seen  # typed on the terminal, never echoed
    assert "APPROVE by bob" in term.seen and "[verified: signed by bob's key]" in term.seen
    [decision] = gate(review).decisions
    assert (decision.reviewer, decision.report_hash) == ("bob", report.content_hash)


def test_saying_no_at_the_terminal_records_nothing(review):
    escalate(review)
    term = Terminal("--db", str(review), "gate", "resume", "--by", "bob")
    term.read_until("Why may the swarm go on")
    term.type("dedicated host booked")
    term.read_until("[y/N]")
    term.type("n")
    assert term.finish() == 1
    assert "not confirmed: nothing was recorded" in term.seen
    assert store_call(review, call("swarm_state"))[0].paused


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
