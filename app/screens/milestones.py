"""Screen 1: milestones and their gates. The reviewer reads the report and decides."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Static

from swarmdeck.store import Event, GateStatus, Milestone, MilestoneStatus, signing
from swarmdeck.store.errors import PermissionDenied
from swarmdeck.store.events import Entity, TaskCompleted, TaskEnqueued, TaskFailed, TaskRetried
from swarmdeck.store.models import ConditionStatus
from swarmdeck.widgets.live_table import LiveTable
from swarmdeck.widgets.report_panel import ReportPanel
from swarmdeck.widgets.text import cell, safe

from ..format import STATUS_STYLE, refusal
from ..modals.decision import DecisionInput, DecisionModal
from ..modals.gate_acts import CloseConditionModal, ResumeModal
from .base import LiveScreen

COLUMNS = [("pos", "#", 2), ("name", "Milestone", 18), ("status", "Gate", 11), ("weeks", "Weeks", 5),
           ("hours", "Hours", 8), ("progress", "Tasks done", 10)]


def progress_bar(done: int, total: int, width: int = 5) -> str:
    filled = round(width * done / total) if total else 0
    return f"{'█' * filled}{'░' * (width - filled)} {done}/{total}"


class MilestonesScreen(LiveScreen):
    """Every milestone with its gate; the selected one's report, decisions and conditions."""

    SCREEN_NAME = "1 Milestones"
    AUTO_FOCUS = "#milestones-table"
    MUTATING = frozenset({"decide", "close_condition", "resume_swarm"})
    BINDINGS = [
        Binding("d", "decide", "Decide", id="milestones.decide",
                tooltip="Decide the selected gate (APPROVE / CONDITIONAL / REVISE / ESCALATE)"),
        Binding("x", "close_condition", "Close condition", id="milestones.close-condition",
                tooltip="Close an open condition of the selected gate"),
        Binding("R", "resume_swarm", "Resume swarm", id="milestones.resume",
                tooltip="Lift an escalation: claims are accepted again"),
        Binding("n", "next_review", "Next review", id="milestones.next-review",
                tooltip="Jump to the next gate awaiting review"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.milestones: dict[int, Milestone] = {}
        self.progress: dict[int, dict[str, int]] = {}
        self.selected: int | None = None
        self.gate: GateStatus | None = None

    def compose(self) -> ComposeResult:
        yield self.status_bar()
        with Horizontal(id="milestones-body"):
            with Vertical(id="milestones-left"):
                table = LiveTable(id="milestones-table")
                table.set_columns(COLUMNS)
                yield table
                yield Static("", id="milestone-objective")
            with VerticalScroll(id="gate-scroll"):
                yield ReportPanel(id="gate-panel")
        yield Footer(compact=True)

    @property
    def table(self) -> LiveTable:
        return self.query_one("#milestones-table", LiveTable)

    # -- data ------------------------------------------------------------------------------------------------

    async def load(self) -> None:
        self.milestones = {m.id: m for m in await self.store.list_milestones()}
        self.progress = await self.store.milestone_progress()
        with self.app.batch_update():
            self.table.sync({str(m.id): self._cells(m) for m in self.milestones.values()})
        if self.selected is None and self.milestones:
            first = next((m for m in self.milestones.values() if m.status is MilestoneStatus.REVIEW),
                         next(iter(self.milestones.values())))
            self.table.move_cursor(row=self.table.get_row_index(str(first.id)))
            self.selected = first.id
        await self._load_gate()

    async def apply(self, events: list[Event]) -> None:
        touched_tasks = any(e.entity == Entity.TASK for e in events)
        touched_milestones = any(e.entity == Entity.MILESTONE or _books_hours(e) for e in events)
        if touched_milestones:
            self.milestones = {m.id: m for m in await self.store.list_milestones()}
        if touched_tasks:
            self.progress = await self.store.milestone_progress()
        if touched_milestones or touched_tasks:
            with self.app.batch_update():
                self.table.sync({str(m.id): self._cells(m) for m in self.milestones.values()})
            await self._load_gate()

    def _cells(self, m: Milestone) -> tuple:
        counts = self.progress.get(m.id, {})
        total = sum(counts.values())
        done = counts.get("completed", 0)
        budget = "-" if m.hour_budget is None else f"{m.hour_budget:g}"
        over = m.hour_budget is not None and m.hours_spent > m.hour_budget
        return (
            cell(m.position, sort_value=m.position),
            cell(m.name),
            cell(m.status.value, STATUS_STYLE.get(m.status.value, "")),
            cell(m.planned_weeks or "-"),
            cell(f"{m.hours_spent:.0f}/{budget}", "bold red" if over else "", sort_value=m.hours_spent),
            cell(progress_bar(done, total), sort_value=done / total if total else 0),
        )

    async def _load_gate(self) -> None:
        if self.selected is None:
            return
        self.gate = await self.store.gate_status(self.selected)
        self.query_one("#gate-panel", ReportPanel).show(self.gate)
        m = self.gate.milestone
        info = Text()
        if m.acceptance_criteria:
            info.append("Acceptance criteria\n", style="bold underline")
            for c in m.acceptance_criteria:
                info.append("• ")
                info.append_text(safe(c))
                info.append("\n")
        self.query_one("#milestone-objective", Static).update(info)

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
                rationale=choice.rationale, conditions=choice.conditions, reviewer=self.sd.reviewer))
            await self.store.decide_gate(
                gate.milestone.id, decision=choice.decision, rationale=choice.rationale,
                reviewer=self.sd.reviewer, conditions=list(choice.conditions), report_hash=choice.report_hash,
                signature=signature,
            )

        choice = await self.app.push_screen_wait(DecisionModal(gate, self.sd.reviewer, record))
        if choice is None:
            return
        self.notify(f"{choice.decision.value} recorded for {gate.milestone.name}", timeout=4)
        self.sd.changed()

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

    def action_next_review(self) -> None:
        waiting = [m for m in self.milestones.values() if m.status is MilestoneStatus.REVIEW]
        if not waiting:
            self.notify("No gate awaits review", timeout=2)
            return
        after = [m for m in waiting if self.selected is None or m.position > self.milestones[self.selected].position]
        target = (after or waiting)[0]
        self.table.move_cursor(row=self.table.get_row_index(str(target.id)))
        self.query_one("#gate-panel", ReportPanel).to_top()  # read the next review from its first line


def _books_hours(e: Event) -> bool:
    """A task event that names its milestone: a task that finishes books hours on it."""
    if e.entity != Entity.TASK:
        return False
    match e.typed():
        case (TaskEnqueued(milestone_id=int()) | TaskCompleted(milestone_id=int())
              | TaskFailed(milestone_id=int()) | TaskRetried(milestone_id=int())):
            return True
    return False
