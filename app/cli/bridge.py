"""`swarmdeck watch-status PATH`: mirror a seed-002 coordination_status.json into the swarm database."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import click

from swarmdeck.store import open_store
from swarmdeck.store.errors import PermissionDenied, StoreError

from ..output import plain
from ..status_bridge import DEFAULT_NAMESPACE, DEFAULT_STALE_AFTER, StatusBridge
from ._base import EXIT_ERROR, EXIT_NOT_FOUND, Config, fail, refuse
from ._options import DATABASE
from ._parse import DURATION


def reporter(cfg: Config, kinds: list[str]):
    """Applied versions on stdout; skipped files, warnings and errors on stderr (JSON lines with --json)."""

    def report(kind: str, message: str) -> None:
        kinds.append(kind)
        err = kind != "applied"
        if cfg.json:
            click.echo(json.dumps({"event": kind, "message": message}, ensure_ascii=False), err=err)
        else:
            click.echo(f"swarmdeck: {plain(message)}" if err else plain(message), err=err)

    return report


@click.command("watch-status")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--db", "bridge_db", type=DATABASE,
              help="The swarm database (default: the global --db, $SWARMDECK_DB, else the nearest .swarmdeck/).")
@click.option("--interval", type=click.FloatRange(0.001, 3600), default=1.0, show_default=True,
              help="Seconds between looks at the file.")
@click.option("--once", is_flag=True, help="Apply the file once and exit (1 if it is malformed, 3 if missing).")
@click.option("--namespace", default=DEFAULT_NAMESPACE, show_default=True,
              help="Memory namespace for phase, quality_gates and critical_issues.")
@click.option("--stale-after", type=DURATION, default=int(DEFAULT_STALE_AFTER), show_default=True,
              help="Heartbeat age after which a bridged agent shows stale (90s, 10m, 1h).")
@click.option("--write-back/--no-write-back", default=True, show_default=True,
              help="Write swarmdeck's state (paused, gate decisions, queue) back to the file's \"swarmdeck\" key.")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON lines.")
@click.pass_obj
def watch_status(cfg: Config, path: Path, bridge_db: Path | None, interval: float, once: bool, namespace: str,
                 stale_after: int, write_back: bool, as_json: bool) -> None:
    """Follow a seed-002 coordination_status.json and mirror it into the database.

    Its agents appear on the dashboard with no change to them: status, completion, blockers and
    next milestone per agent; phase, quality gates and critical issues as versioned memories (shown
    on the milestones screen). An agent that left the file is marked offline; a version whose
    timestamp is older than the last applied is skipped. A malformed or half-written version is
    reported and skipped; the last good state stays. Swarmdeck's own state goes back into the
    file under the top-level "swarmdeck" key only, by an atomic rename that yields to agent writes.
    """
    cfg.json = cfg.json or as_json
    db = bridge_db or cfg.db
    kinds: list[str] = []
    if cfg.read_only:
        refused = PermissionDenied("this swarmdeck seat is read-only; watch-status writes what the file says")
        sys.exit(refuse(cfg, refused))

    try:
        store_options = cfg.settings.store_options()  # the memories it writes go to the configured index
    except StoreError as exc:
        sys.exit(refuse(cfg, exc))

    async def main() -> int:
        store = await open_store(db, **store_options)
        try:
            bridge = StatusBridge(store, path, namespace=namespace, actor=cfg.who("status-bridge"),
                                  stale_after=stale_after, report=reporter(cfg, kinds), write_back=write_back)
            if once:
                if not path.exists():
                    return fail(cfg, EXIT_NOT_FOUND, "not_found", f"{path} does not exist")
                await bridge.poll()
                return EXIT_ERROR if {"skipped", "error"} & set(kinds) else 0
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await bridge.run(stop, interval)
            return 0
        finally:
            await store.close()

    try:
        code = asyncio.run(main())
    except StoreError as exc:
        code = refuse(cfg, exc)
    sys.exit(code)
