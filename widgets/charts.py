"""Performance charts: one textual-plotext ``PlotextPlot`` per chart, each drawing into its own figure.

Data in: ``show(data)`` with one of the frozen dataclasses of ``swarmdeck.store.charts``; the chart
redraws only when the data changed (or its size did), so a live refresh that brings the same numbers
repaints nothing. Nothing here queries anything. Names agents wrote reach plotext scrubbed of control
characters; plotext's output is read back with ``Text.from_ansi``, which never parses markup.

A ``ChartCell`` holds a chart, its legend (which colour is which series, under the chart rather than
on it, where it would hide data) and, for the charts of how long things take, the same figures as a
small table. Series colours are RGB, the same in plotext and in the legend's Rich styles, so the key
always matches the plot whatever the terminal's palette.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from swarmdeck.store.charts import (
    Burndown,
    Durations,
    EstimateAccuracy,
    GateLatency,
    QueueDepth,
    StoreHealth,
    Throughput,
    Window,
    percentile,
)

from .live_table import LiveTable
from .text import Cell, cell, scrub

RGB = tuple[int, int, int]
#: Series colours (Okabe-Ito: told apart with the common colour-vision deficiencies), as RGB so that
#: plotext and the legend draw the very same colour.
GOOD: RGB = (0, 158, 115)  # completed, running, decided
BAD: RGB = (213, 94, 0)  # failed, over budget
WAIT: RGB = (240, 228, 66)  # blocked
BUSY: RGB = (86, 180, 233)  # ready, the median, hours spent
PLAN: RGB = (0, 114, 178)  # median to p95, write transactions, estimated tasks
MUTED: RGB = (128, 128, 128)  # budget left, where actual = estimate
AWAIT: RGB = (204, 121, 167)  # a report awaiting a decision
#: One colour per milestone line of the burn-down.
LINES: tuple[RGB, ...] = (BUSY, GOOD, WAIT, AWAIT, BAD)

#: Legend swatches: what a bar, a line and a point look like.
BAR, LINE, DOT = "██", "━━", "•"
#: The rows of a plotext plot that are not its canvas, with a title and an x label: the frame's top and
#: bottom, the x tick labels, the title and the x label.
PLOT_CHROME_ROWS = 5


# -- small pure helpers (tested without a screen) -------------------------------------------------


def _one_line(value: object) -> str:
    return " ".join(scrub("" if value is None else value).split())


def label(value: object, width: int) -> str:
    """Untrusted text for a chart label: control characters shown as escapes, one line, at most ``width``."""
    text = _one_line(value)
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def labels(values: Sequence[object], widths: Sequence[int]) -> list[str]:
    """:func:`label` of each value at its width; values that would be cut to the same label (names that
    differ only past the room, ``integration-tester-01`` and ``-02``) are cut in the middle instead,
    keeping their ends: ``integrat…ster-01``."""
    cut = [label(value, width) for value, width in zip(values, widths)]
    seen = Counter(cut)
    for i, (value, width) in enumerate(zip(values, widths)):
        text = _one_line(value)
        if seen[cut[i]] > 1 and len(text) > width > 2:
            head = (width - 1) // 2
            cut[i] = text[:head] + "…" + text[len(text) - (width - 1 - head):]
    return cut


def duration_unit(seconds: float) -> tuple[str, float]:
    """The unit a set of durations reads best in (its largest value decides): s, min or h."""
    if seconds >= 2 * 3600:
        return "h", 3600.0
    if seconds >= 120:
        return "min", 60.0
    return "s", 1.0


def short_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 60:
        return f"{seconds / 60:.0f}m"
    return f"{seconds:.0f}s"


def table_duration(seconds: float | None) -> str:
    """A duration for a table cell, to the second or minute: 42s, 15m04s, 2h05m, 3d04h."""
    if seconds is None:
        return "–"
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    for big, small, size, unit in (("d", "h", 86400, 3600), ("h", "m", 3600, 60), ("m", "s", 60, 1)):
        if whole >= size:
            return f"{whole // size}{big}{(whole % size) // unit:02d}{small}"
    return f"{whole}s"


def width_name(width: float) -> str:
    """A bucket width in words: 30 s, 2 min, 1 h, 6 h, 1 d."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if width >= size and width % size == 0:
            return f"{int(width // size)} {unit}"
    return f"{width:g} s"


def time_ticks(window: Window, count: int = 5, *, ends: bool = False) -> tuple[list[float], list[str]]:
    """Tick positions (bucket indices) and local-time labels for a window's x axis: each bucket's
    start (bars), or with ``ends`` its end, the last one being "now" (lines of states over time)."""
    span = window.width * window.count
    fmt = "%H:%M" if span <= 86400 else "%a %Hh" if span <= 8 * 86400 else "%m-%d"
    n = max(2, min(count, window.count))
    positions = sorted({round(i * (window.count - 1) / (n - 1)) for i in range(n)})
    offset = 1 if ends else 0
    labels = [datetime.fromtimestamp(window.start + (p + offset) * window.width).strftime(fmt) for p in positions]
    if ends:
        labels[-1] = "now"
    return [float(p) for p in positions], labels


def count_ticks(peak: float, most: int = 5) -> list[int]:
    """Whole-number ticks from 0 past ``peak`` (tasks come in whole numbers), at most ``most`` of them."""
    top = max(1, math.ceil(peak))
    step = 1
    for base in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 100_000, 1_000_000):
        step = base
        if math.ceil(top / step) + 1 <= most:
            break
    return list(range(0, top + step, step))


def milestone_tag(name: str) -> str:
    """"M1 Core Schema Foundation" -> "M1"; names without such a tag are shortened instead."""
    first = name.split(" ", 1)[0] if name else ""
    return label(first if 0 < len(first) <= 4 else name, 12)


# -- legends -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Key:
    """One entry of a legend: a swatch (bar, line or point) in a series' colour, and what it stands for
    (which may be agent-written, a milestone's name: it is shown literally)."""

    swatch: str
    colour: RGB
    text: str


def legend_text(keys: Sequence[Key], note: str = "") -> Text:
    """The legend as one line (wrapping where the panel is narrow): coloured swatches, plain words."""
    out = Text(end="")
    for i, key in enumerate(keys):
        if i:
            out.append("   ")
        out.append(key.swatch, style=Style(color=Color.from_rgb(*key.colour)))
        out.append(" ")
        out.append(label(key.text, 40))
    if note:
        out.append("   " if keys else "")
        out.append(note, style="dim")
    return out


class ChartLegend(Static):
    """Which colour is which series of the chart above it."""

    DEFAULT_CSS = """
    ChartLegend { height: auto; padding: 0 1; }
    """


class StatsTable(LiveTable):
    """A small read-only table of figures under a chart: a name (untrusted text), then figures. Updated
    in place, never focused (the page around it scrolls), as tall as its rows; the name is cut to what
    the figures leave of the width, so the table never needs scrolling sideways."""

    DEFAULT_CSS = """
    StatsTable { width: 1fr; height: auto; max-height: 14; margin: 0 1; }
    """
    can_focus = False

    def __init__(self, columns: Sequence[tuple[str, str]], *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True, show_cursor=False)
        self.headings = [heading for _, heading in columns]
        # the first column names the row; the others are figures, headed right-aligned like them
        self.set_columns([(key, heading if i == 0 else Text(heading, justify="right"))
                          for i, (key, heading) in enumerate(columns)])
        self.sort_by(columns[0][0])
        self._rows: dict[str, tuple[Any, ...]] = {}

    def show(self, rows: Mapping[str, Sequence[Any]]) -> None:
        """Rows by key: (name, figure cells...)."""
        self._rows = {key: tuple(row) for key, row in rows.items()}
        self._fit()

    def on_resize(self) -> None:
        if self._rows:
            self._fit()

    def name_room(self) -> int | None:
        """The columns the name may take: the width less the figures' columns (None before layout)."""
        if not self.size.width:
            return None
        pad = 2 * self.cell_padding
        figures = sum(pad + max([len(heading)] + [row[i + 1].cell_len for row in self._rows.values()])
                      for i, heading in enumerate(self.headings[1:]))
        return max(6, self.size.width - figures - pad - self.scrollbar_size_vertical)

    def _fit(self) -> None:
        room = self.name_room() or 1000
        cut = labels([name for name, *_ in self._rows.values()], [room] * len(self._rows))
        self.sync({key: (cell(shown, sort_value=scrub(name)), *figures)
                   for (key, (name, *figures)), shown in zip(self._rows.items(), cut)})
        self.display = bool(self._rows)


def number(text: str, sort_value: float | None) -> Cell:
    """A figure in a table cell: right-aligned, sorting by its value."""
    out = Cell(text, sort_value=-1.0 if sort_value is None else sort_value)
    out.justify = "right"
    return out


def stacked_bars(plt, positions: Sequence[float], series: Sequence[Sequence[float]], colours: Sequence[RGB],
                 *, width: float, orientation: str = "vertical") -> None:
    """Bars of ``series`` stacked (the first at the base) at ``positions``, ``width`` wide, each part
    drawn on its own. plotext's ``stacked_bar`` scales the width by the mean gap between positions (a
    bar many buckets wide when few buckets have one), and paints a part of zero as a blank cell over
    the base of the part under it (a bar that floats off its axis)."""
    totals = [0.0] * len(positions)
    layers = []
    for values in series:
        totals = [t + v for t, v in zip(totals, values)]
        layers.append(totals)
    # the whole bar first, then each inner part over it; a bar of zero still sets the value axis
    for depth in range(len(layers) - 1, -1, -1):
        for position, value in zip(positions, layers[depth]):
            if value or depth == len(layers) - 1:
                plt.bar([position], [value], color=colours[depth], width=width, orientation=orientation,
                        reset_ticks=False)


# -- the chart widget -----------------------------------------------------------------------------------


class ChartPanel(PlotextPlot):
    """A titled chart. ``show(data)`` replots it; empty data says what is missing (``EMPTY``), and no
    data yet (``None``: not computed) that it is loading."""

    DEFAULT_CSS = """
    ChartPanel { width: 1fr; height: 1fr; min-height: 8; }
    """

    #: What the chart shows when there is nothing to draw, under its title.
    EMPTY = "no data yet"
    #: What it shows before its first data arrives: not that nothing happened.
    LOADING = "loading…"

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.data: Any = None
        self.shown = False  # something has been drawn (data or the empty message)
        self.empty = True
        self._drawn_for: tuple[Any, int, int] | None = None

    def show(self, data: Any) -> None:
        """New data: redraw if it differs from what is drawn."""
        self.data = data
        self.replot()

    def on_resize(self) -> None:
        self.replot()

    def replot(self) -> None:
        key = (self.data, self.size.width, self.size.height)
        if self.shown and key == self._drawn_for:
            return
        self._drawn_for = key
        plt = self.plt
        plt.clear_figure()
        self.empty = self.data is None or bool(getattr(self.data, "empty", False))
        if self.empty:
            self._draw_empty(plt)
        else:
            self.draw(plt, self.data)
        self.shown = True
        self.refresh()

    def _draw_empty(self, plt) -> None:
        self.titled(plt, self.title)
        plt.xlim(0, 1)
        plt.ylim(0, 1)
        plt.xticks([])
        plt.yticks([])
        plt.text(self.empty_message(), 0.5, 0.5, alignment="center", color="default", background="default")

    def empty_message(self) -> str:
        return self.LOADING if self.data is None else self.EMPTY

    def draw(self, plt, data: Any) -> None:  # pragma: no cover - every chart overrides it
        raise NotImplementedError

    #: The columns (key, heading) of the table of this chart's figures; none for most charts.
    TABLE: tuple[tuple[str, str], ...] = ()

    def legend(self, data: Any) -> tuple[list[Key], str]:
        """The keys to the series drawn for ``data``, and a note on what else the chart encodes."""
        return [], ""

    def table_rows(self, data: Any) -> dict[str, tuple[Any, ...]]:
        """The rows of this chart's table for ``data``, by key: the row's name (untrusted text, which the
        table makes literal and cuts to fit), then its figures (``number`` cells)."""
        return {}

    @property
    def plot_width(self) -> int:
        return max(20, self.size.width)

    def titled(self, plt, text: str, width: int | None = None) -> None:
        """A title cut to fit: plotext drops one wider than its plot."""
        plt.title(label(text, (width or self.plot_width) - 2))

    @staticmethod
    def count_axis(plt, peak: float) -> None:
        ticks = count_ticks(peak)
        plt.ylim(0, ticks[-1])
        plt.yticks(ticks, [str(t) for t in ticks])

    def bar_rows(self, height: int | None = None) -> int:
        """The rows a plot of ``height`` (the chart's own by default) has for its bars: all but the
        frame's two lines, the x tick labels, the title and the x label, which every bar chart has."""
        return max(1, (self.size.height if height is None else height) - PLOT_CHROME_ROWS)

    @staticmethod
    def horizontal_bars(plt, names: Sequence[str], series: Sequence[Sequence[float]], colours: Sequence[RGB],
                        rows: int) -> None:
        """Stacked horizontal bars, ``names`` (and each of ``series``) from the top, at most ``rows`` of
        them: each bar on exactly one row, the row of its name, and blank rows under the last bar.

        Bar i is drawn at y = count - i; left to itself plotext fits the y range to the bars, so n bars
        spread over more rows than n (a bar two rows high, one of them beside no name). A y range of
        one unit per canvas row, the first name on the top row, leaves no such row."""
        count = len(names)
        positions = [float(count - i) for i in range(count)]
        stacked_bars(plt, positions, series, colours, width=0.7, orientation="horizontal")
        plt.yticks(positions, list(names))
        # a bar's ends (±0.35) round to its own row; a range of zero would divide by zero in plotext
        plt.ylim(count - max(1, rows - 1), count)


class ThroughputChart(ChartPanel):
    """Completed and failed tasks per bucket, stacked."""

    EMPTY = "nothing finished in this range"

    def draw(self, plt, data: Throughput) -> None:
        w = data.window
        # Only the buckets with something in them: plotext paints a sliver for a bar of zero.
        busy = [i for i in range(w.count) if data.completed[i] or data.failed[i]]
        parts = [[data.completed[i] for i in busy], [data.failed[i] for i in busy]]
        stacked_bars(plt, busy, parts, [GOOD, BAD], width=0.8)
        plt.xticks(*time_ticks(w))
        plt.xlim(-0.6, w.count - 0.4)
        self.titled(plt, f"{self.title} · {sum(data.completed)} completed, {sum(data.failed)} failed")
        self.count_axis(plt, max(c + f for c, f in zip(data.completed, data.failed)))
        plt.ylabel(f"tasks / {width_name(w.width)}")

    def legend(self, data: Throughput) -> tuple[list[Key], str]:
        return [Key(BAR, GOOD, "completed"), Key(BAR, BAD, "failed")], f"per {width_name(data.window.width)}"


class QueueChart(ChartPanel):
    """Blocked, ready and running tasks at the end of each bucket."""

    EMPTY = "no task queued in this range"
    SERIES = (("blocked", WAIT), ("ready", BUSY), ("running", GOOD))

    def draw(self, plt, data: QueueDepth) -> None:
        w = data.window
        for (name, colour), series in zip(self.SERIES, (data.blocked, data.ready, data.running)):
            points = [(i, v) for i, v in enumerate(series) if v is not None]
            if points:
                plt.plot([p[0] for p in points], [p[1] for p in points], color=colour, marker="braille")
        plt.xticks(*time_ticks(w, ends=True))
        plt.xlim(0, max(1, w.count - 1))
        peak = max((v for s in (data.blocked, data.ready, data.running) for v in s if v is not None), default=0)
        self.count_axis(plt, peak)
        now = [s[-1] for s in (data.ready, data.running, data.blocked)]
        self.titled(plt, f"{self.title} · now {now[0] or 0} ready, {now[1] or 0} running, {now[2] or 0} blocked")
        plt.ylabel("tasks")

    def legend(self, data: QueueDepth) -> tuple[list[Key], str]:
        return [Key(LINE, colour, name) for name, colour in self.SERIES], "at each bucket's end"


class DurationsChart(ChartPanel):
    """The slowest agents: median (the bar's first part) and p95 (its end), with each one's success
    rate; the table under it has the same tasks per task type."""

    EMPTY = "no task completed in this range"
    TABLE = (("type", "Task type"), ("done", "Done"), ("median", "Median"), ("p95", "p95"), ("max", "Max"))

    def draw(self, plt, data: Durations) -> None:
        agents = list(data.agents[:self.bar_rows()])  # the slowest, from the top
        unit, scale = duration_unit(max((a.p95_s or 0) for a in agents))
        room = self.name_room
        rates = ["" if a.success_rate is None else f" {a.success_rate * 100:.0f}%" for a in agents]
        cut = labels([a.agent for a in agents], [room - len(rate) for rate in rates])
        names = [name + rate for name, rate in zip(cut, rates)]
        median = [(a.median_s or 0) / scale for a in agents]
        tail = [max(0.0, (a.p95_s or 0) - (a.median_s or 0)) / scale for a in agents]
        # The legend is under the chart: on it, it would sit on the bars.
        self.horizontal_bars(plt, names, [median, tail], [BUSY, PLAN], self.bar_rows())
        shown = f"slowest {len(agents)} of {data.total_agents}" if data.total_agents > len(agents) else \
            f"{data.total_agents} agent{'s' if data.total_agents != 1 else ''}"
        # plotext drops a title wider than the plot area, which starts after the names
        self.titled(plt, f"{self.title} ({shown})", self.plot_width - room)
        plt.xlabel(f"task duration ({unit})")

    @property
    def name_room(self) -> int:
        return max(8, min(24, self.plot_width // 3))

    def legend(self, data: Durations) -> tuple[list[Key], str]:
        return [Key(BAR, BUSY, "median"), Key(BAR, PLAN, "median to p95")], "NN% after a name: success rate"

    def table_rows(self, data: Durations) -> dict[str, tuple[Any, ...]]:
        return {t.name: (t.name, number(str(t.count), t.count),
                         *(number(table_duration(v), v) for v in (t.median_s, t.p95_s, t.max_s)))
                for t in data.by_type}


class EstimatesChart(ChartPanel):
    """Estimated vs actual duration of recent tasks, the line where they agree, and the correction factor."""

    EMPTY = "no task with an estimate finished yet"

    def draw(self, plt, data: EstimateAccuracy) -> None:
        factor = ("no estimates in 90 d" if data.correction_factor is None else
                  f"correction ×{data.correction_factor:.2f} ({data.factor_days} d, {data.factor_tasks} tasks)")
        if not data.points:
            self._draw_empty(plt)
        self.titled(plt, f"{self.title} · {factor}")
        if not data.points:
            return
        top = max(max(e for e, _ in data.points), max(a for _, a in data.points))
        unit, scale = duration_unit(top)
        est = [e / scale for e, _ in data.points]
        act = [a / scale for _, a in data.points]
        edge = top / scale * 1.05
        plt.plot([0, edge], [0, edge], color=MUTED, marker="braille")
        plt.scatter(est, act, color=PLAN, marker="braille")
        plt.xlim(0, edge)
        plt.ylim(0, edge)
        plt.xlabel(f"estimated ({unit})")
        plt.ylabel(f"actual ({unit})")

    def legend(self, data: EstimateAccuracy) -> tuple[list[Key], str]:
        if not data.points:
            return [], ""
        n = len(data.points)
        return [Key(DOT, PLAN, f"{n} recent task{'s' if n != 1 else ''}"), Key(LINE, MUTED, "actual = estimate")], \
            "above the line: slower than estimated"


class BurndownChart(ChartPanel):
    """Hours spent against each milestone's budget (left), unfinished tasks over time (right)."""

    EMPTY = "no milestone with work in this range"

    def draw(self, plt, data: Burndown) -> None:
        width, height = self.plot_width, max(6, self.size.height)
        left = max(24, width * 2 // 5)
        plt.subplots(1, 2)
        bars = plt.subplot(1, 1)
        bars.plotsize(left, height)
        rows = self.bar_rows(height)
        milestones = list(data.milestones)[:rows]
        names = [milestone_tag(m.name) for m in milestones]
        spent = [m.hours_spent for m in milestones]
        budget = [m.hour_budget or 0.0 for m in milestones]
        within = [min(s, b) if b else s for s, b in zip(spent, budget)]
        left_over = [max(0.0, b - s) for s, b in zip(spent, budget)]
        over = [max(0.0, s - b) if b else 0.0 for s, b in zip(spent, budget)]
        self.horizontal_bars(bars, names, [within, left_over, over], [BUSY, MUTED, BAD], rows)
        total_spent = sum(m.hours_spent for m in data.milestones)
        total_budget = sum(m.hour_budget or 0.0 for m in data.milestones)
        cut = f"first {rows} of {len(data.milestones)} · " if len(data.milestones) > rows else ""
        # plotext drops a title wider than the plot area, which starts after the names
        self.titled(bars, f"{cut}spent {total_spent:.1f} of {total_budget:g} h budget", left - max(map(len, names)))
        bars.xlabel("hours")
        lines = plt.subplot(1, 2)
        lines.plotsize(width - left, height)
        x = list(range(data.window.count))
        for i, m in enumerate(data.milestones):
            lines.plot(x, list(m.remaining), color=LINES[i % len(LINES)], marker="braille")
        lines.xticks(*time_ticks(data.window, 4, ends=True))
        lines.xlim(0, max(1, data.window.count - 1))
        peak = max((max(m.remaining) for m in data.milestones), default=0)
        self.count_axis(lines, peak)
        self.titled(lines, f"{self.title} · unfinished tasks", width - left)
        lines.ylabel("tasks")

    def legend(self, data: Burndown) -> tuple[list[Key], str]:
        keys = [Key(BAR, BUSY, "hours spent"), Key(BAR, MUTED, "budget left"), Key(BAR, BAD, "over budget")]
        keys += [Key(LINE, LINES[i % len(LINES)], m.name) for i, m in enumerate(data.milestones)]
        return keys, ""


class GateChart(ChartPanel):
    """Report submitted -> decision, per review (gate, version, reviewer); reports still waiting. The
    table under it has the same per milestone."""

    EMPTY = "no gate decided in this range, none in review"
    #: No p95 column: a gate sees a handful of decisions, and the nearest-rank p95 of fewer than 20 is the max.
    TABLE = (("milestone", "Milestone"), ("decided", "Decided"), ("median", "Median"), ("max", "Max"),
             ("waiting", "Waiting now"))

    def draw(self, plt, data: GateLatency) -> None:
        rows = self.bar_rows()
        reviews = (list(data.decided) + list(data.awaiting))[-rows:][::-1]  # the newest, from the top
        unit, scale = duration_unit(max(r.seconds for r in reviews))
        room = max(10, min(26, self.plot_width // 3))
        names = [label(f"{milestone_tag(r.milestone)} v{r.version} "
                       f"{r.reviewer if r.reviewer else 'waiting'}", room) for r in reviews]
        decided = [0.0 if r.reviewer is None else r.seconds / scale for r in reviews]
        waiting = [r.seconds / scale if r.reviewer is None else 0.0 for r in reviews]
        self.horizontal_bars(plt, names, [decided, waiting], [GOOD, AWAIT], rows)
        medians = ", ".join(f"{label(r, 10)} {short_duration(s)}" for r, s in data.by_reviewer().items())
        self.titled(plt, f"{self.title} · median {medians}" if medians else f"{self.title} · none decided yet",
                    self.plot_width - room)
        plt.xlabel(f"submitted → decided ({unit})")

    def legend(self, data: GateLatency) -> tuple[list[Key], str]:
        return [Key(BAR, GOOD, "submitted → decided"), Key(BAR, AWAIT, "awaiting a decision (so far)")], ""

    def table_rows(self, data: GateLatency) -> dict[str, tuple[Any, ...]]:
        rows = {}
        for g in data.by_milestone():
            d = g.decided
            rows[g.milestone] = (g.milestone, number(str(d.count), d.count),
                                 *(number(table_duration(v), v) for v in (d.median_s, d.max_s)),
                                 number(table_duration(g.waiting_s), g.waiting_s))
        return rows


class HealthChart(ChartPanel):
    """This process's write transactions and the app's poll ticks, most recent last."""

    EMPTY = "no writes or poll ticks measured yet"
    SERIES = (("write transactions", PLAN), ("poll ticks", GOOD))

    def draw(self, plt, data: StoreHealth) -> None:
        parts = []
        for (name, colour), values in zip(self.SERIES, (data.write_ms, data.poll_ms)):
            if not values:
                continue
            plt.plot(list(range(len(values))), list(values), color=colour, marker="braille")
            ordered = sorted(values)
            parts.append(f"{name.split()[0]} p50 {percentile(ordered, 50):.1f} p95 {percentile(ordered, 95):.1f} ms")
        self.titled(plt, f"{self.title} · " + " · ".join(parts))
        plt.ylabel("ms")
        plt.xlabel("recent samples, newest right")

    def legend(self, data: StoreHealth) -> tuple[list[Key], str]:
        return [Key(LINE, colour, name) for (name, colour), values in zip(self.SERIES, (data.write_ms, data.poll_ms))
                if values], "this process's own"


# -- a chart with its legend and table -------------------------------------------------------------------


class ChartCell(Vertical):
    """A chart, the legend to its colours under it, and (for charts that have one) the table of its
    figures. ``show(data)`` updates all three; the legend and table are hidden while the chart is empty."""

    DEFAULT_CSS = """
    ChartCell { height: 1fr; }
    """

    def __init__(self, chart: ChartPanel, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="chart-cell")
        self.chart = chart
        self.legend = ChartLegend(id=None if chart.id is None else f"{chart.id}-legend")
        self.legend.display = False
        self.table = StatsTable(chart.TABLE, id=None if chart.id is None else f"{chart.id}-table") \
            if chart.TABLE else None
        if self.table is not None:
            self.table.display = False
        self._legend: Text | None = None

    def compose(self) -> ComposeResult:
        yield self.chart
        yield self.legend
        if self.table is not None:
            yield self.table

    def show(self, data: Any) -> None:
        chart = self.chart
        chart.show(data)
        keys, note = ([], "") if chart.empty else chart.legend(data)
        text = legend_text(keys, note)
        if text != self._legend:
            self._legend = text
            self.legend.update(text)
        self.legend.display = bool(keys)
        if self.table is not None:
            self.table.show({} if chart.empty else chart.table_rows(data))
