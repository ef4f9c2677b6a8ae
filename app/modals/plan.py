"""The execution plan of the tasks shown: topological batches and the maximum parallelism."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from swarmdeck.store import ExecutionPlan, Task
from swarmdeck.widgets.text import safe


class PlanModal(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,e", "dismiss(None)", "Close", id="modal.close")]

    def __init__(self, plan: ExecutionPlan, tasks: dict[int, Task]) -> None:
        super().__init__()
        self.plan = plan
        self.tasks = tasks

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(
                f"Execution plan: {self.plan.total_batches} batch(es), max parallelism {self.plan.max_parallelism}",
                classes="dialog-title",
            )
            with VerticalScroll():
                body = Text()
                for number, batch in enumerate(self.plan.batches, start=1):
                    body.append(f"Batch {number}  ({len(batch)} in parallel)\n", style="bold")
                    for task_id in batch[:50]:
                        task = self.tasks.get(task_id)
                        body.append(f"  {task_id:>6}  ")
                        if task:
                            body.append_text(safe(task.description, one_line=True))
                        body.append("\n")
                    if len(batch) > 50:
                        body.append(f"  … and {len(batch) - 50} more\n", style="dim")
                yield Static(body)
            yield Label("esc to close", classes="dim")
