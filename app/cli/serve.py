"""`swarmdeck serve`: the dashboard in a browser (textual-serve). Each tab is its own app process running
the real dashboard on the same database (app/serve_child.py binds it to the server's life)."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shlex
import socket
import sys
from pathlib import Path

import click

from swarmdeck.store import describe, open_store
from swarmdeck.store.errors import NotFound, StoreError

from ..output import plain
from ._base import Config, fail, refuse
from ._options import DEFAULT_INTERVAL, ERRORS_AS_JSON
from .ui import reviewer_name

DEFAULT_PORT = 8000


def is_loopback(host: str) -> bool:
    """Whether ``host`` listens on this machine only: ``localhost`` or a loopback address. Any other
    name, or a wildcard address (``0.0.0.0``, ``::``), listens beyond it."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def public_url(host: str, port: int) -> str:
    """The address a browser opens: a wildcard host is shown (and given to the page) as this machine's
    name, an IPv6 address in brackets."""
    bare = host.strip("[]")
    if bare in ("0.0.0.0", "::", ""):
        bare = socket.getfqdn()
    if ":" in bare:
        bare = f"[{bare}]"
    return f"http://{bare}:{port}"


def can_listen(host: str, port: int) -> None:
    """Raises OSError unless ``host``:``port`` can be listened on now (the server says what it serves
    before it binds: a port already taken is said instead)."""
    for family, kind, proto, _name, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                                  flags=socket.AI_PASSIVE):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
            probe.bind(address)


def seat_arguments(db: Path | str | None, *, read_only: bool, reviewer: str | None,
                   interval: float) -> list[str]:
    """The `swarmdeck` arguments of each tab's app process. ``db``: None when the server found it in
    $SWARMDECK_DB, which the tabs inherit (so a server's password given there stays out of every
    process list); else what --db said (already on the server's own command line), or found."""
    where = [] if db is None else ["--db", str(db.resolve() if isinstance(db, Path) else db)]
    if read_only:
        return [*where, "--read-only", "dashboard", "--interval", f"{interval:g}"]
    assert reviewer is not None
    return [*where, "dashboard", "--reviewer", reviewer, "--interval", f"{interval:g}"]


def child_command(arguments: list[str]) -> str:
    """The shell command textual-serve runs per tab: ``exec``, so that the app process is the server's
    own child, bound to it (app/serve_child.py) by the server's pid."""
    return "exec " + shlex.join([sys.executable, "-m", "swarmdeck.app.serve_child", str(os.getpid()),
                                 *arguments])


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Beyond localhost the seat is read-only unless --deciding.")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--read-only", "read_only", is_flag=True, help="A watching seat: every write is refused.")
@click.option("--deciding", is_flag=True,
              help="Allow decisions beyond localhost (needs --reviewer): anyone who reaches the port and "
                   "knows the key's passphrase decides as that reviewer.")
@click.option("--reviewer", help="Whose name the browser's decisions carry (required for a deciding seat; "
                                  "default: $SWARMDECK_REVIEWER).")
@click.option("--interval", type=click.FloatRange(0.1, 60), default=DEFAULT_INTERVAL, show_default=True,
              help="Seconds between the dashboard's polls.")
@click.option("--public-url", help="The address browsers use, when it is not http://HOST:PORT (a proxy).")
@ERRORS_AS_JSON
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, read_only: bool, deciding: bool, reviewer: str | None,
          interval: float, public_url: str | None, as_json: bool) -> None:
    """The dashboard in a browser, one per tab.

    On localhost the seat decides as --reviewer (required) unless --read-only; beyond localhost it
    is read-only unless --deciding and --reviewer are both given."""
    cfg: Config = ctx.find_object(Config)
    cfg.json = cfg.json or as_json
    from_env = ctx.find_root().get_parameter_source("db") == click.core.ParameterSource.ENVIRONMENT
    sys.exit(run_serve(cfg, from_env=from_env, host=host, port=port, read_only=read_only, deciding=deciding,
                       reviewer=reviewer, interval=interval, url=public_url))


def run_serve(cfg: Config, *, from_env: bool, host: str, port: int, read_only: bool, deciding: bool,
              reviewer: str | None, interval: float, url: str | None) -> int:
    asked = read_only or cfg.read_only
    read_only = asked
    if read_only and deciding:
        return fail(cfg, 2, "usage", "--deciding and --read-only contradict each other: choose one")
    local = is_loopback(host)
    try:
        settings = cfg.settings
    except StoreError as exc:
        return refuse(cfg, exc)
    named = reviewer or settings.reviewer
    if not read_only and not local and not deciding:
        read_only = True  # said at start, below
    if not read_only and not named:
        return fail(cfg, 2, "usage", "a deciding seat needs a reviewer: --reviewer NAME (or "
                                     "$SWARMDECK_REVIEWER), or --read-only to watch")
    name = None if read_only else reviewer_name(named, cfg)

    async def check() -> str | None:
        """The database opens, as each tab's will (a read-only seat never migrates); what is wrong with
        the reviewer, if anything."""
        store = await open_store(cfg.db, read_only=read_only, **settings.store_options())
        try:
            if name is not None:
                reviewer = await store.get_reviewer(name)
                if reviewer.removed_at is not None:
                    return f"{name} is no longer a reviewer of this swarm: every decision will be refused"
        except NotFound:
            return (f"{name} is not a registered reviewer of this swarm: every decision will be refused "
                    f"(swarmdeck reviewer add {name})")
        finally:
            await store.close()
        return None

    try:
        warning = asyncio.run(check())
    except StoreError as exc:
        return refuse(cfg, exc)
    try:
        can_listen(host.strip("[]"), port)
    except OSError as exc:  # the port is taken, the address is not this machine's
        return fail(cfg, 1, "unavailable", f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    if warning:
        click.echo(f"swarmdeck: warning: {plain(warning)}", err=True)

    from textual_serve.server import Server

    fixed = url is not None
    url = url or public_url(host, port)
    if name is not None:
        seat = f"deciding seat as {plain(name)}" + ("" if local else (
            f" — beyond localhost: anyone who reaches {url} and knows the key's passphrase decides as "
            f"{plain(name)}, over plain HTTP"))
    elif not asked and not local:
        seat = f"read-only: {host} is beyond localhost (--deciding --reviewer NAME to decide)"
    else:
        seat = "read-only"

    class SeatServer(Server):
        async def on_startup(self, app) -> None:  # textual-serve's hook: say what this seat is
            click.echo("\n".join([f"swarmdeck serve: {url}", f"  database: {describe(cfg.db)}",
                                   f"  {seat}", "  each browser tab is its own dashboard; Ctrl+C stops "
                                                "the server and every tab"]))

        async def handle_index(self, request):
            # The page's websocket goes back to the address this browser used (a wildcard host's
            # name, an SSH tunnel's port), unless --public-url says where browsers come from. The
            # page is made with no wait in between, so no other request sees this one's address.
            if not fixed:
                self.public_url = f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

        async def _process_messages(self, websocket, app_service) -> None:
            # Each open tab, so that shutting down closes them (textual-serve leaves them open, and
            # the server waits on each until its browser goes away).
            tabs.add(websocket)
            try:
                await super()._process_messages(websocket, app_service)
            finally:
                tabs.discard(websocket)

        async def on_shutdown(self, app) -> None:
            # A closed tab's app is told to quit, and awaited, as when its browser closes it.
            await asyncio.gather(*(ws.close() for ws in list(tabs)), return_exceptions=True)

    tabs: set = set()

    arguments = seat_arguments(None if from_env else cfg.db, read_only=read_only, reviewer=name,
                               interval=interval)
    server = SeatServer(child_command(arguments),
                        host=host.strip("[]"), port=port, title="swarmdeck", public_url=url)
    try:
        server.serve()
    except OSError as exc:  # taken meanwhile
        return fail(cfg, 1, "unavailable", f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    return 0
