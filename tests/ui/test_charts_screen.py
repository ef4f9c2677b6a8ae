"""Screen 5, the performance charts: range and filter keys re-query the store and the header says so;
empty data says "no data yet"; agent names stay literal; a snapshot of the seeded swarm.

The seed (ui_support.seed) finished, in the 24 hours before NOW: "schema" and "migrations" (Foundation,
builder-1, 15 min each), "hotfix" (Memory service, builder-1, at NOW - 1 h: outside the last hour's
window, which starts at NOW - 58 min) and failed "bench" (Memory service, tester-3).
"""

from __future__ import annotations

import sqlean
from textual.widgets import Static

from swarmdeck.app.commands import palette_entries
from swarmdeck.app.screens.charts import ChartsScreen
from swarmdeck.store import open_store
from swarmdeck.widgets.charts import DurationsChart, HealthChart, ThroughputChart
from ui_support import clock, db_call, loaded, make_app, screen_text, settle, static_text, wait_for

SIZE = (120, 40)


async def open_charts(pilot, *keys: str) -> ChartsScreen:
    await loaded(pilot)
    await pilot.press("5")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ChartsScreen), what="the charts screen")
    await loaded(pilot)
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.charts is not None, what="the first charts")
    if keys:
        await pilot.press(*keys)
    await settle(pilot)
    return screen


def header(screen: ChartsScreen) -> str:
    return static_text(screen.query_one("#charts-header"))


async def test_key_5_opens_the_charts_and_every_chart_draws(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_charts(pilot)
        panels = screen.panels()
        assert len(panels) == 7 and all(p.shown for p in panels)
        assert "Range last hour (30 × 2 min)" in header(screen) and "Milestone all" in header(screen)
        # nothing finished within the last hour's window: said inside the chart, not an empty frame
        throughput = screen.query_one(ThroughputChart)
        assert throughput.empty and "no data yet" in screen_text(app)
        assert not screen.charts.queue.empty and screen.charts.queue.ready[-1] == 4


async def test_the_range_key_requeries_and_the_header_follows(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_charts(pilot, "t")
        assert screen.charts.range_key == "24h" and "Range last 24 h (24 × 1 h)" in header(screen)
        t = screen.charts.throughput
        assert (sum(t.completed), sum(t.failed)) == (3, 1)
        assert not screen.query_one(ThroughputChart).empty
        assert [a.agent for a in screen.charts.durations.agents] == ["builder-1"]
        await pilot.press("t")
        await settle(pilot)
        assert screen.charts.range_key == "7d" and "last 7 days" in header(screen)
        await pilot.press("T", "T")
        await settle(pilot)
        assert screen.charts.range_key == "1h" and "last hour" in header(screen)
        await pilot.press("T")
        await settle(pilot)
        assert screen.charts.range_key == "15m" and screen.charts.window.width == 30


async def test_milestone_and_agent_type_filters_apply_to_the_charts(db, seeded):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_charts(pilot, "t", "m")
        foundation = seeded.milestones["Foundation"]
        assert screen.charts.milestone_id == foundation and "Milestone Foundation" in header(screen)
        t = screen.charts.throughput
        assert (sum(t.completed), sum(t.failed)) == (2, 0)  # schema and migrations only
        assert [m.name for m in screen.charts.burndown.milestones] == ["Foundation"]
        await pilot.press("m")
        await settle(pilot)
        assert screen.charts.milestone_id == seeded.milestones["Memory service"]
        assert (sum(screen.charts.throughput.completed), sum(screen.charts.throughput.failed)) == (1, 1)
        await pilot.press("M", "M")  # back through Foundation to all
        await settle(pilot)
        assert screen.charts.milestone_id is None and "Milestone all" in header(screen)
        # agent types are the tasks': docs, implementation, ops, research, testing
        assert screen.filters.agent_types == ("docs", "implementation", "ops", "research", "testing")
        await pilot.press("a")
        await settle(pilot)
        assert screen.charts.agent_type == "docs" and "Agent type docs" in header(screen)
        assert screen.charts.throughput.empty and screen.query_one(ThroughputChart).empty
        await pilot.press("A", "A")
        await settle(pilot)
        assert screen.charts.agent_type == "testing"
        assert (sum(screen.charts.throughput.completed), sum(screen.charts.throughput.failed)) == (0, 1)


async def test_an_empty_database_says_no_data_yet_in_every_chart(tmp_path):
    db = tmp_path / "empty.db"
    store = await open_store(db, create=True, clock=clock)
    await store.close()
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_charts(pilot)
        assert all(p.empty and p.shown for p in screen.panels())
        await pilot.press("t", "t", "t")  # through 24 h and 7 d to "all": still nothing, and no error
        await settle(pilot)
        assert screen.charts.range_key == "all" and all(p.empty for p in screen.panels())
        assert screen_text(app).count("no data yet") >= 3
        assert screen.query_one(HealthChart).empty


async def test_a_change_in_the_feed_refreshes_the_charts_once(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_charts(pilot)
        calls = []
        charts = app.store.charts

        async def counted(*args, **kwargs):
            calls.append(args)
            return await charts(*args, **kwargs)

        app.store.charts = counted
        running = await db_call(db, "list_tasks", status="running")
        await db_call(db, "complete_task", running[0].id, agent="builder-1")  # at NOW: the last bucket
        app.poller.poll_now()
        await wait_for(pilot, lambda: sum(screen.charts.throughput.completed) == 1, what="the refresh")
        await settle(pilot)
        assert len(calls) == 1  # one refresh for the burst, on the next tick, not one per event
        assert screen.charts.throughput.completed[-1] == 1


async def test_agent_names_in_charts_are_shown_literally(db):
    name = "[b]x[/]\x1b[2J"
    store = await open_store(db, clock=clock)
    try:
        # swarmdeck refuses such a name (store/identity.py), so it is written around it, as by an older
        # version or raw SQL: what a seat shows must be inert whatever is in the file.
        conn = sqlean.connect(str(db), isolation_level=None)
        conn.execute("INSERT INTO agents (name, agent_type, registered_at, last_heartbeat) VALUES (?, ?, ?, ?)",
                     (name, "testing", clock(), clock()))
        conn.close()
        claimed = await store.claim_task(agent=name, agent_type="testing")
        await store.complete_task(claimed.id, agent=name)
    finally:
        await store.close()
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_charts(pilot)
        assert name in [a.agent for a in screen.charts.durations.agents]
        text = screen_text(app)
        assert "[b]x[/]\\x1b[2J" in text  # markup unparsed, the escape made visible
        assert "\x1b" not in text
        durations = screen.query_one(DurationsChart)
        assert all("\x1b" not in line.text for line in durations.render_lines(durations.region.reset_offset))


async def test_charts_are_in_the_palette_and_the_help(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        entries = {(area, title) for area, title, _, _ in palette_entries(app)}
        assert ("View", "Performance charts") in entries
        assert ("Charts", "Time range: 15 min, 1 h, 24 h, 7 d, all (T goes back)") in entries
        assert ("Charts", "Filter by milestone, or all (M goes back)") in entries
        await pilot.press("question_mark")
        await settle(pilot)
        help_text = "\n".join(static_text(w) for w in app.screen.query(Static))
        assert "5 Charts" in help_text and "Time range: 15 min, 1 h, 24 h, 7 d, all (T goes back)" in help_text
        assert "Performance charts" in help_text  # the global key 5


def test_snapshot_of_the_charts_over_the_last_24_hours(seeded, snap_compare):
    async def run_before(pilot):
        screen = await open_charts(pilot, "t")
        await wait_for(pilot, lambda: screen.charts.range_key == "24h", what="the 24 h charts")
        await settle(pilot)

    assert snap_compare(make_app(seeded.path), terminal_size=SIZE, run_before=run_before)
