"""`swarmdeck digest`: seed 002's status report (store/digest.py), printed or written to a file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from swarmdeck.store import digest as digests
from swarmdeck.store.errors import PermissionDenied
from swarmdeck.store.living_docs import md_line

from ..output import jsonable
from ._base import Config, Store, run
from ._parse import PAST
from .export import write_if_changed
from .memory._common import warn


@click.command("digest")
@click.option("--since", "since", type=PAST, metavar="TIME",
              help="Failures and decisions from this time on (ISO-8601, or how long ago: 8h, 1d) instead of "
                   "since the last digest.")
@click.option("--write", "write_to", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the report to FILE as Markdown (agent text escaped) instead of printing it.")
@click.option("--peek", is_flag=True, help="Do not remember this digest: the next one starts where this one did.")
@click.option("--json", "as_json", is_flag=True, help="Print the digest as JSON.")
@click.pass_obj
def digest(cfg: Config, since: Any, write_to: Path | None, peek: bool, as_json: bool) -> None:
    """The swarm's status report, since the last one.

    Seed 002's report for its daily syncs: progress per milestone, blockers with their ages, and the
    failures and decisions since the last digest. Where it ended is remembered in the database
    (unless --peek, --since or a read-only seat), so the next digest, from any machine, starts there."""
    cfg.json = cfg.json or as_json

    async def report(store: Store, cfg: Config) -> Any:
        found = await digests.build(store, since=None if since is None else since.timestamp())
        if write_to is not None:
            write_to.parent.mkdir(parents=True, exist_ok=True)
            write_if_changed(write_to, digests.render(found, md_line))
        if not (peek or since is not None or cfg.read_only):
            try:
                await digests.remember(store, found, by=cfg.who())
            except PermissionDenied as exc:  # a database role that may only read: the report still counts
                warn(cfg, "not_remembered", f"this digest was not remembered ({exc})")
        if cfg.json:
            return {**jsonable(found), **({"written_to": str(write_to)} if write_to else {})}
        if write_to is not None:
            return (f"digest written to {write_to}: {len(found.failures)} failure(s), "
                    f"{len(found.decisions)} decision(s) through event {found.through_event}")
        return digests.render(found)

    sys.exit(run(cfg, report, {}, lambda text: text))
