"""The swarmdeck App: modes, global keys, palette, store lifecycle and error routing."""

from __future__ import annotations

import asyncio
import inspect
import os
import tempfile
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen
from textual.theme import Theme
from textual.widgets import Input
from textual.worker import Worker, WorkerState

from swarmdeck.store import Store, rules, signing
from swarmdeck.store.attention import AttentionItem, Urgency, attention, counts
from swarmdeck.store.embed import Embedder
from swarmdeck.store.errors import NotFound, StoreError
from swarmdeck.store.events import Entity
from swarmdeck.store.indexer import Indexer
from swarmdeck.store.replay import Replay, ReplayPoint, Step
from swarmdeck.store.signing import Signer
from swarmdeck.widgets.text import scrub

from . import preferences
from .commands import COMMAND_PROVIDERS
from .key_order import KeysInOrder
from .keymap import unknown_ids
from .format import refusal
from .modals.error import ErrorModal
from .modals.help import HelpModal
from .modals.inbox import MODE_OF, InboxModal
from .notify import desktop_sequence
from .modals.passphrase import PassphraseModal
from .modals.seek import SeekModal
from .replay_mode import DEFAULT_SPEED, STEP_WORDS, marker, pace, step_speed
from .poller import Poller, StoreChanged
from .screens.agents import AgentsScreen
from .screens.base import LiveScreen
from .screens.charts import ChartsScreen
from .screens.memory import MemoryScreen
from .screens.milestones import MilestonesScreen
from .screens.queue import QueueScreen

STYLES = Path(__file__).parent.parent / "styles"

StoreFactory = Callable[[], Awaitable[Store]]
#: Opens the swarm's history at an event id or a time (None: its latest event), for replay mode.
ReplayOpener = Callable[[int | datetime | None], Awaitable[Replay]]

#: How long the app waits at exit for its cancelled workers to end before it closes their stores.
WORKERS_END_TIMEOUT = 10.0

#: Seconds between looks at what waits on a person (an agent goes silent with no event to say so).
ATTENTION_EVERY_S = 5.0
#: After the change feed brings something, the next look comes within this many seconds (one look for
#: however many polls brought changes meanwhile: a busy swarm changes something every poll).
ATTENTION_AFTER_CHANGE_S = 1.0
#: Toasts for new attention items per look at most; the rest are counted in one more.
ATTENTION_TOASTS = 3


def _step_keys(step: Step, forward: str, back: str, next_words: str, previous_words: str) -> list[Binding]:
    """The two keys of one kind of step: to the next (``forward``) and the previous (``back``)."""
    word = STEP_WORDS[step]
    return [Binding(forward, f"replay_step('{step}', True)", f"Next {word}", show=False, id=f"replay.next-{step}",
                    tooltip=f"Replay: {next_words}"),
            Binding(back, f"replay_step('{step}', False)", f"Previous {word}", show=False,
                    id=f"replay.previous-{step}", tooltip=f"Replay: {previous_words}")]


#: Replay mode's keys: active only in replay (``SwarmdeckApp.check_action``), listed apart in the help.
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


async def _close_all(stores: list[Store]) -> None:
    """Close every store, the last opened first, even if closing one fails."""
    if not stores:
        return
    try:
        await stores[-1].close()
    finally:
        await _close_all(stores[:-1])


class SwarmdeckApp(KeysInOrder[int]):
    """Mission control: milestones and gates (1), the task queue (2), the agents (3), memory (4), charts (5)."""

    TITLE = "swarmdeck"
    CSS_PATH = [STYLES / f"{name}.tcss" for name in ("app", "milestones", "queue", "agents", "memory", "charts")]
    MODES = {"milestones": MilestonesScreen, "queue": QueueScreen, "agents": AgentsScreen, "memory": MemoryScreen,
             "charts": ChartsScreen}
    DEFAULT_MODE = "milestones"
    COMMANDS = App.COMMANDS | COMMAND_PROVIDERS

    BINDINGS = [
        Binding("1", "switch_mode('milestones')", "Milestones", show=False, id="app.milestones",
                tooltip="Milestones and gate review"),
        Binding("2", "switch_mode('queue')", "Queue", show=False, id="app.queue", tooltip="The task queue"),
        Binding("3", "switch_mode('agents')", "Agents", show=False, id="app.agents",
                tooltip="Agents and heartbeats"),
        Binding("4", "switch_mode('memory')", "Memory", show=False, id="app.memory",
                tooltip="Search the swarm's memory"),
        Binding("5", "switch_mode('charts')", "Charts", show=False, id="app.charts",
                tooltip="Performance charts"),
        Binding("p", "toggle_live", "Pause", id="app.pause", tooltip="Pause or resume the live view"),
        Binding("plus,equals_sign", "poll_faster", "Faster", show=False, id="app.poll-faster"),
        Binding("minus", "poll_slower", "Slower", show=False, id="app.poll-slower"),
        Binding("i", "inbox", "Inbox", show=False, id="app.inbox", tooltip="What waits on a person"),
        Binding("ctrl+r", "open_replay", "Replay", show=False, id="app.replay",
                tooltip="Replay the swarm's history: from now, or from the event picked in a focused activity or task "
                        "history"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="app.quit-anywhere"),
        *REPLAY_BINDINGS,
    ]

    pending_reviews: reactive[int] = reactive(0)
    swarm_paused: reactive[str] = reactive("")
    project_complete: reactive[bool] = reactive(False)
    audit_broken: reactive[str] = reactive("")  # "AUDIT TRAIL BROKEN at event N" once it is, for good
    #: The status bar's counts of what waits on a person (widgets/status_bar.py), from the last look.
    attention: reactive[tuple[tuple[str, int, int], ...]] = reactive(())
    overdue: reactive[int] = reactive(0)
    live: reactive[bool] = reactive(True)
    interval: reactive[float] = reactive(1.0)
    #: The status bar's "REPLAY 14:32:05 · event 1234 task.failed" while in replay; "" on the live swarm.
    replay_marker: reactive[str] = reactive("")
    #: Moves on whenever the state shown is replaced (a replay moved, or was entered or left): every
    #: screen loads afresh, the visible one now, the others when they come back into view.
    state_epoch: reactive[int] = reactive(0)

    def __init__(
        self,
        store_factory: StoreFactory | None,
        *,
        title: str = "",
        reviewer: str = "reviewer",
        read_only: bool = False,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
        on_ready: Callable[[SwarmdeckApp], Awaitable[None]] | None = None,
        poll: bool = True,
        embedder: Embedder | None = None,
        signer: Signer | None = None,
        keymap: Mapping[str, str] | None = None,
        key_folder: Path | None = None,
        preferences_path: Path | None = None,
        desktop_notify: bool | None = None,
        replay_opener: ReplayOpener | None = None,
        replay_at: int | datetime | None | bool = False,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        super().__init__()
        self._store_factory = store_factory
        self.db_title = title
        self.reviewer = reviewer
        self.read_only = read_only
        self.clock = clock
        self._on_ready = on_ready
        self._started_after_first_screen = False
        self._poll_enabled = poll
        self.poller = Poller(self, interval)
        #: Turns queries (and, in the background indexer, new entries) into vectors; None = keyword only.
        self.embedder = embedder
        self._stop_indexer = asyncio.Event()
        #: The audit trail as verified so far: the last event that fitted, and its hash.
        self.audit_checked_id = 0
        self._audit_hash: str | None = None
        self.audit_verified = False  # the whole trail, once, since the app started
        self._auditing = self._audit_again = False
        self.set_reactive(SwarmdeckApp.interval, interval)
        self.store: Store
        #: Every store this app opened or was handed (its own first), closed in reverse when it exits.
        self._stores: list[Store] = []
        #: The reviewer's signing key, once unlocked (``signer=``, or the passphrase asked at the first
        #: act): kept in memory for this session only.
        self.signer = signer
        #: Where this seat's signing keys live (the CLI passes the settings' ``key_folder``); None: the
        #: store's fallback (store/__init__.py), for an app built in Python without one.
        self.key_folder = key_folder
        #: Keys rebound by binding id (app/keymap.py), e.g. from $SWARMDECK_KEYMAP.
        self.keymap: dict[str, str] = dict(keymap or {})
        #: Where the theme chosen is remembered (app/preferences.py; the CLI passes it); None: nowhere.
        self.preferences_path = preferences_path
        if self.keymap:
            self.set_keymap(self.keymap)
        #: Whether a new attention item is also a desktop notification through the terminal (opt-in:
        #: ``--notify``, or the palette's command, remembered in the preferences; None: as remembered).
        self.desktop_notify = desktop_notify
        #: The attention items seen at the last look, by key: a new key is a toast and a bell.
        self.attention_items: list[AttentionItem] = []
        self._attention_looked = False
        self._attention_stale = False
        #: Replay mode: how to open the history (None: this seat has none), where to start in it (False:
        #: on the live swarm), the replay once open, and what it set aside. ``store_factory`` None with a
        #: start point: a replay file alone, which leaving closes.
        self._replay_opener = replay_opener
        self._replay_at = replay_at
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
        self._poller_started = False

    # -- lifecycle ------------------------------------------------------------------------------

    def own(self, store: Store) -> Store:
        """Close ``store`` when the app exits, after the workers using it have ended. A store opened
        for a worker (the demo swarm, a status bridge) is handed here as soon as it is open: a worker
        can be cancelled before it starts, and a worker's own ``finally`` can be cancelled a second
        time (``asyncio.run`` cancels what is still running when the app returns); either way the
        store's connection threads would keep the process from exiting."""
        self._stores.append(store)
        return store

    async def on_load(self) -> None:
        self._restore_theme()  # before the first screen is styled
        # Opened before the first screen composes: every screen can rely on self.app.store.
        if self._store_factory is not None:
            self.store = self.own(await self._store_factory())
        if self._replay_at is not False:
            await self.enter_replay(None if self._replay_at is True else self._replay_at)  # type: ignore[arg-type]

    def _restore_theme(self) -> None:
        if self.preferences_path is None:
            return
        saved, problem = preferences.load(self.preferences_path)
        if problem:
            self.notify(problem, title="Preferences", severity="warning", timeout=8)
        if saved.theme in self.available_themes:
            self.theme = saved.theme
        if self.desktop_notify is None:
            self.desktop_notify = bool(saved.desktop_notifications)
        self.theme_changed_signal.subscribe(self, self._remember_theme)

    def _remember_theme(self, theme: Theme) -> None:
        """A theme chosen (the palette's Theme command) is the next run's theme too."""
        assert self.preferences_path is not None
        saved, _ = preferences.load(self.preferences_path)
        if saved.theme == theme.name:
            return
        try:
            preferences.save(self.preferences_path, saved.model_copy(update={"theme": theme.name}))
        except OSError as exc:
            self.notify(f"The theme is not remembered: cannot write {self.preferences_path} "
                        f"({exc.strerror or exc})", title="Preferences", severity="warning", timeout=8)

    async def on_mount(self) -> None:
        if unknown := unknown_ids(self.keymap):
            self.notify(f"The keymap names no key binding: {', '.join(unknown)} (press ? for the keys)",
                        title="Keymap", severity="warning", timeout=10)
        await self.refresh_globals()
        self.verify_audit()  # the whole trail, in a worker: a long log never holds up the first screen
        self.look_for_attention()
        self.set_interval(ATTENTION_EVERY_S, self._look_on_a_timer)  # what time alone changes (staleness)
        self.set_interval(ATTENTION_AFTER_CHANGE_S, self._look_if_changed)
        if self.replay is not None:
            self.poller.live = False  # the live swarm, if any, is read once replay is left
        elif self._poll_enabled:
            await self.poller.start()
            self._poller_started = True
        else:
            self.poller.cursor = await self.store.latest_event_id()

    async def first_screen_loaded(self) -> None:
        """Called by each screen's first load; the first call starts what the first frame need not wait
        for: the background indexer (a backlog of embeddings keeps every core busy) and ``on_ready``
        (the demo's swarm, a status bridge)."""
        if self._started_after_first_screen:
            return
        self._started_after_first_screen = True
        if self.embedder is not None and not self.read_only:
            indexer = Indexer(self.store, self.embedder)
            self.run_worker(partial(indexer.run, self._stop_indexer), group="indexer", exit_on_error=False)
        if self._on_ready is not None:
            await self._on_ready(self)

    async def on_unmount(self) -> None:
        self._stop_indexer.set()
        try:
            await self._end_workers()
        finally:
            replay, self.replay = self.replay, None
            try:
                if replay is not None:
                    await replay.close()
            finally:
                await _close_all(self._stores)
            self._stores.clear()

    async def _end_workers(self) -> None:
        """Cancel every worker and wait until they have ended, so that no store closes under one. (The
        app has cancelled them already as it stopped, but nothing waits for them to finish.)"""
        workers = list(self.workers)
        self.workers.cancel_all()
        try:
            # How each ended was reported as it ended; here it only matters that it did.
            await asyncio.wait_for(asyncio.gather(*(w.wait() for w in workers), return_exceptions=True),
                                   timeout=WORKERS_END_TIMEOUT)
        except asyncio.TimeoutError:
            pass  # a worker deaf to cancellation: its store closes under it, as it would have anyway

    async def refresh_globals(self) -> None:
        """What every screen's status bar shows: gates awaiting review, whether the swarm is paused, and
        whether the last gate has passed (the project is complete)."""
        self.pending_reviews = await self.store.gates_awaiting_review()
        state = await self.store.swarm_state()
        self.swarm_paused = (state.reason or "paused") if state.paused else ""
        self.project_complete = await rules.project_complete(self.store)

    # -- live updates ----------------------------------------------------------------------------

    @on(StoreChanged)
    async def _forward_changes(self, message: StoreChanged) -> None:
        if not self.is_running:  # posted just before the app began to close: its screens are going
            return
        if self.replay is not None:  # a live poll that ended as replay began: the screens reload on leaving
            return
        if any(e.entity in (Entity.MILESTONE, Entity.SWARM) for e in message.events):
            await self.refresh_globals()
            if not self.is_running:
                return
        self._attention_stale = True
        self.verify_audit()
        # Only the visible screen works now; the others catch up from their own cursor on resume.
        if isinstance(self.screen, LiveScreen):
            self.screen.post_message(StoreChanged(message.events))

    # -- what waits on a person ---------------------------------------------------------------------

    @property
    def attention_keys(self) -> set[str]:
        """The keys of the items seen at the last look: a key not among them is news."""
        return {i.key for i in self.attention_items}

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

    # -- replay: the swarm as it was ----------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Replay's keys only in replay; the live view's pause and poll speed only live."""
        if action in REPLAY_ACTIONS:
            return self.replay is not None
        if action in LIVE_ONLY:
            return self.replay is None
        if action == "open_replay":
            return self.replay is None and self._replay_opener is not None
        return True

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

    # -- the audit trail ---------------------------------------------------------------------------

    def verify_audit(self) -> None:
        """Verify the events written since the last verified one (all of them the first time), in a worker.

        Each run starts from the hash this app verified last, not from what the file says now, so an
        event rewritten after it was verified breaks the link. Once broken, the flag stays. Replay shows
        history through another store: the live trail is verified again once replay is left."""
        if self.audit_broken or self.replay is not None:
            return
        if self._auditing:
            self._audit_again = True
            return
        self._auditing = True
        self.run_worker(self._verify_audit, group="audit", exit_on_error=False)

    async def _verify_audit(self) -> None:
        try:
            while True:
                self._audit_again = False
                result = await self.store.verify_events(after_id=self.audit_checked_id,
                                                        after_hash=self._audit_hash)
                self.audit_checked_id, self._audit_hash = result.last_id, result.last_hash
                if not result.ok:
                    self.audit_broken = result.flag
                    self.notify(result.message, title="Audit trail", severity="error", timeout=30,
                                markup=False)
                    return
                self.audit_verified = True
                if not self._audit_again:
                    return
        finally:
            self._auditing = False

    def changed(self) -> None:
        """The user just changed something: show it now, even while the live view is paused."""
        if self.replay is None:
            self.poller.poll_now()

    # -- actions ------------------------------------------------------------------------------------

    def action_toggle_live(self) -> None:
        self.live = self.poller.live = not self.poller.live
        if self.live:
            self.poller.poll_now()
        self.notify("Live view resumed" if self.live else "Live view paused: press p to resume",
                    timeout=2)

    def action_poll_faster(self) -> None:
        self.interval = self.poller.step_interval(-1)
        self.notify(f"Polling every {self.interval:g}s", timeout=1.5)

    def action_poll_slower(self) -> None:
        self.interval = self.poller.step_interval(+1)
        self.notify(f"Polling every {self.interval:g}s", timeout=1.5)

    def action_help(self) -> None:
        self.push_screen(HelpModal())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's commands, with a screenshot that saves where it says instead of ~/Downloads."""
        for command in super().get_system_commands(screen):
            if command.title != "Screenshot":
                yield command
        state = "on: turn them off" if self.desktop_notify else "off: turn them on"
        yield SystemCommand("Desktop notifications", f"Now {state} (a desktop notification for each new "
                            "item that needs a person, through the terminal)", self.action_toggle_desktop_notify)
        yield SystemCommand("Screenshot", "Save an SVG picture of this screen in the current folder "
                            "(else the temporary folder), and say where", self.action_screenshot)

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """An SVG of the screen in ``path``, else the current folder if it can be written, else the system's
        temporary folder (Textual's own goes to ~/Downloads, which many machines do not have)."""
        folder = path or (os.getcwd() if os.access(os.getcwd(), os.W_OK) else tempfile.gettempdir())
        try:
            saved = self.save_screenshot(filename, folder)
        except OSError as exc:
            self.notify(f"No screenshot: cannot write in {folder} ({exc.strerror or exc})", title="Screenshot",
                        severity="error")
            return
        self.notify(f"Saved a screenshot to {os.path.abspath(saved)}", title="Screenshot", timeout=8)

    # -- notifications ---------------------------------------------------------------------------------

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Every toast is plain text: messages quote names agents wrote (milestones, agents, the bridge's
        file), so markup is always off, whatever a caller asks, and control, bidi and invisible
        characters show as escapes. No swarmdeck message uses markup."""
        super().notify(scrub(message), title=scrub(title), severity=severity, timeout=timeout, markup=False)

    def action_help_quit(self) -> None:
        """ctrl+c: Textual's reminder of how to quit, worded without the markup its own version uses."""
        keys = [key for key, active in self.active_bindings.items() if active.binding.action in ("quit", "app.quit")]
        if keys:
            self.notify(f"Press {keys[0]} to quit the app", title="Do you want to quit?")

    # -- the reviewer's signing key ----------------------------------------------------------------

    async def unlock_signer(self) -> Signer | None:
        """The seat's reviewer's signing key: asked for (the passphrase) once per session, then kept.
        None, with a word on why, if this seat holds no key for them or the person steps back. Call it
        from a worker (it waits on a modal)."""
        reviewer = await self.store.get_reviewer(self.reviewer)
        if self.signer is not None and self.signer.reviewer == reviewer.name \
                and self.signer.public_key == reviewer.public_key:
            return self.signer
        if not signing.has_key(reviewer.name, folder=self.key_folder):
            where = signing.key_path(reviewer.name, self.key_folder)
            self.notify(f"No signing key for {reviewer.name} at {where}: sign at "
                        f"the seat that holds it, or make one with `swarmdeck reviewer key {reviewer.name}` "
                        "at a terminal. This seat still shows every gate.",
                        title="Cannot sign here", severity="warning", timeout=10)
            return None
        signer = await self.push_screen_wait(
            PassphraseModal(reviewer.name, reviewer.public_key, self.key_folder))
        if signer is not None:
            self.signer = signer
        return signer

    # -- errors --------------------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every failed worker lands here: a store refusal is a notification, anything else a modal. In
        replay, a read of something that does not exist at the point shown (a selection made at another
        point, read as the replay moved) is no error: the reload after the move shows what does exist; nor
        is a read that the replay's closing cut short when it was left."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        if (self.replay is not None and isinstance(error, NotFound)) or event.worker in self._reading_the_past:
            return
        if isinstance(error, StoreError):
            self.notify(refusal(error), title="Refused", severity="error")  # plain: see notify
        else:
            self.push_screen(ErrorModal(error))

    @work(exit_on_error=False)
    async def run_store_action(self, action: Awaitable[object], success: str | None = None) -> None:
        """Run a store write from a screen or modal; refusals become notifications. In replay every
        write is refused here, before it reaches a store (the replay's own refuses them too)."""
        if self.replay is not None:
            if inspect.iscoroutine(action):
                action.close()
            self.notify("Replay shows the past: nothing can be changed here (ctrl+r or esc leaves replay)",
                        title="Refused", severity="error")
            return
        await action
        if success:
            self.notify(success, timeout=3)
        self.changed()
