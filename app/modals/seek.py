"""`@` in replay (and the replay key on an activity log or a task's history): go to an event id or a time,
or pick one of the events the screen listed."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from ..replay_mode import parse_target


class SeekModal(ModalScreen[int | datetime | None]):
    """Returns an event id or a time to replay at, or None to stay. ``events`` are (event id, line) pairs,
    the lines already made plain by the screen that drew them (agent text is never markup here either)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="modal.cancel")]
    AUTO_FOCUS = "#seek-input"

    def __init__(self, events: list[tuple[int, Text]] | None = None, *, day: datetime | None = None,
                 title: str = "Replay at") -> None:
        super().__init__()
        self.events = list(events or [])
        self.day = day
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide" if self.events else "dialog", id="seek-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(placeholder="event id or time: 1234, 14:32:05, 2026-12-03T14:32Z, 2h", id="seek-input")
            yield Static("", id="seek-error", classes="error")
            if self.events:
                yield Label("or pick an event (enter):", classes="dim")
                options = OptionList(*(Option(line, id=str(event_id)) for event_id, line in self.events),
                                     id="seek-events")
                yield options
            yield Label("enter to go there · esc to cancel", classes="dim")

    def on_mount(self) -> None:
        if self.events:  # opened from a list of events: picking one is what a person came for
            events = self.query_one("#seek-events", OptionList)
            events.highlighted = len(self.events) - 1  # the latest: the one a person most often means
            events.focus()

    @on(Input.Submitted, "#seek-input")
    def _typed(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            if self.events:
                self.query_one("#seek-events", OptionList).focus()
            return
        try:
            target = parse_target(event.value, day=self.day)
        except ValueError as exc:
            self.query_one("#seek-error", Static).update(Text(str(exc), style="bold red"))
            return
        self.dismiss(target)

    @on(OptionList.OptionSelected, "#seek-events")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        assert event.option.id is not None
        self.dismiss(int(event.option.id))
