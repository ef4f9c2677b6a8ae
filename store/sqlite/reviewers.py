"""Reviewers: the registered people who decide gates, resume the swarm and close conditions.

Agents and reviewers are two disjoint sets of canonical names (store/identity.py): a name is never
both, whichever was registered first. The checks here are the store's, so every interface (Python
API, CLI, MCP server, dashboard) meets the same ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .. import identity
from ..gates import check_not_submitter
from ..errors import InvalidArgument, NotFound, PermissionDenied
from ..models import Reviewer
from .base import StoreBase, Tx
from .rows import reviewer_from_row

One = Callable[..., Awaitable[Any]]

#: What a person registers with, quoted in refusals.
REGISTER_HINT = "a person registers once, from their own terminal: `swarmdeck reviewer add {who}`"


async def is_agent(one: One, who: str) -> bool:
    return await one("SELECT 1 FROM agents WHERE name = ?", (who,)) is not None


async def require_reviewer(one: One, who: str, act: str) -> Reviewer:
    """The active reviewer ``who`` (canonical), or PermissionDenied saying why they cannot ``act``."""
    if await is_agent(one, who):
        raise PermissionDenied(f"{who} is a registered agent; agents never {act}: a person does, as a "
                               "registered reviewer")
    row = await one("SELECT * FROM reviewers WHERE name = ?", (who,))
    if row is None:
        raise PermissionDenied(f"{who} is not a registered reviewer, so cannot {act}; "
                               + REGISTER_HINT.format(who=who))
    reviewer = reviewer_from_row(row)
    if not reviewer.active:
        raise PermissionDenied(f"{who} is no longer a reviewer (removed by {reviewer.removed_by}), so cannot {act}")
    return reviewer


async def require_agent(one: One, who: str, act: str) -> None:
    """PermissionDenied unless ``who`` (canonical) is a registered agent and no reviewer."""
    if await one("SELECT 1 FROM reviewers WHERE name = ?", (who,)) is not None:
        raise PermissionDenied(f"{who} is a reviewer; reports are submitted by agents, and reviewers decide them")
    if not await is_agent(one, who):
        raise PermissionDenied(f"{who} is not a registered agent, so cannot {act}; register it first with "
                               f"`swarmdeck agent register {who} --type TYPE`")


async def refuse_reviewer_name(one: One, who: str) -> None:
    """An agent may not take a name that is (or was) a reviewer's."""
    row = await one("SELECT removed_at FROM reviewers WHERE name = ?", (who,))
    if row is not None:
        was = " (removed; its history stays)" if row[0] is not None else ""
        raise PermissionDenied(f"{who} is a registered reviewer{was}; an agent can never be a reviewer "
                               "(choose another name for the agent)")


class ReviewerOps(StoreBase):
    async def add_reviewer(self, name: str, *, by: str, dry_run: bool = False) -> Reviewer | None:
        """Register a person as a reviewer (or again, after removal). Only a reviewer adds another,
        except the very first; never an agent, and never under an agent's name. ``dry_run`` makes
        the checks and registers nobody (None)."""
        who = identity.canonical(name, "the reviewer name")
        adder = identity.canonical(by, "the name of who adds the reviewer")

        async def in_tx(tx: Tx) -> Reviewer | None:
            if await is_agent(tx.one, who):
                raise PermissionDenied(f"{who} is a registered agent; a reviewer can never be an agent "
                                       "(a person registers under their own name)")
            await self._check_registrar(tx, adder, "add")
            row = await tx.one("SELECT * FROM reviewers WHERE name = ?", (who,))
            if row is not None and row["removed_at"] is None:
                raise InvalidArgument(f"{who} is already a registered reviewer")
            if dry_run:
                return None
            if row is None:
                await tx.run("INSERT INTO reviewers (name, added_at, added_by) VALUES (?, ?, ?)",
                             (who, tx.now, adder))
            else:
                await tx.run("UPDATE reviewers SET added_at = ?, added_by = ?, removed_at = NULL, "
                             "removed_by = NULL WHERE id = ?", (tx.now, adder, row["id"]))
            await tx.event("reviewer.added", "reviewer", who, {"name": who, "by": adder})
            return reviewer_from_row(await tx.one("SELECT * FROM reviewers WHERE name = ?", (who,)))

        return await self._write(adder, in_tx)

    async def remove_reviewer(self, name: str, *, by: str, dry_run: bool = False) -> Reviewer:
        """Take a reviewer's seat away; the row stays, so their past decisions still name them.
        ``dry_run`` makes the checks and returns the reviewer as they are."""
        who = identity.key(name)
        remover = identity.canonical(by, "the name of who removes the reviewer")

        async def in_tx(tx: Tx) -> Reviewer:
            await self._check_registrar(tx, remover, "remove")
            row = None if who is None else await tx.one("SELECT * FROM reviewers WHERE name = ?", (who,))
            if row is None:
                raise NotFound(f"{name!r} is not a registered reviewer")
            if row["removed_at"] is not None:
                raise InvalidArgument(f"{who} is not an active reviewer (already removed)")
            if dry_run:
                return reviewer_from_row(row)
            await tx.run("UPDATE reviewers SET removed_at = ?, removed_by = ? WHERE id = ?",
                         (tx.now, remover, row["id"]))
            await tx.event("reviewer.removed", "reviewer", who, {"name": who, "by": remover})
            return reviewer_from_row(await tx.one("SELECT * FROM reviewers WHERE id = ?", (row["id"],)))

        return await self._write(remover, in_tx)

    async def _check_registrar(self, tx: Tx, who: str, verb: str) -> None:
        if await is_agent(tx.one, who):
            raise PermissionDenied(f"{who} is a registered agent; agents never add or remove reviewers: a person "
                                   "does, as a registered reviewer")
        anyone = await tx.one("SELECT 1 FROM reviewers WHERE removed_at IS NULL LIMIT 1")
        if anyone is None and verb == "add":
            return  # the first reviewer of a swarm has nobody to be added by
        if not await tx.one("SELECT 1 FROM reviewers WHERE name = ? AND removed_at IS NULL", (who,)):
            raise PermissionDenied(f"only a registered reviewer can {verb} a reviewer; {who} is not one "
                                   "(run it as a reviewer: --by NAME)")

    async def list_reviewers(self, *, include_removed: bool = False) -> list[Reviewer]:
        where = "" if include_removed else " WHERE removed_at IS NULL"
        return [reviewer_from_row(r) for r in await self._all(f"SELECT * FROM reviewers{where} ORDER BY name")]

    async def get_reviewer(self, name: str) -> Reviewer:
        who = identity.key(name)
        row = None if who is None else await self._one("SELECT * FROM reviewers WHERE name = ?", (who,))
        if row is None:
            raise NotFound(f"{name!r} is not a registered reviewer")
        return reviewer_from_row(row)

    async def check_reviewer(self, name: str, *, milestone: int | str | None = None,
                             act: str = "decide a gate") -> Reviewer:
        """The reviewer ``name`` if they may ``act`` (on ``milestone``'s current report), else the
        PermissionDenied the act itself would meet: a seat asks before a person writes a rationale."""
        who = identity.key(name)
        if who is None:
            raise PermissionDenied(f"{name!r} is not a registered reviewer, so cannot {act}")
        if milestone is not None:
            ms = await self.get_milestone(milestone)  # type: ignore[attr-defined]
            row = await self._one(
                "SELECT submitted_by FROM validation_reports WHERE milestone_id = ? ORDER BY version DESC LIMIT 1",
                (ms.id,),
            )
            if row is not None:
                check_not_submitter(who, row[0], act)
        return await require_reviewer(self._one, who, act)
