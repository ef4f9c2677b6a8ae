"""The agents screen: ages freeze with the data while the live view is paused, the sort shows and
reverses, the selected agent's detail holds every blocker; and its snapshots."""

from __future__ import annotations

from textual.widgets import Static

from support import FakeClock
from swarmdeck.app.screens.agents import AgentsScreen
from ui_support import NOW, db_call, laid_out, loaded, make_app, rows, settle, static_text, wait_for

SIZE = (120, 40)
STATUS, HEARTBEAT = 2, 3


async def open_agents(pilot) -> AgentsScreen:
    await loaded(pilot)
    await pilot.press("3")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, AgentsScreen), what="the agents")
    await loaded(pilot)
    return pilot.app.screen


def summary(screen) -> str:
    return static_text(screen.query_one("#agents-summary", Static))


async def test_pausing_the_live_view_freezes_ages_instead_of_marking_everyone_stale(seeded):
    now = FakeClock(NOW)
    app = make_app(seeded.path, clock=now)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_agents(pilot)
        assert rows(screen.table)["builder-1"][STATUS] == "working"
        await pilot.press("p")
        await wait_for(pilot, lambda: not app.live, what="the pause")
        now.advance(600)
        screen._tick_ages()  # what the screen's one-second timer calls
        await pilot.pause()
        shown = rows(screen.table)
        # The data stopped at the pause, and so did its ages: nobody went stale for it.
        assert shown["builder-1"][STATUS] == "working" and shown["builder-1"][HEARTBEAT] == "5s ago"
        assert shown["tester-3"][STATUS] == "idle"
        assert "paused: ages as of 08:00:00" in summary(screen)

        await pilot.press("p")
        await wait_for(pilot, lambda: app.live, what="the resume")
        await pilot.pause()
        shown = rows(screen.table)
        assert shown["builder-1"][STATUS] == "STALE" and shown["builder-1"][HEARTBEAT] == "10m ago"
        assert "paused" not in summary(screen)


async def test_s_and_shift_s_sort_and_the_sort_is_shown(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_agents(pilot)
        assert "sorted by agent ↑" in summary(screen)
        await pilot.press("S")
        await wait_for(pilot, lambda: screen.table.sort_state == ("name", True), what="the reversed sort")
        assert list(rows(screen.table)) == ["validator", "tester-3", "researcher-2", "builder-1"]
        assert "sorted by agent ↓" in summary(screen)
        await pilot.press("s")
        await wait_for(pilot, lambda: screen.table.sort_state == ("status", False), what="the next column")
        statuses = [cells[STATUS] for cells in rows(screen.table).values()]
        assert statuses == sorted(statuses, key=lambda s: s.lower())
        assert "sorted by status ↑" in summary(screen)
        await pilot.press("S")
        await wait_for(pilot, lambda: screen.table.sort_state == ("status", True))
        assert "sorted by status ↓" in summary(screen)


async def test_the_selected_agents_detail_lists_every_blocker_whole(seeded):
    long_one = "waiting for the staging database credentials from the platform team, asked twice since Monday"
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_agents(pilot)
        screen.table.move_cursor(row=list(rows(screen.table)).index("tester-3"))
        detail = screen.query_one("#agent-detail", Static)
        await wait_for(pilot, lambda: static_text(detail).startswith("tester-3"), what="tester-3's detail")
        assert "Blockers (1):" in static_text(detail) and "waiting for test fixtures" in static_text(detail)

        await db_call(seeded.path, "heartbeat", "tester-3", blockers=["waiting for test fixtures", long_one])
        screen.kick()
        await wait_for(pilot, lambda: "Blockers (2):" in static_text(detail), what="the new blockers")
        await settle(pilot)
        text = " ".join(static_text(detail).split())
        assert long_one in text and "waiting for test fixtures" in text


# -- snapshots ------------------------------------------------------------------------------------------


def _snap(seeded, snap_compare, size):
    async def run_before(pilot):
        screen = await open_agents(pilot)
        await settle(pilot)
        await laid_out(pilot, screen.query_one("#agent-detail", Static))

    return snap_compare(make_app(seeded.path), terminal_size=size, run_before=run_before)


def test_agents_snapshot_80x24(seeded, snap_compare):
    assert _snap(seeded, snap_compare, (80, 24))


def test_agents_snapshot_200x60(seeded, snap_compare):
    assert _snap(seeded, snap_compare, (200, 60))
