"""Screen 2: the task queue, its filters, a task's detail, and the operator's actions."""

from __future__ import annotations

import json

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Input, Static

from swarmdeck.store import Event, Milestone, Task
from swarmdeck.store.errors import StoreError
from swarmdeck.store.events import HOLDING, Entity, EventKind, Payload, TaskCancelled, TaskFailed, TaskRetried
from swarmdeck.store.priority import WEIGHTS, clamp_base_priority
from swarmdeck.widgets.fitted import Fitted
from swarmdeck.widgets.live_table import LiveTable, TableColumn
from swarmdeck.widgets.text import cell, safe

from ..format import STATUS_STYLE, clock_time, since, until
from ..key_order import opens_screen
from ..modals.cancel import CancelModal
from ..modals.enqueue import EnqueueModal
from ..modals.filters import FilterModal, QueueFilters
from ..modals.plan import PlanModal
from .base import LiveScreen, empty_state

#: The table holds at most this many tasks (by priority); filters narrow what is loaded.
ROW_CAP = 2000
#: Seconds between redraws of what moves with the clock alone (ages, deadlines, the detail's "ago").
TICK_SECONDS = 1.0

#: Sized by content; the description takes the rest. At 80 columns the deadline, the age and the agent
#: type give way to it (the detail pane has them), then the agent and the milestone are shortened.
COLUMNS = [
    TableColumn("id", "ID"), TableColumn("status", "Status"), TableColumn("priority", "Prio"),
    TableColumn("type", "Agent type", 20, min_width=8, drop=3),
    TableColumn("agent", "Agent", 20, min_width=8, narrow=2),
    TableColumn("milestone", "Milestone", 24, min_width=9, drop=1),
    TableColumn("age", "Age", drop=4), TableColumn("deadline", "Deadline", drop=5),
    TableColumn("description", "Description", flex=True, min_width=30),
]
SORTABLE = [column.key for column in COLUMNS]
#: What the queue says when the swarm has no task at all (not merely none that the filters let through);
#: a seat that only watches is not told of n.
ENQUEUE = "swarmdeck task enqueue \"DESCRIPTION\" --type TYPE"
EMPTY = empty_state("No tasks yet.", [
    (ENQUEUE, "add a task (agents do the same, or over MCP); n does it here"),
    ("swarmdeck demo", "open a simulated swarm, to see a live queue"),
])
EMPTY_READ_ONLY = empty_state("No tasks yet.", [
    (ENQUEUE, "add a task (agents do the same, or over MCP)"),
    ("swarmdeck demo", "open a simulated swarm, to see a live queue"),
])


class QueueScreen(LiveScreen):
    """Every task that matters now, live; `/` filters, `f` narrows, enter shows the detail."""

    SCREEN_NAME = "2 Queue"
    AUTO_FOCUS = "#queue-table"
    MUTATING = frozenset({"enqueue", "cancel_task", "retry_task", "priority_up", "priority_down"})
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", id="queue.filter-text", tooltip="Filter the rows by text"),
        Binding("f", "filters", "Filters", id="queue.filters",
                tooltip="Filter by status, agent type, milestone, source"),
        Binding("s", "sort_next", "Sort", id="queue.sort", tooltip="Sort by the next column"),
        Binding("S", "sort_reverse", "Reverse", show=False, id="queue.sort-reverse"),
        Binding("n", "enqueue", "Enqueue", id="queue.enqueue", tooltip="Add a task"),
        Binding("c", "cancel_task", "Cancel", id="queue.cancel",
                tooltip="Cancel the task and its dependents (previewed)"),
        Binding("r", "retry_task", "Retry", id="queue.retry",
                tooltip="Retry a failed task, or the failures holding this one"),
        Binding("right_square_bracket", "priority_up", "Prio+", id="queue.priority-up",
                tooltip="Raise base priority"),
        Binding("left_square_bracket", "priority_down", "Prio-", id="queue.priority-down",
                tooltip="Lower base priority"),
        Binding("e", "plan", "Plan", id="queue.plan", tooltip="Execution plan of the tasks shown"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="queue.clear-filter"),
        Binding("j", "cursor_down", "Down", show=False, id="queue.down", tooltip="Next task"),
        Binding("k", "cursor_up", "Up", show=False, id="queue.up", tooltip="Previous task"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filters = QueueFilters()
        self.text_filter = ""
        self.tasks: dict[int, Task] = {}
        self.milestones: dict[int, Milestone] = {}
        self.selected: int | None = None
        self.total_matching = 0
        self.held = 0  # tasks held by failures, in the whole queue
        #: Whether the swarm has any task at all, whatever the filters: tasks are never deleted.
        self.any_tasks = False
        self._summary = ""
        #: What each shown task's clock-driven cells last said: a tick redraws only the rows that moved.
        self._times: dict[int, tuple[str, str]] = {}
        #: The detail's last inputs, so a tick redraws its ages without asking the store again.
        self._detail: tuple | None = None
        #: Base priorities asked for but not yet written, per task: fast `[` `[` counts twice.
        self._base_target: dict[int, int] = {}

    def compose(self) -> ComposeResult:
        yield self.status_bar()
        yield Input(placeholder="filter: text in description, agent, type, milestone…  (esc clears)",
                    id="queue-filter")
        yield Static(id="queue-summary")
        with Vertical(id="queue-body"):
            table = LiveTable(id="queue-table")
            table.set_columns(COLUMNS)
            yield table
            yield Static("", id="queue-empty")
            with Horizontal(id="task-detail"):
                with VerticalScroll(id="task-detail-main"):
                    yield Fitted("Select a task to see its detail.", id="task-detail-body")
                with VerticalScroll(id="task-detail-side"):
                    yield Fitted("", id="task-detail-facts")
        yield Footer(compact=True)

    @property
    def table(self) -> LiveTable:
        return self.query_one("#queue-table", LiveTable)

    def on_mount(self) -> None:
        super().on_mount()
        # Age, deadline and the detail's "ago" move with the clock, not with the feed.
        self.every(TICK_SECONDS, self.tick, name="queue-ages")

    # -- loading and live updates -----------------------------------------------------------------------

    async def load(self) -> None:
        self.milestones = {m.id: m for m in await self.store.list_milestones()}
        tasks = await self.store.list_tasks(limit=ROW_CAP, **self.filters.query())
        self.tasks = {t.id: t for t in tasks}
        status = await self.store.queue_status()
        self.held = status.held_by_failure
        self.any_tasks = status.total > 0
        statuses = self.filters.statuses()
        self.total_matching = sum(status.counts[s] for s in statuses) if statuses else status.total
        if self.table.sort_state is None:
            self.table.sort_by("priority", reverse=True)  # new rows land in priority order too
        shown = self.selected
        self._render_rows(full=True)
        if self.selected is None and self.table.row_count:
            self.table.move_cursor(row=0)
        elif self.selected is not None and self.selected == shown:
            self.show_detail(self.selected)  # a reload (a replay moved): the same task's detail as it is now

    async def apply(self, events: list[Event]) -> None:
        if not self.filters.archived and any(e.kind == EventKind.RECORDS_ARCHIVED and e.typed().tasks
                                             for e in events):
            await self.load()  # a prune archived finished tasks: they leave the queue
            return
        ids = {int(e.entity_id) for e in events if e.entity == Entity.TASK and e.entity_id}
        if any(e.entity == Entity.MILESTONE for e in events):
            self.milestones = {m.id: m for m in await self.store.list_milestones()}
        if not ids:
            return
        self.any_tasks = True
        if any(e.kind in HOLDING for e in events):
            self.held = (await self.store.queue_status()).held_by_failure
        fresh = await self.store.tasks_by_ids(ids)
        upserts, removals = {}, []
        for task in fresh:
            if self.filters.matches(task):
                self.tasks[task.id] = task
                if self._text_match(task):
                    upserts[str(task.id)] = self._cells(task)
                    continue
            else:
                self.tasks.pop(task.id, None)
            removals.append(str(task.id))
        if len(self.tasks) > ROW_CAP * 5 // 4:
            # Trim back to the cap now and then, not on every tick: removing a DataTable row costs
            # a pass over every row, so the table may run a quarter over the cap between trims.
            keep = sorted(self.tasks.values(), key=lambda t: (-t.priority, t.id))[:ROW_CAP]
            kept = {t.id for t in keep}
            for task_id in [i for i in self.tasks if i not in kept]:
                del self.tasks[task_id]
                upserts.pop(str(task_id), None)
                removals.append(str(task_id))
        for key in removals:
            self._times.pop(int(key), None)
        with self.app.batch_update():
            self.table.apply(upserts, removals)
        self._update_summary()
        if not self._follow_cursor() and self.selected in ids:
            self.show_detail(self.selected)

    def _render_rows(self, *, full: bool) -> None:
        self._times.clear()
        rows = {str(t.id): self._cells(t) for t in self.tasks.values() if self._text_match(t)}
        with self.app.batch_update():
            self.table.sync(rows)
        self._update_summary()
        self._follow_cursor()

    def _follow_cursor(self) -> bool:
        """Keep the detail on the row under the cursor: when the selected task leaves the list the cursor
        lands on another row without a highlight message. True if the detail changed task."""
        key = self.table.selected_key
        task_id = int(key) if key is not None else None
        if task_id == self.selected:
            return False
        self.selected = task_id
        if task_id is None:
            self._detail = None
            self.query_one("#task-detail-body", Static).update("Select a task to see its detail.")
            self.query_one("#task-detail-facts", Static).update("")
        else:
            self.show_detail(task_id)
        return True

    def tick(self) -> None:
        """Redraw what the clock alone changes: only the rows whose age or deadline text moved."""
        now = self.sd.clock()
        moved = {}
        for key in self.table.keys():
            task = self.tasks.get(int(key))
            if task is None:
                continue
            times = (since(task.created_at, now), until(task.deadline, now))
            if self._times.get(task.id) != times:
                moved[key] = self._cells(task)
        if moved:
            with self.app.batch_update():
                self.table.apply(moved)
        if self._detail is not None:
            self._show_detail_now(*self._detail)

    def _update_summary(self) -> None:
        shown = self.table.row_count
        parts = [f"{shown:,} task(s) shown"]
        if len(self.tasks) >= ROW_CAP:
            parts.append(f"the top {ROW_CAP:,} by priority of {self.total_matching:,}")
        parts.append(self.filters.describe())
        if self.text_filter:
            parts.append(f"text “{self.text_filter}”")
        sort = self.table.sort_state
        if sort:
            parts.append(f"sorted by {sort[0]}{' ↓' if sort[1] else ' ↑'}")
        summary = " · ".join(parts)
        self._update_empty(shown)
        if self.held:
            summary = (f"{self.held} held by failed tasks (r on one retries its failure; c on the failure "
                       f"cancels what it holds) · {summary}")
        if summary != self._summary:  # an unchanged update would still cost a layout pass
            self._summary = summary
            # It quotes the agent type filtered on: agent text.
            text = safe(summary, "dim", one_line=True)
            if self.held:
                text.stylize("bold red", 0, text.plain.index(" · "))
            self.query_one("#queue-summary", Static).update(text)

    def _update_empty(self, shown: int) -> None:
        """An empty table says why and how to get rows back, instead of staying blank."""
        empty = self.query_one("#queue-empty", Static)
        empty.display = not shown
        if shown:
            self.query_one("#queue-body").remove_class("empty")
            return
        if not self.any_tasks:
            text = EMPTY_READ_ONLY if self.sd.read_only else EMPTY  # nothing exists, whatever the filters
        elif self.text_filter:
            text = Text("No task matches ")
            text.append_text(safe(f"“{self.text_filter}”", "bold", one_line=True))
            text.append(f" among the {len(self.tasks):,} task(s) loaded ({self.filters.describe()}).\n"
                        "Esc clears the text filter; / edits it; f changes the filters.")
        elif self.filters != QueueFilters():
            text = Text(f"No task matches the filters ({self.filters.describe()}).\n"
                        "f changes them; n enqueues a task.")
        else:
            text = Text("No active tasks: every task completed or was cancelled. f shows them too"
                        + ("." if self.sd.read_only else "; n enqueues a new one."))
        empty.update(text)
        self.query_one("#queue-body").set_class(not shown, "empty")

    def _cells(self, t: Task) -> tuple:
        now = self.sd.clock()
        milestone = self.milestones.get(t.milestone_id) if t.milestone_id else None
        self._times[t.id] = (since(t.created_at, now), until(t.deadline, now))
        return (
            cell(t.id, sort_value=t.id),
            cell("held", "bold red", sort_value=t.status.value) if t.held_by is not None
            else cell("archived", "dim", sort_value=t.status.value) if t.archived_at
            else cell(t.status.value, STATUS_STYLE.get(t.status.value, ""), sort_value=t.status.value),
            cell(f"{t.priority:5.1f}", sort_value=t.priority),
            cell(t.agent_type),
            cell(t.assigned_agent or "-"),
            cell(milestone.name if milestone else "-"),
            cell(since(t.created_at, now), sort_value=-t.created_at.timestamp()),
            cell(until(t.deadline, now), "bold red" if t.deadline and t.deadline.timestamp() < now else "",
                 sort_value=t.deadline.timestamp() if t.deadline else float("inf")),
            cell(t.description[:200]),
        )

    def _text_match(self, t: Task) -> bool:
        if not self.text_filter:
            return True
        needle = self.text_filter.lower()
        milestone = self.milestones.get(t.milestone_id) if t.milestone_id else None
        haystack = (f"{t.id} {t.description} {t.agent_type} {t.assigned_agent or ''} {t.status} "
                    f"{milestone.name if milestone else ''}").lower()
        return needle in haystack

    # -- selection and detail ------------------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#queue-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            task_id = int(event.row_key.value)
            if task_id != self.selected:
                self.selected = task_id
                self.show_detail(task_id)

    @work(exclusive=True, group="detail", exit_on_error=False)
    async def show_detail(self, task_id: int) -> None:
        task = await self.store.get_task(task_id)
        breakdown = await self.store.priority_breakdown(task_id)
        dependents = await self.store.dependents(task_id)
        history = await self.store.events(entity=Entity.TASK, entity_id=task_id, limit=12)
        if task_id != self.selected:
            return  # the cursor moved on while this was read
        self._detail = (task, breakdown, dependents, history)
        self._show_detail_now(*self._detail)

    def _show_detail_now(self, task: Task, breakdown, dependents: list[int], history: list[Event]) -> None:
        main, facts = render_detail(task, breakdown, dependents, history, self.milestones, self.sd.clock())
        self.query_one("#task-detail-body", Static).update(main)
        self.query_one("#task-detail-facts", Static).update(facts)

    def focused_events(self) -> list[tuple[int, Text]]:
        """The shown task's history, oldest first, once its detail pane has the focus: the replay key
        starts from one of them."""
        focused = self.focused
        if self._detail is None or focused is None or self.query_one("#task-detail") not in focused.ancestors:
            return []
        task, history = self._detail[0], self._detail[3]
        if task.id != self.selected:
            return []
        return [(e.id, history_line(e)) for e in reversed(history)]

    # -- filters and sorting ---------------------------------------------------------------------------------

    def action_focus_filter(self) -> None:
        box = self.query_one("#queue-filter", Input)
        box.add_class("visible")
        box.focus()

    @on(Input.Changed, "#queue-filter")
    def _text_changed(self, event: Input.Changed) -> None:
        self.text_filter = event.value.strip()
        self._render_rows(full=False)

    @on(Input.Submitted, "#queue-filter")
    def _text_submitted(self) -> None:
        self.table.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#queue-filter", Input)
        box.value = ""
        box.remove_class("visible")
        self.table.focus()

    def action_filters(self) -> None:
        def chosen(filters: QueueFilters | None) -> None:
            if filters is not None and filters != self.filters:
                self.filters = filters
                self.run_worker(self.load, group="sync", exit_on_error=False)

        agent_types = sorted({t.agent_type for t in self.tasks.values()})
        self.app.push_screen(FilterModal(self.filters, list(self.milestones.values()), agent_types), chosen)

    def action_sort_next(self) -> None:
        state = self.table.sort_state
        column = SORTABLE[(SORTABLE.index(state[0]) + 1) % len(SORTABLE)] if state else "priority"
        self.table.sort_by(column, reverse=column in ("priority",))
        self._update_summary()

    def action_sort_reverse(self) -> None:
        state = self.table.sort_state or ("priority", False)
        self.table.sort_by(state[0], reverse=not state[1])
        self._update_summary()

    @on(DataTable.HeaderSelected, "#queue-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        state = self.table.sort_state
        column = event.column_key.value
        self.table.sort_by(column, reverse=not state[1] if state and state[0] == column else False)
        self._update_summary()

    # -- actions ---------------------------------------------------------------------------------------------------

    def action_cursor_down(self) -> None:
        self.table.action_cursor_down()

    def action_cursor_up(self) -> None:
        self.table.action_cursor_up()

    def _selected_task(self) -> Task | None:
        if self.selected is None or self.selected not in self.tasks:
            self.notify("Select a task first", severity="warning", timeout=2)
            return None
        return self.tasks[self.selected]

    @opens_screen
    @work(exclusive=True, group="action", exit_on_error=False)
    async def action_enqueue(self) -> None:
        def submitted(fields: dict | None) -> None:
            if fields:
                self.sd.run_store_action(
                    self.store.enqueue_task(actor=self.sd.reviewer, **fields), "Task enqueued"
                )

        # The types agents registered with, and those tasks already ask for: the ones a task can go to.
        agent_types = {a.agent_type for a in await self.store.list_agents()}
        agent_types |= {t.agent_type for t in self.tasks.values()}
        self.app.push_screen(EnqueueModal(list(self.milestones.values()), sorted(agent_types)), submitted)

    @opens_screen
    @work(exclusive=True, group="action", exit_on_error=False)
    async def action_cancel_task(self) -> None:
        task = self._selected_task()
        if task is None:
            return
        preview = await self.store.cancel_task(task.id, dry_run=True, actor=self.sd.reviewer)
        cascaded = await self.store.tasks_by_ids(preview.cascaded_task_ids)
        reason = await self.app.push_screen_wait(CancelModal(task, cascaded))
        if reason is not None:
            result = await self.store.cancel_task(task.id, reason=reason or None, actor=self.sd.reviewer)
            self.notify(f"Cancelled {result.total_cancelled} task(s)", timeout=3)
            self.sd.changed()

    def action_retry_task(self) -> None:
        task = self._selected_task()
        if task is not None:
            done = (f"Task {task.id} queued again" if task.held_by is None
                    else f"The failed task(s) holding task {task.id} queued again")
            self.sd.run_store_action(self.store.retry_task(task.id, actor=self.sd.reviewer), done)

    def _nudge_priority(self, delta: int) -> None:
        task = self._selected_task()
        if task is None:
            return
        # Count from what was last asked for, not from the row (which lags until the write lands).
        current = self._base_target.get(task.id, task.base_priority)
        value = clamp_base_priority(current + delta)
        if value == current:
            self.notify(f"Base priority is already {value}", timeout=2)
            return
        writing = task.id in self._base_target
        self._base_target[task.id] = value
        if not writing:
            self._write_base_priority(task.id, task.base_priority)

    @work(group="priority", exit_on_error=False)
    async def _write_base_priority(self, task_id: int, before: int) -> None:
        """Write the task's asked-for base priority, again while presses move it: one writer per task,
        so the last press wins whatever order the writes would finish in."""
        try:
            while True:
                target = self._base_target[task_id]
                written = await self.store.set_base_priority(task_id, target, actor=self.sd.reviewer)
                if self._base_target[task_id] == target:
                    break
            if task_id in self.tasks:  # the next press counts from here, before the rows reload
                self.tasks[task_id] = written
        except StoreError:
            self.sd.changed()
            raise
        finally:
            self._base_target.pop(task_id, None)
        self.notify(f"Task {task_id} base priority {before} → {target}", timeout=3)
        self.sd.changed()

    def action_priority_up(self) -> None:
        self._nudge_priority(+1)

    def action_priority_down(self) -> None:
        self._nudge_priority(-1)

    @opens_screen
    @work(exclusive=True, group="action", exit_on_error=False)
    async def action_plan(self) -> None:
        ids = [t.id for t in self.tasks.values() if not t.status.finished]
        if not ids:
            self.notify("No unfinished tasks shown to plan", timeout=2)
            return
        plan = await self.store.execution_plan(ids)
        await self.app.push_screen_wait(PlanModal(plan, self.tasks, self.milestones))


def render_detail(task: Task, breakdown, dependents: list[int], history: list[Event],
                  milestones: dict[int, Milestone], now: float) -> tuple[Text, Text]:
    """The detail pane: what the task is and why it ranks where it does; then its facts and history.

    Agent text is kept plain throughout.
    """
    out = Text()
    out.append(f"Task {task.id}  ", style="bold")
    out.append(task.status.value, style=STATUS_STYLE.get(task.status.value, ""))
    out.append(f"  priority {task.priority:.1f}\n\n")
    out.append_text(safe(task.description))
    out.append("\n")
    if task.summary:
        out.append("\n")
        out.append_text(safe(task.summary, "italic"))
        out.append("\n")
    if task.blocked_reason:
        out.append("\nBlocked: ", style="bold yellow")
        out.append_text(safe(task.blocked_reason))
        out.append("\n")
    if task.error_message:
        out.append("\nLast error: ", style="bold red")
        out.append_text(safe(task.error_message))
        out.append("\n")
    out.append("\nPriority breakdown\n", style="bold underline")
    for name, weight in WEIGHTS.items():
        value = getattr(breakdown, name)
        bar = "█" * int(value / 10) + "·" * (10 - int(value / 10))
        out.append(f"  {name:<9}{value:6.1f} × {weight:.2f} = {value * weight:5.1f}  {bar}\n")
    out.append(f"  {'total':<9}{breakdown.total:24.1f}\n", style="bold")
    main, out = out, Text()
    out.append("Prerequisites: ", style="bold")
    out.append(", ".join(map(str, task.prerequisites)) or "none")
    out.append("\nUnblocks: ", style="bold")
    out.append(", ".join(map(str, dependents)) or "nothing")
    milestone = milestones.get(task.milestone_id) if task.milestone_id else None
    out.append("\nMilestone: ", style="bold")
    out.append_text(safe(milestone.name if milestone else "-"))
    out.append("\nSource: ", style="bold")
    out.append(f"{task.source}   base priority {task.base_priority}   depth {task.dependency_depth}")
    out.append("\nAgent: ", style="bold")
    out.append_text(safe(f"{task.assigned_agent or '-'} ({task.agent_type})"))
    out.append(f"\nRetries: {task.retry_count}/{task.max_retries}   timeout {task.timeout_seconds}s")
    if task.estimated_duration_seconds:
        out.append(f"   estimate {task.estimated_duration_seconds}s")
    out.append(f"\nCreated {clock_time(task.created_at)} ({since(task.created_at, now)} ago)")
    out.append(f"\nStarted {clock_time(task.started_at)}   finished {clock_time(task.finished_at)}")
    if task.deadline:
        out.append(f"\nDeadline {clock_time(task.deadline)} ({until(task.deadline, now)})")
    if task.result_data is not None:
        out.append("\n\nResult\n", style="bold underline")
        out.append_text(safe(json.dumps(task.result_data, indent=2, ensure_ascii=False)))
    if task.input_data is not None:
        out.append("\n\nInput\n", style="bold underline")
        out.append_text(safe(json.dumps(task.input_data, indent=2, ensure_ascii=False)))
    out.append("\n\nHistory\n", style="bold underline")
    for e in history:
        out.append("  ")
        out.append_text(history_line(e))
        out.append("\n")
    return main, out


def history_line(e: Event) -> Text:
    """One event of a task's history: when, what happened, who did it and why (agent text kept plain)."""
    line = Text(f"{clock_time(e.ts)[11:]}  ")
    kind = e.kind_enum
    status = None if kind is None else kind.status
    style = STATUS_STYLE.get(status, "") if status else ""
    line.append(e.kind if kind is None else kind.action, style=style)
    line.append("  ")
    line.append_text(safe(e.actor, one_line=True))
    detail = _history_detail(e.typed())
    if detail:
        line.append("  ")
        line.append_text(safe(detail, "dim", one_line=True))
    return line


def _history_detail(payload: Payload) -> str | None:
    """What a task's history line adds: why it failed, or why it was cancelled."""
    match payload:
        case TaskFailed(error=detail) | TaskRetried(error=detail) | TaskCancelled(reason=detail):
            return detail
    return None
