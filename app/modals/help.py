"""`?`: every key, on every screen."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ..keymap import keys_of
from .inbox import InboxModal


def _key_name(key: str) -> str:
    names = {"question_mark": "?", "slash": "/", "plus": "+", "equals_sign": "=", "minus": "-",
             "right_square_bracket": "]", "left_square_bracket": "[", "escape": "esc", "full_stop": ".",
             "comma": ",", "greater_than_sign": ">", "less_than_sign": "<", "at": "@"}
    return ", ".join(names.get(k, k) for k in key.split(","))


class HelpModal(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss(None)", "Close", id="modal.close")]

    def compose(self) -> ComposeResult:
        every = [b for b in self.app.BINDINGS if not (isinstance(b, Binding) and (b.id or "").startswith("replay."))]
        sections = [("Everywhere", every)]
        for name, screen in self.app.MODES.items():
            # A read-only seat (and a replay) lists only what it can do: the palette's rule (app/commands.py).
            refused = getattr(screen, "MUTATING", frozenset()) if self.app.read_only else frozenset()
            bindings = [b for b in getattr(screen, "BINDINGS", []) if getattr(b, "action", None) not in refused]
            sections.append((getattr(screen, "SCREEN_NAME", name), bindings))
        sections.append(("Inbox (i)", InboxModal.BINDINGS))
        replay = [b for b in self.app.BINDINGS if isinstance(b, Binding) and (b.id or "").startswith("replay.")]
        sections.append(("Replay (ctrl+r: the swarm as it was; nothing can be changed there)", replay))
        with Vertical(classes="dialog wide"):
            yield Label("Keys", classes="dialog-title")
            with VerticalScroll():
                for title, bindings in sections:
                    table = Table(title=title, title_justify="left", show_header=False, box=None, expand=True)
                    table.add_column(width=14, style="bold")
                    table.add_column(ratio=1)  # only the descriptions stretch: every section lines up
                    for b in bindings:
                        if isinstance(b, Binding):
                            table.add_row(_key_name(keys_of(b, getattr(self.app, "keymap", {}))),
                                          b.tooltip or b.description)
                    yield Static(table)
                yield Static("ctrl+p opens the command palette: every action, by name.", classes="dim")
            yield Label("esc to close", classes="dim")
