"""The real `swarmdeck` console script in real processes: a handful of smoke tests for what only a
process shows (the entry point, argv bytes decoded at start-up, exit codes, a real terminal, processes
waiting on each other). Every other CLI test runs in this process (tests/support.py ``invoke``)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path
from typing import IO

import pytest

from signing_support import PASSPHRASE
from support import clean_env, command, run_swarmdeck
from test_cli import expect_error, expect_json_error
from test_human_seat import call, escalate, gate, review, store_call  # noqa: F401 (review: a fixture)

pytestmark = pytest.mark.smoke


def test_the_entry_point_runs_commands_with_their_exit_codes(tmp_path):
    db = tmp_path / "deep" / "swarm.db"
    made = run_swarmdeck("--db", db, "init")
    assert made.returncode == 0 and made.stdout.startswith(f"swarm database ready at {db} (schema "), made.stderr
    enqueued = run_swarmdeck("--db", db, "--json", "task", "enqueue", "from stdin", "--input", "-",
                             input='{"pages": 3}\n')
    assert enqueued.returncode == 0 and enqueued.stderr == ""
    assert json.loads(enqueued.stdout)["input_data"] == {"pages": 3}
    # refused 1, usage 2, not found 3: one line each; JSON with --json.
    assert expect_error(run_swarmdeck("--db", db, "task", "complete", "1"), 1) == \
        "swarmdeck: task 1 is ready; only running tasks can be completed"
    expect_error(run_swarmdeck("--db", db, "task", "get", "abc"), 2, "TASK_ID")
    expect_json_error(run_swarmdeck("--db", db, "task", "get", "99", "--json"), 3, "not_found", "task 99")


def test_argv_bytes_that_are_not_utf8_in_a_real_process(db):
    """The real thing: bytes in argv, decoded by Python at start-up, never a traceback."""
    for args in ([b"task", b"enqueue", b"\xff\xfe"], [b"agent", b"register", b"\xff", b"--type", b"x"],
                 [b"--json", b"task", b"list", b"--type", b"\xc3"]):
        proc = run_swarmdeck("--db", db, *args)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.splitlines()) == 1 and "not valid UTF-8" in proc.stderr and proc.stdout == ""
    assert json.loads(run_swarmdeck("--db", db, "--json", "task", "list").stdout) == []


def test_a_persons_act_in_a_real_process_without_a_terminal_is_refused(review):
    before = gate(review)
    args = ["gate", "decide", "M1", "--decision", "APPROVE", "--rationale", "ok", "--reviewer", "bob"]
    expect_error(run_swarmdeck("--db", review, *args, input="y\n"), 1, "needs an interactive terminal")
    expect_json_error(run_swarmdeck("--db", review, "--json", *args), 1, "not_a_human_seat", "interactive terminal")
    assert gate(review) == before


def _ready_for_review(run_sd, person, db_path: Path) -> None:
    """A fresh database whose milestone M1 has a report (by the agent alice) awaiting a decision, and
    the reviewer bob."""
    assert run_sd("--db", db_path, "init").returncode == 0
    for args in (["milestone", "add", "M1"], ["agent", "register", "alice", "--type", "validation"],
                 ["gate", "submit", "M1", "--by", "alice", "--summary", "done"]):
        result = run_sd("--db", db_path, *args)
        assert result.returncode == 0, result.stderr
    added = person(db_path, "reviewer", "add", "bob", "--by", "bob")
    assert added.returncode == 0, added.stderr


def test_gate_wait_exits_with_a_code_per_decision(tmp_path, run_sd, sd_popen, person):
    """Waiters in real processes, each released by a decision another process records."""
    expected = {"APPROVE": 0, "CONDITIONAL": 10, "REVISE": 11, "ESCALATE": 12}
    dbs = {decision: tmp_path / f"{decision.lower()}.db" for decision in expected}
    undecided = tmp_path / "undecided.db"
    for path in (*dbs.values(), undecided):
        _ready_for_review(run_sd, person, path)

    waiters = {decision: sd_popen(path, "gate", "wait", "M1", "--interval", "0.1", "--json")
               for decision, path in dbs.items()}
    started = time.monotonic()
    timer = sd_popen(undecided, "gate", "wait", "M1", "--interval", "0.1", "--timeout", "0.5")
    out, err = timer.communicate(timeout=30)
    assert (timer.returncode, out, err) == (124, "timed out waiting for a decision\n", "")
    assert time.monotonic() - started >= 0.5  # a fractional --timeout is honoured, not rounded down to 0

    # Meanwhile nothing was decided, so every waiter is still waiting.
    assert [w.poll() for w in waiters.values()] == [None] * 4
    for decision, path in dbs.items():
        extra = ["--condition", "add docs"] if decision == "CONDITIONAL" else []
        decided = person(path, "gate", "decide", "M1", "--decision", decision,
                         "--rationale", "because", "--reviewer", "bob", *extra)
        assert decided.returncode == 0, decided.stderr

    for decision, waiter in waiters.items():
        out, err = waiter.communicate(timeout=30)
        assert err == ""
        assert waiter.returncode == expected[decision], (decision, waiter.returncode)
        result = json.loads(out)
        assert (result["decision"], result["reviewer"], result["rationale"]) == (decision, "bob", "because")

    # Once decided, a new waiter returns at once with the same code (and the decision in plain text).
    again = run_sd("--db", dbs["REVISE"], "gate", "wait", "M1")
    assert again.returncode == 11
    assert again.stdout.startswith("REVISE by bob at ") and again.stdout.rstrip().endswith(": because")
    timed_out = run_sd("--db", undecided, "--json", "gate", "wait", "M1", "--timeout", "0")
    assert (timed_out.returncode, timed_out.stdout) == (124, "null\n")



def _stderr_line(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    """The next line the process writes on stderr (it must write one within ``timeout``)."""
    ready, _, _ = select.select([proc.stderr], [], [], timeout)
    assert ready, f"nothing on stderr in {timeout} s"
    return proc.stderr.readline()


def test_gate_wait_on_a_gate_not_submitted_yet_waits_for_its_decision(tmp_path, run_sd, sd_popen, person):
    """Waiters started before anything was submitted, by the labels every screen shows: each says on
    stderr what it waits for as that changes (locked, no report, a report to decide), and exits with
    the code of the decision at the end of it."""
    db = tmp_path / "swarm.db"
    for args in (["init"], ["milestone", "add", "M1 Core Schema Foundation"], ["milestone", "add", "M2 Memory"],
                 ["agent", "register", "alice", "--type", "validation"]):
        assert run_sd("--db", db, *args).returncode == 0
    assert person(db, "reviewer", "add", "bob", "--by", "bob").returncode == 0
    first = sd_popen(db, "gate", "wait", "m1", "--interval", "0.05")
    second = sd_popen(db, "--json", "gate", "wait", "M2", "--interval", "0.05")
    assert _stderr_line(first) == "swarmdeck: waiting: milestone 'M1 Core Schema Foundation' has no report yet\n"
    assert json.loads(_stderr_line(second))["waiting"]["code"] == "locked"

    assert run_sd("--db", db, "gate", "submit", "M1", "--by", "alice", "--summary", "done").returncode == 0
    assert _stderr_line(first) == ("swarmdeck: waiting: milestone 'M1 Core Schema Foundation': report v1 awaits "
                                   "a decision\n")
    assert (first.poll(), second.poll()) == (None, None)  # a report is not a decision
    decided = person(db, "gate", "decide", "M1", "--decision", "CONDITIONAL", "--rationale", "because",
                     "--reviewer", "bob", "--condition", "add docs")
    assert decided.returncode == 0, decided.stderr
    out, err = first.communicate(timeout=30)
    assert (first.returncode, err) == (10, "")
    assert out.startswith("CONDITIONAL by bob at ") and out.rstrip().endswith(": because")

    # M1's gate passed, so M2 opened: its waiter waits for a report now, then for its decision.
    assert json.loads(_stderr_line(second)) == {"waiting": {
        "code": "no_report", "milestone_id": 2, "message": "milestone 'M2 Memory' has no report yet"}}
    assert run_sd("--db", db, "gate", "submit", "M2", "--by", "alice", "--summary", "done").returncode == 0
    assert json.loads(_stderr_line(second))["waiting"] == {
        "code": "decision", "milestone_id": 2, "message": "milestone 'M2 Memory': report v1 awaits a decision"}
    decided = person(db, "gate", "decide", "m2", "--decision", "REVISE", "--rationale", "redo", "--reviewer", "bob")
    assert decided.returncode == 0, decided.stderr
    out, err = second.communicate(timeout=30)
    assert (second.returncode, err) == (11, "")
    assert (json.loads(out)["decision"], json.loads(out)["rationale"]) == ("REVISE", "redo")


# -- in a real terminal ----------------------------------------------------------------------------------


class Terminal:
    """`swarmdeck` with stdin, stdout and stderr on a pseudo-terminal, as a person's shell runs it
    (``stdout``: a file instead, as a shell's redirect gives it)."""

    def __init__(self, *args: str, stdout: IO[str] | None = None) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(command(*args), stdin=slave, stdout=stdout or slave, stderr=slave,
                                     env=clean_env(every_setting=True), close_fds=True)
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

