"""The enqueue form: a task as a human operator adds it."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from swarmdeck.store import Milestone, TaskSource, timeparse
from swarmdeck.store.priority import BASE_PRIORITY_DEFAULT, BASE_PRIORITY_MAX, BASE_PRIORITY_MIN
from swarmdeck.widgets.text import safe


class EnqueueModal(ModalScreen[dict[str, Any] | None]):
    """Returns keyword arguments for Store.enqueue_task, or None."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="modal.cancel"),
        Binding("ctrl+s", "submit", "Enqueue", id="modal.confirm"),
    ]
    AUTO_FOCUS = "#e-description"

    def __init__(self, milestones: list[Milestone], agent_types: list[str] = ()) -> None:
        super().__init__()
        self.milestones = milestones
        #: The types a task can go to (agents' and tasks'); "general" is always offered.
        self.agent_types = sorted(set(agent_types) | {"general"})

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="enqueue-dialog"):
            yield Label("Enqueue a task", classes="dialog-title")
            # The fields scroll; the error and the buttons stay in view however short the terminal.
            with VerticalScroll(id="e-form"), Grid(classes="form"):
                yield Label("Description")
                yield Input(id="e-description", placeholder="what needs doing")
                yield Label("Agent type")
                # Agent types are agent text: Text prompts. A type no agent has would never be claimed.
                yield Select([(safe(t, one_line=True), t) for t in self.agent_types], value="general",
                             allow_blank=False, id="e-type")
                yield Label("Base priority")
                yield Input(str(BASE_PRIORITY_DEFAULT), id="e-priority", type="integer",
                            placeholder=f"{BASE_PRIORITY_MIN}-{BASE_PRIORITY_MAX}")
                yield Label("Prerequisites")
                yield Input(id="e-after", placeholder="task ids, e.g. 12, 15")
                yield Label("Milestone")
                # Milestone names are agent text: Text prompts, which Select never parses as markup.
                yield Select([(safe(m.name, one_line=True), m.id) for m in self.milestones], prompt="none",
                             id="e-milestone")
                yield Label("Source")
                yield Select([(s.value, s.value) for s in TaskSource], value="human", allow_blank=False,
                             id="e-source")
                yield Label("Deadline")
                yield Input(id="e-deadline", placeholder="in: 30m, 2h, 1d (optional)")
                yield Label("Estimate")
                yield Input(id="e-estimate", placeholder="30m, 2h (optional)")
            yield Static("", id="e-error", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Enqueue", variant="primary", id="submit")
                yield Button("Cancel", id="cancel")

    def _text(self, selector: str) -> str:
        return self.query_one(selector, Input).value.strip()

    def _fail(self, message: str, selector: str) -> None:
        self.query_one("#e-error", Static).update(Text(message))  # may quote what was typed: never markup
        self.query_one(selector).focus()

    def action_submit(self) -> None:
        description = self._text("#e-description")
        if not description:
            return self._fail("A description is required.", "#e-description")
        try:
            priority = int(self._text("#e-priority") or BASE_PRIORITY_DEFAULT)
            if not BASE_PRIORITY_MIN <= priority <= BASE_PRIORITY_MAX:
                raise ValueError
        except ValueError:
            return self._fail(f"Base priority must be a whole number from {BASE_PRIORITY_MIN} to "
                              f"{BASE_PRIORITY_MAX}.", "#e-priority")
        try:
            after = [int(p) for p in self._text("#e-after").replace(",", " ").split()]
        except ValueError:
            return self._fail("Prerequisites are task ids separated by commas.", "#e-after")
        fields: dict[str, Any] = {
            "description": description,
            "agent_type": self.query_one("#e-type", Select).value,
            "base_priority": priority,
            "prerequisites": after,
            "source": self.query_one("#e-source", Select).value,
        }
        milestone = self.query_one("#e-milestone", Select).value
        if milestone is not Select.NULL:
            fields["milestone"] = milestone
        try:
            if deadline := self._text("#e-deadline").lstrip("+"):
                fields["deadline"] = time.time() + timeparse.duration(deadline)
        except ValueError as exc:
            return self._fail(f"Deadline: {exc}", "#e-deadline")
        try:
            if estimate := self._text("#e-estimate"):
                fields["estimated_duration_seconds"] = int(timeparse.duration(estimate))
        except ValueError as exc:
            return self._fail(f"Estimate: {exc}", "#e-estimate")
        self.dismiss(fields)

    @on(Button.Pressed, "#submit")
    @on(Input.Submitted)
    def _submit(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
