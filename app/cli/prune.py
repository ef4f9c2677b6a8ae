"""`swarmdeck prune`: the retention policy (store/retention.py), shown with --dry-run or applied in one
transaction. An operator's act: refused on a --read-only seat, and offered to no agent over MCP."""

from __future__ import annotations

import sys
from typing import Any

import click

from swarmdeck.store.errors import READ_ONLY_SEAT, PermissionDenied
from swarmdeck.store.retention import Prune

from ..output import when
from ._base import EXIT_ERROR, Config, Store, fail, run, table
from ._parse import SECONDS


def render_prune(report: Prune) -> str:
    head = ("archived" if report.applied else "would archive (dry run: nothing changed)") + \
        f": {report.total} record(s)"
    rows = [[g.kind, g.count, when(g.oldest), when(g.newest)] for g in report.archived]
    lines = [head, table(rows, ["kind", "count", "oldest", "newest"]), "rules:"]
    lines += [f"  {g.kind}: {g.rule}" for g in report.archived]
    tasks = report.tasks
    if tasks is not None:
        lines.append(f"finished tasks: {tasks.count}" + (f" (finished {when(tasks.oldest)} to {when(tasks.newest)})"
                                                         if tasks.count else "") + f": {tasks.rule}")
    lines.append("kept:")
    for k in report.kept:
        age = report.tasks_age if k.what == "finished tasks" else report.age
        lines.append(f"  {k.what}: {k.count} older than {age} ({k.why})")
    lines.append("  the other learning records and the gate's reports and decisions: never pruned")
    if report.applied and report.total:
        lines.append("archived records: `swarmdeck memory search --archived WORDS`")
    if report.applied and tasks is not None and tasks.count:
        lines.append("archived tasks: `swarmdeck task list --archived`, `swarmdeck task get ID`")
    return "\n".join(lines)


@click.command("prune")
@click.option("--dry-run", is_flag=True, help="Only show what would be archived; change nothing.")
@click.option("--older-than", "older_than", type=SECONDS, metavar="AGE",
              help="Archive agent logs and pipeline states older than this (seconds, or 30d, 12w; "
                   "default 90d). Docs cache entries go when they expire.")
@click.option("--tasks-older-than", "tasks_older_than", type=SECONDS, metavar="AGE",
              help="Archive finished tasks (done, cancelled, failed for good) that finished longer ago than "
                   "this (seconds, or 30d, 12w; default 90d), unless an unfinished task depends on them.")
@click.option("--json", "as_json", is_flag=True, help="Print the result (or error) as JSON.")
@click.pass_obj
def prune(cfg: Config, dry_run: bool, older_than: float | None, tasks_older_than: float | None,
          as_json: bool) -> None:
    """Apply seed 003's retention policy: archive agent logs and pipeline states past 90 days, docs
    cache entries past their expiry, and finished tasks past 90 days that no unfinished task depends on,
    all in one transaction.

    Archived records leave the ranked search and stay findable with `memory search --archived`; archived
    tasks leave the queue and `task list` (see them with `task list --archived`, `task get ID`) and stay
    in the charts. The event log (append-only, hash-chained: a replay of history is built on it) is kept
    whole; the other learning records and the gate's records are never pruned."""
    cfg.json = cfg.json or as_json
    if not dry_run and cfg.read_only:
        sys.exit(fail(cfg, EXIT_ERROR, PermissionDenied.code, READ_ONLY_SEAT))

    async def apply(store: Store, cfg: Config) -> Any:
        return await store.prune(dry_run=dry_run, older_than=older_than, tasks_older_than=tasks_older_than,
                                 actor=cfg.who())

    sys.exit(run(cfg, apply, {}, render_prune))
