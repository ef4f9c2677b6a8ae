"""The `swarmdeck` command line: `swarmdeck [--db PATH] <noun> <verb>`, --json on every command."""

from __future__ import annotations

import atexit
import functools
import gc
import importlib
import os
import sys
from pathlib import Path
from typing import Any

import click

from . import _base
from ._base import DB_ENV, Config, Store, default_db_path, leaf, unexpected, usage_error
from ._options import DATABASE, dashboard_options

#: Every command under `swarmdeck`, as "module:attribute" (relative to this package): a command's module
#: is imported when that command runs, or when help lists it, never for another (click's documented
#: "lazily loading subcommands" pattern). `swarmdeck task claim` imports app/cli/tasks.py alone.
LAZY_COMMANDS: dict[str, str] = {
    "task": ".tasks:task_group",
    "agent": ".agents:agent_group",
    "reviewer": ".reviewers:reviewer_group",
    "milestone": ".gates:milestone_group",
    "gate": ".gates:gate_group",
    "events": ".events:events_group",
    "audit": ".audit:audit_group",
    "memory": ".memory:memory_group",
    "failure": ".memory:failure_group",
    "decision": ".memory:decision_group",
    "record": ".memory:record_group",
    "document": ".memory:document_group",
    "session": ".memory:session_group",
    "dashboard": ".ui:dashboard",
    "demo": ".ui:demo",
    "replay": ".replay:replay",
    "mcp": ".mcp:mcp",
    "watch-status": ".bridge:watch_status",
    "attention": ".attention:attention_command",
    "watch": ".attention:watch",
    "db": ".db:db_group",
    "learn": ".learn:learn_group",
    "export": ".export:export_group",
    "digest": ".digest:digest",
    "prune": ".prune:prune",
    "serve": ".serve:serve",
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use, from ``lazy`` ("module:attribute")."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, _, name = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module, __name__), name)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy=LAZY_COMMANDS, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", type=DATABASE, envvar=DB_ENV,
              help=f"The swarm database (default: ${DB_ENV}, else the nearest .swarmdeck/swarm.db).")
@click.option("--json", "as_json", is_flag=True, help="Print results and errors as JSON.")
@click.option("--actor", envvar="SWARMDECK_ACTOR", help="Who is acting (default: the agent, else the OS user).")
@click.option("--read-only", is_flag=True,
              help="Watch and search, change nothing: every write is refused (dashboard and commands).")
@dashboard_options(hidden=True)  # `swarmdeck --interval 2`: the dashboard's options, as they were spelled
@click.version_option(package_name="swarmdeck")
@click.pass_context
def cli(ctx: click.Context, db: Path | None, as_json: bool, actor: str | None, read_only: bool,
        **dashboard_given: object) -> None:
    """swarmdeck: mission control for swarms of coding agents.

    With no command, opens the dashboard on the database (`swarmdeck dashboard --help` lists its
    options). `swarmdeck demo` opens it on a simulated swarm.

    Exit codes: 0 success, 1 refused, 2 usage, 3 not found, 4 swarm paused, 5 database busy.
    """
    _resume_collector()
    ctx.obj = Config(db=db or default_db_path(), json=as_json, actor=actor, read_only=read_only,
                     dashboard_options={k: v for k, v in dashboard_given.items() if v is not None})
    if ctx.invoked_subcommand is None:
        ctx.invoke(cli.get_command(ctx, "dashboard"))


@leaf(cli, "init", lambda r: f"swarm database ready at {r['db']} (schema {r['schema_version']})", create=True)
async def init(store: Store, cfg: Config) -> dict:
    """Create the swarm database (or check an existing one) and apply migrations."""
    return {"db": store.path if isinstance(cfg.db, str) else str(cfg.db),
            "schema_version": await store.schema_version()}


def main() -> None:
    argv = sys.argv[1:]
    _freeze_at_exit()
    _hold_collector()
    try:
        code = cli.main(args=argv, prog_name="swarmdeck", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()  # a bare group: its help is the answer
        code = exc.exit_code
    except click.ClickException as exc:
        code = usage_error(exc, argv)
    except click.Abort:
        click.echo("swarmdeck: aborted", err=True)
        code = 130
    except BrokenPipeError:
        # The reader went away (`swarmdeck events tail | head`): stop quietly, as click would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    except Exception as exc:  # whatever it was, one line and exit 1, never a traceback
        code = unexpected(Config(db=Path(), json="--json" in argv), exc)
    sys.exit(code if isinstance(code, int) else 0)


_collector_held = False


def _hold_collector() -> None:
    """No cyclic collection while the command's module loads (every module's objects are new, so each
    collection then walks them all for nothing): ``cli`` turns the collector back on before any command
    runs, and ``_base.run`` holds it again only while the store opens. The console script (app/entry.py)
    holds it from before this package loads."""
    global _collector_held
    _base.HOLD_COLLECTOR = True
    if gc.isenabled():
        gc.disable()
        _collector_held = True


def _resume_collector() -> None:
    global _collector_held
    if _collector_held:
        _collector_held = False
        gc.freeze()  # what loaded meanwhile lives as long as the process: no collection walks it
        gc.enable()


@functools.cache  # once per process
def _freeze_at_exit() -> None:
    """At exit, move every object left to the collector's permanent generation (``gc.freeze``), so that
    the interpreter's final collections do not walk the objects of every imported module (about 15 ms
    of a 100 ms call). The process frees them as it ends; atexit handlers and output flushing run as ever."""
    atexit.register(gc.freeze)
