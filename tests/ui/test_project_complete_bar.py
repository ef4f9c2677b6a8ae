"""The last gate ends the project: approving it shows PROJECT COMPLETE in the bar every screen has."""

from __future__ import annotations

from signing_support import key
from test_gate_flow import choose, open_decision, status_bar, write
from ui_support import clock, loaded, make_app, wait_for

from swarmdeck.store import open_store


async def one_gate_in_review(db) -> None:
    store = await open_store(db, create=True, clock=clock)
    try:
        await store.register_agent("bot", agent_type="validator")
        await store.add_reviewer("alice", by="alice", public_key=key("alice"))
        await store.add_milestone("M1 Foundation")
        await store.submit_report("M1", submitted_by="bot", summary="done", proposed_decision="APPROVE")
    finally:
        await store.close()


async def test_approving_the_last_gate_shows_project_complete(tmp_path):
    db = tmp_path / "swarm.db"
    await one_gate_in_review(db)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        assert "PROJECT COMPLETE" not in status_bar(app)
        modal = await open_decision(pilot)
        await choose(pilot, modal, "APPROVE")
        await write(pilot, modal, "#rationale", "every criterion met")
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: "PROJECT COMPLETE" in status_bar(app), what="PROJECT COMPLETE")
        assert app.project_complete
        await pilot.press("2")  # every screen's bar says it
        await wait_for(pilot, lambda: "PROJECT COMPLETE" in status_bar(app), what="the queue's bar")
