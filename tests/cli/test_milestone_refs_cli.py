"""Milestones at the command line as every screen shows them: `gate status M3` on the demo's project,
where milestones are named "M3 Vector Search Integration"; an ambiguous or unknown reference is one
plain line; and `gate wait` on a gate with nothing to decide yet waits (saying for what) instead of
exiting. The wait through a submission and a decision, in real processes, is in test_smoke.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from swarmdeck.app.demo import seed
from swarmdeck.app.demo.project import MILESTONES, ORCHESTRATOR
from swarmdeck.store import open_store

from signing_support import key
from test_cli import RAW, expect_error, expect_json_error

M1, M2, M3, M4 = (m.name for m in MILESTONES)


def store_calls(db: Path, *calls) -> list:
    """Each ``call(store)`` on the database, in order; their results."""

    async def main() -> list:
        store = await open_store(db)
        try:
            return [await call(store) for call in calls]
        finally:
            await store.close()

    return asyncio.run(main())


@pytest.fixture
def demo(db: Path) -> Path:
    """The demo's project (milestones M1-M4 named as its plan names them, their tasks, its agents) and
    the reviewer bob."""
    store_calls(db, lambda store: seed(store, history=False, reviewer="bob", reviewer_key=key("bob")))
    return db


def test_gate_status_and_milestone_show_take_the_label_every_screen_shows(demo, sd, sdj):
    assert M1 == "M1 Core Schema Foundation"
    status = sd("gate", "status", "M1")
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith(f"gate of {M1}  [open]  approvals 0/1\n")
    assert sd("gate", "status", "m3").stdout.startswith(f"gate of {M3}  [locked]")
    assert sdj("gate", "status", "M4")["milestone"]["name"] == M4
    assert sdj("milestone", "show", "m2 memory")["name"] == M2           # the start of the name
    assert sdj("milestone", "show", M3)["name"] == M3                    # the exact name
    assert sdj("milestone", "show", "3")["name"] == M3                   # the id
    # Every --milestone option resolves the same way.
    m2_tasks = sdj("task", "list", "--milestone", "M2", "--limit", "1000")
    assert m2_tasks and {t["milestone_id"] for t in m2_tasks} == {2}
    task = sdj("task", "enqueue", "write the migration notes", "--milestone", "m4")
    assert (task["milestone_id"], task["status"]) == (4, "blocked")
    record = sdj("failure", "log", "--feature", "f", "--approach", "a", "--why", "w", "--lesson", "l",
                 "--milestone", "M1 core")
    assert record["milestone_id"] == 1


def test_an_ambiguous_or_unknown_milestone_is_one_plain_line(demo, sd, sdj):
    expect_error(sd("gate", "status", "M9"), 3, "milestone 'M9' does not exist (the milestones are M1, M2, M3, M4)")
    expect_error(sd("task", "list", "--milestone", "M9"), 3, "milestone 'M9' does not exist")
    sdj("milestone", "add", "M1 Hotfix")
    said = expect_error(sd("gate", "status", "m1"), 1)
    assert said == (f"swarmdeck: milestone 'm1' is ambiguous: 2 milestones match by its label ('{M1}', "
                    "'M1 Hotfix'); give more of the name, or the id")
    expect_json_error(sd("--json", "gate", "submit", "M1", "--summary", "x", "--by", ORCHESTRATOR), 1,
                      "invalid_argument", "ambiguous", "'M1 Hotfix'")
    assert sdj("gate", "status", "M1 Hot")["milestone"]["name"] == "M1 Hotfix"
    assert sdj("gate", "status", M1)["report"] is None  # nothing was submitted by the refused call


def test_a_hostile_milestone_name_is_found_by_the_rules_and_shown_plainly(demo, sd, sdj):
    hostile = "\x1b[2J[bold]M5[/bold] \u202eevil"
    store_calls(demo, lambda store: store.add_milestone(hostile))
    assert sdj("gate", "status", "\x1b[2j[BOLD]m5[/bold]")["milestone"]["name"] == hostile  # its label
    shown = sd("gate", "status", "5")
    assert shown.returncode == 0 and not any(c in shown.stdout for c in RAW)
    assert shown.stdout.startswith("gate of \\x1b[2J[bold]M5[/bold] \\u202eevil  [locked]")
    expect_error(sd("gate", "status", "M5"), 3)  # looking like M5 is not being M5
    line = expect_error(sd("gate", "status", "M9"), 3, "the milestones are M1, M2, M3, M4, \\x1b[2J[bold]M5[/bold]")
    assert not any(c in line for c in RAW)


def test_gate_wait_waits_on_a_gate_with_nothing_to_decide_yet(demo, sd):
    """Locked, or open with no report: `gate wait` says once on stderr what it waits for, then waits
    (here until its --timeout: exit 124); the waits that end in a decision are in test_smoke.py."""
    for ref, said in (("M1", f"milestone '{M1}' has no report yet"),
                      ("m2", f"milestone '{M2}' is locked until the gates before it pass")):
        waited = sd("gate", "wait", ref, "--timeout", "0.3", "--interval", "0.05")
        assert (waited.returncode, waited.stdout, waited.stderr) == (
            124, "timed out waiting for a decision\n", f"swarmdeck: waiting: {said}\n")
    waited = sd("--json", "gate", "wait", "M3", "--timeout", "0")
    assert (waited.returncode, waited.stdout) == (124, "null\n")
    assert json.loads(waited.stderr) == {"waiting": {
        "code": "locked", "milestone_id": 3, "message": f"milestone '{M3}' is locked until the gates before it pass"}}
    # What cannot be waited on at all is still refused at once.
    expect_error(sd("gate", "wait", "M9", "--timeout", "5"), 3, "milestone 'M9' does not exist")
    expect_error(sd("gate", "wait", "M1", "--timeout", "soon"), 2, "not a duration")
