"""A reviewer's other acts on a gate: closing a condition (which one, and how it was met), lifting an
escalation (why), and cutting, deferring or reinstating a milestone (why). Each returns what the reviewer chose, or None if they step back."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, RadioButton, RadioSet, Static

from swarmdeck.store import Condition, Milestone, PlanState, SwarmState, identity
from swarmdeck.widgets.text import safe


@dataclass(frozen=True)
class Closing:
    condition_id: int
    note: str


class WrittenAct(ModalScreen):
    """A person's act that needs a line in their own words (how a condition was met, why): refused
    while empty, confirmed with Enter or the Confirm button; Esc steps back (None)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="modal.cancel")]

    #: The ids of the line typed and of the error under it, and what the error says.
    TEXT_ID = ""
    ERROR_ID = ""
    MISSING = ""

    def result(self, text: str) -> object:
        """What the dialog returns, given the line typed (stripped)."""
        raise NotImplementedError

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).can_focus = False  # Esc cancels: Tab then Enter never does
        self.query_one(f"#{self.TEXT_ID}", Input).focus()

    def action_confirm(self) -> None:
        text = self.query_one(f"#{self.TEXT_ID}", Input).value
        if not identity.has_content(text):
            self.query_one(f"#{self.ERROR_ID}", Static).update(self.MISSING)
            self.query_one(f"#{self.TEXT_ID}", Input).focus()
            return
        self.dismiss(self.result(text.strip()))

    @on(Button.Pressed, "#confirm")
    @on(Input.Submitted)
    def _confirm(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class CloseConditionModal(WrittenAct):
    """Pick one of the gate's open conditions and say how it was met (returns a ``Closing``)."""

    TEXT_ID, ERROR_ID, MISSING = "close-note", "close-error", "Say how the condition was met."

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="modal.cancel"),
        Binding("ctrl+s", "confirm", "Confirm", id="modal.confirm"),
    ]

    def __init__(self, milestone: str, conditions: list[Condition], reviewer: str) -> None:
        super().__init__()
        self.milestone = milestone
        self.conditions = conditions
        self.reviewer = reviewer

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="close-dialog"):
            title = Text("Close a condition of ")
            title.append_text(safe(self.milestone, "bold"))
            yield Label(title, classes="dialog-title")
            meta = Text(f"{len(self.conditions)} open · closing as ")
            meta.append_text(safe(self.reviewer, "bold"))
            yield Static(meta, classes="dim")
            with RadioSet(id="condition"):
                for i, c in enumerate(self.conditions):
                    label = Text(f"#{c.id}  ").append_text(safe(c.text, one_line=True))
                    yield RadioButton(label, value=i == 0, name=str(c.id))
            yield Label("How was it met? (required)")
            yield Input(id="close-note", placeholder="e.g. docs merged in #214")
            yield Static("", id="close-error", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close condition", variant="primary", id="confirm")
                yield Button("Cancel", id="cancel")
        yield Footer(compact=True)  # this dialog's keys, not those of the screen behind it

    @property
    def chosen(self) -> int:
        pressed = self.query_one("#condition", RadioSet).pressed_button
        return int(pressed.name) if pressed is not None and pressed.name else self.conditions[0].id

    def result(self, text: str) -> Closing:
        return Closing(self.chosen, text)


class ResumeModal(WrittenAct):
    """Why the swarm may go on; returns the reason."""

    TEXT_ID, ERROR_ID, MISSING = "resume-reason", "resume-error", "Say why the swarm may go on."

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="modal.cancel")]

    def __init__(self, state: SwarmState, escalated: list[str], reviewer: str) -> None:
        super().__init__()
        self.state = state
        self.escalated = escalated
        self.reviewer = reviewer

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="resume-dialog"):
            yield Label("Resume the swarm?", classes="dialog-title")
            paused = Text("Paused: ", style="bold")
            paused.append_text(safe(self.state.reason or "-"))
            yield Static(paused)
            if self.escalated:
                back = Text("Back to review: ")
                back.append_text(safe(", ".join(self.escalated)))
                yield Static(back)
            who = Text("Claims are accepted again once you confirm · resuming as ")
            who.append_text(safe(self.reviewer, "bold"))
            yield Static(who, classes="dim")
            yield Input(id="resume-reason", placeholder="why the swarm may go on (required)")
            yield Static("", id="resume-error", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Resume", variant="warning", id="confirm")
                yield Button("Cancel", id="cancel")
        yield Footer(compact=True)

    def result(self, text: str) -> str:
        return text


@dataclass(frozen=True)
class Replanning:
    state: PlanState
    reason: str


#: What each act is called (what it does is said once, under the choices: the store's rule,
#: store/domain/gates.py ``replan``).
REPLAN_ACTS = {
    PlanState.CUT: "Cut: out of scope (seed 004's risk cut order)",
    PlanState.DEFERRED: "Defer: later",
    PlanState.ACTIVE: "Reinstate: back in the plan",
}
REPLAN_EFFECT = "Cut or deferred: its tasks are held and nothing after it opens."


class ReplanModal(WrittenAct):
    """Cut, defer or reinstate a milestone with its tasks, saying why (seed 004's risk cut order)."""

    TEXT_ID, ERROR_ID, MISSING = "replan-reason", "replan-error", "Say why."

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="modal.cancel"),
        Binding("ctrl+s", "confirm", "Confirm", id="modal.confirm"),
    ]

    def __init__(self, milestone: Milestone, reviewer: str) -> None:
        super().__init__()
        self.milestone = milestone
        self.reviewer = reviewer
        self.states = [s for s in (PlanState.CUT, PlanState.DEFERRED, PlanState.ACTIVE)
                       if s is not milestone.plan_state]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="replan-dialog"):
            title = Text("Change the plan for ")
            title.append_text(safe(self.milestone.name, "bold"))
            yield Label(title, classes="dialog-title")
            meta = Text(f"now {self.milestone.plan_state.value} · acting as ")
            meta.append_text(safe(self.reviewer, "bold"))
            yield Static(meta, classes="dim")
            with RadioSet(id="replan-state"):
                for i, state in enumerate(self.states):
                    yield RadioButton(Text(REPLAN_ACTS[state]), value=i == 0, name=state.value,
                                      id=f"replan-{state.value}")
            yield Static(REPLAN_EFFECT, classes="dim")
            yield Input(id="replan-reason", placeholder="why (required; recorded with your name)")
            yield Static("", id="replan-error", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Confirm", variant="warning", id="confirm")
                yield Button("Cancel", id="cancel")
        yield Footer(compact=True)

    @property
    def chosen(self) -> PlanState:
        pressed = self.query_one("#replan-state", RadioSet).pressed_button
        return PlanState(pressed.name) if pressed is not None and pressed.name else self.states[0]

    def result(self, text: str) -> Replanning:
        return Replanning(self.chosen, text)
