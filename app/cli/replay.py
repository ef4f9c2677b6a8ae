"""`swarmdeck replay [SOURCE] [--at TIME|EVENT_ID]`: the dashboard on the swarm as it was, every write
refused (app/replay_seat.py replay mode over store/replay)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from swarmdeck.store import describe, open_store
from swarmdeck.store.errors import StoreError

from ._base import Config, fail, refuse
from ._options import ERRORS_AS_JSON
from .ui import HandedOver, history_of, no_terminal, run_replay


@click.command("replay")
@click.argument("source", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--at", "at", metavar="TIME|EVENT_ID",
              help="Where to start: an event id (1234), a time of day as the dashboard shows it (14:32:05, "
                   "local time, on the day of the last event), a date and time (ISO-8601, UTC unless a zone "
                   "is given) or how long ago (2h). Default: the last event.")
@ERRORS_AS_JSON
@click.pass_obj
def replay(cfg: Config, source: Path | None, at: str | None, as_json: bool) -> None:
    """Open the dashboard on the swarm as it was at a moment of its history, read-only.

    SOURCE is a replay file (`swarmdeck export replay`); without it, the --db database, and leaving
    replay (ctrl+r or esc) goes on to its live dashboard. In replay: . and , step one event, g/b/h/o the next
    decision, failure, stale agent or report (shifted: the previous), space plays, @ jumps; ? lists them."""
    from ..replay_mode import parse_target

    cfg.json = cfg.json or as_json
    if source is not None and not source.is_file():
        raise SystemExit(fail(cfg, 2, "usage", f"no replay file at {source}"))
    # Before the history opens: a database's first replay builds its cache.
    if (code := no_terminal(cfg, "replay", "run it from a terminal; scripts read the history with "
                                           "`swarmdeck events tail --json --since ID`")) is not None:
        raise SystemExit(code)
    opener = history_of(source if source is not None else cfg.db, read_only=cfg.read_only)

    async def check():
        """Open the history once, so that a bad file or a bad --at is one line here, not an app; the app
        is then handed this history, where --at put it, rather than open it again."""
        history = await opener(None)
        try:
            target = None if at is None else parse_target(at, day=history.point.ts)
            if target is not None:
                await history.seek(target)
        except BaseException:
            await history.close()
            raise
        return history, target

    # One event loop for the check and the app: the history opened here is the app's.
    with asyncio.Runner() as runner:
        try:
            settings = cfg.settings
            history, target = runner.run(check())
        except ValueError as exc:
            raise SystemExit(fail(cfg, 2, "usage", f"--at: {exc}")) from None
        except StoreError as exc:
            raise SystemExit(refuse(cfg, exc)) from None

        # On the database itself, leaving replay goes on to its live dashboard; a replay file has no live.
        live = None if source is not None else \
            (lambda: open_store(cfg.db, read_only=cfg.read_only, **settings.store_options()))
        title = f"replay · {describe(source if source is not None else cfg.db)}"
        handed = HandedOver(history, opener)
        try:
            code = run_replay(cfg, handed, True if target is None else target, live=live, title=title,
                              loop=runner.get_loop())
        finally:
            runner.run(handed.close())
    raise SystemExit(code)
