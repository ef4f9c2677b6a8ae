"""`swarmdeck reviewer ...`: the registered people who decide gates (never agents)."""

from __future__ import annotations

import click

from swarmdeck.store import Reviewer, identity, signing
from swarmdeck.store.errors import InvalidArgument, PermissionDenied

from ..output import plain, when
from . import seat
from ._base import Config, Store, leaf, table


@click.group("reviewer")
def reviewer_group() -> None:
    """Register the people who decide gates; list and remove them."""


def key_text(r: Reviewer) -> str:
    return signing.fingerprint(r.public_key) if r.public_key else "none"


def render_reviewer(r: Reviewer) -> str:
    state = "active" if r.active else f"removed by {plain(r.removed_by)} at {when(r.removed_at)}"
    return (f"reviewer {plain(r.name)}  [{state}]  added by {plain(r.added_by)} at {when(r.added_at)}  "
            f"signing key {key_text(r)}")


def render_reviewers(reviewers: list[Reviewer]) -> str:
    if not reviewers:
        return "no reviewers registered (a person registers with `swarmdeck reviewer add NAME`)"
    return table(
        [[r.name, "active" if r.active else "removed", r.added_by, when(r.added_at),
          r.removed_by or "-", when(r.removed_at), key_text(r)] for r in reviewers],
        ["name", "status", "added by", "added", "removed by", "removed", "key"],
    )


_BY = click.option("--by",
                   help="Who does it: a registered reviewer (any person, for the first one). "
                        "Default: $SWARMDECK_REVIEWER, --actor, OS user.")


@leaf(reviewer_group, "add", render_reviewer, human=True, settings=True)
@click.argument("name")
@_BY
@click.option("--no-key", is_flag=True,
              help="Register without a signing key: NAME makes it later at their own terminal "
                   "(`swarmdeck reviewer key NAME`), and cannot act until then.")
async def add(store: Store, cfg: Config, name: str, by, no_key: bool) -> Reviewer:
    """Register a person as a reviewer, with their signing key: made here (a passphrase asked twice)
    or, if this terminal has a key file for them, unlocked to prove it. A person's act, at a terminal
    only; a reviewer's name can never be an agent's."""
    by = seat.acting_reviewer(cfg, by)
    await store.add_reviewer(name, by=by, dry_run=True)  # every refusal before the question
    who = identity.canonical(name, "the reviewer name")
    seat.show([f"Registering {plain(who)} as a reviewer (added by {plain(identity.key(by) or by)}): they may "
               "then decide gates, resume the swarm and close conditions, each signed with their key."])
    seat.confirm("Register this reviewer?")
    public_key = None if no_key else seat.key_for(who, cfg.settings.key_folder).public_key
    return await store.add_reviewer(name, by=by, public_key=public_key)


@leaf(reviewer_group, "key", render_reviewer, human=True, settings=True)
@click.argument("name")
async def key(store: Store, cfg: Config, name: str) -> Reviewer:
    """Give a reviewer registered without a signing key their key: made here (a passphrase asked
    twice), or the key file this terminal has for them, unlocked. A person's act, at their own
    terminal only; a reviewer's key never changes once registered."""
    reviewer = await store.get_reviewer(name)
    if reviewer.public_key is not None:
        raise PermissionDenied(f"{reviewer.name} already has a signing key ({key_text(reviewer)}); a reviewer's "
                               "key never changes")
    if not reviewer.active:
        raise InvalidArgument(f"{reviewer.name} is not an active reviewer (removed by {reviewer.removed_by})")
    seat.show([f"Giving {plain(reviewer.name)} a signing key: every decision, resume and closure of theirs is "
               "signed with it."])
    seat.confirm(f"Give {plain(reviewer.name)} a signing key?")
    signer = seat.key_for(reviewer.name, cfg.settings.key_folder)
    return await store.set_reviewer_key(reviewer.name, public_key=signer.public_key)


@leaf(reviewer_group, "remove", render_reviewer, human=True, settings=True)
@click.argument("name")
@_BY
async def remove(store: Store, cfg: Config, name: str, by) -> Reviewer:
    """Take a reviewer's seat away (their past decisions keep their name). A person's act, at a
    terminal only."""
    by = seat.acting_reviewer(cfg, by)
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
