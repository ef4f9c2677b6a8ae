"""Screen 5: performance charts — throughput, queue depth, agent durations, estimates, burn-down,
gate latency and the store's own health, over a time range and filtered by milestone and agent type.
Each chart has a legend under it; durations and gate latency also come as a small table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Static

from swarmdeck.store import Event
from swarmdeck.store.events import CHARTED
from swarmdeck.store.charts import RANGE_KEYS, RANGES, ChartFilters, Charts, StoreHealth, window_for
from swarmdeck.widgets.charts import (
    BurndownChart,
    ChartCell,
    ChartPanel,
    DurationsChart,
    EstimatesChart,
    GateChart,
    HealthChart,
    QueueChart,
    ThroughputChart,
    width_name,
)
from swarmdeck.widgets.fitted import Fitted
from swarmdeck.widgets.text import safe

from ..format import clock_time
from .base import LiveScreen, empty_state

#: Seconds between refreshes while the feed brings changes (bursts coalesce into one refresh).
REFRESH_EVERY = 1.0
#: Poll tick costs shown by the health chart (the poller keeps more).
HEALTH_SAMPLES = 120
#: What the screen says over the charts when no task has ever been enqueued: how the charts fill in.
NO_TASKS = empty_state("No tasks yet: the charts fill in as agents finish work.", [
    ('swarmdeck task enqueue "…" --estimate 30m --milestone M1',
     "queue work: an estimate feeds the estimates, a milestone its burn-down"),
    ("swarmdeck task claim --agent NAME  ·  task complete ID", "what agents do: throughput and durations follow"),
    ("swarmdeck milestone add M1 --budget 40  ·  gate submit M1", "hours against budget, gate review latency"),
    ("swarmdeck demo", "open a simulated swarm to see every chart at work"),
])


@dataclass(frozen=True)
class ChartsQuery:
    """What the charts show: a range, and optionally one milestone and one agent type."""

    range_key: str = "1h"
    milestone_id: int | None = None
    agent_type: str | None = None


class ChartsScreen(LiveScreen):
    """Seven charts in a scrollable grid; t changes the range, m the milestone, a the agent type."""

    SCREEN_NAME = "5 Charts"
    AUTO_FOCUS = "#charts-scroll"
    #: One column of charts on a narrow terminal, two from 110 columns (styles/charts.tcss).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    BINDINGS = [
        Binding("t", "next_range", "Range", id="charts.range",
                tooltip="Time range: 15 min, 1 h, 24 h, 7 d, all (T goes back)"),
        Binding("T", "previous_range", "Range back", show=False, id="charts.range-back",
                tooltip="The previous time range"),
        Binding("m", "next_milestone", "Milestone", id="charts.milestone",
                tooltip="Filter by milestone, or all (M goes back)"),
        Binding("M", "previous_milestone", "Milestone back", show=False, id="charts.milestone-back",
                tooltip="The previous milestone filter"),
        Binding("a", "next_agent_type", "Agent type", id="charts.agent-type",
                tooltip="Filter by agent type, or all (A goes back)"),
        Binding("A", "previous_agent_type", "Agent type back", show=False, id="charts.agent-type-back",
                tooltip="The previous agent-type filter"),
        Binding("r", "refresh_charts", "Refresh", id="charts.refresh", tooltip="Recompute every chart now"),
    ]

    class Computed(Message):
        """The store answered for ``query``: the charts to draw."""

        def __init__(self, query: ChartsQuery, charts: Charts, filters: ChartFilters) -> None:
            super().__init__()
            self.query = query
            self.charts = charts
            self.filters = filters

    class HealthMeasured(Message):
        def __init__(self, health: StoreHealth) -> None:
            super().__init__()
            self.health = health

    def __init__(self) -> None:
        super().__init__()
        self.query_state = ChartsQuery()
        self.filters = ChartFilters((), ())
        self.charts: Charts | None = None
        self.computing = False
        self._stale = False
        self._updated: float | None = None

    def compose(self) -> ComposeResult:
        yield self.status_bar()
        yield Fitted("", id="charts-header")
        with VerticalScroll(id="charts-scroll"):
            yield Static("", id="charts-empty")
            with Grid(id="charts-grid"):
                yield ChartCell(ThroughputChart("Throughput", id="chart-throughput"), id="cell-throughput")
                yield ChartCell(QueueChart("Queue depth", id="chart-queue"), id="cell-queue")
                yield ChartCell(DurationsChart("Durations by agent", id="chart-durations"), id="cell-durations")
                yield ChartCell(GateChart("Gate review", id="chart-gates"), id="cell-gates")
                yield ChartCell(EstimatesChart("Estimates", id="chart-estimates"), id="cell-estimates")
                yield ChartCell(HealthChart("Store health", id="chart-health"), id="cell-health")
                yield ChartCell(BurndownChart("Burn-down", id="chart-burndown"), id="cell-burndown")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        super().on_mount()
        self._show_header()
        self.every(REFRESH_EVERY, self._tick, name="charts-refresh")

    # -- the feed: mark stale, refresh at most once a second ----------------------------------------------

    async def load(self) -> None:
        self._stale = False
        await self._compute(self.query_state)

    async def apply(self, events: list[Event]) -> None:
        if any(e.kind in CHARTED for e in events):
            self._stale = True

    def _tick(self) -> None:
        if not self._loaded:
            return
        self.measure_health()
        if not self.sd.live:
            return
        window = window_for(self.query_state.range_key, self.sd.clock()) if self.query_state.range_key != "all" \
            else None
        moved = window is not None and self.charts is not None and window != self.charts.window
        if (self._stale or moved) and not self.computing:
            self._stale = False
            self.refresh_charts()

    @work(exclusive=True, group="charts", exit_on_error=False)
    async def refresh_charts(self) -> None:
        """Recompute every chart for the current range and filters (a newer request cancels this one)."""
        await self._compute(self.query_state)

    async def _compute(self, query: ChartsQuery) -> None:
        self.computing = True
        try:
            filters = await self.store.chart_filters()
            charts = await self.store.charts(query.range_key, milestone_id=query.milestone_id,
                                             agent_type=query.agent_type, now=self.sd.clock())
        finally:
            self.computing = False
        self.post_message(self.Computed(query, charts, filters))
        await self._measure_health()

    @on(Computed)
    def _draw(self, message: Computed) -> None:
        self.filters = message.filters
        if message.query != self.query_state:
            return  # the range or a filter changed since: a newer answer is on its way
        self.charts = c = message.charts
        self._updated = self.sd.clock()
        with self.app.batch_update():
            for name, data in (("throughput", c.throughput), ("queue", c.queue), ("durations", c.durations),
                               ("estimates", c.estimates), ("burndown", c.burndown), ("gates", c.gates)):
                self.query_one(f"#cell-{name}", ChartCell).show(data)
            self._show_header()
            self._show_empty_state()

    # -- the store's health: measured in this process, redrawn every tick ------------------------------

    @work(exclusive=True, group="charts-health", exit_on_error=False)
    async def measure_health(self) -> None:
        await self._measure_health()

    async def _measure_health(self) -> None:
        writes = await self.store.write_latencies()
        polls = tuple(self.sd.poller.costs)[-HEALTH_SAMPLES:]
        self.post_message(self.HealthMeasured(StoreHealth(writes[-HEALTH_SAMPLES:], polls)))

    @on(HealthMeasured)
    def _draw_health(self, message: HealthMeasured) -> None:
        self.query_one("#cell-health", ChartCell).show(message.health)

    # -- range and filters ------------------------------------------------------------------------------

    def _set_query(self, **changes) -> None:
        self.query_state = ChartsQuery(**{**self.query_state.__dict__, **changes})
        self._show_header()
        self.refresh_charts()

    def action_next_range(self) -> None:
        self._step_range(+1)

    def action_previous_range(self) -> None:
        self._step_range(-1)

    def _step_range(self, step: int) -> None:
        keys = list(RANGE_KEYS)
        self._set_query(range_key=keys[(keys.index(self.query_state.range_key) + step) % len(keys)])

    def action_next_milestone(self) -> None:
        self._step_milestone(+1)

    def action_previous_milestone(self) -> None:
        self._step_milestone(-1)

    def _step_milestone(self, step: int) -> None:
        choices = [None, *(mid for mid, _ in self.filters.milestones)]
        current = self.query_state.milestone_id
        index = choices.index(current) if current in choices else 0
        self._set_query(milestone_id=choices[(index + step) % len(choices)])

    def action_next_agent_type(self) -> None:
        self._step_agent_type(+1)

    def action_previous_agent_type(self) -> None:
        self._step_agent_type(-1)

    def _step_agent_type(self, step: int) -> None:
        choices = [None, *self.filters.agent_types]
        current = self.query_state.agent_type
        index = choices.index(current) if current in choices else 0
        self._set_query(agent_type=choices[(index + step) % len(choices)])

    def action_refresh_charts(self) -> None:
        self.refresh_charts()

    # -- the header line ------------------------------------------------------------------------------------

    def header_text(self) -> Text:
        q = self.query_state
        label, _, _ = RANGES[q.range_key]
        line = Text.assemble(("Range ", "dim"), (label, "bold"))
        window = self.charts.window if self.charts and self.charts.range_key == q.range_key else None
        if window is not None:
            line.append(f" ({window.count} × {width_name(window.width)})", style="dim")
        line.append("  ·  Milestone ", style="dim")
        names = dict(self.filters.milestones)
        if q.milestone_id is None:
            line.append("all", style="bold")
        else:
            line.append_text(safe(names.get(q.milestone_id, f"#{q.milestone_id}"), "bold", one_line=True))
        line.append("  ·  Agent type ", style="dim")
        line.append_text(Text("all", style="bold") if q.agent_type is None else safe(q.agent_type, "bold", one_line=True))
        if self._updated is not None:
            line.append(f"  ·  updated {clock_time(datetime.fromtimestamp(self._updated, tz=timezone.utc))[11:]}",
                        style="dim")
        return line

    def _show_header(self) -> None:
        self.query_one("#charts-header", Static).update(self.header_text())

    def empty_text(self) -> Text | None:
        """What the screen says over the charts when none of finished work has anything to show: no task
        at all yet (how to get some), or none in this range and filters (which keys widen them)."""
        c = self.charts
        if c is None or not (c.throughput.empty and c.durations.empty and c.gates.empty):
            return None
        if not self.filters.agent_types:
            return NO_TASKS
        label, _, _ = RANGES[c.range_key]
        narrowed = c.milestone_id is not None or c.agent_type is not None
        steps = [("t  (T back)", "a longer range: \"all history\" shows everything finished so far")]
        if narrowed:
            steps.append(("m  ·  a", "another milestone or agent type (each cycles back to all)"))
        return empty_state(f"Nothing finished or reviewed in the {label}{' for these filters' if narrowed else ''}.",
                           steps)

    def _show_empty_state(self) -> None:
        box = self.query_one("#charts-empty", Static)
        text = self.empty_text()
        box.display = text is not None
        if text is not None:
            box.update(text)

    def panels(self) -> list[ChartPanel]:
        return list(self.query(ChartPanel))
