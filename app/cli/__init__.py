"""The `swarmdeck` command line: `swarmdeck [--db PATH] <noun> <verb>`, --json on every command."""

from __future__ import annotations

from pathlib import Path

import click

from ._base import DB_ENV, Config, Store, default_db_path, leaf
from .agents import agent_group
from .events import events_group
from .gates import gate_group, milestone_group
from .tasks import task_group


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
              help=f"The swarm database (default: ${DB_ENV}, else the nearest .swarmdeck/swarm.db).")
@click.option("--json", "as_json", is_flag=True, help="Print results and errors as JSON.")
@click.option("--actor", envvar="SWARMDECK_ACTOR", help="Who is acting (default: the agent, else the OS user).")
@click.version_option(package_name="swarmdeck")
@click.pass_context
def cli(ctx: click.Context, db: Path | None, as_json: bool, actor: str | None) -> None:
    """swarmdeck: mission control for swarms of coding agents.

    Exit codes: 0 success, 1 refused, 2 usage, 3 not found, 4 swarm paused, 5 database busy.
    """
    ctx.obj = Config(db=db or default_db_path(), json=as_json, actor=actor)


@leaf(cli, "init", lambda r: f"swarm database ready at {r['db']} (schema {r['schema_version']})", create=True)
async def init(store: Store, cfg: Config) -> dict:
    """Create the swarm database (or check an existing one) and apply migrations."""
    return {"db": str(cfg.db), "schema_version": await store.schema_version()}


for group in (task_group, agent_group, milestone_group, gate_group, events_group):
    cli.add_command(group)


def main() -> None:
    cli(prog_name="swarmdeck")
