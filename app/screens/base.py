"""What every live screen shares: the status bar, its own change-feed cursor, and catching up."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker

from swarmdeck.store import Event, Store
from swarmdeck.widgets.status_bar import StatusBar

from ..poller import StoreChanged

if TYPE_CHECKING:
    from ..tui import SwarmdeckApp

#: Past this many unseen events a screen reloads instead of replaying them.
CATCH_UP_LIMIT = 5000


def empty_state(what: str, steps: list[tuple[str, str]]) -> Text:
    """What an empty screen says: what is missing, then each way to add it (a command, and what it does).
    Every screen words its own, in the same shape, so a person new to swarmdeck always has a next step."""
    text = Text(what, style="bold")
    text.append("\n")
    for command, why in steps:
        text.append("\n  ")
        text.append(command, style="bold cyan")
        text.append(f"\n    {why}\n", style="dim")
    return text


class LiveScreen(Screen):
    """A screen that loads once, then applies only what the change feed says changed.

    Each screen keeps its own cursor into the feed. Only the visible screen is told of changes;
    a screen coming back into view catches up from its cursor (or reloads after a long absence).
    Store calls run in one worker at a time, so input is never blocked by a query.
    """

    SCREEN_NAME = ""
    #: Actions that change the swarm; hidden and refused in a read-only seat.
    MUTATING: frozenset[str] = frozenset()

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0
        self._syncing = False
        self._dirty = False
        self._loaded = False
        self._delivered: list[Event] = []
        self._view_timers: list[Timer] = []
        #: The app replaced the state shown (replay moved, or was entered or left): load afresh.
        self._replaced = False

    @property
    def sd(self) -> SwarmdeckApp:
        return self.app  # type: ignore[return-value]

    @property
    def store(self) -> Store:
        return self.sd.store

    def status_bar(self) -> StatusBar:
        bar = StatusBar()
        bar.screen_name = self.SCREEN_NAME
        return bar

    def on_mount(self) -> None:
        bar = self.query_one(StatusBar)
        bar.title = self.sd.db_title
        bar.read_only = self.sd.read_only
        for attribute in ("pending_reviews", "swarm_paused", "live", "interval", "audit_broken", "attention",
                          "overdue", "project_complete"):
            self.watch(self.app, attribute, _mirror(bar, attribute))
        self.watch(self.app, "replay_marker", _mirror(bar, "replay"))
        self.watch(self.app, "state_epoch", self._state_replaced, init=False)
        self.run_worker(self._initial_load, group="sync", exit_on_error=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.sd.read_only and action in self.MUTATING:
            return False  # hidden from the footer and the palette, refused if pressed (None would show it greyed)
        return True

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Worker messages do not bubble: hand this screen's workers to the app's one error router,
        # or a refused store call (say, a gate decision on a report that changed) would vanish silently.
        self.sd.on_worker_state_changed(event)

    async def _initial_load(self) -> None:
        self._syncing = True
        try:
            self.seen = await self.store.latest_event_id()
            await self.load()
            self._loaded = True
        finally:
            self._syncing = False
            await self.sd.first_screen_loaded()
        if self._dirty:
            self.kick()

    # -- replay ------------------------------------------------------------------------------------

    def _state_replaced(self, _epoch: int) -> None:
        """The app shows another state (replay mode, app/replay_seat.py): reload now if in view, else on
        resume."""
        self._replaced = True
        self._delivered = []
        self.query_one(StatusBar).read_only = self.sd.read_only
        if self.is_current:
            self.refresh_bindings()  # what read-only hides comes and goes with replay
            self.kick()  # during the first load: once it ends

    def focused_events(self) -> list[tuple[int, Text]]:
        """The events of a focused event list, as (id, plain line), for the replay key to pick from;
        none here. A screen that lists events overrides it."""
        return []

    # -- the change feed ---------------------------------------------------------------------------

    @on(StoreChanged)
    def _on_store_changed(self, message: StoreChanged) -> None:
        message.stop()
        if message.events and message.events[-1].id > self.seen:
            # Keep what the poller already read: the catch-up uses it instead of asking again.
            self._delivered.extend(message.events)
            self.kick()

    def every(self, seconds: float, callback: Callable[[], object], *, name: str) -> Timer:
        """A timer for what this screen draws (ticking ages, chart refreshes): paused while the screen is
        out of view, where it has nothing to draw on."""
        timer = self.set_interval(seconds, callback, name=name)
        self._view_timers.append(timer)
        return timer

    def on_screen_suspend(self, event: events.ScreenSuspend) -> None:
        for timer in self._view_timers:
            timer.pause()

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        for timer in self._view_timers:
            timer.resume()
        if self._replaced:
            self.refresh_bindings()
        if self._loaded:
            self.kick()

    def kick(self) -> None:
        """Catch up with the feed: one worker at a time, coalescing bursts of changes."""
        if self._syncing:
            self._dirty = True
            return
        self._syncing = True
        self.run_worker(self._catch_up, group="sync", exit_on_error=False)

    async def _catch_up(self) -> None:
        try:
            while True:
                self._dirty = False
                if self._replaced:
                    self._replaced = False
                    self._delivered = []
                    self.seen = await self.store.latest_event_id()
                    await self.load()
                    if not self._dirty:
                        break
                    continue
                delivered, self._delivered = self._delivered, []
                fresh = [e for e in delivered if e.id > self.seen]
                if fresh and fresh[0].id == self.seen + 1:
                    batch = fresh  # contiguous with what this screen has seen: no need to query
                else:
                    batch = await self.store.changes_since(self.seen, limit=CATCH_UP_LIMIT)
                if len(batch) >= CATCH_UP_LIMIT:
                    self.seen = await self.store.latest_event_id()
                    await self.load()
                elif batch:
                    self.seen = batch[-1].id
                    await self.apply(batch)
                if not self._dirty:
                    break
        finally:
            self._syncing = False

    # -- what each screen implements ---------------------------------------------------------------------

    async def load(self) -> None:
        """Fetch everything the screen shows (first paint, or after a long absence)."""

    async def apply(self, events: list[Event]) -> None:
        """Fetch and update only what these events touched."""


def _mirror(bar: StatusBar, attribute: str):
    """A one-argument watcher copying an app reactive onto the status bar."""

    def update(value: object) -> None:
        setattr(bar, attribute, value)

    return update
