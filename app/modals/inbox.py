"""The attention inbox: everything waiting on a person, most urgent first, newest first; Enter goes to
it (the gate, the task, the agent). Reachable from every screen (`i`); items leave it as their causes
go (it follows the store while open)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from swarmdeck.store.attention import AttentionItem, Urgency

from ..format import age
from swarmdeck.widgets.text import cell, safe

#: Where Enter on an item goes: the dashboard mode that shows its entity.
MODE_OF = {"milestone": "milestones", "task": "queue", "agent": "agents", "swarm": "milestones", "memory": "memory"}

_STYLE = {Urgency.CRITICAL: "bold white on red", Urgency.HIGH: "bold magenta", Urgency.NOTICE: ""}

URGENCY_W, SINCE_W = 8, 6

#: Seconds between refreshes from the app's latest look while the inbox is open.
REFRESH_S = 2.0


class InboxModal(ModalScreen[AttentionItem | None]):
    """Dismissed with the item to go to, or None."""

    BINDINGS = [
        Binding("escape,q,i", "dismiss(None)", "Close", id="modal.close"),
        Binding("enter", "go", "Go to it", id="modal.go"),
        Binding("j", "cursor_down", "Down", show=False, id="modal.down"),
        Binding("k", "cursor_up", "Up", show=False, id="modal.up"),
    ]

    DEFAULT_CSS = """
    InboxModal { align: center middle; }
    InboxModal > Vertical { width: 90%; max-width: 140; height: auto; max-height: 80%; border: thick $accent;
                            background: $surface; padding: 0 1; }
    InboxModal DataTable { height: auto; max-height: 1fr; }
    """

    def __init__(self, items: list[AttentionItem], now: float) -> None:
        super().__init__()
        self.items = items
        self.now = now

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("", id="inbox-title", classes="dialog-title")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="inbox-table")
            yield Label("enter: go to it · esc: close · items leave when their cause is gone", classes="dim")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Urgency", width=URGENCY_W, key="urgency")
        table.add_column("Since", width=SINCE_W, key="since")
        table.add_column("What needs a person", key="what")
        self._fill()
        self.set_interval(REFRESH_S, self._refresh)

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        selected = self._selected_key()
        table.clear()
        # The last column takes the width left, and an item's words wrap in it: none is cut off.
        what = table.columns["what"]
        what.width = max(20, table.scrollable_content_region.width - URGENCY_W - SINCE_W - 3 * 2 * table.cell_padding)
        what.auto_width = False
        for item in self.items:
            table.add_row(cell(str(item.urgency), _STYLE[item.urgency]), cell(age(item.age(self.now))),
                          safe(item.title), key=item.key, height=None)  # a Text that wraps (a cell would not)
        title = self.query_one("#inbox-title", Label)
        title.update(f"Needs a person: {len(self.items)} item(s)" if self.items
                     else "Nothing waits on a person")
        keys = [i.key for i in self.items]
        if selected in keys:
            table.move_cursor(row=keys.index(selected))

    def on_resize(self) -> None:
        self._fill()

    def _selected_key(self) -> str | None:
        table = self.query_one(DataTable)
        if not self.items or table.row_count == 0:
            return None
        row = table.cursor_row
        return self.items[row].key if 0 <= row < len(self.items) else None

    def _refresh(self) -> None:
        """What the app saw at its latest look (it looks again within a second of a change, and every
        few seconds): the inbox asks the store nothing of its own while open."""
        self.now = self.app.clock()  # type: ignore[attr-defined]
        self.items = list(self.app.attention_items)  # type: ignore[attr-defined]
        self._fill()

    def action_go(self) -> None:
        key = self._selected_key()
        item = next((i for i in self.items if i.key == key), None)
        if item is not None:
            self.dismiss(item)

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_go()

    def action_cursor_down(self) -> None:
        self.query_one(DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(DataTable).action_cursor_up()
