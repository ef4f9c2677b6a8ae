"""The dashboard verifies the audit trail (all of it once at start, then each new event as it arrives) and
flags a broken chain on every screen's status bar, with one error toast."""

from __future__ import annotations

from contextlib import closing

import sqlean
from swarmdeck.widgets.status_bar import StatusBar
from ui_support import cli_async, loaded, make_app, plain, screen_text, settle, wait_for

SIZE = (120, 40)
FLAG = "AUDIT TRAIL BROKEN at event"


def status_bar(app) -> str:
    return plain(app.screen.query_one(StatusBar).render())


def tamper(db, *statements: str) -> None:
    with closing(sqlean.connect(str(db), isolation_level=None)) as conn:
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'"
        ).fetchall():
            conn.execute(f'DROP TRIGGER "{name}"')
        for sql in statements:
            conn.execute(sql)


def toasts(app) -> list[str]:
    return [n.message for n in app._notifications if FLAG in n.message]


async def test_a_trail_edited_before_start_is_flagged_on_every_screen(seeded):
    tamper(seeded.path, "UPDATE events SET actor = 'mallory' WHERE id = 7")
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: f"{FLAG} 7" in status_bar(app), what="the flag")
        for key in ("2", "3", "4", "5", "1"):
            await pilot.press(key)
            await loaded(pilot)
            assert f"{FLAG} 7" in status_bar(app), key
            # Shown in full at the left, never cut off by the rest of the bar.
            assert f"{FLAG} 7" in screen_text(app).splitlines()[0]
        assert len(toasts(app)) == 1


async def test_an_intact_trail_shows_no_flag(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: app.audit_verified, what="the startup verification")
        await settle(pilot)
        assert "AUDIT" not in status_bar(app) and not toasts(app)


async def test_an_event_written_around_the_store_is_flagged_as_it_arrives(seeded):
    app = make_app(seeded.path, poll=True, interval=0.1)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: app.audit_verified, what="the startup verification")
        # An honest write through swarmdeck: verified as it arrives, no flag.
        await cli_async(seeded.path, "task", "enqueue", "honest work")
        honest = int((await cli_async(seeded.path, "audit", "head")).split(":")[0])
        await wait_for(
            pilot, lambda: app.audit_checked_id >= honest, tries=200, step=0.05, what="the new event"
        )
        assert "AUDIT" not in status_bar(app)
        # A forged decision event written with raw SQL: the next poll flags it.
        tamper(
            seeded.path,
            "INSERT INTO events (ts, actor, kind, entity, entity_id, payload, hash) VALUES "
            "(1800000000, 'alice', 'gate.decided', 'milestone', '2', '{}', 'forged')",
        )
        await wait_for(
            pilot, lambda: f"{FLAG} {honest + 1}" in status_bar(app), tries=200, step=0.05, what="the flag"
        )
        # Later honest writes keep the flag where it was: the trail stays broken at that event.
        await cli_async(seeded.path, "task", "enqueue", "more work")
        await pilot.press("2")
        await loaded(pilot)
        assert f"{FLAG} {honest + 1}" in status_bar(app)
        assert len(toasts(app)) == 1
