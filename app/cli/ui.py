"""Opening the dashboard: `swarmdeck` (on a database) and `swarmdeck demo` (on a simulated swarm)."""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from swarmdeck.store import describe, identity, open_store
from swarmdeck.store.errors import InvalidArgument, PermissionDenied, StoreError
from swarmdeck.store.signing import Signer

from ..output import plain
from . import seat
from ._base import EXIT_USAGE, Config, fail, os_user, refuse

if TYPE_CHECKING:
    from ..settings import Settings

from ._options import DATABASE, DEFAULT_INTERVAL, ERRORS_AS_JSON, dashboard_options

def reviewer_name(option: str | None, cfg: Config | None = None) -> str:
    """The seat's reviewer, in the form decisions record it (store/identity.py): --reviewer, else
    $SWARMDECK_REVIEWER (the settings), else the OS user."""
    name = option or (cfg.settings.reviewer if cfg is not None else None) or os_user()
    return identity.key(name) or name


def demo_shortcut(name: str, path: Path) -> str:
    """What the demo says of its reviewer's key, on the terminal and in the dashboard."""
    from ..demo import demo_key_folder

    return (f"demo reviewer {name}: its signing key is unlocked automatically, in "
            f"{demo_key_folder(path)}")


def history_of(source: Path | str, *, read_only: bool = False):
    """The App's replay opener (ctrl+r, `swarmdeck replay`): the history of ``source``, a database or a
    replay file, at an event id or a time (store/replay, imported when a replay opens); ``read_only``:
    a read-only seat's, which keeps its replay cache away from the database."""

    async def open_at(at):
        from swarmdeck.store.replay import open_replay

        return await open_replay(source, at=at, read_only=read_only)

    return open_at


class HandedOver:
    """A replay opener whose first call returns ``history``, already open where the app starts (`swarmdeck
    replay` opened it to check --at, and a history is opened once: a PostgreSQL one builds its whole
    cache each time); later calls (a replay entered again) open anew with ``opener``."""

    def __init__(self, history, opener) -> None:
        self._history = history
        self._opener = opener

    async def __call__(self, at):
        if self._history is not None:
            history, self._history = self._history, None
            return history
        return await self._opener(at)

    async def close(self) -> None:
        """Close the history if the app never took it (it stopped before entering replay)."""
        if self._history is not None:
            history, self._history = self._history, None
            await history.close()


def load_embedder(settings: Settings, option: str | None = None):
    """The embedder --embedder names, else the settings' (default: the bundled local model), or None
    with a warning."""
    try:
        return settings.make_embedder(option)
    except StoreError as exc:
        click.echo(f"swarmdeck: semantic search is off: {plain(str(exc))}", err=True)
        return None


@click.command("dashboard")
@dashboard_options()
@ERRORS_AS_JSON
@click.pass_context
def dashboard(ctx: click.Context, reviewer: str | None, interval: float | None, embedder: str | None,
              watch_status: Path | None, notify: bool | None, as_json: bool) -> None:
    """Open the dashboard on the database (what `swarmdeck` alone does).

    Keys can be rebound by id with $SWARMDECK_KEYMAP (JSON, e.g. '{"queue.enqueue": "a"}'); `?` in
    the dashboard lists every key."""
    cfg: Config = ctx.find_object(Config)
    cfg.json = cfg.json or as_json
    given = {"reviewer": reviewer, "interval": interval, "embedder": embedder, "watch_status": watch_status,
             "notify": notify}
    options = {**cfg.dashboard_options, **{k: v for k, v in given.items() if v is not None}}
    ctx.exit(run_dashboard(cfg, read_only=cfg.read_only, reviewer=options.get("reviewer"),
                           interval=options.get("interval", DEFAULT_INTERVAL), embedder=options.get("embedder"),
                           watch_status=options.get("watch_status"), notify=options.get("notify")))


def run_dashboard(cfg: Config, *, read_only: bool, reviewer: str | None, interval: float,
                  embedder: str | None = None, watch_status: Path | None = None, notify: bool | None = None) -> int:
    """Open the TUI on an existing database; a database problem is one clear line, not a traceback."""
    if watch_status is not None and read_only:
        return fail(cfg, 2, "usage", "--watch-status writes to the database; it cannot run on a --read-only seat")
    if (code := no_terminal(cfg, "the dashboard", DASHBOARD_ELSEWHERE)) is not None:
        return code

    from .. import preferences
    from ..tui import SwarmdeckApp  # Textual loads only when the dashboard opens

    async def check() -> None:
        # a read-only seat never migrates
        store = await open_store(cfg.db, read_only=read_only, **cfg.store_options())
        await store.close()

    try:
        settings = cfg.settings
        asyncio.run(check())
    except StoreError as exc:
        return refuse(cfg, exc)
    app = SwarmdeckApp(
        lambda: open_store(cfg.db, read_only=read_only, **settings.store_options()),
        title=describe(cfg.db),
        reviewer=reviewer_name(reviewer, cfg),
        read_only=read_only,
        interval=interval,
        embedder=load_embedder(settings, embedder),
        on_ready=None if watch_status is None else status_bridge_starter(cfg, watch_status, interval),
        keymap=settings.keymap,
        key_folder=settings.key_folder,
        preferences_path=preferences.default_path(settings.config_home),
        desktop_notify=notify,
        replay_opener=history_of(cfg.db, read_only=read_only),
    )
    return app.run() or 0


#: Where the dashboard's view is to be had without a terminal.
DASHBOARD_ELSEWHERE = ("run it from a terminal, or `swarmdeck serve` for it in a browser; scripts read the swarm "
                       "with the commands' --json (`swarmdeck attention --json`, `swarmdeck task list --json`)")


def no_terminal(cfg: Config, what: str, instead: str) -> int | None:
    """The refusal (one line, the usage exit code) of a command that opens the dashboard where it cannot
    run: no terminal (seat.missing_terminal), as under cron, CI or an agent's tool call. Asked before
    anything is made or opened; None where the dashboard can run."""
    missing = seat.missing_terminal()
    if missing is None:
        return None
    return fail(cfg, EXIT_USAGE, "no_terminal", f"{what} needs an interactive terminal ({missing}): {instead}")


def run_replay(cfg: Config, opener, at, *, live, title: str, loop: asyncio.AbstractEventLoop | None = None) -> int:
    """The dashboard in replay mode (app/replay_seat.py) from ``opener`` at ``at`` (True: the last event);
    ``live`` opens the live database that leaving replay goes on to (None: leaving closes the app).
    ``loop``: the event loop to run on (the one a history handed over was opened on)."""
    from .. import preferences
    from ..tui import SwarmdeckApp  # Textual loads only when the dashboard opens

    settings = cfg.settings
    app = SwarmdeckApp(live, title=title, reviewer=reviewer_name(None, cfg), read_only=cfg.read_only,
                       keymap=settings.keymap, key_folder=settings.key_folder,
                       preferences_path=preferences.default_path(settings.config_home),
                       replay_opener=opener, replay_at=at)
    return app.run(loop=loop) or 0


def status_bridge_starter(cfg: Config, path: Path, interval: float):
    """An `on_ready` that mirrors a coordination_status.json beside the app, on its own connection."""
    from ..status_bridge import StatusBridge

    async def start(app) -> None:
        store = app.own(await open_store(cfg.db, **cfg.store_options()))  # the app closes it when it exits
        severity = {"skipped": "warning", "warning": "warning", "error": "error"}

        def report(kind: str, message: str) -> None:
            if kind in severity:  # applied versions show as data; only trouble is worth a toast
                # The message quotes the file's agent names and words: plain text, never markup.
                app.notify(plain(message), title="coordination status", severity=severity[kind], markup=False)

        bridge = StatusBridge(store, path, actor=cfg.who("status-bridge"), report=report)
        # Until the app exits, which cancels it.
        app.run_worker(partial(bridge.run, asyncio.Event(), interval), group="status-bridge", exit_on_error=False)

    return start


@click.command("demo")
@click.option("--db", "demo_db", type=DATABASE,
              help="Where to create the demo database: a new file, or an empty postgresql:// database "
                   "(default: a new temporary file).")
@click.option("--reviewer", help="Your name on gate decisions (default: $SWARMDECK_REVIEWER, else the OS user).")
@click.option("--speed", type=click.FloatRange(0.1, 20), default=1.0, show_default=True,
              help="How fast the simulated swarm works.")
@click.option("--seed", "rng_seed", type=int, help="Random seed, for a repeatable swarm.")
@click.option("--notify/--no-notify", "notify", default=None,
              help="Also ask the terminal for a desktop notification for each new item that needs a person.")
@ERRORS_AS_JSON
@click.pass_obj
def demo(cfg: Config, demo_db: Path | str | None, reviewer: str | None, speed: float, rng_seed: int | None,
         notify: bool | None, as_json: bool) -> None:
    """Open the dashboard on a fresh database with a simulated swarm working through the seeds' project."""
    cfg.json = cfg.json or as_json
    if cfg.read_only:
        refused = PermissionDenied("this swarmdeck seat is read-only; the demo creates a database and a "
                                   "simulated swarm that writes to it")
        sys.exit(refuse(cfg, refused))
    if (code := no_terminal(cfg, "the demo", "run `swarmdeck demo` from a terminal")) is not None:
        sys.exit(code)

    from ..demo import DEMO_PASSPHRASE, Swarm, demo_signer, seed
    from .. import preferences
    from ..tui import SwarmdeckApp
    path = demo_db or Path(tempfile.mkdtemp(prefix="swarmdeck-demo-")) / "swarm.db"
    # The demo reviewer's key lives beside a SQLite demo; for a server's database, in a folder of its own.
    keys_beside = path if isinstance(path, Path) else Path(tempfile.mkdtemp(prefix="swarmdeck-demo-")) / "swarm"
    if isinstance(path, Path) and path.exists():
        sys.exit(fail(cfg, 1, "invalid_argument", f"{path} already exists; the demo needs a fresh database"))
    try:
        settings = cfg.settings
    except StoreError as exc:
        sys.exit(refuse(cfg, exc))
    store_options = settings.store_options()

    name = reviewer_name(reviewer, cfg)

    async def prepare() -> Signer:
        # The person at the demo's dashboard is its registered reviewer, without ceremony: their
        # signing key lives beside the demo database, under a passphrase the demo knows.
        signer = demo_signer(name, keys_beside)
        store = await open_store(path, create=True, **store_options)
        try:
            if await store.latest_event_id():  # a server's database that already holds a swarm
                raise InvalidArgument(f"{describe(path)} already holds a swarm; the demo needs a fresh database")
            await seed(store, reviewer=name, reviewer_key=signer.public_key, store_options=store_options)
        finally:
            await store.close()
        return signer

    try:
        signer = asyncio.run(prepare())
    except StoreError as exc:  # e.g. a reviewer name that is one of the demo's agents
        sys.exit(refuse(cfg, exc))
    click.echo(f"demo: {name} is the registered reviewer of this swarm (--reviewer NAME to choose another)",
               err=True)
    shortcut = demo_shortcut(name, keys_beside)
    click.echo(f"{shortcut} (passphrase {DEMO_PASSPHRASE!r}); a real swarm asks for yours", err=True)

    async def start_swarm(app: SwarmdeckApp) -> None:
        app.notify(shortcut, title="Signed decisions", timeout=10)
        # The swarm gets its own connections, as separate agent processes would have; the app closes
        # them when it exits, after cancelling the swarm.
        store = app.own(await open_store(path, **store_options))
        swarm = Swarm(store, rng=random.Random(rng_seed), speed=speed)
        app.run_worker(partial(swarm.run, asyncio.Event()), group="demo-swarm", exit_on_error=False)

    app = SwarmdeckApp(
        lambda: open_store(path, **store_options),
        title=f"demo · {describe(path)}",
        reviewer=name,
        on_ready=start_swarm,
        embedder=load_embedder(settings),
        signer=signer,
        keymap=settings.keymap,
        preferences_path=preferences.default_path(settings.config_home),
        desktop_notify=notify,
        replay_opener=history_of(path),
    )
    app.run()
    click.echo(f"demo database kept at {describe(path)}")
