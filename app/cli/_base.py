"""What every CLI command shares: config, opening the store, output, errors and exit codes."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from swarmdeck.store import Store, open_store
from swarmdeck.store.errors import Busy, NotFound, StoreError, SwarmPaused

from ..output import jsonable, plain

DB_ENV = "SWARMDECK_DB"
DEFAULT_DIR = ".swarmdeck"
DEFAULT_NAME = "swarm.db"

#: Exit codes scripts can branch on (documented in the README).
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_PAUSED = 4
EXIT_BUSY = 5


def default_db_path(start: Path | None = None) -> Path:
    """$SWARMDECK_DB, else the nearest .swarmdeck/swarm.db above the working directory, else ./.swarmdeck/."""
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / DEFAULT_DIR / DEFAULT_NAME
        if candidate.exists():
            return candidate
    return here / DEFAULT_DIR / DEFAULT_NAME


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers): fall back to something honest
        return "unknown"


@dataclass
class Config:
    db: Path
    json: bool = False
    actor: str | None = None

    def who(self, fallback: str | None = None) -> str:
        """Who is acting: --actor / $SWARMDECK_ACTOR, else the given name, else the OS user."""
        return self.actor or fallback or os_user()


@dataclass
class Exit:
    """A result with a specific exit code (e.g. `gate wait`)."""

    code: int
    result: Any


Renderer = Callable[[Any], str]


def emit(cfg: Config, result: Any, render: Renderer | None) -> None:
    if result is None and render is None:
        return  # the command printed its own output (events tail): no trailing `null` line
    if cfg.json:
        click.echo(json.dumps(jsonable(result), ensure_ascii=False))
    elif render is not None:
        text = render(result)
        if text:
            # Renderers pass agent text through `plain` field by field; this catches any they miss
            # (escaping is idempotent: an escape is printable ASCII and passes unchanged).
            click.echo(plain(text))


def fail(cfg: Config, code: int, kind: str, message: str) -> int:
    if cfg.json:
        click.echo(json.dumps({"error": {"code": kind, "message": message}}, ensure_ascii=False), err=True)
    else:
        click.echo(f"swarmdeck: {plain(message)}", err=True)
    return code


def exit_code_for(exc: StoreError) -> int:
    if isinstance(exc, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(exc, SwarmPaused):
        return EXIT_PAUSED
    if isinstance(exc, Busy):
        return EXIT_BUSY
    return EXIT_ERROR


def run(
    cfg: Config,
    action: Callable[..., Awaitable[Any]],
    params: dict[str, Any],
    render: Renderer | None,
    *,
    create: bool = False,
) -> int:
    """Open the store, run one action, print its result; return the exit code."""

    async def main() -> Any:
        store = await open_store(cfg.db, create=create)
        try:
            return await action(store, cfg, **params)
        finally:
            await store.close()

    try:
        result = asyncio.run(main())
    except StoreError as exc:
        return fail(cfg, exit_code_for(exc), exc.code, str(exc))
    except OSError as exc:  # e.g. the database's folder cannot be created
        if isinstance(exc, BrokenPipeError):
            raise  # the reader of our output went away: `main` stops quietly
        where = f" ({exc.filename})" if exc.filename else ""
        message = f"cannot use the database at {cfg.db}: {exc.strerror or exc}{where}"
        return fail(cfg, EXIT_ERROR, "os_error", message)
    except OverflowError:  # a number SQLite cannot hold (e.g. a milestone id given as 30 digits)
        return fail(cfg, EXIT_ERROR, "invalid_argument", "a number given is too large for the database")
    except KeyboardInterrupt:
        return 130
    code = 0
    if isinstance(result, Exit):
        code, result = result.code, result.result
    emit(cfg, result, render)
    return code


def usage_error(exc: click.ClickException, argv: list[str]) -> int:
    """A usage error as one line on stderr (JSON with --json), like every other error."""
    ctx = getattr(exc, "ctx", None)
    cfg = ctx.find_object(Config) if ctx is not None else None
    options = argv[: argv.index("--")] if "--" in argv else argv
    as_json = bool(cfg and cfg.json) or "--json" in options
    message = " ".join(line.strip() for line in exc.format_message().splitlines() if line.strip())
    if ctx is not None and not as_json:
        message += f" Try '{ctx.command_path} --help'."
    return fail(Config(db=Path(), json=as_json), exc.exit_code, "usage", message)


JSON_OPTION = click.Option(["--json", "as_json"], is_flag=True, help="Print the result (or error) as JSON.")


def leaf(group: click.Group, name: str, render: Renderer | None = None, *, create: bool = False):
    """Register ``async def fn(store, cfg, **params)`` as ``group name`` with the usual --json option."""

    def deco(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        params = list(reversed(getattr(fn, "__click_params__", [])))

        def callback(as_json: bool, **kwargs: Any) -> None:
            cfg: Config = click.get_current_context().find_object(Config)
            cfg.json = cfg.json or as_json
            sys.exit(run(cfg, fn, kwargs, render, create=create))

        group.add_command(click.Command(name, callback=callback, params=[*params, JSON_OPTION], help=fn.__doc__))
        return fn

    return deco


def parse_json_arg(value: str | None, what: str) -> Any:
    """A JSON command-line argument; '@file' reads a file and '-' reads standard input."""
    if value is None:
        return None
    text = value
    if value == "-":
        text = sys.stdin.read()
    elif value.startswith("@"):
        try:
            text = Path(value[1:]).read_text()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {value[1:]}: {exc.strerror}", param_hint=what) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
                                 param_hint=what) from None


def table(rows: list[list[Any]], headers: list[str]) -> str:
    """A plain left-aligned text table; every cell passes through `plain`."""
    cells = [[plain(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


Store = Store  # re-exported for the command modules' annotations
