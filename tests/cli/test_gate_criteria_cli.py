"""The gate's acceptance criteria at the command line: `gate status` lists each with what the report
says (NOT REPORTED included) and its evidence, `gate decide` refuses an approval that leaves some unmet
unless --accept-unmet (which shows them before the confirmation and records them, signed), and
`gate evidence` runs a command or records one already run."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shlex
import sys
from pathlib import Path

from swarmdeck.store import open_store

from signing_support import key
from test_cli import expect_error

PROMISED = ["All DDL scripts executed without errors", "PRAGMA integrity_check returns ok", "All unit tests pass"]


def on_store(db: Path, act):
    """``act(store)`` on the test's database, as another process (an agent, a reviewer) would."""
    async def main():
        store = await open_store(db)
        try:
            return await act(store)
        finally:
            await store.close()

    return asyncio.run(main())


def setup(db: Path, criteria: list[dict], **report) -> None:
    async def act(store) -> None:
        await store.register_agent("builder-1", agent_type="implementation")
        await store.add_reviewer("alice", by="alice", public_key=key("alice"))
        await store.add_milestone("M1", acceptance_criteria=PROMISED)
        await store.submit_report("M1", submitted_by="builder-1", criteria=criteria, **report)

    on_store(db, act)


def gate(db: Path):
    return on_store(db, lambda store: store.gate_status("M1"))


UNMET = [{"name": "all ddl scripts executed without errors.", "status": "met", "evidence": "ran 12 files"},
         {"name": "Criterion 3: pytest", "status": "not_met", "evidence": "[bold]2 failed[/bold]"},
         {"name": "ruff clean", "status": "met"}]


def test_gate_status_lists_each_criterion_and_what_the_report_says(db, sd, sdj):
    setup(db, UNMET, next_milestone_context="Next: memory tables \x1b[31m")
    out = sd("gate", "status", "M1").stdout
    assert "acceptance criteria: 1/3 met" in out
    assert "criterion 1 [met] All DDL scripts executed without errors: ran 12 files" in out
    assert "criterion 2 [NOT REPORTED] PRAGMA integrity_check returns ok" in out
    assert "criterion 3 [not_met] All unit tests pass (reported as 'Criterion 3: pytest'): [bold]2 failed[/bold]" in out
    assert "not an acceptance criterion: [met] ruff clean" in out
    assert "next milestone context: Next: memory tables \\x1b[31m" in out  # the escape shown, not obeyed
    checks = sdj("gate", "status", "M1")["criteria"]["checks"]
    assert [c["status"] for c in checks] == ["met", "not_reported", "not_met"]


def test_approving_with_unmet_criteria_is_refused_without_accept_unmet(db, human):
    setup(db, UNMET)
    args = ["gate", "decide", "M1", "--decision", "APPROVE", "--rationale", "ok", "--reviewer", "alice"]
    expect_error(human(*args), 1, "approving leaves 2 acceptance criteria not met",
                 "2 'PRAGMA integrity_check returns ok' (not reported)", "3 'All unit tests pass' (not met)",
                 "--accept-unmet")
    assert gate(db).decisions == ()
    result = human(*args, "--accept-unmet")
    assert result.returncode == 0, result.stderr
    # Shown by name before the confirmation, then recorded, signed, with the decision.
    assert "ACCEPTS    criterion 2 'PRAGMA integrity_check returns ok' (not reported)" in result.stderr
    assert result.stderr.index("ACCEPTS    criterion 3") < result.stderr.index("[y/N]")
    [decision] = gate(db).decisions
    assert decision.verified and decision.accepted_unmet == tuple(PROMISED[1:])
    assert "accepted unmet: All unit tests pass" in result.stdout


def test_a_report_that_meets_every_criterion_needs_no_flag(db, human):
    setup(db, [{"name": f"Criterion {i}", "status": "met"} for i in (1, 2, 3)])
    result = human("gate", "decide", "M1", "--decision", "APPROVE", "--rationale", "ok", "--reviewer", "alice")
    assert result.returncode == 0, result.stderr
    assert "ACCEPTS" not in result.stderr and gate(db).decisions[0].accepted_unmet == ()


def test_gate_evidence_runs_a_command_and_records_its_result(db, sd, sdj):
    setup(db, UNMET)
    script = "import sys; print('3 passed'); sys.stderr.write('warn'); sys.exit(4)"
    added = sdj("gate", "evidence", "M1", "--criterion", "3", "--by", "builder-1", "--", sys.executable, "-c", script)
    assert added["exit_code"] == 4 and added["criterion"] == 3 and added["recorded_by"] == "builder-1"
    assert added["output_sha256"] == hashlib.sha256(b"3 passed\nwarn").hexdigest()
    assert shlex.split(added["command"]) == [sys.executable, "-c", script]
    # One already run, recorded as given.
    digest = hashlib.sha256(b"ok").hexdigest()
    sdj("gate", "evidence", "M1", "--criterion", "3", "--by", "builder-1", "--command", "ruff check",
        "--exit-code", "0", "--digest", digest, "--ran-at", "2026-01-31T17:00:00Z")
    out = sd("gate", "status", "M1").stdout
    assert f"ran `ruff check`: exit 0, output sha256 {digest}, at 2026-01-31 17:00:00 UTC by builder-1" in out
    assert [e.command for e in gate(db).evidence][1] == "ruff check"


def test_gate_evidence_refuses_bad_input_and_writes_nothing(db, sd):
    setup(db, UNMET)
    digest = hashlib.sha256(b"ok").hexdigest()
    base = ["gate", "evidence", "M1", "--by", "builder-1"]
    expect_error(sd(*base, "--criterion", "4", "--command", "x", "--exit-code", "0", "--digest", digest), 1,
                 "has 3 acceptance criteria; there is no criterion 4")
    expect_error(sd(*base, "--criterion", "1", "--command", "x", "--exit-code", "0", "--digest", "abc"), 1,
                 "64 hexadecimal digits")
    expect_error(sd(*base, "--criterion", "1", "--command", "x"), 2, "missing: --exit-code, --digest")
    expect_error(sd(*base, "--criterion", "1", "--exit-code", "0", "--", "true"), 2, "not both")
    expect_error(sd(*base, "--criterion", "1", "--", "/no/such/program"), 2, "cannot run '/no/such/program'")
    expect_error(sd("gate", "evidence", "M9", "--criterion", "1", "--by", "builder-1", "--", "true"), 3, "M9")
    assert gate(db).evidence == ()
    assert json.loads(sd("--json", "gate", "status", "M1").stdout)["evidence"] == []
