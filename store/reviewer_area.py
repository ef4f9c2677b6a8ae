"""Reviewers: the registered people who decide gates, resume the swarm and close conditions. Who may
register whom is decided in store/domain/reviewers.py; this part reads and runs those rules, the same on
both backends: each store builds it over its unit of one transaction per write and its SQL dialect
(store/sqlite/reviewers.py, store/postgres/reviewers.py).

A name is never both an agent's and a reviewer's. On SQLite every write is serialised, so the check each
registration makes (is the name the other kind's?) cannot race. On PostgreSQL two transactions at READ
COMMITTED could each check, see nothing, and insert: an agent and a reviewer of one name. So adding a
reviewer runs SERIALIZABLE there, as an agent's registration does: of two such transactions that could not
have run one after the other, PostgreSQL rolls one back, and it runs again and is refused by the rule."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any

from . import identity
from .domain import reviewers
from .domain.reviewers import agent_refused, check_public_key, check_reviewer
from .errors import NotFound, PermissionDenied
from .gates import check_not_submitter
from .models import Milestone, Reviewer
from .rows import reviewer_from_row

if TYPE_CHECKING:
    from .domain.uow import Unit
    from .sql_dialect import Sql


class Reviewers:
    """Reviewers' public methods: the reads, and each registration write as a rule of
    store/domain/reviewers.py run over the backend's ``unit`` of one transaction. ``milestone``: how to look
    a milestone up (the gates part's ``get_milestone``), for asking on a milestone's current report;
    ``one``: the backend's read of one row (``One``), for the reads a unit-of-work generator makes."""

    __slots__ = ("_milestone", "_one_row", "_sql", "_unit", "db")

    def __init__(self, db: Any, milestone: Callable[[int | str], Awaitable[Milestone]], *,
                 unit: Callable[[Any], Unit], sql: Sql, one: Callable[[str, tuple[Any, ...]], Any]) -> None:
        self.db = db
        self._milestone = milestone
        self._unit = unit
        self._sql = sql
        self._one_row = one

    def _require_reviewer(self, who: str, act: str) -> Generator[Any, Any, Reviewer]:
        """The active reviewer ``who`` (canonical) with a signing key, or PermissionDenied saying why they
        cannot ``act`` (a ``Reads`` generator)."""
        q = self._sql.q
        if (yield self._one_row(q("SELECT 1 FROM agents WHERE name = ?"), (who,))) is not None:
            raise agent_refused(who, act)
        row = yield self._one_row(q("SELECT * FROM reviewers WHERE name = ?"), (who,))
        return check_reviewer(who, act, None if row is None else reviewer_from_row(row), keyed=True)

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
        return await self.db._write(adder, lambda tx: reviewers.add(
            self._unit(tx), who, by=adder, key=key, dry_run=dry_run), serializable=True)

    async def set_reviewer_key(self, name: str, *, public_key: bytes, by: str | None = None,
                               dry_run: bool = False) -> Reviewer:
        """Give a registered reviewer who has none their signing key (its public half). Once set it
        never changes. ``by``: who does it, the reviewer themself by default (a reviewer either way).
        ``dry_run`` makes the checks and returns the reviewer as they are."""
        who = identity.key(name)
        actor = identity.canonical(by, "the name of who sets the key") if by is not None else who
        key = check_public_key(public_key)
        return await self.db._write(actor or "unknown", lambda tx: reviewers.set_key(
            self._unit(tx), who, name, by=actor, key=key, dry_run=dry_run))

    async def remove_reviewer(self, name: str, *, by: str, dry_run: bool = False) -> Reviewer:
        """Take a reviewer's seat away; the row stays, so their past decisions still name them.
        ``dry_run`` makes the checks and returns the reviewer as they are."""
        who = identity.key(name)
        remover = identity.canonical(by, "the name of who removes the reviewer")
        return await self.db._write(remover, lambda tx: reviewers.remove(
            self._unit(tx), who, name, by=remover, dry_run=dry_run))

    async def list_reviewers(self, *, include_removed: bool = False) -> list[Reviewer]:
        where = "" if include_removed else " WHERE removed_at IS NULL"
        rows = await self.db._all(f"SELECT * FROM reviewers{where} ORDER BY {self._sql.binary('name')}")
        return [reviewer_from_row(r) for r in rows]

    async def get_reviewer(self, name: str) -> Reviewer:
        who = identity.key(name)
        row = None if who is None else await self.db._one(self._sql.q("SELECT * FROM reviewers WHERE name = ?"), (who,))
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
            ms = await self._milestone(milestone)
            row = await self.db._one(
                self._sql.q("SELECT submitted_by FROM validation_reports WHERE milestone_id = ? "
                            "ORDER BY version DESC LIMIT 1"),
                (ms.id,),
            )
            if row is not None:
                check_not_submitter(who, row[0], act)
        return await self.db._read(self._require_reviewer(who, act))
