"""The live poller: asks the store what changed since the last event id and tells the app."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING

from textual.message import Message
from textual.worker import Worker

from swarmdeck.store import Event

if TYPE_CHECKING:
    from .tui import SwarmdeckApp

INTERVALS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
#: Seconds between two polls at least, however often the store wakes the poller (a swarm writing
#: hundreds of events a second is read about 20 times a second, not once per event).
WAKE_GAP_S = 0.05


class StoreChanged(Message):
    """New events in the change feed, oldest first."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


class Poller:
    """One cheap query per poll (an index probe when nothing changed), run as soon as the store says
    events may have come (``Store.wait_for_changes``: PostgreSQL's LISTEN/NOTIFY, or a commit by this
    process on SQLite) and at the latest every ``interval`` seconds; never more often than every
    ``WAKE_GAP_S`` unless asked (``poll_now``), so a busy swarm's stream of events is read in batches."""

    def __init__(self, app: SwarmdeckApp, interval: float = 1.0) -> None:
        self.app = app
        self.interval = interval
        self.cursor = 0
        self.live = True
        #: The poll under way, if any (the loop's, or a one-off ``poll_now`` before the loop runs).
        self._worker: Worker[None] | None = None
        #: The loop's worker once started, and what wakes it early (the user's own action).
        self._loop: Worker[None] | None = None
        self._kick: asyncio.Event | None = None
        #: A one-off poll was asked for while one ran (``poll_now`` before the loop runs).
        self._asked_again = False
        #: Recent poll costs in milliseconds, for the store-health figures.
        self.costs: deque[float] = deque(maxlen=600)

    async def start(self) -> None:
        self.cursor = await self.app.store.latest_event_id()
        self._kick = asyncio.Event()
        self._loop = self.app.run_worker(self._run, group="poll", name="poller", exit_on_error=False)

    def set_interval(self, interval: float) -> None:
        self.interval = interval
        if self._kick is not None:
            self._kick.set()  # the wait under way may be for the old interval: poll, then wait anew

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
        if self._kick is not None and self._loop is not None and not self._loop.is_finished:
            self._kick.set()
            return
        if self._worker is None or self._worker.is_finished:
            # The method, not a coroutine made now: a worker cancelled before it starts (a tick as the app
            # quits) would leave that coroutine never awaited, and its flag set for good.
            self._worker = self.app.run_worker(self._polls_asked, group="poll", exit_on_error=False)
        else:  # the poll under way may have read before what is asked to show now: one more after it
            self._asked_again = True

    async def _polls_asked(self) -> None:
        """One-off polls: this one, and one more each time another was asked for while it ran."""
        while True:
            self._asked_again = False
            await self._poll()
            if not self._asked_again:
                return

    async def _run(self) -> None:
        """Poll, wait for a wake-up (or the interval, or the user), poll again ... until the app stops."""
        kick = self._kick
        assert kick is not None
        last = -float("inf")
        failed = False
        while True:
            asked = kick.is_set()
            kick.clear()
            if asked or self.live:
                gap = last + WAKE_GAP_S - time.monotonic()
                if gap > 0 and not asked:
                    await asyncio.sleep(gap)
                last = time.monotonic()
                # Each poll a worker of its own, as each tick's was: one that fails is shown by the
                # app (on_worker_state_changed) and the next tries again.
                self._worker = self.app.run_worker(self._poll, group="poll", exit_on_error=False)
                try:
                    await self._worker.wait()
                    failed = False
                except Exception:  # noqa: BLE001 - WorkerFailed: already shown
                    failed = True
            waits = [asyncio.ensure_future(kick.wait())]
            if self.live and not failed:
                waits.append(asyncio.ensure_future(self._wait_for_changes()))
            try:
                await asyncio.wait(waits, timeout=self.interval, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
                await asyncio.gather(*waits, return_exceptions=True)

    async def _wait_for_changes(self) -> None:
        """The store's wake-up; one that fails (a lost connection) waits out the interval instead."""
        started = time.monotonic()
        try:
            await self.app.store.wait_for_changes(self.cursor, self.interval)
        except Exception:  # noqa: BLE001 - only a wake-up: the poll says what is wrong
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    async def _poll(self) -> None:
        started = time.perf_counter()
        events = await self.app.store.changes_since(self.cursor, limit=5000)
        self.costs.append((time.perf_counter() - started) * 1000)
        if events:
            self.cursor = events[-1].id
            self.app.post_message(StoreChanged(events))
