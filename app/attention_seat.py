"""What waits on a person, at the dashboard: a look every few seconds and soon after a change, the status
bar's counts, a toast and a bell (and, opted in, a desktop notification) for each new item, and the inbox
that goes to the row of the item picked.

:class:`AttentionSeat` is mixed into the App (app/tui.py ``SwarmdeckApp``, a Textual App, which gives it
``notify``, ``run_worker``, ``push_screen`` and the rest). What counts as waiting on a person is decided
without Textual in store/attention.py; the desktop notification's bytes are app/notify.py's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.widgets import Input

from swarmdeck.store import Store
from swarmdeck.store.attention import AttentionItem, Urgency, attention, counts
from swarmdeck.store.replay import Replay

from . import preferences
from .modals.inbox import MODE_OF, InboxModal
from .notify import desktop_sequence
from .screens.memory import MemoryScreen

#: Seconds between looks at what waits on a person (an agent goes silent with no event to say so).
ATTENTION_EVERY_S = 5.0
#: After the change feed brings something, the next look comes within this many seconds (one look for
#: however many polls brought changes meanwhile: a busy swarm changes something every poll).
ATTENTION_AFTER_CHANGE_S = 1.0
#: Toasts for new attention items per look at most; the rest are counted in one more.
ATTENTION_TOASTS = 3


class AttentionSeat:
    """What waits on a person, mixed into the App (module docstring)."""

    # What it expects of the App it is mixed into (app/tui.py; the replay from app/replay_seat.py).
    store: Store
    clock: Callable[[], float]
    replay: Replay | None
    preferences_path: Path | None
    #: The App's reactives the status bar shows: counts by urgency, and how many are overdue.
    attention: tuple[tuple[str, int, int], ...]
    overdue: int

    def _set_up_attention(self, desktop_notify: bool | None) -> None:
        #: Whether a new attention item is also a desktop notification through the terminal (opt-in:
        #: ``--notify``, or the palette's command, remembered in the preferences; None: as remembered).
        self.desktop_notify = desktop_notify
        #: The attention items seen at the last look, by key: a new key is a toast and a bell.
        self.attention_items: list[AttentionItem] = []
        self._attention_looked = False
        self._attention_stale = False

    @property
    def attention_keys(self) -> set[str]:
        """The keys of the items seen at the last look: a key not among them is news."""
        return {i.key for i in self.attention_items}

    def start_looking(self) -> None:
        """The first look now, then what time alone changes (staleness) every ``ATTENTION_EVERY_S``, and
        what the change feed brought within ``ATTENTION_AFTER_CHANGE_S``."""
        self.look_for_attention()
        self.set_interval(ATTENTION_EVERY_S, self._look_on_a_timer)
        self.set_interval(ATTENTION_AFTER_CHANGE_S, self._look_if_changed)

    def look_soon(self) -> None:
        """The change feed brought something: the next look comes within ``ATTENTION_AFTER_CHANGE_S``."""
        self._attention_stale = True

    def _look_on_a_timer(self) -> None:
        if self.replay is None:  # in replay nothing ages: the clock stands at the point
            self.look_for_attention()

    def _look_if_changed(self) -> None:
        if self._attention_stale:
            self._attention_stale = False
            self.look_for_attention()

    def look_for_attention(self) -> None:
        """Look at what waits on a person, in a worker (the latest look replaces one still running)."""
        self.run_worker(self.refresh_attention, group="attention", exclusive=True, exit_on_error=False)

    async def refresh_attention(self) -> list[AttentionItem]:
        """The attention items now; each new one since the last look is a toast, and any new one is a
        bell (one per look). What already waits when the app starts is not rung: the inbox has it."""
        items = await attention(self.store, now=self.clock())
        if self.replay is not None:  # what waited then is history, not news: no toast, no bell
            self._attention_looked = True
            self.attention, self.overdue = counts(items)
            return items
        new = [i for i in items if i.key not in self.attention_keys] if self._attention_looked else []
        self._attention_looked = True
        self.attention_items = items
        self.attention, self.overdue = counts(items)
        if new:
            self.bell()
            for item in new[:ATTENTION_TOASTS]:
                self.notify(item.title, title=f"Needs a person ({item.urgency}): i for the inbox",
                            severity="error" if item.urgency is Urgency.CRITICAL else "warning", timeout=10)
                if self.desktop_notify:
                    self._desktop_notification(f"swarmdeck: {item.urgency}", item.title)
            if len(new) > ATTENTION_TOASTS:
                self.notify(f"{len(new) - ATTENTION_TOASTS} more item(s) need a person: i for the inbox",
                            severity="warning", timeout=10)
        return items

    def _desktop_notification(self, title: str, body: str) -> None:
        """Ask the terminal for a desktop notification (app/notify.py: the sequence its terminal reads,
        wrapped for tmux; agent text made one plain line first). Written through the driver, as Textual's
        own bell and clipboard are, so it goes out between frames, never inside one."""
        if self._driver is not None:
            self._driver.write(desktop_sequence(title, body))

    def action_toggle_desktop_notify(self) -> None:
        self.desktop_notify = not self.desktop_notify
        self.notify("Desktop notifications on: the terminal is asked to show one for each new item "
                    "(in tmux: set -g allow-passthrough on)" if self.desktop_notify
                    else "Desktop notifications off", title="Notifications", timeout=6)
        if self.preferences_path is None:
            return
        saved, _ = preferences.load(self.preferences_path)
        try:
            preferences.save(self.preferences_path,
                             saved.model_copy(update={"desktop_notifications": self.desktop_notify}))
        except OSError as exc:
            self.notify(f"Not remembered: cannot write {self.preferences_path} ({exc.strerror or exc})",
                        title="Preferences", severity="warning", timeout=8)

    async def action_inbox(self) -> None:
        now = self.clock()
        self.push_screen(InboxModal(await attention(self.store, now=now), now), self._go_to)

    def _go_to(self, item: AttentionItem | None) -> None:
        """The inbox's choice: the screen that shows it, the cursor on it once its rows are in."""
        if item is None:
            return
        self.switch_mode(MODE_OF[item.entity])
        if item.entity == "memory":  # the swarm's own report: its entry, found by its key
            self.call_after_refresh(self._search_memory, str(item.entity_id).rpartition("/")[2])
        elif item.entity_id is not None:
            self._reveal(str(item.entity_id), tries=30)

    def _search_memory(self, query: str) -> None:
        if isinstance(self.screen, MemoryScreen):
            self.screen.query_one("#memory-query", Input).value = query

    def _reveal(self, key: str, tries: int) -> None:
        if not self.is_running:
            return
        table = getattr(self.screen, "table", None)
        if table is not None and table.has(key):
            table.move_cursor(row=table.get_row_index(key))
        elif tries > 0:  # the screen is still loading its rows
            self.set_timer(0.1, lambda: self._reveal(key, tries - 1))
        else:
            self.notify(f"{key} is not shown here with the current filter", timeout=4)
