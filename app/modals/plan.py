"""The execution plan of the tasks shown: topological batches and the maximum parallelism, the
critical path, and which tasks cannot start before a milestone gate opens."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from swarmdeck.store import ExecutionPlan, Milestone, Task
from swarmdeck.store.graph import gated_plan, milestone_prerequisites
from swarmdeck.widgets.text import safe

from ..format import age

#: Tasks listed per batch; the rest are counted.
BATCH_LINES = 50


def openers(milestone: Milestone, milestones: dict[int, Milestone]) -> list[str]:
    """The milestones whose gates, not yet passed, open a locked one (without prerequisites of its own:
    the one just before it). A gate that has passed opens nothing more: it is not named."""
    ordered = sorted(milestones.values(), key=lambda m: m.position)
    waits = milestone_prerequisites((m.id, m.prerequisites) for m in ordered).get(milestone.id, ())
    return [milestones[p].name if p in milestones else f"#{p}" for p in waits
            if p not in milestones or not milestones[p].status.passed]


def critical_words(plan: ExecutionPlan) -> Text:
    """The critical path: the longest chain by estimate (by tasks, without estimates)."""
    chain = " → ".join(map(str, plan.critical_path))
    length = f"{age(plan.critical_seconds)} by estimate" if plan.critical_seconds else "no estimates"
    return Text(f"Critical path: {chain} ({length})", style="bold")


class PlanModal(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,e", "dismiss(None)", "Close", id="modal.close")]

    def __init__(self, plan: ExecutionPlan, tasks: dict[int, Task],
                 milestones: dict[int, Milestone] | None = None) -> None:
        super().__init__()
        self.plan = plan
        self.tasks = tasks
        self.milestones = milestones or {}

    def compose(self) -> ComposeResult:
        gated = gated_plan(self.plan, self.tasks, self.milestones)
        with Vertical(classes="dialog wide"):
            yield Label(
                f"Execution plan: {self.plan.total_batches} batch(es), max parallelism {self.plan.max_parallelism}",
                classes="dialog-title",
            )
            if len(self.plan.critical_path) > 1:
                yield Static(critical_words(self.plan), id="plan-critical")
            if gated.waiting_count:
                note = Text(f"{gated.waiting_count} task(s) cannot start before a milestone gate opens: "
                            f"now {len(gated.now)} batch(es), max parallelism "
                            f"{max(map(len, gated.now), default=0)}; then what each gate opens.",
                            style="yellow")
                yield Static(note, id="plan-gates")
            with VerticalScroll():
                body = Text()
                if gated.waiting_count:
                    body.append("Can run now\n", style="bold underline")
                self._batches(body, gated.now)
                for milestone, batches in gated.waiting:
                    body.append("\nAfter ", style="bold underline")
                    gates = openers(milestone, self.milestones) if milestone else []
                    if milestone is not None and not milestone.in_plan:
                        body.append("it is reinstated ", style="bold underline")
                    elif gates:
                        words = f"the gate of {gates[0]} opens" if len(gates) == 1 \
                            else f"the gates of {', '.join(gates)} open"
                        body.append_text(safe(words, "bold underline", one_line=True))
                        body.append(" ", style="bold underline")
                    else:
                        body.append("its gate opens ", style="bold underline")
                    state = "locked" if milestone is None or milestone.in_plan else milestone.plan_state.value
                    body.append(f"({state}: ", style="yellow")
                    body.append_text(safe(milestone.name if milestone else "-", "yellow", one_line=True))
                    body.append(")\n", style="yellow")
                    self._batches(body, batches)
                yield Static(body)
            yield Label("esc to close", classes="dim")

    def _batches(self, body: Text, batches: list[list[int]]) -> None:
        if not batches:
            body.append("  nothing\n", style="dim")
        for number, batch in enumerate(batches, start=1):
            body.append(f"Batch {number}  ({len(batch)} in parallel)\n", style="bold")
            for task_id in batch[:BATCH_LINES]:
                task = self.tasks.get(task_id)
                body.append(f"  {task_id:>6}  ")
                if task:
                    body.append_text(safe(task.description, one_line=True))
                body.append("\n")
            if len(batch) > BATCH_LINES:
                body.append(f"  … and {len(batch) - BATCH_LINES} more\n", style="dim")
