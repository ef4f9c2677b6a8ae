"""`swarmdeck reviewer ...`: the registered people who decide gates (never agents)."""

from __future__ import annotations

import click

from swarmdeck.store import Reviewer, identity

from ..output import plain, when
from . import seat
from ._base import Config, Store, leaf, table


@click.group("reviewer")
def reviewer_group() -> None:
    """Register the people who decide gates; list and remove them."""


def render_reviewer(r: Reviewer) -> str:
    state = "active" if r.active else f"removed by {plain(r.removed_by)} at {when(r.removed_at)}"
    return f"reviewer {plain(r.name)}  [{state}]  added by {plain(r.added_by)} at {when(r.added_at)}"


def render_reviewers(reviewers: list[Reviewer]) -> str:
    if not reviewers:
        return "no reviewers registered (a person registers with `swarmdeck reviewer add NAME`)"
    return table(
        [[r.name, "active" if r.active else "removed", r.added_by, when(r.added_at),
          r.removed_by or "-", when(r.removed_at)] for r in reviewers],
        ["name", "status", "added by", "added", "removed by", "removed"],
    )


_BY = click.option("--by", envvar="SWARMDECK_REVIEWER",
                   help="Who does it: a registered reviewer (any person, for the first one). "
                        "Default: $SWARMDECK_REVIEWER, --actor, OS user.")


@leaf(reviewer_group, "add", render_reviewer, human=True)
@click.argument("name")
@_BY
async def add(store: Store, cfg: Config, name: str, by) -> Reviewer:
    """Register a person as a reviewer. A person's act, at a terminal only; a reviewer's name can
    never be an agent's."""
    by = by or cfg.who()
    await store.add_reviewer(name, by=by, dry_run=True)  # every refusal before the question
    seat.show([f"Registering {plain(identity.canonical(name, 'the reviewer name'))} as a reviewer "
               f"(added by {plain(identity.key(by) or by)}): they may then decide gates, resume the swarm "
               "and close conditions."])
    seat.confirm("Register this reviewer?")
    return await store.add_reviewer(name, by=by)


@leaf(reviewer_group, "remove", render_reviewer, human=True)
@click.argument("name")
@_BY
async def remove(store: Store, cfg: Config, name: str, by) -> Reviewer:
    """Take a reviewer's seat away (their past decisions keep their name). A person's act, at a
    terminal only."""
    by = by or cfg.who()
    reviewer = await store.remove_reviewer(name, by=by, dry_run=True)
    seat.show([f"Removing {plain(reviewer.name)} as a reviewer (by {plain(identity.key(by) or by)}): "
               "their past decisions stay as they are."])
    seat.confirm("Remove this reviewer?")
    return await store.remove_reviewer(name, by=by)


@leaf(reviewer_group, "list", render_reviewers)
@click.option("--all", "include_removed", is_flag=True, help="Removed reviewers too.")
async def list_(store: Store, cfg: Config, include_removed: bool) -> list[Reviewer]:
    """The registered reviewers."""
    return await store.list_reviewers(include_removed=include_removed)
