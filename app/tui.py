"""The swarmdeck App: modes, global keys, palette, store lifecycle and error routing.

What waits on a person (the inbox, toasts, desktop notifications) is app/attention_seat.py, and replay
mode (the swarm as it was) app/replay_seat.py: mixins of the App, each with its own state."""

from __future__ import annotations

import asyncio
import inspect
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from functools import partial
from pathlib import Path

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen
from textual.theme import Theme
from textual.worker import Worker, WorkerState

from swarmdeck.store import Store, rules, signing
from swarmdeck.store.embed import Embedder
from swarmdeck.store.errors import StoreError
from swarmdeck.store.events import Entity
from swarmdeck.store.indexer import Indexer
from swarmdeck.store.signing import Signer
from swarmdeck.widgets.text import scrub

from . import preferences
from .attention_seat import AttentionSeat
from .commands import COMMAND_PROVIDERS
from .key_order import KeysInOrder
from .keymap import unknown_ids
from .format import refusal
from .modals.error import ErrorModal
from .modals.help import HelpModal
from .modals.passphrase import PassphraseModal
from .poller import Poller, StoreChanged
from .replay_seat import REPLAY_BINDINGS, ReplayOpener, ReplaySeat
from .screens.agents import AgentsScreen
from .screens.base import LiveScreen
from .screens.charts import ChartsScreen
from .screens.memory import MemoryScreen
from .screens.milestones import MilestonesScreen
from .screens.queue import QueueScreen

STYLES = Path(__file__).parent.parent / "styles"

StoreFactory = Callable[[], Awaitable[Store]]

#: How long the app waits at exit for its cancelled workers to end before it closes their stores.
WORKERS_END_TIMEOUT = 10.0


async def _close_all(stores: list[Store]) -> None:
    """Close every store, the last opened first, even if closing one fails."""
    if not stores:
        return
    try:
        await stores[-1].close()
    finally:
        await _close_all(stores[:-1])


class SwarmdeckApp(AttentionSeat, ReplaySeat, KeysInOrder[int]):
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
        *REPLAY_BINDINGS,  # here, not on ReplaySeat: Textual merges bindings key by key (ctrl+r)
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
        self._set_up_attention(desktop_notify)
        self._set_up_replay(replay_opener, replay_at, sleep)
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
        self.start_looking()
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
        self.look_soon()
        self.verify_audit()
        # Only the visible screen works now; the others catch up from their own cursor on resume.
        if isinstance(self.screen, LiveScreen):
            self.screen.post_message(StoreChanged(message.events))

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
        if self._read_of_the_past_failed(event.worker):
            return
        error = event.worker.error
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
