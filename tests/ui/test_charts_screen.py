"""Screen 5, the performance charts: range and filter keys re-query the store and the header says so;
an empty chart says what is missing, an empty swarm how to fill it; each chart's legend names its colours
(the very colours drawn); durations and gate latency also come as tables, updated in place; agent
names, milestone names and task types stay literal; every bar on the row of its name, whatever the
number of bars; the layout at 80x24 and 200x60, and snapshots.

The seed (ui_support.seed) finished, in the 24 hours before NOW: "schema" and "migrations" (Foundation,
builder-1, 15 min each), "hotfix" (Memory service, builder-1, at NOW - 1 h: outside the last hour's
window, which starts at NOW - 58 min) and failed "bench" (Memory service, tester-3).
"""

from __future__ import annotations

import asyncio

import pytest
import sqlean
from rich.color import Color
from rich.style import Style
from textual.widgets import Static

from swarmdeck.app.commands import palette_entries
from swarmdeck.app.screens.charts import ChartsScreen
from swarmdeck.store import open_store
from swarmdeck.store.charts import (
    AgentDuration,
    Burndown,
    Durations,
    GateLatency,
    GateWait,
    MilestoneBurn,
    Spread,
    Throughput,
)
from swarmdeck.widgets.charts import (
    BAD,
    GOOD,
    ChartCell,
    ChartPanel,
    DurationsChart,
    HealthChart,
    QueueChart,
    ThroughputChart,
)
from ui_support import clock, db_call, loaded, make_app, rows, screen_text, settle, static_text, wait_for

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


def cell(screen: ChartsScreen, name: str) -> ChartCell:
    return screen.query_one(f"#cell-{name}", ChartCell)


def legend(screen: ChartsScreen, name: str) -> str:
    box = cell(screen, name).legend
    return static_text(box) if box.display else ""


def table(screen: ChartsScreen, name: str) -> dict[str, list[str]]:
    t = cell(screen, name).table
    return rows(t) if t.display else {}


def empty_box(screen: ChartsScreen) -> str:
    box = screen.query_one("#charts-empty", Static)
    return static_text(box) if box.display else ""


async def test_key_5_opens_the_charts_and_every_chart_draws(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_charts(pilot)
        panels = screen.panels()
        assert len(panels) == 7 and all(p.shown for p in panels)
        assert "Range last hour (30 × 2 min)" in header(screen) and "Milestone all" in header(screen)
        # nothing finished within the last hour's window: said inside the chart, not an empty frame
        throughput = screen.query_one(ThroughputChart)
        assert throughput.empty and "nothing finished in this range" in screen_text(app)
        assert not screen.charts.queue.empty and screen.charts.queue.ready[-1] == 4
        # an empty chart has no legend (nothing to key) and no table; a gate in review is not nothing
        assert legend(screen, "throughput") == "" and table(screen, "durations") == {}
        assert "Memory service" in table(screen, "gates") and empty_box(screen) == ""


async def test_charts_not_computed_yet_say_loading_not_that_nothing_happened(db):
    """Until the store's first answer arrives, a chart says it is loading, not what an answer would
    say ("nothing finished in this range" is said once the store says so)."""
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        answer = app.store.charts
        release = asyncio.Event()

        async def held(*args, **kwargs):
            await release.wait()
            return await answer(*args, **kwargs)

        app.store.charts = held
        await pilot.press("5")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ChartsScreen), what="the charts screen")
        screen = pilot.app.screen
        await wait_for(pilot, lambda: all(p.shown for p in screen.panels() if not isinstance(p, HealthChart)),
                       what="the charts drawn before their data")
        text = screen_text(app)
        assert text.count("loading…") >= 6, text
        assert "nothing finished in this range" not in text and "no task queued in this range" not in text
        assert screen.charts is None and not empty_box(screen)
        release.set()
        await wait_for(pilot, lambda: screen.charts is not None, what="the first charts")
        await settle(pilot)
        text = screen_text(app)
        assert "loading…" not in text and "nothing finished in this range" in text
        assert not screen.query_one(QueueChart).empty


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
        # the screen says what is missing and how to get it: the commands that fill the charts
        said = " ".join(empty_box(screen).split())
        assert said.startswith("No tasks yet: the charts fill in as agents finish work.")
        for command in ("swarmdeck task enqueue", "task complete ID", "swarmdeck milestone add", "gate submit",
                        "swarmdeck demo"):
            assert command in said
        assert "No tasks yet" in screen_text(app)  # at the top, in view
        await pilot.press("t", "t", "t")  # through 24 h and 7 d to "all": still nothing, and no error
        await settle(pilot)
        assert screen.charts.range_key == "all" and all(p.empty for p in screen.panels())
        text = screen_text(app)
        assert "nothing finished in this range" in text and "no task queued in this range" in text
        assert screen.query_one(HealthChart).empty
        assert all(not c.legend.display and (c.table is None or not c.table.display)
                   for c in screen.query(ChartCell))


async def test_a_range_with_nothing_in_it_says_which_keys_widen_it(db, seeded):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_charts(pilot, "T", "m")  # the last 15 minutes of Foundation, done hours ago
        await wait_for(pilot, lambda: screen.charts.milestone_id == seeded.milestones["Foundation"])
        said = " ".join(empty_box(screen).split())
        assert said.startswith("Nothing finished or reviewed in the last 15 min for these filters.")
        assert "a longer range" in said and "another milestone or agent type" in said
        await pilot.press("t", "t")  # 1 h, then 24 h: Foundation's two tasks and its decision
        await settle(pilot)
        assert screen.charts.range_key == "24h" and empty_box(screen) == ""


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


async def test_every_drawn_chart_has_a_legend_naming_its_colours(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_charts(pilot, "t")  # the last 24 h: every chart but the estimates has data
        assert "completed" in legend(screen, "throughput") and "failed" in legend(screen, "throughput")
        assert all(w in legend(screen, "queue") for w in ("blocked", "ready", "running"))
        assert "median" in legend(screen, "durations") and "median to p95" in legend(screen, "durations")
        assert "success rate" in legend(screen, "durations")
        gates = legend(screen, "gates")
        assert "submitted → decided" in gates and "awaiting a decision" in gates
        burn = legend(screen, "burndown")
        assert all(w in burn for w in ("hours spent", "budget left", "over budget", "Foundation", "Memory service"))
        # the legend's swatches are the colours the chart draws (RGB in both: no palette can part them)
        throughput = cell(screen, "throughput")
        swatches = {span.style.color for span in throughput.legend.content.spans if isinstance(span.style, Style)}
        assert {Color.from_rgb(*GOOD), Color.from_rgb(*BAD)} <= swatches
        drawn = {seg.style.color for line in throughput.chart.render_lines(throughput.chart.region.reset_offset)
                 for seg in line if seg.style and seg.text.strip()} | {
                seg.style.bgcolor for line in throughput.chart.render_lines(throughput.chart.region.reset_offset)
                for seg in line if seg.style}
        assert {c.get_truecolor() for c in swatches if c} <= {c.get_truecolor() for c in drawn if c}


async def test_durations_and_gate_latency_also_come_as_tables(db, seeded):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_charts(pilot, "t")
        # builder-1's three implementation tasks: schema and migrations 15 min each, the hotfix too
        assert table(screen, "durations") == {"implementation": ["implementation", "3", "15m00s", "15m00s", "15m00s"]}
        gates = table(screen, "gates")
        # Foundation: decided by bob as soon as it was submitted; Memory service: in review for an hour
        assert gates == {"Foundation": ["Foundation", "1", "0.0s", "0.0s", "–"],
                         "Memory service": ["Memory service", "0", "–", "–", "1h00m"]}
        durations = cell(screen, "durations").table
        assert [c.label.plain for c in durations.columns.values()] == ["Task type", "Done", "Median", "p95", "Max"]
        # the agent-type filter narrows the table with the charts
        await pilot.press("a", "a", "a")  # docs, implementation, ops
        await settle(pilot)
        assert screen.charts.agent_type == "ops" and table(screen, "durations") == {}
        await pilot.press("A")
        await settle(pilot)
        assert list(table(screen, "durations")) == ["implementation"]


async def test_the_tables_follow_the_feed_in_place(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_charts(pilot, "t")
        durations = cell(screen, "durations").table
        added, removed = [], []
        durations.add_row = _spy(durations.add_row, added)
        durations.remove_row = _spy(durations.remove_row, removed)
        await db_call(db, "register_agent", "tester-9", agent_type="testing")
        claimed = await db_call(db, "claim_task", agent="tester-9", agent_type="testing")
        await db_call(db, "complete_task", claimed.id, agent="tester-9")  # at NOW: no time spent
        app.poller.poll_now()
        await wait_for(pilot, lambda: "testing" in table(screen, "durations"), what="the new task type")
        await settle(pilot)
        assert table(screen, "durations")["testing"] == ["testing", "1", "0.0s", "0.0s", "0.0s"]
        assert list(table(screen, "durations")) == ["implementation", "testing"]  # by name
        assert len(added) == 1 and removed == []  # the new row only: the implementation row stays as it was


def _spy(method, calls: list):
    def spied(*args, **kwargs):
        calls.append(args)
        return method(*args, **kwargs)

    return spied


async def test_milestone_names_and_task_types_in_legends_and_tables_are_literal(db):
    name = "[bold red]x[/]\x1b[31m"
    store = await open_store(db, clock=clock)
    try:
        await store.add_milestone(name, hour_budget=5)
        await store.register_agent("odd-1", agent_type=name)
        task = await store.enqueue_task(description="odd work", agent_type=name)
        claimed = await store.claim_task(agent="odd-1", agent_type=name)
        assert claimed is not None and claimed.id == task.id
        await store.complete_task(claimed.id, agent="odd-1")
    finally:
        await store.close()
    app = make_app(db)
    async with app.run_test(size=(200, 60)) as pilot:
        screen = await open_charts(pilot, "t")
        shown = "[bold red]x[/]\\x1b[31m"  # markup unparsed, the escape made visible
        assert [shown, "1", "0.0s", "0.0s", "0.0s"] in table(screen, "durations").values()
        await pilot.press("m", "m", "m", "m")  # the fourth milestone: the odd one, with its hour budget
        await wait_for(pilot, lambda: screen.charts.milestone_id is not None
                       and screen.charts.burndown.milestones[0].name == name, what="the odd milestone")
        assert shown in legend(screen, "burndown") and shown in header(screen)
        text = screen_text(app)
        assert shown in text and "\x1b" not in text
        for c in screen.query(ChartCell):
            assert "\x1b" not in c.legend.content.plain
            if c.table is not None:
                assert all("\x1b" not in v for row in table(screen, c.id[5:]).values() for v in row)


async def test_at_80x24_one_column_scrolls_and_every_legend_and_table_is_whole(db):
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_charts(pilot, "t")
        assert "-narrow" in screen.classes
        scroll = screen.query_one("#charts-scroll")
        assert scroll.max_scroll_y > 0  # a page of charts taller than the terminal
        for c in screen.query(ChartCell):
            assert c.region.width >= 76  # one chart per row, the whole width
            for part in (c.legend, c.table):
                if part is not None and part.display:
                    assert c.region.contains_region(part.region), (c.id, c.region, part.region)
        assert "Waiting now" not in screen_text(app)  # the gate table is further down
        cell(screen, "gates").table.scroll_visible(animate=False)
        await wait_for(pilot, lambda: "Waiting now" in screen_text(app) and "Memory service" in screen_text(app),
                       what="the gate table, scrolled into view")


async def test_at_200x60_two_columns_fit_the_terminal(db):
    app = make_app(db)
    async with app.run_test(size=(200, 60)) as pilot:
        screen = await open_charts(pilot, "t")
        assert "-wide" in screen.classes
        assert screen.query_one("#charts-scroll").max_scroll_y == 0  # everything on one page
        assert cell(screen, "durations").region.y == cell(screen, "gates").region.y  # side by side
        for c in screen.query(ChartCell):
            assert c.chart.region.height >= 10, c.id
            for part in (c.legend, c.table):
                if part is not None and part.display:
                    assert c.region.contains_region(part.region), (c.id, c.region, part.region)


def plot_rows(chart: ChartPanel) -> list[tuple[str, str]]:
    """The rows inside a chart's plot frame, top to bottom: (its y label, what is right of the y axis)."""
    lines = [strip.text for strip in chart.render_lines(chart.size.region)]
    top = next(i for i, line in enumerate(lines) if "┌" in line)
    axis = lines[top].index("┌")
    bottom = next(i for i in range(top + 1, len(lines)) if "└" in lines[i])
    return [(line[:axis].strip(), line[axis + 1:]) for line in lines[top + 1:bottom]]


def labelled_bars(chart: ChartPanel) -> list[str]:
    """The y labels of a horizontal bar chart, top to bottom, checking that every row with bar cells
    has one (a bar on no row or two rows cannot be told whose it is) and that no label is repeated."""
    rows = plot_rows(chart)
    assert all(name for name, plot in rows if "█" in plot), "\n".join(f"{n:>24}|{p}" for n, p in rows)
    names = [name for name, _ in rows if name]
    assert len(names) == len(set(names)), names
    return names


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (160, 45), (200, 60)])
async def test_every_bar_of_the_horizontal_bar_charts_is_on_one_named_row(db, size):
    """Whatever the number of agents (reviews, milestones) and the chart's size, each bar is one row,
    on the row of its name; the slowest at the top, and those that do not fit left out (the title says
    so). A part of zero (a review not decided yet) leaves no blank cell at the bar's base."""
    app = make_app(db)
    async with app.run_test(size=size) as pilot:
        screen = await open_charts(pilot)
        durations, gates, burndown = (cell(screen, name) for name in ("durations", "gates", "burndown"))
        window = screen.charts.burndown.window
        for n in range(1, 14):  # from one to more than fit (a plot 14 rows high has 9 for bars)
            agents = tuple(AgentDuration(f"agent-{i:02d}", 3, 60.0 * (n - i + 1), 90.0 * (n - i + 1), i % 2)
                           for i in range(n))  # slowest first, as the store gives them
            durations.show(Durations(agents, n))
            reviews = tuple(GateWait(f"G{i:02d} gate", 1, "bob", "approved", 60.0 * (i + 1))
                            for i in range(n))
            gates.show(GateLatency(reviews[:-1], (GateWait("G99 gate", 2, None, None, 30.0),)))
            await pilot.pause()
            rows = len(plot_rows(durations.chart))
            shown = min(n, rows)
            names = [name.rsplit(" ", 1)[0] for name in labelled_bars(durations.chart)]
            assert names == [a.agent for a in agents[:shown]], (size, n, names)
            title = durations.chart.render_lines(durations.chart.size.region)[0].text
            assert (f"slowest {shown} of {n}" if n > rows else f"{n} agent") in title, (size, n, title)
            # the newest reviews, the one awaiting a decision at the top
            names = labelled_bars(gates.chart)
            expected = ["G99 v2 waiting"] + [f"G{i:02d} v1 bob" for i in range(n - 2, -1, -1)]
            assert names == expected[:min(n, len(plot_rows(gates.chart)))], (size, n, names)
            assert plot_rows(gates.chart)[0][1].startswith("█")  # the waiting bar, from the axis on
            left = (1,) * window.count
            burndown.show(Burndown(window, tuple(MilestoneBurn(i, f"M{i:02d} work", 10.0, 2.0 * i, left)
                                                 for i in range(1, n + 1))))
            await pilot.pause()
            rows = len(plot_rows(burndown.chart))
            expected = [f"M{i:02d}" for i in range(1, min(n, rows) + 1)]  # the first milestones, from the top
            assert labelled_bars(burndown.chart) == expected, (size, n)
            title = burndown.chart.render_lines(burndown.chart.size.region)[0].text
            assert (f"first {rows} of {n} · spent" in title) == (n > rows), (size, n, title)


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
async def test_long_names_that_differ_at_the_end_stay_apart_in_bars_and_tables(db, size):
    """Names cut to the room a chart has would read the same ("integration-tester-bl…" twice): those keep
    their ends instead, so each bar and table row can still be told apart."""
    app = make_app(db)
    async with app.run_test(size=size) as pilot:
        screen = await open_charts(pilot)
        durations = cell(screen, "durations")
        names = [f"integration-tester-blue-squad-{i:02d}" for i in range(3)]
        agents = tuple(AgentDuration(name, 3, 60.0 * (3 - i), 90.0 * (3 - i), 0) for i, name in enumerate(names))
        by_type = tuple(Spread(f"{name}-type", 3, 60.0, 90.0, 120.0) for name in names)
        durations.show(Durations(agents, 3, by_type))
        await pilot.pause()
        shown = [name.rsplit(" ", 1)[0] for name in labelled_bars(durations.chart)]  # distinct, or it fails
        assert [name[-2:] for name in shown] == ["00", "01", "02"], shown
        assert all(len(name) < len(names[0]) for name in shown), shown  # they were cut, in the middle
        typed = [row[0] for row in table(screen, "durations").values()]
        assert len(set(typed)) == 3, typed
        assert sorted(name[-7:] for name in typed) == ["00-type", "01-type", "02-type"], typed


async def test_throughput_bars_are_one_bucket_wide_and_stand_on_the_axis(db):
    """A bar per bucket with something in it, however far apart those buckets are; a bucket with only
    failures has its bar from the axis up."""
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_charts(pilot, "t")
        window = screen.charts.throughput.window
        completed, failed = [0] * window.count, [0] * window.count
        completed[2], completed[20], failed[20], failed[10] = 2, 1, 1, 1
        throughput = cell(screen, "throughput")
        throughput.show(Throughput(window, tuple(completed), tuple(failed)))
        await pilot.pause()
        rows = plot_rows(throughput.chart)
        bottom = rows[-1][1]
        runs = [run for run in bottom.replace("│", " ").split(" ") if run]
        assert len(runs) == 3, bottom  # buckets 2, 10 (failed only) and 20, apart
        assert all(len(run) <= len(bottom) // window.count + 1 for run in runs), bottom


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


def _snap(seeded, snap_compare, size) -> bool:
    async def run_before(pilot):
        screen = await open_charts(pilot, "t")
        await wait_for(pilot, lambda: screen.charts.range_key == "24h", what="the 24 h charts")
        await settle(pilot)

    return snap_compare(make_app(seeded.path), terminal_size=size, run_before=run_before)


def test_snapshot_of_the_charts_over_the_last_24_hours(seeded, snap_compare):
    assert _snap(seeded, snap_compare, SIZE)


def test_charts_snapshot_80x24(seeded, snap_compare):
    assert _snap(seeded, snap_compare, (80, 24))


def test_charts_snapshot_200x60(seeded, snap_compare):
    assert _snap(seeded, snap_compare, (200, 60))
