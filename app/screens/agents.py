"""Screen 3: every agent, its heartbeat age (always shown), and the selected agent's activity."""

from __future__ import annotations

from datetime import datetime, timezone

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, RichLog, Static

from swarmdeck.store import Agent, Event
from swarmdeck.store.events import AgentAction, AgentChange, Entity, EventKind, IndexFailed, MemoryKey, \
    MemoryVersion, TaskCancelled, TaskClaimed, TaskCompleted, TaskEscalated, TaskFailed, TaskRetried
from swarmdeck.widgets.charts import table_duration
from swarmdeck.widgets.fitted import Fitted
from swarmdeck.widgets.live_table import LiveTable, TableColumn
from swarmdeck.widgets.text import cell, safe

from ..format import STATUS_STYLE, age, clock_time
from .base import LiveScreen, empty_state

#: Sized by content; the blockers take the rest. On a narrow terminal the next milestone, the type,
#: the task totals and the completion give way to them (the detail below has them all), then long
#: names are shortened.
COLUMNS = [
    TableColumn("colour", " "), TableColumn("name", "Agent", 27, min_width=10),
    TableColumn("status", "Status"), TableColumn("heartbeat", "Heartbeat"), TableColumn("task", "Task"),
    TableColumn("completion", "Done %", drop=1), TableColumn("completed", "✔", drop=2),
    TableColumn("failed", "✘", drop=2), TableColumn("type", "Type", 20, min_width=8, drop=3),
    TableColumn("next", "Next milestone", 28, min_width=10, drop=4),
    TableColumn("blockers", "Blockers", flex=True, min_width=24),
]
#: What the agents screen says while no agent has registered.
EMPTY = empty_state("No agents yet.", [
    ("swarmdeck agent register NAME --type TYPE", "register an agent (agents register themselves the same "
                                                  "way when they start, or over MCP)"),
    ("swarmdeck demo", "open a simulated swarm, to see eight agents at work"),
])
ACTIVITY_LINES = 200


def agent_state(agent: Agent, now: float) -> tuple[str, float | None]:
    """The status to show, and the heartbeat age, as of ``now`` (stale is not idle: the model's rule)."""
    return ("stale" if agent.is_stale(now) else agent.status.value), agent.heartbeat_age(now)


class AgentsScreen(LiveScreen):
    """Colour, name, type, status, task, completion, heartbeat age, blockers, next milestone, totals."""

    SCREEN_NAME = "3 Agents"
    AUTO_FOCUS = "#agents-table"
    BINDINGS = [
        Binding("s", "sort_next", "Sort", id="agents.sort", tooltip="Sort by the next column"),
        Binding("S", "sort_reverse", "Reverse", show=False, id="agents.sort-reverse",
                tooltip="Reverse the sort"),
        Binding("a", "toggle_heartbeats", "Heartbeats", id="agents.heartbeats",
                tooltip="Show or hide heartbeats in the activity"),
        Binding("j", "cursor_down", "Down", show=False, id="agents.down", tooltip="Next agent"),
        Binding("k", "cursor_up", "Up", show=False, id="agents.up", tooltip="Previous agent"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.agents: dict[str, Agent] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self.selected: str | None = None
        self.show_heartbeats = False
        self._activity_last_id = 0
        #: The events the activity shows, oldest first (what the replay key offers to start from).
        self._activity_events: list[Event] = []
        #: While the live view is paused the data stops moving, so do its ages: the moment it froze.
        self.frozen_at: float | None = None

    def compose(self) -> ComposeResult:
        yield self.status_bar()
        yield Static("", id="agents-summary")
        with Vertical(id="agents-body"):
            table = LiveTable(id="agents-table")
            table.set_columns(COLUMNS)
            yield table
            yield Static(EMPTY, id="agents-empty")
            yield Fitted("", id="agent-detail")
            yield Static("", id="activity-title")
            yield RichLog(id="activity", max_lines=ACTIVITY_LINES, wrap=False, markup=False)
        yield Footer(compact=True)

    @property
    def table(self) -> LiveTable:
        return self.query_one("#agents-table", LiveTable)

    def on_mount(self) -> None:
        super().on_mount()
        # Heartbeat ages move with the clock, not with the feed: refresh the cells every second.
        self.every(1.0, self._tick_ages, name="agent-ages")
        self.watch(self.app, "live", self._live_changed)

    def now(self) -> float:
        """The moment ages are counted to: the clock, or when the live view was paused."""
        return self.frozen_at if self.frozen_at is not None else self.sd.clock()

    def _live_changed(self, live: bool) -> None:
        if live:
            self.frozen_at = None
        elif self.frozen_at is None:
            self.frozen_at = self.sd.clock()
        self._tick_ages()

    # -- data ---------------------------------------------------------------------------------------------

    async def load(self) -> None:
        self.agents = {a.name: a for a in await self.store.list_agents()}
        self.counts = await self.store.agent_task_counts()
        if self.table.sort_state is None:
            self.table.sort_by("name")
        with self.app.batch_update():
            self.table.sync({name: self._cells(a) for name, a in self.agents.items()})
        if self.selected is None and self.agents:
            self.table.move_cursor(row=0)
        self._update_summary()
        self._update_detail()
        if self.selected is not None and self._loaded:  # a reload (a replay moved): the activity as of now
            self.load_activity()

    def focused_events(self) -> list[tuple[int, Text]]:
        """The selected agent's activity, once it has the focus: the replay key starts from one of them."""
        if self.focused is not self.query_one("#activity", RichLog):
            return []
        return [(e.id, activity_line(e)) for e in self._activity_events]

    async def apply(self, events: list[Event]) -> None:
        names = {e.entity_id for e in events if e.entity == Entity.AGENT and e.entity_id}
        for e in events:
            if e.entity != Entity.TASK:
                continue
            match e.typed():
                case TaskCompleted(agent=str() as agent) | TaskFailed(agent=str() as agent) if agent:
                    outcome = "completed" if e.kind == EventKind.TASK_COMPLETED else "failed"
                    per = self.counts.setdefault(agent, {})
                    per[outcome] = per.get(outcome, 0) + 1
                    names.add(agent)
                case (TaskClaimed(agent=str() as agent) | TaskRetried(agent=str() as agent)
                      | TaskCancelled(agent=str() as agent)) if agent:
                    names.add(agent)
        if names:
            for agent in await self.store.agents_by_names(sorted(names)):
                self.agents[agent.name] = agent
            with self.app.batch_update():
                self.table.apply({n: self._cells(self.agents[n]) for n in names if n in self.agents})
            self._update_summary()
            if self.selected in names:
                self._update_detail()
        if self.selected is not None:
            self._append_activity([e for e in events if self._belongs(e, self.selected)])

    def _cells(self, a: Agent) -> tuple:
        now = self.now()
        status, heartbeat_age = agent_state(a, now)
        counts = self.counts.get(a.name, {})
        return (
            Text("■■", style=_colour(a.colour)),
            cell(a.name, "bold"),
            cell("STALE" if status == "stale" else status, STATUS_STYLE.get(status, ""), sort_value=status),
            cell(age(heartbeat_age) + " ago" if heartbeat_age is not None else "never",
                 "bold red" if status == "stale" else "", sort_value=heartbeat_age or 0),
            cell(a.current_task_id or "-", sort_value=a.current_task_id or 0),
            cell(f"{a.completion:3.0f}%", sort_value=a.completion),
            cell(counts.get("completed", 0), sort_value=counts.get("completed", 0)),
            cell(counts.get("failed", 0), "red" if counts.get("failed") else "", sort_value=counts.get("failed", 0)),
            cell(a.agent_type),
            cell(a.next_milestone or "-"),
            cell("; ".join(a.blockers) or "-", "yellow" if a.blockers else ""),
        )

    def _tick_ages(self) -> None:
        if not self.agents:
            self._update_summary()
            return
        with self.app.batch_update():
            self.table.apply({name: self._cells(a) for name, a in self.agents.items()})
        self._update_summary()
        self._update_detail()

    def _update_summary(self) -> None:
        """How many agents, how many stale, the sort (with its direction) and whether ages are frozen."""
        now = self.now()
        stale = sum(a.is_stale(now) for a in self.agents.values())
        text = Text(f"{len(self.agents)} agent(s)")
        if stale:
            text.append(f" · {stale} stale", style="bold red")
        sort = self.table.sort_state
        if sort:
            label = {c.key: c.label for c in COLUMNS}.get(sort[0], sort[0]).strip() or sort[0]
            arrow = "↓" if sort[1] else "↑"
            text.append(f" · sorted by {label.lower()} {arrow} (s: next column, S: reverse)")
        if self.frozen_at is not None:
            frozen = clock_time(datetime.fromtimestamp(self.frozen_at, timezone.utc))[11:]
            text.append(f" · paused: ages as of {frozen}, p resumes", style="bold yellow")
        self.query_one("#agents-body").set_class(not self.agents, "empty")
        summary = self.query_one("#agents-summary", Static)
        if summary.content != text:
            summary.update(text)

    def _update_detail(self) -> None:
        """The selected agent whole: what the table crops (every blocker, the model, the next milestone)."""
        detail = self.query_one("#agent-detail", Static)
        agent = self.agents.get(self.selected) if self.selected is not None else None
        if agent is None:
            if detail.content:
                detail.update("")
            return
        status, heartbeat_age = agent_state(agent, self.now())
        text = Text()
        text.append_text(safe(agent.name, "bold"))
        text.append("  ")
        text.append("STALE" if status == "stale" else status, style=STATUS_STYLE.get(status, ""))
        text.append("  ")
        kind = f"{agent.agent_type} · {agent.model}" if agent.model else agent.agent_type
        text.append_text(safe(kind, one_line=True))
        text.append(f"  heartbeat {age(heartbeat_age) + ' ago' if heartbeat_age is not None else 'never'}")
        if agent.current_task_id:
            text.append(f"  task {agent.current_task_id} ({agent.completion:.0f}%)")
        if agent.next_milestone:
            text.append("  next: ")
            text.append_text(safe(agent.next_milestone, one_line=True))
        if agent.blockers:
            text.append(f"\nBlockers ({len(agent.blockers)}):", style="bold yellow")
            for blocker in agent.blockers:
                text.append("\n  • ")
                text.append_text(safe(blocker, "yellow"))
        else:
            text.append("\nNo blockers", style="dim")
        if detail.content != text:
            detail.update(text)

    # -- activity --------------------------------------------------------------------------------------------

    @staticmethod
    def _belongs(event: Event, name: str) -> bool:
        return event.actor == name or (event.entity == Entity.AGENT and event.entity_id == name)

    @on(DataTable.RowHighlighted, "#agents-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value != self.selected:
            self.selected = event.row_key.value
            self._update_detail()
            self.load_activity()

    @work(exclusive=True, group="activity", exit_on_error=False)
    async def load_activity(self) -> None:
        name = self.selected
        if name is None:
            return
        recent = await self.store.events(actor=name, limit=ACTIVITY_LINES)
        log = self.query_one("#activity", RichLog)
        log.clear()
        title = Text("Activity of ", style="bold")
        title.append_text(safe(name, "bold"))
        title.append("  (a: heartbeats shown)" if self.show_heartbeats else "  (a: show heartbeats)", style="dim")
        self.query_one("#activity-title", Static).update(title)
        self._activity_last_id = 0
        self._activity_events = []
        self._append_activity(list(reversed(recent)))

    def _append_activity(self, events: list[Event]) -> None:
        log = self.query_one("#activity", RichLog)
        for e in events:
            if e.id <= self._activity_last_id:
                continue
            self._activity_last_id = e.id
            if e.kind == EventKind.AGENT_HEARTBEAT and not self.show_heartbeats:
                continue
            log.write(activity_line(e))
            self._activity_events = [*self._activity_events[-(ACTIVITY_LINES - 1):], e]

    def action_toggle_heartbeats(self) -> None:
        self.show_heartbeats = not self.show_heartbeats
        self.load_activity()

    def action_cursor_down(self) -> None:
        self.table.action_cursor_down()

    def action_cursor_up(self) -> None:
        self.table.action_cursor_up()

    def action_sort_next(self) -> None:
        keys = [c.key for c in COLUMNS if c.key != "colour"]
        state = self.table.sort_state
        column = keys[(keys.index(state[0]) + 1) % len(keys)] if state else "name"
        self.table.sort_by(column)
        self._update_summary()

    def action_sort_reverse(self) -> None:
        state = self.table.sort_state or ("name", False)
        self.table.sort_by(state[0], reverse=not state[1])
        self._update_summary()


def activity_line(e: Event) -> Text:
    line = Text(f"{clock_time(e.ts)[11:]}  ", style="dim")
    line.append(f"{e.kind:<22}", style=_kind_style(e))
    if e.entity == Entity.TASK:
        line.append(f" task {e.entity_id}")
    match e.typed():
        case AgentAction() as p:
            text = f" {p.phase}/{p.action}"
            if p.duration_ms is not None:  # 12 ms, 1.2s, 9m24s: a long step in minutes, not 563793 ms
                ms = p.duration_ms
                text += f" {ms:.0f} ms" if ms < 1000 else f" {table_duration(ms / 1000)}"
            line.append_text(safe(text, "" if p.success else "red", one_line=True))
            if p.error_message:
                line.append_text(safe(f"  {p.error_message}", "red", one_line=True))
        case (TaskFailed(error=str() as error) | TaskRetried(error=str() as error)
              | IndexFailed(error=str() as error)) if error:
            line.append_text(safe(f"  {error}", "red", one_line=True))
        case TaskEscalated() as p:
            line.append(f" → task {p.debug_task}")
            line.append_text(safe(f" ({p.agent_type}): {p.note or ''}", "dim", one_line=True))
        case MemoryVersion() | MemoryKey() as p:  # which entry the agent wrote: its namespace/key (and version)
            version = f" v{p.version}" if isinstance(p, MemoryVersion) and p.version is not None else ""
            line.append_text(safe(f" {p.namespace}/{p.key}", one_line=True))
            line.append(version)
        case AgentChange() as p if e.kind == EventKind.AGENT_HEARTBEAT and (changes := p.changes()):
            summary = ", ".join(f"{k}={v}" for k, v in changes.items())
            line.append_text(safe(f"  {summary}", "dim", one_line=True))
    return line


def _kind_style(e: Event) -> str:
    """An event named after the status it leaves its entity in (``task.failed``) in that status's colour;
    a failure to embed as a failure."""
    kind = e.kind_enum
    if kind is EventKind.INDEX_FAILED:
        return STATUS_STYLE["failed"]
    return STATUS_STYLE.get(kind.status, "") if kind is not None and kind.status is not None else ""


def _colour(colour: str | None) -> str:
    """An agent's colour as a style; unknown or hostile values fall back to plain."""
    from rich.color import Color, ColorParseError

    if not colour:
        return "dim"
    name = _COLOUR_NAMES.get(colour.strip().lower(), colour.strip().lower())
    try:
        Color.parse(name)
    except ColorParseError:
        return "dim"
    return name


# Everyday colour names agents use that Rich spells differently.
_COLOUR_NAMES = {"orange": "dark_orange", "pink": "hot_pink", "purple": "medium_purple", "grey": "grey50",
                 "gray": "grey50"}

