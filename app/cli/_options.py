"""Options more than one command shares: the database (``DATABASE``), and the dashboard's own options,
apart from the dashboard: the group carries them too (hidden), and the group must not import the
dashboard's module (app/cli/ui.py) to parse a `task claim`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

class DatabaseParam(click.ParamType):
    """A swarm database: a SQLite file (a path, or ``sqlite:///x.db``), or a PostgreSQL database
    (``postgresql://user@host/db``), kept as its URL. A URL of any other scheme is refused here, by
    name, rather than taken for a file called ``mysql:`` that `init` would create."""

    name = "PATH|URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path | str:
        if isinstance(value, Path):
            return value
        from swarmdeck.store import path_from_url, scheme_of
        from swarmdeck.store.errors import InvalidArgument

        try:
            if scheme_of(str(value)) != "sqlite":
                return str(value)  # a server's database: the store checks it when it opens
            path = path_from_url(str(value))
        except InvalidArgument as exc:
            self.fail(str(exc), param, ctx)
        try:
            is_dir = path.is_dir()
        except OSError as exc:  # a name too long for the file system, say
            self.fail(f"cannot use {str(path)[:80]!r}{'…' if len(str(path)) > 80 else ''} as a database: "
                      f"{exc.strerror or exc}", param, ctx)
        if is_dir:
            self.fail(f"{path} is a directory, not a database file", param, ctx)
        return path


DATABASE = DatabaseParam()

#: Seconds between the dashboard's polls, unless --interval says otherwise.
DEFAULT_INTERVAL = 1.0


def dashboard_options(*, hidden: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The dashboard's own options: on `swarmdeck dashboard`, and (hidden) on the group, where they were
    first spelled (`swarmdeck --interval 2`, `swarmdeck --watch-status PATH`)."""
    options = [
        click.option("--reviewer", hidden=hidden,
                     help="Your name on gate decisions (default: $SWARMDECK_REVIEWER, else the OS user)."),
        click.option("--interval", type=click.FloatRange(0.1, 60), hidden=hidden,
                     help=f"Seconds between polls.  [default: {DEFAULT_INTERVAL:g}]"),
        click.option("--embedder", hidden=hidden,
                     help="local (default, bundled model), ollama[:MODEL][@URL], or hash "
                          "(default: $SWARMDECK_EMBEDDER)."),
        click.option("--watch-status", type=click.Path(dir_okay=False, path_type=Path), hidden=hidden,
                     help="Also mirror this seed-002 coordination_status.json (see watch-status)."),
        click.option("--notify/--no-notify", "notify", default=None, hidden=hidden,
                     help="Also ask the terminal for a desktop notification (OSC 9/777/99) for each new item "
                          "that needs a person (default: as last chosen in the palette, else off)."),
    ]

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return deco


#: --json on the commands that open the dashboard, as on every command: their errors (the one output a
#: script gets from them) as JSON.
ERRORS_AS_JSON = click.option("--json", "as_json", is_flag=True, help="Print errors as JSON.")
