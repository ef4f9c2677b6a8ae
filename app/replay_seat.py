"""The dashboard's replay mode: the swarm as it was at a point of its history, stepped, played and jumped
through, every write refused, the live seat set aside until it is left.

:class:`ReplaySeat` is mixed into the App (app/tui.py ``SwarmdeckApp``, a Textual App, which gives it
``notify``, ``run_worker``, ``push_screen`` and the rest). Its keys are ``REPLAY_BINDINGS``, listed in the
App's own ``BINDINGS``: Textual merges a class's bindings over its bases' key by key, so ctrl+r (open a
replay, leave it) must stay in one list. What replay decides without Textual is app/replay_mode.py."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from rich.text import Text
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker

from swarmdeck.store import Store
from swarmdeck.store.attention import AttentionItem
from swarmdeck.store.errors import NotFound
from swarmdeck.store.replay import Replay, ReplayPoint, Step

from .modals.seek import SeekModal
from .poller import Poller
from .replay_mode import DEFAULT_SPEED, STEP_WORDS, marker, pace, step_speed
from .screens.base import LiveScreen

#: Opens the swarm's history at an event id or a time (None: its latest event), for replay mode.
ReplayOpener = Callable[[int | datetime | None], Awaitable[Replay]]


def _step_keys(step: Step, forward: str, back: str, next_words: str, previous_words: str) -> list[Binding]:
    """The two keys of one kind of step: to the next (``forward``) and the previous (``back``)."""
    word = STEP_WORDS[step]
    return [Binding(forward, f"replay_step('{step}', True)", f"Next {word}", show=False, id=f"replay.next-{step}",
                    tooltip=f"Replay: {next_words}"),
            Binding(back, f"replay_step('{step}', False)", f"Previous {word}", show=False,
                    id=f"replay.previous-{step}", tooltip=f"Replay: {previous_words}")]


#: Replay mode's keys: active only in replay (``ReplaySeat.check_action``), listed apart in the help.
REPLAY_BINDINGS = [
    *_step_keys(Step.EVENT, "full_stop", "comma", "one event forward", "one event back"),
    *_step_keys(Step.DECISION, "g", "G", "the next decision on a gate", "the previous decision on a gate"),
    *_step_keys(Step.FAILURE, "b", "B", "the next task that failed", "the previous task that failed"),
    *_step_keys(Step.STALE, "h", "H", "the next agent whose heartbeat went stale",
                "the previous agent whose heartbeat went stale"),
    *_step_keys(Step.REPORT, "o", "O", "the next gate report submitted", "the previous gate report submitted"),
    Binding("space", "replay_play", "Play/pause", id="replay.play",
            tooltip="Replay: play the history at its real pace times the speed, or pause"),
    Binding("greater_than_sign", "replay_speed(1)", "Faster", show=False, id="replay.faster",
            tooltip="Replay: play faster"),
    Binding("less_than_sign", "replay_speed(-1)", "Slower", show=False, id="replay.slower",
            tooltip="Replay: play slower"),
    Binding("at", "replay_seek", "Jump", id="replay.seek", tooltip="Replay: jump to an event id or a time"),
    Binding("ctrl+r,escape", "leave_replay", "Leave replay", id="replay.leave",
            tooltip="Leave replay: back to the live swarm (a replay file closes)"),
]
#: The app's own workers that read the replay shown (a screen's workers all read what it shows).
_READS_OF_THE_REPLAY = frozenset({"replay-globals", "attention", "replay-move"})
REPLAY_ACTIONS = frozenset(b.action.partition("(")[0] for b in REPLAY_BINDINGS)
#: What only makes sense on the live swarm: hidden and refused in replay.
LIVE_ONLY = frozenset({"toggle_live", "poll_faster", "poll_slower"})


@dataclass
class _LiveSeat:
    """What replay mode sets aside while it shows the past, and puts back when it is left."""

    store: Store
    read_only: bool
    clock: Callable[[], float]
    live: bool
    attention_items: list[AttentionItem]
    attention_looked: bool


class ReplaySeat:
    """Replay mode, mixed into the App (module docstring)."""

    # What it expects of the App it is mixed into (app/tui.py; the attention items from
    # app/attention_seat.py): the seat it sets aside and puts back, and what it shows the point with.
    store: Store
    read_only: bool
    clock: Callable[[], float]
    live: bool
    replay_marker: str
    state_epoch: int
    poller: Poller
    _store_factory: Callable[[], Awaitable[Store]] | None
    _poll_enabled: bool
    _poller_started: bool
    attention_items: list[AttentionItem]
    _attention_looked: bool
    refresh_globals: Callable[[], Awaitable[None]]
    refresh_attention: Callable[[], Awaitable[list[AttentionItem]]]
    look_for_attention: Callable[[], None]
    verify_audit: Callable[[], None]

    def _set_up_replay(self, opener: ReplayOpener | None, at: int | datetime | None | bool,
                       sleep: Callable[[float], Awaitable[object]]) -> None:
        """Replay mode: how to open the history (None: this seat has none), where to start in it (False:
        on the live swarm), the replay once open, and what it set aside. The App's ``store_factory`` None
        with a start point: a replay file alone, which leaving closes."""
        self._replay_opener = opener
        self._replay_at = at
        self.replay: Replay | None = None
        self.replay_point: ReplayPoint | None = None
        self.replay_playing = False
        self.replay_speed = DEFAULT_SPEED
        self._live_seat: _LiveSeat | None = None
        self._replay_lock = asyncio.Lock()
        #: The reads that were under way when a replay was left and closed: their failure (a closed
        #: connection) is of a state no longer shown, not an error; the reload after leaving shows now.
        self._reading_the_past: weakref.WeakSet[Worker] = weakref.WeakSet()
        #: What play waits with (a test passes one that does not sleep).
        self._sleep = sleep

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Replay's keys only in replay; the live view's pause and poll speed only live."""
        if action in REPLAY_ACTIONS:
            return self.replay is not None
        if action in LIVE_ONLY:
            return self.replay is None
        if action == "open_replay":
            return self.replay is None and self._replay_opener is not None
        return True

    def _read_of_the_past_failed(self, worker: Worker) -> bool:
        """Whether ``worker`` failed reading the past, which is no error: in replay, a read of something
        that does not exist at the point shown (a selection made at another point, read as the replay
        moved; the reload after the move shows what does exist), or a read that the replay's closing cut
        short when it was left."""
        return (self.replay is not None and isinstance(worker.error, NotFound)) \
            or worker in self._reading_the_past

    def _replay_clock(self) -> float:
        """In replay the clock stands at the point shown: ages and staleness read as they did then."""
        assert self.replay_point is not None
        return self.replay_point.ts.timestamp()

    async def enter_replay(self, at: int | datetime | None = None) -> None:
        """Show the swarm as it was at ``at`` (an event id or a time; None: its latest event), every
        write refused; the live seat is set aside until replay is left. In replay already: go there."""
        if self.replay is not None:
            await self._move(lambda replay: replay.seek(at if at is not None else replay.point.last_id), at)
            return
        if self._replay_opener is None:
            self.notify("This seat has no history to replay", title="Replay", severity="warning")
            return
        # A first replay of a database builds its history's cache (about a minute per million events):
        # say so if the opening takes long enough to be noticed.
        notice = self.set_timer(0.5, partial(self.notify, "Reading the swarm's history: a first replay builds "
                                             "its cache (about a minute per million events)", title="Replay",
                                             timeout=10))
        try:
            replay = await self._replay_opener(at)
        finally:
            notice.stop()
        if self._store_factory is not None:
            self._live_seat = _LiveSeat(self.store, self.read_only, self.clock, self.live, self.attention_items,
                                        self._attention_looked)
        self.replay = replay
        self.read_only = True
        self.clock = self._replay_clock
        self.poller.live = False
        self.live = True  # ages follow the replay's clock, not the moment a live view was paused
        self._show(replay.point, refresh=self.is_running and bool(self.screen_stack))
        if at is not None and replay.point.event_id != at and isinstance(at, int):
            self.notify(f"No event {at} in this history: showing event {replay.point.event_id}", title="Replay",
                        severity="warning", timeout=5)

    def _show(self, point: ReplayPoint, *, refresh: bool = True) -> None:
        """Every screen shows ``point``: the marker moves, the screens load afresh."""
        assert self.replay is not None
        self.replay_point = point
        self.store = self.replay.store
        self._update_marker()
        self.state_epoch += 1
        if refresh:
            self.run_worker(self._refresh_replay_globals, group="replay-globals", exclusive=True,
                            exit_on_error=False)

    async def _refresh_replay_globals(self) -> None:
        await self.refresh_globals()
        await self.refresh_attention()

    def _update_marker(self) -> None:
        self.replay_marker = "" if self.replay_point is None else \
            marker(self.replay_point, playing=self.replay_playing, speed=self.replay_speed)

    async def _move(self, how: Callable[[Replay], Awaitable[ReplayPoint]], target: object = None,
                    nothing: str | None = None) -> None:
        """One move of the replay, one at a time; then every screen shows where it stands."""
        async with self._replay_lock:
            replay = self.replay
            if replay is None:
                return
            before = replay.point
            point = await how(replay)
            if self.replay is not replay:  # left while it moved
                return
            self._show(point)
        if point.event_id == before.event_id and nothing:
            self.notify(nothing, title="Replay", timeout=3)
        elif isinstance(target, int) and point.event_id != target:
            self.notify(f"No event {target} in this history: showing event {point.event_id}", title="Replay",
                        severity="warning", timeout=5)

    def _replay_work(self, work: Callable[[], Awaitable[None]]) -> Worker:
        return self.run_worker(work, group="replay-move", exit_on_error=False)

    def action_replay_step(self, by: str, forward: bool) -> None:
        self._stop_play()
        step = Step(by)
        word = STEP_WORDS[step]
        nothing = f"No {'later' if forward else 'earlier'} {word} in this history"
        self._replay_work(partial(self._move, lambda replay: replay.step(step, forward=forward), None, nothing))

    def action_replay_play(self) -> None:
        if self.replay_playing:
            self._stop_play()
            return
        self.replay_playing = True
        self._update_marker()
        self.run_worker(self._play, group="replay-play", exclusive=True, exit_on_error=False)

    def _stop_play(self) -> None:
        if self.replay_playing:
            self.replay_playing = False
            self.workers.cancel_group(self, "replay-play")
            self._update_marker()

    async def _play(self) -> None:
        """Event after event at their real spacing divided by the speed, an idle gap shown short
        (app/replay_mode.py ``pace``), until the last event or a key stops it."""
        try:
            while self.replay_playing and self.replay is not None:
                async with self._replay_lock:
                    replay = self.replay
                    before = replay.point
                    after = await replay.step(Step.EVENT)
                if after.event_id == before.event_id:
                    self.replay_playing = False
                    self._update_marker()
                    self.notify("The end of this history: play stopped", title="Replay", timeout=3)
                    return
                await self._sleep(pace(before.ts, after.ts, self.replay_speed))
                if self.replay is replay:
                    self._show(after)
        finally:
            # Stopped between a step and its showing: show where the replay now stands.
            replay = self.replay
            if replay is not None and self.replay_point != replay.point:
                self._show(replay.point)

    def action_replay_speed(self, direction: int) -> None:
        self.replay_speed = step_speed(self.replay_speed, direction)
        self._update_marker()
        self.notify(f"Play at {self.replay_speed}× real time", title="Replay", timeout=1.5)

    def _focused_events(self) -> list[tuple[int, Text]]:
        """The events listed where the focus is (an agent's activity, a task's history), to pick one from."""
        screen = self.screen
        return screen.focused_events() if isinstance(screen, LiveScreen) else []

    def action_replay_seek(self) -> None:
        self._stop_play()
        day = self.replay_point.ts if self.replay_point is not None else None
        self.push_screen(SeekModal(self._focused_events(), day=day, title="Jump to"), self._go_to_target)

    def action_open_replay(self) -> None:
        """Replay from now, or, from a focused activity log or task history, from the event picked in it."""
        events = self._focused_events()
        if events:
            self.push_screen(SeekModal(events, title="Replay from"), self._go_to_target)
        else:  # keys typed with it wait for the replay (a step, play): on the live seat they mean nothing
            self.hold_keys_for(self._replay_work(partial(self.enter_replay, None)))

    def _go_to_target(self, target: int | datetime | None) -> None:
        if target is not None:
            self.hold_keys_for(self._replay_work(partial(self.enter_replay, target)))

    async def action_leave_replay(self) -> None:
        await self.leave_replay()

    async def leave_replay(self) -> None:
        """Back to the live swarm as it was left (paused or live); a replay file alone closes."""
        replay = self.replay
        if replay is None:
            return
        self._stop_play()
        seat = self._live_seat
        if seat is None:
            self.exit(0)
            return
        async with self._replay_lock:
            self._reading_the_past.update(w for w in self.workers if not w.is_finished and
                                          (isinstance(w.node, Screen) or w.group in _READS_OF_THE_REPLAY))
            self.replay, self.replay_point, self._live_seat = None, None, None
            self.store, self.read_only, self.clock = seat.store, seat.read_only, seat.clock
            self.attention_items, self._attention_looked = seat.attention_items, seat.attention_looked
            self.live = self.poller.live = seat.live
            self.replay_marker = ""
            self.state_epoch += 1
        try:
            await replay.close()
        finally:
            await self.refresh_globals()
            self.verify_audit()
            self.look_for_attention()
            if self._poll_enabled and not self._poller_started:
                await self.poller.start()
                self._poller_started = True
            elif self._poll_enabled:
                self.poller.poll_now()
        self.notify("Back to the live swarm", title="Replay", timeout=2)
