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

from swarmdeck.store import Decision, GateStatus, gates
from swarmdeck.store.errors import StoreError
from swarmdeck.store.gates import DecisionPreview
from swarmdeck.widgets.text import safe


@dataclass(frozen=True)
class DecisionInput:
    decision: Decision
    rationale: str
    conditions: tuple[str, ...]
    report_hash: str


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
        preview = self._preview()
        # The dashboard's own word on a pause: the key that lifts it here.
        sentence = preview.sentence
        if preview.outcome.pauses_swarm:
            sentence = f"{sentence.removesuffix('.')} (R)."
        # The sentence quotes milestone names, which agents may have written: keep it plain.
        self.query_one("#consequence", Static).update(safe(f"What happens: {sentence}", "bold"))
        self.query_one("#confirm", Button).label = f"Confirm {decision.value}"

    def _fail(self, message: str, selector: str) -> None:
        self.query_one("#decision-error", Static).update(Text(message))
        self.query_one(selector).focus()

    def _preview(self) -> DecisionPreview:
        """What the decision as it stands would do and what refuses it: the store's rule (gates.preview),
        never re-described here."""
        conditions = self._conditions() if self.decision is Decision.CONDITIONAL else ()
        return gates.preview(self.gate, self.decision, reviewer=self.reviewer, conditions=conditions,
                             rationale=self.query_one("#rationale", TextArea).text)

    def _refusal_text(self, refusal: StoreError, field: str | None) -> str:
        """The store's refusal as this form says it: its message; for the conditions box, how to fill it."""
        if field == "conditions" and self.decision is Decision.CONDITIONAL:
            return "CONDITIONAL needs at least one condition (one per line)."
        text = str(refusal)
        return f"{text[:1].upper()}{text[1:]}."

    def action_confirm(self) -> None:
        refusal = self._preview().refusal  # the store's own check, before the passphrase is asked for
        if refusal is not None:
            field = refusal.fields.get("field")
            return self._fail(self._refusal_text(refusal, field), f"#{field}" if field else "#rationale")
        rationale = self.query_one("#rationale", TextArea).text.strip()
        conditions = self._conditions() if self.decision is Decision.CONDITIONAL else ()
        assert self.gate.report is not None
        self.dismiss(DecisionInput(self.decision, rationale, conditions, self.gate.report.content_hash))

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
