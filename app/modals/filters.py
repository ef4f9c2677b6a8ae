"""The queue's filters: which tasks are loaded (status, agent type, milestone, source, and whether the finished
tasks the retention policy archived are among them)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, Select, SelectionList

from swarmdeck.store import Milestone, Task, TaskSource, TaskStatus
from swarmdeck.store.models import UNFINISHED
from swarmdeck.widgets.text import safe

#: What the queue shows by default: every unfinished task, and the failed ones that hold others.
ACTIVE = tuple(s.value for s in (*UNFINISHED, TaskStatus.FAILED))


@dataclass(frozen=True)
class QueueFilters:
    """Server-side filters (applied in SQL before the row cap)."""

    statuses_: tuple[str, ...] = ACTIVE
    agent_type: str | None = None
    milestone_id: int | None = None
    source: str | None = None
    #: Include the finished tasks `swarmdeck prune` archived (left out by default).
    archived: bool = False

    def statuses(self) -> tuple[str, ...]:
        return self.statuses_

    def query(self) -> dict[str, Any]:
        return {
            "status": list(self.statuses_) or None,
            "agent_type": self.agent_type,
            "milestone_id": self.milestone_id,
            "source": self.source,
            "archived": None if self.archived else False,
        }

    def matches(self, task: Task) -> bool:
        return (
            (not self.statuses_ or task.status.value in self.statuses_)
            and (self.agent_type is None or task.agent_type == self.agent_type)
            and (self.milestone_id is None or task.milestone_id == self.milestone_id)
            and (self.source is None or task.source.value == self.source)
            and (self.archived or task.archived_at is None)
        )

    def describe(self) -> str:
        parts = ["active" if self.statuses_ == ACTIVE else ("all statuses" if not self.statuses_
                                                             else "/".join(self.statuses_))]
        if self.agent_type:
            parts.append(f"type {self.agent_type}")
        if self.milestone_id is not None:
            parts.append(f"milestone {self.milestone_id}")
        if self.source:
            parts.append(f"source {self.source}")
        if self.archived:
            parts.append("archived included")
        return ", ".join(parts) + "  (f to change)"


class FilterModal(ModalScreen[QueueFilters | None]):
    """Choose statuses, agent type, milestone and source."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="modal.cancel"),
        Binding("ctrl+s", "apply", "Apply", id="modal.confirm"),
    ]

    def __init__(self, current: QueueFilters, milestones: list[Milestone], agent_types: list[str]) -> None:
        super().__init__()
        self.current = current
        self.milestones = milestones
        self.agent_types = sorted(set(agent_types) | ({current.agent_type} if current.agent_type else set()))

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Filter the queue", classes="dialog-title")
            yield Label("Statuses (space toggles)")
            yield SelectionList[str](
                *[(s.value, s.value, s.value in self.current.statuses_) for s in TaskStatus], id="f-status"
            )
            yield Label("Agent type")
            # Agent types and milestone names are agent text: Text prompts, which Select never parses.
            yield Select([(safe(t, one_line=True), t) for t in self.agent_types],
                         value=self.current.agent_type or Select.NULL,
                         prompt="any", id="f-type")
            yield Label("Milestone")
            yield Select([(safe(m.name, one_line=True), m.id) for m in self.milestones],
                         value=self.current.milestone_id if self.current.milestone_id is not None else Select.NULL,
                         prompt="any", id="f-milestone")
            yield Label("Source")
            yield Select([(s.value, s.value) for s in TaskSource], value=self.current.source or Select.NULL,
                         prompt="any", id="f-source")
            yield Checkbox("Include archived tasks (finished, archived by `swarmdeck prune`)",
                           self.current.archived, id="f-archived")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", variant="primary", id="apply")
                yield Button("Reset", id="reset")
                yield Button("Cancel", id="cancel")

    def _value(self, selector: str) -> Any:
        value = self.query_one(selector, Select).value
        return None if value is Select.NULL else value

    def action_apply(self) -> None:
        statuses = tuple(s.value for s in TaskStatus if s.value in self.query_one("#f-status", SelectionList).selected)
        self.dismiss(replace(self.current, statuses_=statuses, agent_type=self._value("#f-type"),
                             milestone_id=self._value("#f-milestone"), source=self._value("#f-source"),
                             archived=self.query_one("#f-archived", Checkbox).value))

    @on(Button.Pressed, "#apply")
    def _apply(self) -> None:
        self.action_apply()

    @on(Button.Pressed, "#reset")
    def _reset(self) -> None:
        self.dismiss(QueueFilters())

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

