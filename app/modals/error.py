"""Must-read errors: anything unexpected that reached the UI."""

from __future__ import annotations

import traceback

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from swarmdeck.widgets.text import safe


class ErrorModal(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter", "dismiss(None)", "Close", id="modal.close")]

    def __init__(self, error: BaseException | None) -> None:
        super().__init__()
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide error"):
            yield Label("Something went wrong", classes="dialog-title")
            yield Static(safe(f"{type(self.error).__name__}: {self.error}"))
            with VerticalScroll(classes="traceback"):
                yield Static(safe("".join(traceback.format_exception(self.error)) if self.error else ""),
                             classes="dim")
            yield Button("Close", variant="primary", id="close")

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)
