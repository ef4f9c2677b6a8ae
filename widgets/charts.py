"""Performance charts: one textual-plotext ``PlotextPlot`` per chart, each drawing into its own figure.

Data in: ``show(data)`` with one of the frozen dataclasses of ``swarmdeck.store.charts``; the chart
redraws only when the data changed (or its size did), so a live refresh that brings the same numbers
repaints nothing. Nothing here queries anything. Names agents wrote reach plotext scrubbed of control
characters; plotext's output is read back with ``Text.from_ansi``, which never parses markup.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

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

from .text import scrub

GOOD, BAD, WAIT, BUSY, PLAN = "green", "red", "yellow", "cyan", "blue"


# -- small pure helpers (tested without a screen) -------------------------------------------------


def label(value: object, width: int) -> str:
    """Untrusted text for a chart label: control characters shown as escapes, one line, at most ``width``."""
    text = " ".join(scrub("" if value is None else value).split())
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


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


# -- the chart widget -----------------------------------------------------------------------------------


class ChartPanel(PlotextPlot):
    """A titled chart. ``show(data)`` replots it; ``None`` or empty data says "no data yet"."""

    DEFAULT_CSS = """
    ChartPanel { width: 1fr; height: 1fr; min-height: 8; }
    """

    #: What the chart shows when there is nothing to draw, under its title.
    EMPTY = "no data yet"

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
        return self.EMPTY

    def draw(self, plt, data: Any) -> None:  # pragma: no cover - every chart overrides it
        raise NotImplementedError

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


class ThroughputChart(ChartPanel):
    """Completed and failed tasks per bucket, stacked."""

    def draw(self, plt, data: Throughput) -> None:
        w = data.window
        # Only the buckets with something in them: plotext paints a sliver for a bar of zero.
        busy = [i for i in range(w.count) if data.completed[i] or data.failed[i]]
        plt.stacked_bar(busy, [[data.completed[i] for i in busy], [data.failed[i] for i in busy]],
                        labels=["completed", "failed"], color=[GOOD, BAD], width=0.8)
        plt.xticks(*time_ticks(w))
        plt.xlim(-0.6, w.count - 0.4)
        self.titled(plt, f"{self.title} · {sum(data.completed)} completed, {sum(data.failed)} failed")
        self.count_axis(plt, max(c + f for c, f in zip(data.completed, data.failed)))
        plt.ylabel(f"tasks / {width_name(w.width)}")


class QueueChart(ChartPanel):
    """Blocked, ready and running tasks at the end of each bucket."""

    def draw(self, plt, data: QueueDepth) -> None:
        w = data.window
        for name, series, colour in (("blocked", data.blocked, WAIT), ("ready", data.ready, BUSY),
                                     ("running", data.running, GOOD)):
            points = [(i, v) for i, v in enumerate(series) if v is not None]
            if points:
                plt.plot([p[0] for p in points], [p[1] for p in points], label=name, color=colour,
                         marker="braille")
        plt.xticks(*time_ticks(w, ends=True))
        plt.xlim(0, max(1, w.count - 1))
        peak = max((v for s in (data.blocked, data.ready, data.running) for v in s if v is not None), default=0)
        self.count_axis(plt, peak)
        now = [s[-1] for s in (data.ready, data.running, data.blocked)]
        self.titled(plt, f"{self.title} · now {now[0] or 0} ready, {now[1] or 0} running, {now[2] or 0} blocked")
        plt.ylabel("tasks")


class DurationsChart(ChartPanel):
    """The slowest agents: median (solid) and p95 (the bar's end), with each one's success rate."""

    def draw(self, plt, data: Durations) -> None:
        rows = max(1, self.size.height - 4)
        agents = list(data.agents[:rows])[::-1]  # plotext draws the first bar at the bottom
        unit, scale = duration_unit(max((a.p95_s or 0) for a in agents))
        room = max(8, min(24, self.plot_width // 3))
        names = []
        for a in agents:
            rate = "" if a.success_rate is None else f" {a.success_rate * 100:.0f}%"
            names.append(label(a.agent, room - len(rate)) + rate)
        median = [(a.median_s or 0) / scale for a in agents]
        tail = [max(0.0, (a.p95_s or 0) - (a.median_s or 0)) / scale for a in agents]
        # No legend: it would sit on the bars. The title says which part is which.
        plt.stacked_bar(names, [median, tail], color=[BUSY, PLAN], orientation="horizontal", width=0.7)
        shown = f"slowest {len(agents)} of {data.total_agents}" if data.total_agents > len(agents) else \
            f"{data.total_agents} agent{'s' if data.total_agents != 1 else ''}"
        # plotext drops a title wider than the plot area, which starts after the names
        self.titled(plt, f"{self.title} ({shown}) · median, p95 · success", self.plot_width - room)
        plt.xlabel(f"task duration ({unit})")


class EstimatesChart(ChartPanel):
    """Estimated vs actual duration of recent tasks, the line where they agree, and the correction factor."""

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
        plt.plot([0, edge], [0, edge], label="actual = estimate", color="gray", marker="braille")
        plt.scatter(est, act, label=f"{len(est)} recent tasks", color=PLAN, marker="braille")
        plt.xlim(0, edge)
        plt.ylim(0, edge)
        plt.xlabel(f"estimated ({unit})")
        plt.ylabel(f"actual ({unit})")

    def empty_message(self) -> str:
        return "no estimated task finished yet"


class BurndownChart(ChartPanel):
    """Hours spent against each milestone's budget (left), unfinished tasks over time (right)."""

    def draw(self, plt, data: Burndown) -> None:
        width, height = self.plot_width, max(6, self.size.height)
        left = max(24, width * 2 // 5)
        plt.subplots(1, 2)
        bars = plt.subplot(1, 1)
        bars.plotsize(left, height)
        milestones = list(data.milestones)[::-1]
        names = [milestone_tag(m.name) for m in milestones]
        spent = [m.hours_spent for m in milestones]
        budget = [m.hour_budget or 0.0 for m in milestones]
        within = [min(s, b) if b else s for s, b in zip(spent, budget)]
        left_over = [max(0.0, b - s) for s, b in zip(spent, budget)]
        over = [max(0.0, s - b) if b else 0.0 for s, b in zip(spent, budget)]
        bars.stacked_bar(names, [within, left_over, over], color=[BUSY, "gray", BAD], orientation="horizontal",
                         width=0.6)
        total_spent, total_budget = sum(spent), sum(budget)
        self.titled(bars, f"spent {total_spent:.1f} of {total_budget:g} h budget", left)
        bars.xlabel("hours")
        lines = plt.subplot(1, 2)
        lines.plotsize(width - left, height)
        palette = (BUSY, GOOD, WAIT, "magenta", PLAN)
        x = list(range(data.window.count))
        for i, m in enumerate(data.milestones):
            lines.plot(x, list(m.remaining), label=milestone_tag(m.name), color=palette[i % len(palette)],
                       marker="braille")
        lines.xticks(*time_ticks(data.window, 4, ends=True))
        lines.xlim(0, max(1, data.window.count - 1))
        peak = max((max(m.remaining) for m in data.milestones), default=0)
        self.count_axis(lines, peak)
        self.titled(lines, f"{self.title} · unfinished tasks", width - left)
        lines.ylabel("tasks")


class GateChart(ChartPanel):
    """Report submitted -> decision, per review (gate, version, reviewer); reports still waiting."""

    def draw(self, plt, data: GateLatency) -> None:
        rows = max(1, self.size.height - 4)
        reviews = (list(data.decided) + list(data.awaiting))[-rows:][::-1]
        unit, scale = duration_unit(max(r.seconds for r in reviews))
        room = max(10, min(26, self.plot_width // 3))
        names = [label(f"{milestone_tag(r.milestone)} v{r.version} "
                       f"{r.reviewer if r.reviewer else 'waiting'}", room) for r in reviews]
        decided = [0.0 if r.reviewer is None else r.seconds / scale for r in reviews]
        waiting = [r.seconds / scale if r.reviewer is None else 0.0 for r in reviews]
        plt.stacked_bar(names, [decided, waiting], color=[GOOD, "magenta"], orientation="horizontal", width=0.7)
        medians = ", ".join(f"{label(r, 10)} {short_duration(s)}" for r, s in data.by_reviewer().items())
        self.titled(plt, f"{self.title} · median {medians}" if medians else f"{self.title} · none decided yet",
                    self.plot_width - room)
        plt.xlabel(f"submitted → decided ({unit})")


class HealthChart(ChartPanel):
    """This process's write transactions and the app's poll ticks, most recent last."""

    def draw(self, plt, data: StoreHealth) -> None:
        parts = []
        for name, values, colour in (("writes", data.write_ms, PLAN), ("poll ticks", data.poll_ms, GOOD)):
            if not values:
                continue
            plt.plot(list(range(len(values))), list(values), label=name, color=colour, marker="braille")
            ordered = sorted(values)
            parts.append(f"{name} p50 {percentile(ordered, 50):.1f} p95 {percentile(ordered, 95):.1f} ms")
        self.titled(plt, f"{self.title} · " + " · ".join(parts))
        plt.ylabel("ms")
        plt.xlabel("recent samples, newest right")

    def empty_message(self) -> str:
        return "no writes or poll ticks measured yet"
