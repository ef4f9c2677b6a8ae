"""`swarmdeck attention` (what waits on a person now) and `swarmdeck watch` (tell them, without the
dashboard: the terminal's bell and desktop notifications, a webhook)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

import click

from swarmdeck.store.attention import AttentionItem, attention

from ..notify import desktop_sequence, plain_line, webhook_body
from ..output import ago, jsonable
from ._base import Config, Store, run

#: Desktop notifications per poll at most; the rest are summed up in one.
MAX_DESKTOP_PER_TICK = 3
#: Tries per webhook message, and the pause before each retry (doubling).
WEBHOOK_TRIES = 4
WEBHOOK_BACKOFF_S = 0.5


def _record(item: AttentionItem, now: float) -> dict[str, Any]:
    return {**jsonable(item), "urgency": str(item.urgency), "age_s": item.age(now)}


def _line(item: AttentionItem, now: float) -> str:
    return f"{str(item.urgency):<8} {ago(item.age(now)):>6}  {plain_line(item.title, 1000)}"


@click.command("attention")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def attention_command(cfg: Config, as_json: bool) -> None:
    """What waits on a person now (gates to review, a paused swarm, silent agents holding tasks, tasks
    failed for good), most urgent first."""
    cfg.json = cfg.json or as_json

    async def show(store: Store, cfg: Config) -> None:
        now = store.clock()
        items = await attention(store, now=now)
        for item in items:
            click.echo(json.dumps(_record(item, now), ensure_ascii=False) if cfg.json else _line(item, now))
        if not items and not cfg.json:
            click.echo("nothing waits on a person")

    sys.exit(run(cfg, show, {}, None))


class Watcher:
    """One poll of the attention items: each item new since the last poll (by its key, kept in a state
    file so a restart sends nothing twice) is printed, rung and notified, and posted to the webhook."""

    def __init__(self, *, state: Path, notify: bool, webhook: str | None, style: str, out: TextIO,
                 terminal: TextIO | None) -> None:
        self.state = state
        self.notify = notify
        self.webhook = webhook
        self.style = style
        self.out = out
        self.terminal = terminal
        self.sent: set[str] = self._load()

    def _load(self) -> set[str]:
        try:
            return set(json.loads(self.state.read_text())["sent"])
        except (OSError, ValueError, KeyError, TypeError):
            return set()

    def _save(self) -> None:
        self.state.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.state.parent, prefix=self.state.name, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump({"sent": sorted(self.sent)}, f)
        os.replace(tmp, self.state)

    async def tick(self, store: Store, client: Any) -> list[AttentionItem]:
        now = store.clock()
        items = await attention(store, now=now)
        new = [i for i in items if i.key not in self.sent]
        delivered: set[str] = set()
        for item in new:
            if self.webhook is not None and not await self._post(client, _record(item, now)):
                continue  # not sent: tried again at the next poll
            delivered.add(item.key)
            self.out.write(f"new  {_line(item, now)}\n")
        self.out.flush()
        if self.notify and delivered:
            self._ring([i for i in new if i.key in delivered])
        # A cause that went away is forgotten: if it comes back, it is news again.
        self.sent = (self.sent & {i.key for i in items}) | delivered
        self._save()
        return [i for i in new if i.key in delivered]

    def _ring(self, items: list[AttentionItem]) -> None:
        if self.terminal is None:
            return
        parts = ["\a"]  # one bell per poll, however many items
        for item in items[:MAX_DESKTOP_PER_TICK]:
            parts.append(desktop_sequence(f"swarmdeck: {item.urgency}", item.title))
        if len(items) > MAX_DESKTOP_PER_TICK:
            rest = len(items) - MAX_DESKTOP_PER_TICK
            parts.append(desktop_sequence("swarmdeck", f"{rest} more item(s) wait on a person"))
        self.terminal.write("".join(parts))
        self.terminal.flush()

    async def _post(self, client: Any, record: dict[str, Any]) -> bool:
        import httpx

        body = webhook_body(record, self.style)
        pause = WEBHOOK_BACKOFF_S
        for attempt in range(1, WEBHOOK_TRIES + 1):
            try:
                response = await client.post(self.webhook, json=body)
                if response.status_code < 400:
                    return True
                problem = f"HTTP {response.status_code}"
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    break  # the receiver refuses it: retrying changes nothing
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if attempt < WEBHOOK_TRIES:
                await asyncio.sleep(pause)
                pause *= 2
        self.out.write(plain_line(f"webhook: {record['key']} not delivered ({problem}); tried again at the "
                                  "next poll", 1000) + "\n")
        return False


def _terminal() -> TextIO | None:
    """Where the bell and the notifications go: this terminal (stdout if it is one, else /dev/tty)."""
    if sys.stdout.isatty():
        return sys.stdout
    try:
        return open("/dev/tty", "w")  # noqa: SIM115 - kept for the process's life
    except OSError:
        return None


def default_state(db: Path | str) -> Path:
    """Where `watch` keeps what it has sent: beside a SQLite file; for a server's database, in this
    user's state folder, one file per database (its URL without the password, hashed)."""
    if isinstance(db, Path):
        return db.with_name(db.name + ".watch.json")
    import hashlib

    import platformdirs

    from swarmdeck.store import describe

    digest = hashlib.sha256(describe(db).encode()).hexdigest()[:16]
    return platformdirs.user_state_path("swarmdeck") / f"watch-{digest}.json"


@click.command("watch")
@click.option("--notify", is_flag=True, help="Ring the terminal's bell and ask it for a desktop notification "
              "(OSC 9 / 777 / 99 by terminal; through tmux when $TMUX is set) for each new item.")
@click.option("--webhook", metavar="URL", help="POST each new item as JSON to this URL (retried; never twice).")
@click.option("--webhook-style", type=click.Choice(["json", "slack"]), default="json", show_default=True,
              help="json: the item's fields; slack: {\"text\": ...}, which Slack and Teams webhooks show.")
@click.option("--interval", type=click.FloatRange(0.1, 3600), default=5.0, show_default=True,
              help="Seconds between polls.")
@click.option("--once", is_flag=True, help="Poll once and exit.")
@click.option("--state", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where the keys of the items already sent are kept (default: beside a SQLite database; "
                   "for PostgreSQL, one file per database in your state folder).")
@click.pass_obj
def watch(cfg: Config, notify: bool, webhook: str | None, webhook_style: str, interval: float, once: bool,
          state: Path | None) -> None:
    """Tell a person when they are needed, without the dashboard: every new attention item (see
    `swarmdeck attention`) is printed, and with --notify rung, with --webhook posted. Nothing is ever
    decided here."""
    if webhook is not None and not webhook.startswith(("http://", "https://")):
        raise click.BadParameter("give an http:// or https:// URL", param_hint="--webhook")
    state = state or default_state(cfg.db)
    terminal = _terminal() if notify else None
    if notify and terminal is None:
        click.echo("watch: no terminal to notify (not run from one); printing only", err=True)

    async def loop(store: Store, cfg: Config) -> None:
        import httpx

        watcher = Watcher(state=state, notify=notify, webhook=webhook, style=webhook_style,
                          out=sys.stdout, terminal=terminal)
        async with httpx.AsyncClient(timeout=10.0) as client:
            while True:
                started = time.monotonic()
                await watcher.tick(store, client)
                if once:
                    return
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    try:
        sys.exit(run(cfg, loop, {}, None))
    except KeyboardInterrupt:
        sys.exit(0)


__all__ = ["Watcher", "attention_command", "watch"]
