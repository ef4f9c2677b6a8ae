"""The gate decision: four choices, a rationale that is required, and what will happen, shown first."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, RadioButton, RadioSet, Static, TextArea

from swarmdeck.store import Decision, GateStatus
from swarmdeck.widgets.text import safe


@dataclass(frozen=True)
class DecisionInput:
    decision: Decision
    rationale: str
    conditions: tuple[str, ...]
    report_hash: str


def consequence(gate: GateStatus, decision: Decision, conditions: int = 0) -> str:
    """What recording this decision will do, in a sentence."""
    m = gate.milestone
    approving = decision in (Decision.APPROVE, Decision.CONDITIONAL)
    if approving and len(gate.approvals) + 1 < m.required_approvals:
        return (f"Records approval {len(gate.approvals) + 1} of {m.required_approvals}; "
                "the gate stays in review until the rest approve.")
    opens = (f"{gate.next_milestone} opens and {gate.unblocks} task(s) become ready"
             if gate.next_milestone else "the last milestone is complete")
    if decision is Decision.APPROVE:
        return f"{m.name} is approved: {opens}."
    if decision is Decision.CONDITIONAL:
        return f"{m.name} proceeds: {opens}; {conditions} condition(s) stay tracked until closed."
    if decision is Decision.REVISE:
        return f"{m.name} returns to work: agents revise and submit a new report version."
    return "The whole swarm pauses: every claim is refused until a human resumes it (R)."


class DecisionModal(ModalScreen[DecisionInput | None]):
    """Returns the reviewer's decision, or None if they step back."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="modal.cancel"),
        Binding("ctrl+s", "confirm", "Confirm", id="modal.confirm"),
    ]

    def __init__(self, gate: GateStatus, reviewer: str) -> None:
        super().__init__()
        self.gate = gate
        self.reviewer = reviewer

    def compose(self) -> ComposeResult:
        report = self.gate.report
        assert report is not None
        with Vertical(classes="dialog wide", id="decision-dialog"):
            title = Text("Decide the gate of ")
            title.append_text(safe(self.gate.milestone.name, "bold"))
            yield Label(title, classes="dialog-title")
            meta = Text(f"report v{report.version} · hash {report.content_hash[:12]} · submitted by ")
            meta.append_text(safe(report.submitted_by))
            meta.append(" · deciding as ")
            meta.append_text(safe(self.reviewer, "bold"))
            if report.proposed_decision:
                meta.append(f" · proposed: {report.proposed_decision.value}")
            yield Static(meta, classes="dim")
            with RadioSet(id="decision"):
                for d in Decision:
                    yield RadioButton(d.value, value=d is (report.proposed_decision or Decision.APPROVE), name=d.value)
            yield Label("Rationale (required)")
            yield TextArea(id="rationale", soft_wrap=True, show_line_numbers=False)
            yield Label("Conditions, one per line (CONDITIONAL only)", id="conditions-label")
            yield TextArea(id="conditions", soft_wrap=True, show_line_numbers=False)
            yield Static("", id="consequence")
            yield Static("", id="decision-error", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Confirm", variant="primary", id="confirm")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._refresh_consequence()
        self.query_one("#rationale", TextArea).focus()

    @property
    def decision(self) -> Decision:
        pressed = self.query_one("#decision", RadioSet).pressed_button
        return Decision(pressed.name) if pressed is not None else Decision.APPROVE

    def _conditions(self) -> tuple[str, ...]:
        text = self.query_one("#conditions", TextArea).text
        return tuple(line.strip() for line in text.splitlines() if line.strip())

    @on(RadioSet.Changed)
    @on(TextArea.Changed, "#conditions")
    def _refresh_consequence(self) -> None:
        decision = self.decision
        conditional = decision is Decision.CONDITIONAL
        self.query_one("#conditions").display = conditional
        self.query_one("#conditions-label").display = conditional
        sentence = consequence(self.gate, decision, len(self._conditions()))
        # The sentence quotes milestone names, which agents may have written: keep it plain.
        self.query_one("#consequence", Static).update(safe(f"What happens: {sentence}", "bold"))
        self.query_one("#confirm", Button).label = f"Confirm {decision.value}"

    def _fail(self, message: str, selector: str) -> None:
        self.query_one("#decision-error", Static).update(Text(message))
        self.query_one(selector).focus()

    def action_confirm(self) -> None:
        rationale = self.query_one("#rationale", TextArea).text.strip()
        if not rationale:
            return self._fail("A rationale is required: say why.", "#rationale")
        conditions = self._conditions() if self.decision is Decision.CONDITIONAL else ()
        if self.decision is Decision.CONDITIONAL and not conditions:
            return self._fail("CONDITIONAL needs at least one condition (one per line).", "#conditions")
        assert self.gate.report is not None
        self.dismiss(DecisionInput(self.decision, rationale, conditions, self.gate.report.content_hash))

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
