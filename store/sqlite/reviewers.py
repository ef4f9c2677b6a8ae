"""Reviewers: the registered people who decide gates, resume the swarm and close conditions.

Agents and reviewers are two disjoint sets of canonical names (store/identity.py): a name is never
both, whichever was registered first. The checks here are the store's, so every interface (Python
API, CLI, MCP server, dashboard) meets the same ones.
"""

from __future__ import annotations

from typing import Any

from .. import identity, signing
from ..domain.reviewers import agent_refused, check_reviewer
from ..gates import check_not_submitter
from ..errors import InvalidArgument, NotFound, PermissionDenied, Remedy
from ..events import EventKind
from ..models import Reviewer
from .base import One, Reads, StoreBase, Tx
from .rows import reviewer_from_row


def is_agent(who: str) -> Reads[bool]:
    return (yield One("SELECT 1 FROM agents WHERE name = ?", (who,))) is not None


def require_reviewer(who: str, act: str, *, keyed: bool = True) -> Reads[Reviewer]:
    """The active reviewer ``who`` (canonical), or PermissionDenied saying why they cannot ``act``.
    ``keyed``: they must have a signing key too (every act of theirs is signed)."""
    if (yield from is_agent(who)):
        raise agent_refused(who, act)
    row = yield One("SELECT * FROM reviewers WHERE name = ?", (who,))
    return check_reviewer(who, act, None if row is None else reviewer_from_row(row), keyed=keyed)


def check_public_key(public_key: Any) -> bytes:
    if not isinstance(public_key, (bytes, bytearray)) or len(public_key) != 32:
        raise InvalidArgument("a reviewer's public key is the 32 raw bytes of an ed25519 key")
    return bytes(public_key)


class ReviewerOps(StoreBase):
    async def add_reviewer(self, name: str, *, by: str, public_key: bytes | None = None,
                           dry_run: bool = False) -> Reviewer | None:
        """Register a person as a reviewer (or again, after removal). Only a reviewer adds another,
        except the very first; never an agent, and never under an agent's name. ``public_key``: their
        ed25519 public key (32 raw bytes), which every act of theirs is signed with; without one they
        can act only once they have one (``set_reviewer_key``). A reviewer registered again keeps the
        key they had. ``dry_run`` makes the checks and registers nobody (None)."""
        who = identity.canonical(name, "the reviewer name")
        adder = identity.canonical(by, "the name of who adds the reviewer")
        key = None if public_key is None else check_public_key(public_key)

        def in_tx(tx: Tx) -> Reviewer | None:
            if tx.read(is_agent(who)):
                raise PermissionDenied(f"{who} is a registered agent; a reviewer can never be an agent "
                                       "(a person registers under their own name)")
            self._check_registrar(tx, adder, "add")
            row = tx.one("SELECT * FROM reviewers WHERE name = ?", (who,))
            if row is not None and row["removed_at"] is None:
                raise InvalidArgument(f"{who} is already a registered reviewer")
            had = None if row is None else row["public_key"]
            if had is not None and key is not None and bytes(had) != key:
                raise PermissionDenied(f"{who} was registered with another signing key "
                                       f"({signing.fingerprint(had)}); a reviewer's key never changes: register "
                                       "them again with that key")
            if dry_run:
                return None
            if row is None:
                tx.run("INSERT INTO reviewers (name, public_key, added_at, added_by) VALUES (?, ?, ?, ?)",
                       (who, key, tx.now, adder))
            else:
                tx.run("UPDATE reviewers SET added_at = ?, added_by = ?, removed_at = NULL, "
                       "removed_by = NULL, public_key = coalesce(public_key, ?) WHERE id = ?",
                       (tx.now, adder, key, row["id"]))
            final = had if had is not None else key
            tx.event(EventKind.REVIEWER_ADDED, "reviewer", who, {
                "name": who, "by": adder, "key": None if final is None else signing.fingerprint(final)})
            return reviewer_from_row(tx.one("SELECT * FROM reviewers WHERE name = ?", (who,)))

        return await self._write(adder, in_tx)

    async def set_reviewer_key(self, name: str, *, public_key: bytes, by: str | None = None,
                               dry_run: bool = False) -> Reviewer:
        """Give a registered reviewer who has none their signing key (its public half). Once set it
        never changes. ``by``: who does it, the reviewer themself by default (a reviewer either way).
        ``dry_run`` makes the checks and returns the reviewer as they are."""
        who = identity.key(name)
        actor = identity.canonical(by, "the name of who sets the key") if by is not None else who
        key = check_public_key(public_key)

        def in_tx(tx: Tx) -> Reviewer:
            row = None if who is None else tx.one("SELECT * FROM reviewers WHERE name = ?", (who,))
            if row is None:
                raise NotFound(f"{name!r} is not a registered reviewer", entity="reviewer", key=name,
                               remedy=Remedy.REGISTER_REVIEWER, who=name)
            if row["removed_at"] is not None:
                raise InvalidArgument(f"{who} is not an active reviewer (removed by {row['removed_by']})")
            if row["public_key"] is not None:
                if bytes(row["public_key"]) == key:
                    return reviewer_from_row(row)  # the key they have: nothing to do
                raise PermissionDenied(f"{who} already has a signing key ({signing.fingerprint(row['public_key'])});"
                                       " a reviewer's key never changes")
            if actor != who:
                self._check_registrar(tx, actor, "give a key to")
            if dry_run:
                return reviewer_from_row(row)
            tx.run("UPDATE reviewers SET public_key = ? WHERE id = ?", (key, row["id"]))
            tx.event(EventKind.REVIEWER_KEY, "reviewer", who, {"name": who, "by": actor,
                                                              "key": signing.fingerprint(key)})
            return reviewer_from_row(tx.one("SELECT * FROM reviewers WHERE id = ?", (row["id"],)))

        return await self._write(actor or "unknown", in_tx)

    async def remove_reviewer(self, name: str, *, by: str, dry_run: bool = False) -> Reviewer:
        """Take a reviewer's seat away; the row stays, so their past decisions still name them.
        ``dry_run`` makes the checks and returns the reviewer as they are."""
        who = identity.key(name)
        remover = identity.canonical(by, "the name of who removes the reviewer")

        def in_tx(tx: Tx) -> Reviewer:
            self._check_registrar(tx, remover, "remove")
            row = None if who is None else tx.one("SELECT * FROM reviewers WHERE name = ?", (who,))
            if row is None:
                raise NotFound(f"{name!r} is not a registered reviewer")
            if row["removed_at"] is not None:
                raise InvalidArgument(f"{who} is not an active reviewer (already removed)")
            if dry_run:
                return reviewer_from_row(row)
            tx.run("UPDATE reviewers SET removed_at = ?, removed_by = ? WHERE id = ?",
                   (tx.now, remover, row["id"]))
            tx.event(EventKind.REVIEWER_REMOVED, "reviewer", who, {"name": who, "by": remover})
            return reviewer_from_row(tx.one("SELECT * FROM reviewers WHERE id = ?", (row["id"],)))

        return await self._write(remover, in_tx)

    def _check_registrar(self, tx: Tx, who: str, verb: str) -> None:
        if tx.read(is_agent(who)):
            raise PermissionDenied(f"{who} is a registered agent; agents never add or remove reviewers: a person "
                                   "does, as a registered reviewer")
        anyone = tx.one("SELECT 1 FROM reviewers WHERE removed_at IS NULL LIMIT 1")
        if anyone is None and verb == "add":
            return  # the first reviewer of a swarm has nobody to be added by
        if not tx.one("SELECT 1 FROM reviewers WHERE name = ? AND removed_at IS NULL", (who,)):
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
        return await self._read(require_reviewer(who, act))
