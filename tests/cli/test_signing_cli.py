"""Signed acts at the command line: the reviewer's key made or unlocked at their terminal, every act
signed after it was shown, a wrong passphrase one line and nothing done, and `gate status` showing
each decision verified or flagging it loudly."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from swarmdeck.store import open_store, signing

from signing_support import PASSPHRASE, close, decide, key
from test_cli import REPORT, expect_error


def setup(db: Path, *acts) -> None:
    """What agents and people did before: store calls, and signed acts (tests/signing_support.py)."""

    async def main() -> None:
        store = await open_store(db)
        try:
            await store.register_agent("builder-1", agent_type="implementation")
            await store.add_reviewer("alice", by="alice", public_key=key("alice"))
            await store.add_reviewer("bob", by="alice", public_key=key("bob"))
            await store.add_milestone("M1")
            await store.add_milestone("M2")
            await store.enqueue_task(description="M2 work", milestone="M2")
            await store.submit_report("M1", submitted_by="builder-1", **REPORT)
            for act, args, kwargs in acts:
                await act(store, *args, **kwargs)
        finally:
            await store.close()

    asyncio.run(main())


def gate(db: Path):
    async def main():
        store = await open_store(db)
        try:
            return await store.gate_status("M1"), await store.swarm_state()
        finally:
            await store.close()

    return asyncio.run(main())


def forge(db: Path, sql: str, *params) -> None:
    import sqlean

    conn = sqlean.connect(str(db), isolation_level=None)
    try:
        conn.execute(sql, params)
    finally:
        conn.close()


FORGED_APPROVE = ("INSERT INTO gate_decisions (milestone_id, report_id, report_hash, decision, rationale, reviewer, "
                  "decided_at, signature) SELECT 1, id, content_hash, 'APPROVE', 'lgtm', 'alice', 0, zeroblob(64) "
                  "FROM validation_reports")


# -- a wrong passphrase --------------------------------------------------------------------------------


@pytest.mark.parametrize("args, acts", [
    (["gate", "decide", "M1", "--decision", "APPROVE", "--rationale", "ok", "--reviewer", "bob"], []),
    (["gate", "resume", "--by", "bob", "--reason", "host booked"],
     [(decide, ("M1",), dict(decision="ESCALATE", rationale="security", reviewer="alice"))]),
    (["gate", "close-condition", "1", "--by", "bob", "--note", "done"],
     [(decide, ("M1",), dict(decision="CONDITIONAL", rationale="ok", reviewer="alice", conditions=["docs"]))]),
], ids=["decide", "resume", "close-condition"])
def test_a_wrong_passphrase_is_one_line_and_changes_nothing(db, human, args, acts):
    setup(db, *acts)
    before = gate(db)
    result = human(*args, input="y\nnot the passphrase\n")
    assert result.returncode == 1 and result.stdout == ""
    assert "not the passphrase" not in result.stderr  # never echoed
    assert result.stderr.splitlines()[-1] == "swarmdeck: wrong passphrase for bob's signing key"
    assert gate(db) == before
    as_json = human("--json", *args, input="y\nwrong\n")
    assert as_json.returncode == 1 and as_json.stdout == ""
    assert json.loads(as_json.stderr.splitlines()[-1]) == {
        "error": {"code": "signing", "message": "wrong passphrase for bob's signing key"}}
    assert gate(db) == before


def test_the_act_is_signed_after_it_is_shown(db, human):
    setup(db)
    result = human("gate", "decide", "M1", "--decision", "APPROVE", "--rationale", "ok", "--reviewer", "bob")
    assert result.returncode == 0, result.stderr
    shown, asked = result.stderr.index("decision   APPROVE"), result.stderr.index("Passphrase of bob's signing key")
    assert shown < result.stderr.index("[y/N]") < asked
    assert f"signed by  bob's key {signing.fingerprint(key('bob'))}" in result.stderr
    [decision] = gate(db)[0].decisions
    assert decision.verified and "[verified: signed by bob's key]" in result.stdout


def test_a_key_file_that_is_not_the_registered_one_signs_nothing(db, human, tmp_path, monkeypatch):
    setup(db)
    other = tmp_path / "elsewhere"
    imposter = signing.create_key("bob", PASSPHRASE, folder=other)
    result = human("gate", "decide", "M1", "--decision", "APPROVE", "--rationale", "ok", "--reviewer", "bob",
                   env={signing.KEYS_ENV: str(other)})
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"swarmdeck: the key at {other / 'bob.pem'} ({signing.fingerprint(imposter.public_key)}) "
        f"is not the one registered for bob ({signing.fingerprint(key('bob'))})")
    assert gate(db)[0].decisions == ()


# -- gate status verifies ------------------------------------------------------------------------------


def test_gate_status_flags_a_forged_decision_loudly(db, sd, sdj):
    setup(db, (decide, ("M1",), dict(decision="REVISE", rationale="docs missing", reviewer="bob")))
    forge(db, "UPDATE milestones SET status = 'review' WHERE name = 'M1'")
    forge(db, FORGED_APPROVE + " WHERE version = 1")
    forge(db, "UPDATE milestones SET status = CASE name WHEN 'M1' THEN 'approved' ELSE 'open' END")
    forge(db, "UPDATE tasks SET status = 'ready'")
    text = sd("gate", "status", "M1").stdout
    assert "REVISE by bob at " in text and "[verified: signed by bob's key]: docs missing" in text
    assert "[UNVERIFIED: not signed by alice's key — written around swarmdeck?]: lgtm" in text
    assert "NOT PASSED: 'approved' without enough verified approvals" in text
    assert "approvals 0/1" in text
    assert "CLAIMS REFUSED" in sd("gate", "status", "M2").stdout
    body = sdj("gate", "status", "M1")
    assert [(d["decision"], d["verified"]) for d in body["decisions"]] == [("REVISE", True), ("APPROVE", False)]
    assert body["decisions"][1]["warning"] == "UNVERIFIED: not signed by alice's key — written around swarmdeck?"
    assert body["approvals"] == [] and body["verified_passed"] is False
    assert len(bytes.fromhex(body["decisions"][0]["signature"])) == 64
    assert sdj("gate", "status", "M2")["claims_open"] is False
    # And the claim the forged rows were for is refused: there is nothing to claim.
    sdj("agent", "register", "w", "--type", "general")
    assert sdj("task", "claim", "--agent", "w") is None


def test_a_terminal_shows_the_flag_in_words_and_no_escape_gets_through(db):
    setup(db)
    forge(db, FORGED_APPROVE)
    from click.testing import CliRunner

    from swarmdeck.app.cli import cli

    out = CliRunner().invoke(cli, ["--db", str(db), "gate", "status", "M1"], color=True).stdout
    assert "[UNVERIFIED: not signed by alice's key" in out and "\x1b" not in out


def test_gate_wait_waits_for_a_verified_decision(db, sd):
    setup(db)
    forge(db, FORGED_APPROVE)
    forge(db, "UPDATE milestones SET status = 'approved' WHERE name = 'M1'")
    result = sd("gate", "wait", "M1", "--timeout", "0.3", "--interval", "0.05")
    assert (result.returncode, result.stdout) == (124, "timed out waiting for a decision\n")


# -- the reviewer's key --------------------------------------------------------------------------------


def test_a_reviewer_makes_their_key_at_their_terminal(db, human, humanj, sdj, tmp_path, monkeypatch):
    monkeypatch.setenv(signing.KEYS_ENV, str(tmp_path / "mine"))  # a folder with no key in it yet
    added = human("reviewer", "add", "carol", "--by", "carol", input=f"y\n{PASSPHRASE}\nmistyped\n{PASSPHRASE}\n"
                  f"{PASSPHRASE}\n")
    assert added.returncode == 0, added.stderr
    assert f"Making carol's signing key (ed25519): the private half stays at {tmp_path / 'mine' / 'carol.pem'}" \
        in added.stderr
    assert "do not match" in added.stderr and PASSPHRASE not in added.stderr
    assert f"signing key {signing.fingerprint(signing.load_key('carol', PASSPHRASE).public_key)}" in added.stdout

    # Registered without a key, dave makes it later at his own terminal; then it never changes.
    humanj("reviewer", "add", "dave", "--by", "carol", "--no-key")
    listed = {r["name"]: r["public_key"] for r in sdj("reviewer", "list")}
    assert listed["dave"] is None and len(bytes.fromhex(listed["carol"])) == 32
    setup_done = human("reviewer", "key", "dave")
    assert setup_done.returncode == 0, setup_done.stderr
    assert bytes.fromhex(sdj("reviewer", "list")[1]["public_key"]) == signing.load_key("dave", PASSPHRASE).public_key
    expect_error(human("reviewer", "key", "dave"), 1, "dave already has a signing key", "never changes")

    # A key file this terminal already has is unlocked, which proves it, not replaced.
    before = (tmp_path / "mine" / "dave.pem").read_bytes()
    human("reviewer", "remove", "dave", "--by", "carol")
    again = human("reviewer", "add", "dave", "--by", "carol", input=f"y\n{PASSPHRASE}\n")
    assert again.returncode == 0, again.stderr
    assert "dave's signing key is at" in again.stderr and (tmp_path / "mine" / "dave.pem").read_bytes() == before
    wrong = human("reviewer", "add", "erin", "--by", "carol", input="y\nshort\nshort\n")
    assert wrong.returncode == 0  # a passphrase is whatever the person chooses...
    empty = human("reviewer", "add", "fay", "--by", "carol", input="y\n\n\n")
    assert empty.returncode == 1 and "needs a passphrase" in empty.stderr  # ...but there must be one
    assert "fay" not in {r["name"] for r in sdj("reviewer", "list")}


def test_a_reviewer_without_a_key_is_refused_before_being_asked_anything(db, human):
    setup(db)
    async def keyless() -> None:
        store = await open_store(db)
        try:
            await store.add_reviewer("gus", by="alice")
        finally:
            await store.close()

    asyncio.run(keyless())
    result = human("gate", "decide", "M1", "--decision", "APPROVE", "--rationale", "ok", "--reviewer", "gus")
    expect_error(result, 1, "gus has no signing key yet", "swarmdeck reviewer key gus")
    assert "[y/N]" not in result.stderr


def test_closures_and_resumes_are_verified_in_status(db, human, sd):
    setup(db, (decide, ("M1",), dict(decision="CONDITIONAL", rationale="ok", reviewer="alice", conditions=["docs"])),
          (close, (1,), dict(closed_by="bob", note="merged")))
    text = sd("gate", "status", "M1").stdout
    assert "(closed by bob at " in text and "[verified: signed by bob's key]: merged)" in text
    import sqlean

    with pytest.raises(sqlean.IntegrityError, match="a closed condition cannot be changed"):
        forge(db, "UPDATE gate_conditions SET status = 'open'")


def test_json_results_carry_the_verdict(db, humanj):
    setup(db)
    decided = humanj("gate", "decide", "M1", "--decision", "ESCALATE", "--rationale", "stop", "--reviewer", "bob")
    assert decided["verified"] is True and decided["warning"] is None
    assert humanj("gate", "resume", "--by", "alice", "--note", "go")["paused"] is False
    [resumption] = gate(db)[0].resumptions
    assert resumption.verified and resumption.escalation_id == decided["id"]
