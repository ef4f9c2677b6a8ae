"""The dashboard as a signing seat: the reviewer's passphrase is asked once per session, then every act
is signed silently; and a decision written around swarmdeck is flagged on the gate panel, loudly."""

from __future__ import annotations

import sqlean
from textual.widgets import Input, Static

from swarmdeck.app.modals.decision import DecisionModal
from swarmdeck.app.modals.gate_acts import ResumeModal
from swarmdeck.app.modals.passphrase import PassphraseModal
from swarmdeck.app.screens.milestones import MilestonesScreen
from signing_support import PASSPHRASE
from ui_support import db_call, loaded, make_app, screen_segments, settle, static_text, type_text, wait_for

SIZE = (120, 40)


def panel(app) -> str:
    return static_text(app.screen.query_one("#gate-panel"))


async def test_the_passphrase_is_asked_once_then_every_act_is_signed_silently(seeded):
    m2 = seeded.milestones["Memory service"]
    app = make_app(seeded.path, signer=None)  # a fresh session: the key is still locked
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, PassphraseModal), what="the passphrase modal")
        modal = app.screen
        text = "\n".join(static_text(s) for s in modal.query(Static))
        assert "Unlock the signing key of alice" in text and "alice.pem" in text
        field = modal.query_one("#passphrase", Input)
        assert field.password and field.has_focus
        # A wrong passphrase is said in the modal, which stays.
        await type_text(pilot, "not it")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "wrong passphrase for alice" in static_text(modal.query_one("#passphrase-error")),
                       what="the wrong-passphrase error")
        assert app.screen is modal and field.value == ""
        await type_text(pilot, PASSPHRASE)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DecisionModal), what="the decision modal")
        assert app.signer is not None and app.signer.reviewer == "alice"
        await type_text(pilot, "Escalating: the leak")
        decision = app.screen
        button = next(b for b in decision.query("RadioButton") if b.name == "ESCALATE")
        await pilot.click(button)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, MilestonesScreen), what="the modal to close")
        await wait_for(pilot, lambda: len(getattr(app.screen.gate, "decisions", ())) == 1, what="the decision")
        await settle(pilot)
        [escalation] = (await db_call(seeded.path, "gate_status", m2)).decisions
        assert escalation.verified and escalation.reviewer == "alice"

        # The next act signs with the key unlocked: no passphrase again.
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, (ResumeModal, PassphraseModal)), what="a modal")
        assert isinstance(app.screen, ResumeModal)
        await type_text(pilot, "Leak patched")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MilestonesScreen), what="the modal to close")
        await wait_for(pilot, lambda: "RESUMED" in panel(app), what="the resumption in the history")
        [resumption] = (await db_call(seeded.path, "gate_status", m2)).resumptions
        assert resumption.verified and resumption.escalation_id == escalation.id
        assert not (await db_call(seeded.path, "swarm_state")).paused
        assert "✔ signed" in panel(app)


async def test_stepping_back_from_the_passphrase_decides_nothing(seeded):
    app = make_app(seeded.path, signer=None)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, PassphraseModal), what="the passphrase modal")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MilestonesScreen), what="back to the gate")
        await settle(pilot)
        assert app.signer is None
    assert (await db_call(seeded.path, "gate_status", seeded.milestones["Memory service"])).decisions == ()


async def test_a_forged_decision_is_flagged_on_the_gate_panel_in_red(seeded):
    conn = sqlean.connect(str(seeded.path), isolation_level=None)
    try:
        conn.execute("INSERT INTO gate_decisions (milestone_id, report_id, report_hash, decision, rationale, "
                     "reviewer, decided_at, signature) SELECT milestone_id, id, content_hash, 'APPROVE', 'fine', "
                     "'carol', 1799990000, randomblob(64) FROM validation_reports WHERE milestone_id = ?",
                     (seeded.milestones["Memory service"],))
        conn.execute("UPDATE milestones SET status = 'approved' WHERE name = 'Memory service'")
        conn.execute("UPDATE milestones SET status = 'open' WHERE name = 'Learning loop'")
    finally:
        conn.close()
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("down")  # Memory service
        await wait_for(pilot, lambda: "UNVERIFIED" in panel(app), what="the flag")
        await settle(pilot)
        text = panel(app)
        assert "UNVERIFIED: not signed by carol's key — written around swarmdeck?" in text
        assert "NOT PASSED: 'approved' without enough verified approvals" in text
        assert "approvals 0/1" in text
        app.screen.query_one("#gate-scroll").scroll_end(animate=False)  # the history is under the report
        await wait_for(pilot, lambda: any("UNVERIFIED" in s.text for line in screen_segments(app) for s in line),
                       what="the flag on screen")
        flagged = [s for line in screen_segments(app) for s in line if "UNVERIFIED" in s.text]
        red = [s.style.bgcolor.get_truecolor() for s in flagged if s.style.bgcolor]  # the theme's red
        assert flagged and len(red) == len(flagged) and all(c.red > 200 and c.green < 80 for c in red)
        assert all(s.style.bold for s in flagged)
        # Bob's real decision of the first gate is marked as signed.
        await pilot.press("up")
        await wait_for(pilot, lambda: "Everything checked" in panel(app), what="the first gate")
        assert "✔ signed" in panel(app) and "UNVERIFIED" not in panel(app)
        await pilot.press("down", "down")  # Learning loop: open by its status column only
        await wait_for(pilot, lambda: "CLAIMS REFUSED" in panel(app), what="the refused claims")
