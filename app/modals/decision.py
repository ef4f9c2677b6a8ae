"""The gate decision: four choices, a rationale that is required, and what will happen, shown first."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Footer, Label, RadioButton, RadioSet, Static, TextArea
from textual.worker import Worker

from swarmdeck.store import Decision, GateStatus, gates
from swarmdeck.store.errors import StoreError
from swarmdeck.store.gates import DecisionPreview
from swarmdeck.widgets.fitted import Fitted
from swarmdeck.widgets.text import safe


@dataclass(frozen=True)
class DecisionInput:
    decision: Decision
    rationale: str
    conditions: tuple[str, ...]
    report_hash: str
    #: The acceptance criteria the reviewer accepts unreported or unmet (an approval only).
    accept_unmet: tuple[str, ...] = ()


#: Records a decision (signs it and hands it to the store); raises the store's refusal.
Record = Callable[[DecisionInput], Awaitable[object]]


class Submitted(Message):
    """Enter in a field that confirms the dialog (the choice, the rationale)."""


class ChoiceSet(RadioSet, inherit_bindings=False):
    """The four decisions in a row. The keyboard highlight is the choice: arrows choose (so the highlight
    never strays from what Confirm would record), and Enter asks to confirm it."""

    BINDINGS = [
        Binding("left,up", "choose(-1)", "Previous", show=False, id="decision.choice-previous"),
        Binding("right,down", "choose(1)", "Next", show=False, id="decision.choice-next"),
        Binding("enter", "submit", "Confirm", show=False, id="decision.choice-confirm"),
    ]

    def on_mount(self) -> None:
        # RadioSet starts its highlight on the first button; once it has mounted, move it to the pressed one.
        self.call_later(self._highlight_choice)

    def _highlight_choice(self) -> None:
        for _ in range(max(self.pressed_index, 0)):
            self.action_next_button()

    def action_choose(self, step: int) -> None:
        if step < 0:
            self.action_previous_button()
        else:
            self.action_next_button()
        self.action_toggle_button()

    def action_submit(self) -> None:
        self.post_message(Submitted())


class RationaleArea(TextArea):
    """A soft-wrapped rationale: Enter confirms the dialog; ctrl+j (or shift+enter) starts a new line."""

    BINDINGS = [Binding("ctrl+j", "newline", "New line", id="decision.rationale-newline")]

    def on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.prevent_default()  # TextArea's own handler would insert a line break
            event.stop()
            self.post_message(Submitted())
        elif event.key == "shift+enter":
            event.prevent_default()
            event.stop()
            self.action_newline()

    def action_newline(self) -> None:
        self.insert("\n")


#: Below this many lines the decision's text boxes shrink to SHORT_BOX lines (an 80x24 terminal).
SHORT_SCREEN = 32
SHORT_BOX = 4
#: On a short terminal: the lines the dialog needs outside its scrolling part (title, unmet criteria and
#: their box, what happens, buttons, borders, footer), and the fewest the scrolling part keeps.
BELOW_BODY = 14
BODY_MIN = 6


class DecisionModal(ModalScreen[DecisionInput | None]):
    """Returns the reviewer's decision once ``record`` took it, or None if they step back. A refusal is
    shown here, with everything the reviewer typed still in place."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="modal.cancel"),
        Binding("ctrl+s", "confirm", "Confirm", id="modal.confirm"),
    ]

    def __init__(self, gate: GateStatus, reviewer: str, record: Record | None = None) -> None:
        super().__init__()
        self.gate = gate
        self.reviewer = reviewer
        self.record = record

    def compose(self) -> ComposeResult:
        report = self.gate.report
        assert report is not None
        with Vertical(classes="dialog wide", id="decision-dialog"):
            title = Text("Decide the gate of ")
            title.append_text(safe(self.gate.milestone.name, "bold"))
            yield Label(title, classes="dialog-title")
            with VerticalScroll(id="decision-body", can_focus=False):
                meta = Text(f"report v{report.version} · hash {report.content_hash[:12]} · submitted by ")
                meta.append_text(safe(report.submitted_by))
                meta.append(" · deciding as ")
                meta.append_text(safe(self.reviewer, "bold"))
                if report.proposed_decision:
                    meta.append(f" · proposed: {report.proposed_decision.value}")
                yield Static(meta, classes="dim")
                with ChoiceSet(id="decision"):
                    for d in Decision:
                        yield RadioButton(d.value, value=d is (report.proposed_decision or Decision.APPROVE),
                                          name=d.value)
                yield Label("Rationale (required) · enter confirms · ctrl+j new line")
                yield RationaleArea(id="rationale", soft_wrap=True, show_line_numbers=False)
                yield Label("Conditions, one per line (CONDITIONAL only)", id="conditions-label")
                yield TextArea(id="conditions", soft_wrap=True, show_line_numbers=False)
            # Outside the scrolling part: what an approval leaves unmet, the box that accepts it and what
            # the decision does stay in sight however short the terminal.
            yield Static(self._unsettled_text(), id="unsettled")
            yield Checkbox("Approve with these criteria as they stand (recorded and signed)",
                           id="accept-unmet", compact=True)
            yield Fitted("", id="consequence")
            yield Static("", id="decision-error", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Confirm", variant="primary", id="confirm", compact=True)
                # Esc cancels; Tab never lands here, so Enter after Tab cannot throw the decision away.
                yield Button("Cancel", id="cancel", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).can_focus = False
        self._fit()
        self._refresh_consequence()
        self.query_one("#rationale", TextArea).focus()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """On a short terminal (80x24) the text boxes take four lines, not five, and the scrolling part
        leaves room for what stays in sight below it (the unmet criteria, their box, what happens, the
        buttons): it scrolls, they never leave the screen."""
        lines = self.size.height or self.app.size.height
        short = lines < SHORT_SCREEN
        for area in self.query(TextArea):
            area.styles.height = SHORT_BOX if short else None  # None: the stylesheet's
        body = self.query_one("#decision-body")
        body.styles.max_height = max(BODY_MIN, lines - BELOW_BODY) if short else None

    @property
    def decision(self) -> Decision:
        pressed = self.query_one("#decision", RadioSet).pressed_button
        return Decision(pressed.name) if pressed is not None else Decision.APPROVE

    def _unsettled_text(self) -> Text:
        """The acceptance criteria an approval leaves not met, each by name (agent text: plain)."""
        unsettled = self.gate.criteria.unsettled
        text = Text(f"{gates.criteria_count(len(unsettled))} not met:", style="bold yellow")
        for c in unsettled:
            text.append(f"\n  {c.index}. ").append_text(safe(c.text)).append(f"  ({c.words})", style="bold")
        return text

    @property
    def approving(self) -> bool:
        return self.decision in (Decision.APPROVE, Decision.CONDITIONAL)

    def _accepted(self) -> tuple[str, ...]:
        """What the reviewer accepts unmet: every unsettled criterion once the box is ticked (approving)."""
        if not (self.approving and self.query_one("#accept-unmet", Checkbox).value):
            return ()
        return tuple(c.text for c in self.gate.criteria.unsettled)

    def _conditions(self) -> tuple[str, ...]:
        text = self.query_one("#conditions", TextArea).text
        return tuple(line.strip() for line in text.splitlines() if line.strip())

    @on(RadioSet.Changed)
    @on(TextArea.Changed, "#conditions")
    @on(Checkbox.Changed, "#accept-unmet")
    def _refresh_consequence(self) -> None:
        decision = self.decision
        conditional = decision is Decision.CONDITIONAL
        self.query_one("#conditions").display = conditional
        self.query_one("#conditions-label").display = conditional
        asks = self.approving and bool(self.gate.criteria.unsettled)
        self.query_one("#unsettled").display = asks
        self.query_one("#accept-unmet").display = asks
        preview = self._preview()
        # The dashboard's own word on a pause: the key that lifts it here.
        sentence = preview.sentence
        if preview.outcome.pauses_swarm:
            sentence = f"{sentence.removesuffix('.')} (R)."
        # The sentence quotes milestone names, which agents may have written: keep it plain.
        self.query_one("#consequence", Static).update(safe(f"What happens: {sentence}", "bold"))
        self.query_one("#confirm", Button).label = f"Confirm {decision.value} (^s)"

    def _fail(self, message: str, selector: str | None) -> None:
        self.query_one("#decision-error", Static).update(safe(message))  # it may quote names agents wrote
        if selector is not None:
            self.query_one(selector).focus()

    def _preview(self) -> DecisionPreview:
        """What the decision as it stands would do and what refuses it: the store's rule (gates.preview),
        never re-described here."""
        conditions = self._conditions() if self.decision is Decision.CONDITIONAL else ()
        return gates.preview(self.gate, self.decision, reviewer=self.reviewer, conditions=conditions,
                             rationale=self.query_one("#rationale", TextArea).text,
                             accept_unmet=self._accepted())

    def _refusal_text(self, refusal: StoreError, field: str | None) -> str:
        """The store's refusal as this form says it: its message; for the conditions box, how to fill it."""
        if field == "conditions" and self.decision is Decision.CONDITIONAL:
            return "CONDITIONAL needs at least one condition (one per line)."
        if field == "accept_unmet" and self.approving:
            return ("Tick the box to approve with the criteria listed above not met, or choose REVISE.")
        text = str(refusal)
        return f"{text[:1].upper()}{text[1:]}."

    def _field(self, refusal: StoreError) -> str | None:
        field = refusal.fields.get("field")
        if field == "accept_unmet":
            return "#accept-unmet"
        return f"#{field}" if field in ("rationale", "conditions") else None

    def action_confirm(self) -> None:
        refusal = self._preview().refusal  # the store's own check, before anything is signed
        if refusal is not None:
            return self._fail(self._refusal_text(refusal, refusal.fields.get("field")),
                              self._field(refusal) or "#rationale")
        rationale = self.query_one("#rationale", TextArea).text.strip()
        conditions = self._conditions() if self.decision is Decision.CONDITIONAL else ()
        assert self.gate.report is not None
        choice = DecisionInput(self.decision, rationale, conditions, self.gate.report.content_hash,
                               self._accepted())
        if self.record is None:
            self.dismiss(choice)
        elif not self._recording:  # a second Enter while the first is recorded does nothing
            self._recording = True
            self._record(choice)

    _recording = False

    @work(group="decision-record", exit_on_error=False)
    async def _record(self, choice: DecisionInput) -> None:
        """Hand the decision over and close only once it is taken: a refusal (the report changed, the key
        does not match, a limit) is said here and as a toast, and what the reviewer typed stays."""
        assert self.record is not None
        try:
            await self.record(choice)
        except StoreError as exc:
            self._fail(self._refusal_text(exc, exc.fields.get("field")), self._field(exc))
            raise  # the app's one route for refusals: a toast
        finally:
            self._recording = False
        self.dismiss(choice)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Worker messages do not bubble: hand the refusal (or anything worse) to the app's one error router.
        self.app.on_worker_state_changed(event)  # type: ignore[attr-defined]

    @on(Submitted)
    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
