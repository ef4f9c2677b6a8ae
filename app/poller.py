"""The live poller: asks the store what changed since the last event id and tells the app."""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

from textual.message import Message
from textual.timer import Timer
from textual.worker import Worker

from swarmdeck.store import Event

if TYPE_CHECKING:
    from .tui import SwarmdeckApp

INTERVALS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


class StoreChanged(Message):
    """New events in the change feed, oldest first."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


class Poller:
    """One cheap query per tick (an index probe when nothing changed); skips a tick while busy."""

    def __init__(self, app: SwarmdeckApp, interval: float = 1.0) -> None:
        self.app = app
        self.interval = interval
        self.cursor = 0
        self.live = True
        #: The poll under way, if any: a tick while it runs is skipped.
        self._worker: Worker[None] | None = None
        self._timer: Timer | None = None
        #: Recent tick costs in milliseconds, for the store-health figures.
        self.costs: deque[float] = deque(maxlen=600)

    async def start(self) -> None:
        self.cursor = await self.app.store.latest_event_id()
        self._timer = self.app.set_interval(self.interval, self.tick, name="poller")

    def set_interval(self, interval: float) -> None:
        self.interval = interval
        if self._timer is None:
            return  # not started (an app opened with poll=False): the new interval applies on start()
        self._timer.stop()
        self._timer = self.app.set_interval(interval, self.tick, name="poller")

    def step_interval(self, direction: int) -> float:
        """Faster (-1) or slower (+1) through the fixed steps."""
        current = min(range(len(INTERVALS)), key=lambda i: abs(INTERVALS[i] - self.interval))
        index = max(0, min(len(INTERVALS) - 1, current + direction))
        self.set_interval(INTERVALS[index])
        return self.interval

    def tick(self) -> None:
        if self.live:
            self.poll_now()

    def poll_now(self) -> None:
        """Poll once, now, even while the live view is paused (after the user's own action)."""
        if self._worker is None or self._worker.is_finished:
            # The method, not a coroutine made now: a worker cancelled before it starts (a tick as the app
            # quits) would leave that coroutine never awaited, and its flag set for good.
            self._worker = self.app.run_worker(self._poll, group="poll", exit_on_error=False)

    async def _poll(self) -> None:
        started = time.perf_counter()
        events = await self.app.store.changes_since(self.cursor, limit=5000)
        self.costs.append((time.perf_counter() - started) * 1000)
        if events:
            self.cursor = events[-1].id
            self.app.post_message(StoreChanged(events))
