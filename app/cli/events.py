"""`swarmdeck events tail`: the change feed, for scripts and humans."""

from __future__ import annotations

import asyncio
import json

import click

from swarmdeck.store import Event

from ..output import jsonable, plain, when
from ._base import Config, Store, leaf
from ._parse import EVENT_ID


@click.group("events")
def events_group() -> None:
    """Read the change feed / audit trail."""


def _line(cfg: Config, e: Event) -> str:
    if cfg.json:
        return json.dumps(jsonable(e), ensure_ascii=False)
    ident = f"{e.entity}:{e.entity_id}" if e.entity_id is not None else e.entity
    payload = json.dumps(e.payload, ensure_ascii=False) if e.payload else ""
    return plain(f"{e.id:>8}  {when(e.ts)}  {e.actor:<16} {e.kind:<24} {ident}  {payload}")


@leaf(events_group, "tail")
@click.option("--since", type=EVENT_ID, help="Events after this id (default: the last --limit events).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events as they happen.")
@click.option("--interval", type=click.FloatRange(0.05), default=0.5, show_default=True)
async def tail(store: Store, cfg: Config, since, limit, follow, interval) -> None:
    """Print recent events (one per line; JSON lines with --json), optionally following."""
    if since is None:
        events = list(reversed(await store.events(limit=limit)))
    else:
        events = await store.changes_since(since, limit=limit)
    last = events[-1].id if events else (since if since is not None else await store.latest_event_id())
    for e in events:
        click.echo(_line(cfg, e))
    while follow:
        await store.wait_for_changes(last, interval)  # woken by a write (PostgreSQL: any machine's)
        for e in await store.changes_since(last):
            click.echo(_line(cfg, e))
            last = e.id
    return None
