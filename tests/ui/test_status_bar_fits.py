"""The status bar says what waits on a person at any width: at 80 columns the demo's long title (its
database's path) used to push "⚑ 1 gate awaits review" off the edge, so a swarm at rest behind a gate looked
stalled. What waits comes first; the title gets what room is left, and the key hints go when there is none."""

from __future__ import annotations

import random

from swarmdeck.app.demo import Swarm, seed
from swarmdeck.store import MilestoneStatus, open_store
from swarmdeck.widgets.status_bar import StatusBar

from signing_support import key
from support import FakeClock
from ui_support import NOW, loaded, make_app, wait_for

DEMO_TITLE = "demo · /tmp/swarmdeck-demo-8l8w7mgk/swarm.db"


async def demo_at_m1_gate(path) -> None:
    """The bug report's demo (seed 7, speed 5), run until M1's report awaits the reviewer."""
    clock = FakeClock(NOW - 600)
    store = await open_store(path, create=True, clock=clock)
    try:
        await seed(store, now=clock.now, history=False, reviewer="alice", reviewer_key=key("alice"))
        swarm = Swarm(store, rng=random.Random(7), speed=5)
        for _ in range(400):
            clock.advance(0.5)
            await swarm.step()
            if (await store.list_milestones())[0].status is MilestoneStatus.REVIEW:
                return
        raise AssertionError("M1 never reached its gate")
    finally:
        await store.close()


def drawn(app) -> str:
    """The status bar's line as the terminal shows it (padding stripped)."""
    return app.screen.query_one(StatusBar).render_line(0).text.strip()


async def test_a_gate_awaiting_review_shows_on_every_screen_at_80_columns(tmp_path):
    path = tmp_path / "swarm.db"
    await demo_at_m1_gate(path)
    app = make_app(path, title=DEMO_TITLE)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: app.pending_reviews == 1, what="the gate in review")
        for name in ("Milestones", "Queue", "Agents", "Memory", "Charts"):
            await app.switch_mode(name.lower())
            await wait_for(pilot, lambda: name in drawn(app), what=name)
            await loaded(pilot)
            bar = drawn(app)
            assert len(bar) <= 78, bar
            assert "● LIVE" in bar and "⚑ 1 gate awaits review" in bar, bar
        # The failed review task the demo leaves behind (see the inbox) is counted too.
        if app.attention:
            assert "(i)" in drawn(app), drawn(app)


async def test_the_title_and_hints_come_back_when_there_is_room(tmp_path):
    path = tmp_path / "swarm.db"
    await demo_at_m1_gate(path)
    app = make_app(path, title=DEMO_TITLE)
    async with app.run_test(size=(160, 24)) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: app.pending_reviews == 1, what="the gate in review")
        bar = drawn(app)
        assert DEMO_TITLE in bar and "⚑ 1 gate awaits review" in bar and "? keys" in bar, bar
        await pilot.resize_terminal(100, 24)
        await wait_for(pilot, lambda: drawn(app).count("gate awaits review") == 1 and len(drawn(app)) <= 98,
                       what="the bar at 100 columns")
        bar = drawn(app)
        # cut from the left: the database's file name stays
        assert bar.startswith("swarmdeck · …") and "/swarm.db · 1 Milestones" in bar, bar
        assert "⚑ 1 gate awaits review" in bar, bar

