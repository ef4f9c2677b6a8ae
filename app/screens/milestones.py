"""Screen 1: milestones and their gates. The reviewer reads the report and decides."""

from __future__ import annotations

from datetime import datetime, timezone

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Static

from swarmdeck.store import gates, plans
from swarmdeck.store import Event, GateStatus, Milestone, MilestoneStatus, ValidationReport, signing
from swarmdeck.store.attention import (BRIDGE_NAMESPACES, CRITICAL_ISSUES, QUALITY_GATES, gate_states, is_failing,
                                       issue_texts)
from swarmdeck.store.report_diff import ChangeKind, report_changes
from swarmdeck.store.errors import PermissionDenied
from swarmdeck.store.events import Entity, TaskCompleted, TaskEnqueued, TaskFailed, TaskRetried
from swarmdeck.store.models import ConditionStatus, MemoryEntry
from swarmdeck.widgets.fitted import Fitted
from swarmdeck.widgets.live_table import LiveTable, TableColumn
from swarmdeck.widgets.report_panel import ReportPanel
from swarmdeck.widgets.text import cell, safe

from ..format import STATUS_STYLE, refusal
from ..key_order import opens_screen
from ..modals.decision import DecisionInput, DecisionModal
from ..modals.gate_acts import CloseConditionModal, ReplanModal, ResumeModal
from .base import LiveScreen, empty_state

#: Columns size to their content. When the terminal leaves too little room, the progress bar goes first
#: (the counts stay), then the name is shortened with an ellipsis, never the numbers.
COLUMNS = [TableColumn("pos", "#"), TableColumn("name", "Milestone", flex=True, min_width=30),
           TableColumn("status", "Gate"), TableColumn("weeks", "Weeks"), TableColumn("hours", "Hours"),
           TableColumn("bar", "", drop=1), TableColumn("progress", "Tasks done")]
#: Below this many columns the table sits above the report instead of beside it (styles: .-narrow).
NARROW = 120
#: Beside the report, the table's side takes at most this share of the width (styles: max-width).
SIDE_SHARE = 0.6
BAR = 5
#: What the milestones screen says while the swarm has none.
EMPTY = empty_state("No milestones yet.", [
    ("swarmdeck milestone add NAME --objective TEXT --criterion TEXT",
     "add a milestone and its gate (--criterion again for each acceptance criterion; --weeks, --budget)"),
    ("swarmdeck demo", "open a simulated swarm, to see its four milestones and a gate to review"),
])


def render_swarm_reports(entries: list[MemoryEntry]) -> Text:
    """The quality gates and critical issues bridged files report (agent-written: plain text only);
    empty when there are none."""
    out = Text(end="")
    many = len({e.namespace for e in entries}) > 1
    for entry in sorted(entries, key=lambda e: (e.namespace, e.key != QUALITY_GATES)):
        where = f" ({entry.namespace.removeprefix(BRIDGE_NAMESPACES)})" if many else ""
        if entry.key == QUALITY_GATES and (states := gate_states(entry.value)):
            out.append(f"Swarm quality gates{where}\n", style="bold underline")
            for name, state in states.items():
                out.append("• ")
                out.append_text(safe(name, one_line=True))
                out.append(": ")
                out.append_text(safe(state, "bold red" if is_failing(state) else "", one_line=True))
                out.append("\n")
        elif entry.key == CRITICAL_ISSUES and (issues := issue_texts(entry.value)):
            out.append(f"Critical issues{where}\n", style="bold red underline")
            for issue in issues:
                out.append("• ")
                out.append_text(safe(issue, one_line=True))
                out.append("\n")
    out.rstrip()  # the last line's end: the panel's margin is the gap below it
    return out


def progress_bar(done: int, total: int, width: int = BAR) -> str:
    filled = round(width * done / total) if total else 0
    return f"{'█' * filled}{'░' * (width - filled)}"


class MilestonesScreen(LiveScreen):
    """Every milestone with its gate; the selected one's report, decisions and conditions."""

    SCREEN_NAME = "1 Milestones"
    AUTO_FOCUS = "#milestones-table"
    MUTATING = frozenset({"decide", "close_condition", "resume_swarm", "replan"})
    BINDINGS = [
        Binding("d", "decide", "Decide", id="milestones.decide",
                tooltip="Decide the selected gate (APPROVE / CONDITIONAL / REVISE / ESCALATE)"),
        Binding("x", "close_condition", "Close condition", id="milestones.close-condition",
                tooltip="Close an open condition of the selected gate"),
        Binding("R", "resume_swarm", "Resume swarm", id="milestones.resume",
                tooltip="Lift an escalation: claims are accepted again"),
        Binding("c", "replan", "Cut/defer", show=False, id="milestones.replan",
                tooltip="Cut, defer or reinstate the selected milestone with its tasks"),
        Binding("n", "next_review", "Next review", id="milestones.next-review",
                tooltip="Jump to the next gate awaiting review"),
        Binding("j", "cursor_down", "Down", show=False, id="milestones.down", tooltip="Next milestone"),
        Binding("k", "cursor_up", "Up", show=False, id="milestones.up", tooltip="Previous milestone"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.milestones: dict[int, Milestone] = {}
        self.progress: dict[int, dict[str, int]] = {}
        self.selected: int | None = None
        self.gate: GateStatus | None = None
        self.reports: list[MemoryEntry] = []

    def compose(self) -> ComposeResult:
        yield self.status_bar()
        with Horizontal(id="milestones-body"):
            with Vertical(id="milestones-left"):
                # As wide as its content (fill=False), within the room the screen leaves it.
                table = LiveTable(id="milestones-table", fill=False, room=self._room)
                table.set_columns(COLUMNS)
                yield table
                with VerticalScroll(id="milestone-detail"):
                    # The selected milestone's own plan and criteria first (at 80x24 this box shows six
                    # lines), then what the swarm's bridged files report of the whole project.
                    yield Fitted("", id="milestone-objective")
                    yield Fitted("", id="report-changes")
                    yield Fitted("", id="swarm-reports")
            with VerticalScroll(id="gate-scroll"):
                yield ReportPanel(id="gate-panel")
        yield Static(EMPTY, id="milestones-empty")
        yield Footer(compact=True)

    @property
    def table(self) -> LiveTable:
        return self.query_one("#milestones-table", LiveTable)

    # -- data ------------------------------------------------------------------------------------------------

    async def load(self) -> None:
        milestones = {m.id: m for m in await self.store.list_milestones()}
        self.progress = await self.store.milestone_progress()
        self.milestones = milestones
        self._sync_table()
        if self.selected not in self.milestones:  # a replay moved to before it existed
            self.selected = None
        if self.selected is None and self.milestones:
            first = next((m for m in self.milestones.values() if m.status is MilestoneStatus.REVIEW),
                         next(iter(self.milestones.values())))
            self.table.move_cursor(row=self.table.get_row_index(str(first.id)))
            self.selected = first.id
        await self._load_gate()
        await self._load_reports()

    async def _load_reports(self) -> None:
        """What a bridged coordination_status.json reports of the swarm: its quality gates and critical issues."""
        self.reports = [e for e in await self.store.list_memories(namespace_prefix=BRIDGE_NAMESPACES, limit=200)
                        if e.key in (QUALITY_GATES, CRITICAL_ISSUES)]
        panel = self.query_one("#swarm-reports", Static)
        text = render_swarm_reports(self.reports)
        panel.update(text)
        panel.display = bool(text.plain)

    async def apply(self, events: list[Event]) -> None:
        touched_tasks = any(e.entity == Entity.TASK for e in events)
        touched_milestones = any(e.entity == Entity.MILESTONE or _books_hours(e) for e in events)
        if touched_milestones:
            self.milestones = {m.id: m for m in await self.store.list_milestones()}
        if touched_tasks:
            self.progress = await self.store.milestone_progress()
        if touched_milestones or touched_tasks:
            self._sync_table()
            await self._load_gate()
        if any(e.entity == Entity.MEMORY for e in events):
            await self._load_reports()

    # -- the table's widths follow its content and the terminal ---------------------------------------------

    def on_resize(self) -> None:
        self.set_class(self.size.width < NARROW, "-narrow")
        self.table.refit()

    def _room(self) -> int:
        """Cells the table may take: the whole width above the report, a share of it beside."""
        width = self.size.width or self.app.size.width
        return (width if width < NARROW else int(width * SIDE_SHARE)) - 2  # the pane's edge and scrollbar

    def _sync_table(self) -> None:
        with self.app.batch_update():
            self.table.sync({str(m.id): self._cells(m) for m in self.milestones.values()})
        empty = not self.milestones
        self.query_one("#milestones-empty", Static).display = empty
        self.query_one("#milestones-body").display = not empty

    def _cells(self, m: Milestone) -> tuple:
        counts = self.progress.get(m.id, {})
        total = sum(counts.values())
        done = counts.get("completed", 0)
        budget = "-" if m.hour_budget is None else f"{m.hour_budget:g}"
        over = m.hour_budget is not None and m.hours_spent > m.hour_budget
        gate = m.status.value if m.in_plan else m.plan_state.value  # cut or deferred says more than its gate
        return (
            cell(m.position, sort_value=m.position),
            cell(m.name),
            cell(gate, STATUS_STYLE.get(gate, "")),
            cell(m.planned_weeks or "-"),
            cell(f"{m.hours_spent:.0f}/{budget}", "bold red" if over else "", sort_value=m.hours_spent),
            cell(progress_bar(done, total), sort_value=done / total if total else 0),
            cell(f"{done}/{total}", sort_value=done),
        )

    async def _load_gate(self) -> None:
        if self.selected is None:
            return
        self.gate = await self.store.gate_status(self.selected)
        self.query_one("#gate-panel", ReportPanel).show(self.gate, gates.standing(self.gate))
        m = self.gate.milestone
        info = render_plan(plans.view(m, list(self.milestones.values()) or [m], self.progress.get(m.id),
                                      datetime.fromtimestamp(self.sd.clock(), timezone.utc).date(),
                                      await plans.why_out_of_plan(self.store, m)), m)
        if info.plain and m.acceptance_criteria:
            info.append("\n")
        if m.acceptance_criteria:
            info.append("Acceptance criteria\n", style="bold underline")
            for c in m.acceptance_criteria:
                info.append("• ")
                info.append_text(safe(c))
                info.append("\n")
        info.rstrip()  # the last line's end: the next part's margin is the gap below it
        objective = self.query_one("#milestone-objective", Static)
        objective.update(info)
        objective.display = bool(info.plain)
        report = self.gate.report
        previous = None
        if report is not None and report.version > 1:
            previous = await self.store.get_report(m.id, report.version - 1)
        changes = self.query_one("#report-changes", Static)
        changes.update(render_changes(self.gate, previous))
        changes.display = previous is not None

    @on(DataTable.RowHighlighted, "#milestones-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is None or event.row_key.value is None:
            return
        milestone_id = int(event.row_key.value)
        if milestone_id != self.selected:
            self.selected = milestone_id
            self.show_gate()

    @work(exclusive=True, group="gate", exit_on_error=False)
    async def show_gate(self) -> None:
        await self._load_gate()

    # -- actions ---------------------------------------------------------------------------------------------

    async def _reviewer_seat(self, act: str, milestone: int | None = None) -> bool:
        """Whether this seat's reviewer may ``act`` (the store's own check); if not, say why and how a
        person registers, and stay a seat that reads every gate."""
        try:
            await self.store.check_reviewer(self.sd.reviewer, milestone=milestone, act=act)
        except PermissionDenied as exc:
            self.notify(f"{refusal(exc)}. This seat still shows every gate.",  # plain: app.notify
                        title="Not a reviewer here",
                        severity="warning", timeout=10)
            return False
        return True

    @opens_screen
    @work(exclusive=True, group="action", exit_on_error=False)
    async def action_decide(self) -> None:
        if self.selected is None:
            return
        gate = await self.store.gate_status(self.selected)
        if not gate.decidable:
            # Toasts are always plain text (SwarmdeckApp.notify): the name is shown as written.
            self.notify(f"{gate.milestone.name} is {gate.milestone.status.value}: there is no report "
                        "awaiting a decision", severity="warning", timeout=3)
            return
        if not await self._reviewer_seat("decide a gate", gate.milestone.id):
            return
        signer = await self.sd.unlock_signer()
        if signer is None:
            return

        async def record(choice: DecisionInput) -> None:
            """Sign and record; a refusal keeps the modal open with what the reviewer typed."""
            signature = signer.sign(signing.decision_message(
                milestone_id=gate.milestone.id, report_hash=choice.report_hash, decision=choice.decision,
                rationale=choice.rationale, conditions=choice.conditions, reviewer=self.sd.reviewer,
                accept_unmet=choice.accept_unmet))
            await self.store.decide_gate(
                gate.milestone.id, decision=choice.decision, rationale=choice.rationale,
                reviewer=self.sd.reviewer, conditions=list(choice.conditions), report_hash=choice.report_hash,
                signature=signature, accept_unmet=list(choice.accept_unmet),
            )

        choice = await self.app.push_screen_wait(DecisionModal(gate, self.sd.reviewer, record))
        if choice is None:
            return
        self.notify(f"{choice.decision.value} recorded for {gate.milestone.name}", timeout=4)
        self.sd.changed()

    @opens_screen
    @work(exclusive=True, group="action", exit_on_error=False)
    async def action_close_condition(self) -> None:
        if self.selected is None:
            return
        gate = await self.store.gate_status(self.selected)
        open_ = [c for c in gate.conditions if c.status is ConditionStatus.OPEN]
        if not open_:
            self.notify("No open condition on this gate", timeout=2)
            return
        if not await self._reviewer_seat("close a condition", gate.milestone.id):
            return
        signer = await self.sd.unlock_signer()
        if signer is None:
            return
        closing = await self.app.push_screen_wait(CloseConditionModal(gate.milestone.name, open_, self.sd.reviewer))
        if closing is None:
            return
        signature = signer.sign(signing.close_message(condition_id=closing.condition_id, note=closing.note,
                                                      reviewer=self.sd.reviewer))
        await self.store.close_condition(closing.condition_id, closed_by=self.sd.reviewer, note=closing.note,
                                         signature=signature)
        self.notify(f"Condition #{closing.condition_id} closed", timeout=3)
        self.sd.changed()

    @opens_screen
    @work(exclusive=True, group="action", exit_on_error=False)
    async def action_resume_swarm(self) -> None:
        state = await self.store.swarm_state()
        if not state.paused:
            self.notify("The swarm is not paused", timeout=2)
            return
        if not await self._reviewer_seat("resume the swarm"):
            return
        signer = await self.sd.unlock_signer()
        if signer is None:
            return
        escalated = [m.name for m in await self.store.list_milestones() if m.status is MilestoneStatus.ESCALATED]
        reason = await self.app.push_screen_wait(ResumeModal(state, escalated, self.sd.reviewer))
        if reason is None:
            return
        # The escalation this lifts, as of the confirmation: a newer one is refused, not lifted unseen.
        signature = signer.sign(signing.resume_message(escalation_id=state.escalation_id, note=reason,
                                                       reviewer=self.sd.reviewer))
        await self.store.resume_swarm(by=self.sd.reviewer, note=reason, signature=signature)
        self.notify("Swarm resumed: claims accepted", timeout=3)
        self.sd.changed()

    @opens_screen
    @work(exclusive=True, group="action", exit_on_error=False)
    async def action_replan(self) -> None:
        if self.selected is None:
            return
        m = await self.store.get_milestone(self.selected)
        if m.in_plan and m.status.passed:
            self.notify(f"{m.name} has passed its gate: there is nothing left to cut or defer",
                        severity="warning", timeout=3)
            return
        if not await self._reviewer_seat("cut, defer or reinstate a milestone"):
            return
        choice = await self.app.push_screen_wait(ReplanModal(m, self.sd.reviewer))
        if choice is None:
            return
        done = await self.store.replan_milestone(m.id, state=choice.state, by=self.sd.reviewer,
                                                 reason=choice.reason)
        self.notify(f"{done.name} is {'back in the plan' if done.in_plan else done.plan_state.value}", timeout=4)
        self.sd.changed()

    def action_cursor_down(self) -> None:
        self.table.action_cursor_down()

    def action_cursor_up(self) -> None:
        self.table.action_cursor_up()

    def action_next_review(self) -> None:
        waiting = [m for m in self.milestones.values() if m.status is MilestoneStatus.REVIEW]
        if not waiting:
            self.notify("No gate awaits review", timeout=2)
            return
        after = [m for m in waiting if self.selected is None or m.position > self.milestones[self.selected].position]
        target = (after or waiting)[0]
        self.table.move_cursor(row=self.table.get_row_index(str(target.id)))
        self.query_one("#gate-panel", ReportPanel).to_top()  # read the next review from its first line


def render_plan(view: plans.PlanView, m: Milestone) -> Text:
    """The milestone's plan, when it has more of one than its place in line: the gates that open it,
    its hours beside its schedule and its money, and whether a person cut or deferred it."""
    out = Text()
    if not view.worth_showing:
        return out
    out.append("Plan\n", style="bold underline")
    budget = "-" if m.hour_budget is None else f"{m.hour_budget:g}"
    rows = [*view.lines()]
    rows.insert(next((i for i, (label, _) in enumerate(rows) if label in ("schedule", "money")), len(rows)),
                ("hours", f"{m.hours_spent:.0f}/{budget}"))
    behind = view.schedule is not None and (view.schedule.variance_days or 0) <= -0.5
    over = m.money_budget is not None and (m.cost_spent or 0) > m.money_budget
    for label, value in rows:
        out.append(f"{label:<9}", style="dim")
        warn = (label == "schedule" and behind) or (label == "money" and over) or label == "plan"
        out.append_text(safe(value, "bold red" if warn else ""))
        out.append("\n")
    return out


MARK = {ChangeKind.ADDED: ("+ ", "green"), ChangeKind.REMOVED: ("- ", "red"), ChangeKind.CHANGED: ("~ ", "yellow")}


def render_changes(gate: GateStatus, previous: ValidationReport | None) -> Text:
    """What changed since the report version before the current one (after a REVISE, say), or nothing."""
    report = gate.report
    out = Text(end="")
    if report is None or previous is None:
        return out
    out.append(f"Changes since v{previous.version}", style="bold underline")
    returned = [d for d in gate.decisions if d.report_version == previous.version]
    if returned:
        out.append(f"  ({returned[-1].decision.value} by ", style="dim")
        out.append_text(safe(returned[-1].reviewer, "dim"))
        out.append(")", style="dim")
    out.append("\n")
    changes = report_changes(previous, report)
    if not changes:
        out.append("none: the new version reads the same\n", style="dim")
    for change in changes:
        mark, style = MARK[change.kind]
        out.append(mark, style=f"bold {style}")
        out.append(change.part, style="dim")
        if change.name != change.part:
            out.append(" ")
            out.append_text(safe(change.name, "bold", one_line=True))
        if change.kind is ChangeKind.CHANGED:  # before and after on lines of their own: they stay narrow
            out.append("\n    was ", style="dim")
            out.append_text(safe(change.before, one_line=True))
            out.append("\n    now ", style="dim")
            out.append_text(safe(change.after, style, one_line=True))
        elif change.before or change.after:
            out.append(": ")
            out.append_text(safe(change.after or change.before, one_line=True))
        out.append("\n")
    return out


def _books_hours(e: Event) -> bool:
    """A task event that names its milestone: a task that finishes books hours on it."""
    if e.entity != Entity.TASK:
        return False
    match e.typed():
        case (TaskEnqueued(milestone_id=int()) | TaskCompleted(milestone_id=int())
              | TaskFailed(milestone_id=int()) | TaskRetried(milestone_id=int())):
            return True
    return False
