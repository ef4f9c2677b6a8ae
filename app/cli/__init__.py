"""The `swarmdeck` command line: `swarmdeck [--db PATH] <noun> <verb>`, --json on every command."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ._base import DB_ENV, Config, Store, default_db_path, leaf, unexpected, usage_error
from .agents import agent_group
from .audit import audit_group
from .bridge import watch_status
from .events import events_group
from .gates import gate_group, milestone_group
from .mcp import mcp
from .memory import GROUPS as MEMORY_GROUPS
from .reviewers import reviewer_group
from .tasks import task_group
from .ui import dashboard, dashboard_options, demo


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             invoke_without_command=True)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), envvar=DB_ENV,
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
    ctx.obj = Config(db=db or default_db_path(), json=as_json, actor=actor, read_only=read_only,
                     dashboard_options={k: v for k, v in dashboard_given.items() if v is not None})
    if ctx.invoked_subcommand is None:
        ctx.invoke(dashboard)


@leaf(cli, "init", lambda r: f"swarm database ready at {r['db']} (schema {r['schema_version']})", create=True)
async def init(store: Store, cfg: Config) -> dict:
    """Create the swarm database (or check an existing one) and apply migrations."""
    return {"db": str(cfg.db), "schema_version": await store.schema_version()}


for group in (task_group, agent_group, reviewer_group, milestone_group, gate_group, events_group, audit_group,
              *MEMORY_GROUPS, dashboard, demo, mcp, watch_status):
    cli.add_command(group)


def main() -> None:
    argv = sys.argv[1:]
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
