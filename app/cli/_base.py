"""What every CLI command shares: config, opening the store, output, errors and exit codes."""

from __future__ import annotations

import asyncio
import gc
import getpass
import json
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from swarmdeck.store import Store, describe, open_store
from swarmdeck.store.errors import (
    READ_ONLY_SEAT,
    Busy,
    NotFound,
    PermissionDenied,
    Remedy,
    StoreError,
    SwarmPaused,
)
from swarmdeck.store.limits import MAX_JSON_BYTES, not_utf8, parse_json, too_big

from ..format import at_own_terminal, with_hint
from ..output import jsonable, plain

if TYPE_CHECKING:
    from ..settings import Settings

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
    """The nearest .swarmdeck/swarm.db above the working directory, else ./.swarmdeck/ (--db and
    $SWARMDECK_DB, read by click, come first)."""
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
    #: A SQLite file, or a server's database URL (``postgresql://...``): what ``--db`` gives.
    db: Path | str
    json: bool = False
    actor: str | None = None
    #: --read-only: the store is opened read-only, so every write is refused (permission_denied).
    read_only: bool = False
    #: The group-level spelling of the dashboard's options (`swarmdeck --interval 2`), kept working.
    dashboard_options: dict[str, Any] = field(default_factory=dict)
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        """The environment's settings (app/settings.py), built on first use, once: the commands agents
        call in loops (task claim, agent heartbeat) need only --db and never pay for them. Raises
        InvalidArgument for a malformed variable."""
        if self._settings is None:
            from ..settings import load_settings

            self._settings = load_settings(db=str(self.db), actor=self.actor)
        return self._settings

    def store_options(self) -> dict[str, Any]:
        """What ``open_store`` takes from the settings, once a command has built them; before that the
        store reads its own defaults (the same variables)."""
        return self._settings.store_options() if self._settings is not None else {}

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
    """One line on stderr (a JSON object with --json); returns the exit code."""
    message = " ".join(_encodable(message).split("\n"))
    if cfg.json:
        click.echo(json.dumps({"error": {"code": kind, "message": message}}, ensure_ascii=False), err=True)
    else:
        click.echo(f"swarmdeck: {plain(message)}", err=True)
    return code


def _encodable(text: str) -> str:
    """Text any UTF-8 stream can take: what is left of argv bytes that were not UTF-8 (lone surrogates)
    is shown as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def unexpected(cfg: Config, exc: BaseException) -> int:
    """A failure nobody planned for: still one line (the traceback with SWARMDECK_DEBUG=1)."""
    if _debugging(cfg):
        traceback.print_exception(exc, file=sys.stderr)
    detail = str(exc) or "no details"
    return fail(cfg, EXIT_ERROR, "internal_error",
                f"unexpected {type(exc).__name__}: {detail[:500]} (SWARMDECK_DEBUG=1 shows where)")


def _debugging(cfg: Config) -> bool:
    try:
        return cfg.settings.debug
    except StoreError:  # a malformed variable: the failure being reported matters more
        return False


def hint(exc: StoreError) -> str | None:
    """What the CLI tells a person to do about a store refusal: the command that lifts it, if any."""
    fields = exc.fields
    who = fields.get("who") or fields.get("key")
    if exc.remedy is Remedy.INIT_DATABASE:
        return f"create one{' there' if fields.get('empty') else ''} with `swarmdeck init`"
    if exc.remedy is Remedy.MIGRATE:
        return "open it once without --read-only (or run `swarmdeck init`)"
    if exc.remedy is Remedy.REGISTER_AGENT:
        return f"run `swarmdeck agent register {who} --type TYPE`"
    if exc.remedy is Remedy.RESUME_SWARM:
        return "claims resume when a human runs `swarmdeck gate resume`"
    return at_own_terminal(exc)


def message(exc: StoreError) -> str:
    """A store error as the CLI says it: the store's message, then the CLI's hint."""
    return with_hint(exc, hint(exc))


def refuse(cfg: Config, exc: StoreError) -> int:
    """A store refusal as one line on stderr, with the CLI's hint and exit code; returns the exit code."""
    return fail(cfg, exit_code_for(exc), exc.code, message(exc))


def exit_code_for(exc: StoreError) -> int:
    if isinstance(exc, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(exc, SwarmPaused):
        return EXIT_PAUSED
    if isinstance(exc, Busy):
        return EXIT_BUSY
    return EXIT_ERROR


#: Set by the console script's ``main`` (one command per process); never in a process that invokes
#: the CLI in-process (tests), whose objects a freeze would keep from collection.
HOLD_COLLECTOR = False


def run(
    cfg: Config,
    action: Callable[..., Awaitable[Any]],
    params: dict[str, Any],
    render: Renderer | None,
    *,
    create: bool = False,
    settings: bool = False,
) -> int:
    """Open the store, run one action, print its result; return the exit code. ``settings``: build the
    settings (app/settings.py) first, for an action that reads them (``cfg.settings``)."""

    async def main() -> Any:
        if settings:
            cfg.settings  # noqa: B018 (built here, so that a malformed variable is one refusal)
        # In the console script's process: no cyclic collection while the backend's modules load and
        # the store opens (their objects are all new: each collection would walk them for nothing),
        # then they are frozen (they live as long as the process) and the collector is on again.
        holding = HOLD_COLLECTOR and gc.isenabled()
        if holding:
            gc.disable()
        try:
            store = await open_store(cfg.db, create=create, read_only=cfg.read_only, **cfg.store_options())
        finally:
            if holding:
                gc.freeze()
                gc.enable()
        try:
            return await action(store, cfg, **params)
        finally:
            await store.close()

    if create and cfg.read_only:
        read_only = PermissionDenied("this swarmdeck seat is read-only; it cannot create or migrate a database")
        return refuse(cfg, read_only)
    try:
        result = asyncio.run(main())
    except StoreError as exc:
        return refuse(cfg, exc)
    except UnicodeEncodeError as exc:  # argv bytes that were not UTF-8, given where only lookups see them
        return refuse(cfg, not_utf8("an argument", exc))
    except OSError as exc:  # e.g. the database's folder cannot be created
        if isinstance(exc, BrokenPipeError):
            raise  # the reader of our output went away: `main` stops quietly
        where = f" ({exc.filename})" if exc.filename else ""
        message = f"cannot use the database at {describe(cfg.db)}: {exc.strerror or exc}{where}"
        return fail(cfg, EXIT_ERROR, "os_error", message)
    except OverflowError as exc:  # a number SQLite cannot hold (e.g. a milestone id given as 30 digits)
        from swarmdeck.store import rules

        return refuse(cfg, rules.driver_refusal(exc))
    except KeyboardInterrupt:
        return 130
    except (click.ClickException, click.Abort):
        raise  # a usage error found while running (a bad JSON argument): `main` words it
    except Exception as exc:
        return unexpected(cfg, exc)
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


def leaf(group: click.Group, name: str, render: Renderer | None = None, *, create: bool = False,
         human: bool = False, settings: bool = False):
    """Register ``async def fn(store, cfg, **params)`` as ``group name`` with the usual --json option.

    ``settings``: the command reads ``cfg.settings`` (built before the store opens, which then takes
    its options from them); leave it off for the commands agents call in loops.
    ``human``: a person's act, refused (before the database is opened) without an interactive
    terminal; ``fn`` shows what it acts on and asks for a confirmation (see seat.py)."""

    def deco(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        params = list(reversed(getattr(fn, "__click_params__", [])))

        def callback(as_json: bool, **kwargs: Any) -> None:
            cfg: Config = click.get_current_context().find_object(Config)
            cfg.json = cfg.json or as_json
            if human and cfg.read_only:  # the seat's own refusal is the one that says what to do
                sys.exit(fail(cfg, EXIT_ERROR, PermissionDenied.code, READ_ONLY_SEAT))
            if human:
                from . import seat  # the human seat's checks load only for a person's act

                try:
                    seat.require_human_seat(f"{group.name} {name}")
                except seat.NotAHumanSeat as exc:
                    sys.exit(fail(cfg, EXIT_ERROR, exc.code, str(exc)))
            sys.exit(run(cfg, fn, kwargs, render, create=create, settings=settings))

        group.add_command(click.Command(name, callback=callback, params=[*params, JSON_OPTION], help=fn.__doc__))
        return fn

    return deco


async def milestone_ref_id(store: Store, ref: str | None) -> int | None:
    """The id of the milestone a `--milestone` option names: its id, name, label (M3) or the start of
    its name, as the store resolves every milestone reference."""
    return None if ref is None else (await store.get_milestone(ref)).id


def parse_json_arg(value: str | None, what: str, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """A JSON command-line argument; '@file' reads a file and '-' reads standard input. Within the
    store's limits (size, then depth: store/limits.py), checked before more than the limit is read."""
    if value is None:
        return None
    text: str | bytes = value
    if value == "-":
        text = read_bounded(sys.stdin, what, max_bytes)
    elif value.startswith("@"):
        try:
            with open(value[1:], "rb") as f:
                text = read_bounded(f, what, max_bytes)
        except OSError as exc:
            raise click.BadParameter(f"cannot read {value[1:]}: {exc.strerror}", param_hint=what) from None
    try:
        return parse_json(what, text, max_bytes=max_bytes)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
                                 param_hint=what) from None
    except UnicodeDecodeError as exc:
        raise click.BadParameter(f"not UTF-8 JSON ({exc.reason} at byte {exc.start})",
                                 param_hint=what) from None


def read_bounded(stream: Any, what: str, max_bytes: int) -> bytes:
    """At most ``max_bytes`` of a file or standard input; refused, without reading on, if there is more."""
    binary = getattr(stream, "buffer", stream)
    data = binary.read(max_bytes + 1)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if len(data) > max_bytes:
        raise too_big(what, max_bytes, max_bytes, more=True)
    return data


def table(rows: list[list[Any]], headers: list[str]) -> str:
    """A plain left-aligned text table; every cell passes through `plain`."""
    cells = [[plain(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


Store = Store  # re-exported for the command modules' annotations
