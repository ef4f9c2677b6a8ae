"""Cancelling a task: the cascade is previewed before anything changes."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from swarmdeck.store import Task
from swarmdeck.widgets.text import safe


class CancelModal(ModalScreen[str | None]):
    """Returns the reason ('' for none) to confirm, or None to keep everything."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Keep", id="modal.cancel")]
    #: The reason is what a person types next: enter then confirms, escape keeps everything.
    AUTO_FOCUS = "#cancel-reason"

    def __init__(self, task: Task, cascaded: list[Task]) -> None:
        super().__init__()
        self.task_ = task
        self.cascaded = cascaded

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Cancel task {self.task_.id}?", classes="dialog-title")
            yield Static(safe(self.task_.description))
            n = len(self.cascaded)
            summary = Text(f"This also cancels {n} dependent task(s)" if n else "No other task depends on it",
                           style="bold yellow" if n else "")
            summary.append(" (completed tasks are never touched):" if n else ".")
            yield Static(summary)
            with VerticalScroll(classes="cascade"):
                for t in self.cascaded:
                    line = Text(f"  {t.id:>6}  {t.status.value:<9} ")
                    line.append_text(safe(t.description, one_line=True))
                    yield Static(line)
            yield Input(placeholder="reason (optional)", id="cancel-reason")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"Cancel {1 + n} task(s)", variant="error", id="confirm")
                yield Button("Keep", id="keep")

    @on(Button.Pressed, "#confirm")
    @on(Input.Submitted, "#cancel-reason")
    def _confirm(self) -> None:
        self.dismiss(self.query_one("#cancel-reason", Input).value.strip())

    @on(Button.Pressed, "#keep")
    def _keep(self) -> None:
        self.dismiss(None)
