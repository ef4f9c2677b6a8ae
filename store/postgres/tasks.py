"""The task queue on PostgreSQL. The rules and the statements are both backends' (store/task_area.py's
``Tasks``); this store builds the part over a ``PgUnit`` of one transaction per write, SQLite's statements in
PostgreSQL's terms (``PgSql``), and the task statements of its unit of work (uow.py).

The claim is one statement (uow.py's ``_CLAIM``): ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP
LOCKED LIMIT 1) RETURNING *``, so concurrent claims from many stores never wait on each other's row
and never hand one task out twice. What else keeps concurrent stores to SQLite's outcomes (where one
write runs at a time) is said where it is done: the row locks of uow.py's docstring,
``DEPENDENCY_LOCK`` below, and the gates' lock a claim holds shared (uow.py's ``share_gates``), so no
escalation commits between the claim's look at the guard and its commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..rows import tasks_of
from ..task_area import Tasks
from ..reads import All
from .sql import PG_SQL
from .uow import PREREQUISITES_OF, PgUnit

if TYPE_CHECKING:
    from ..domain.liveness import Housekeeping
    from ..models import Task
    from .base import Database, Reads, Tx
    from .signatures import Signatures

__all__ = ["DEPENDENCY_LOCK", "Tasks", "tasks_part"]  # the part's class, and how this store builds it

#: Advisory lock key (64-bit, "SWKD" then a purpose, as schema.py's): adding a dependency. Two
#: dependencies added at once, each fine alone, can close a cycle together, which neither one's check
#: would see (on SQLite one write runs at a time); so they are added one at a time, the lock taken
#: before anything is read.
DEPENDENCY_LOCK = 0x53574B44_00000101


def tasks_part(db: Database, signatures: Signatures, chores: Housekeeping) -> Tasks:
    return Tasks(db, signatures, chores, unit=PgUnit, claim_unit=claim_unit, dependency_unit=dependency_unit,
                 sql=PG_SQL, hydrate=hydrate, id_values=_ids)


def claim_unit(tx: Tx, signatures: Signatures) -> PgUnit:
    """The unit of a claim: no gate write under way while it reads the guard and hands out a task."""
    u = PgUnit(tx, signatures)
    u.share_gates()
    return u


def dependency_unit(tx: Tx, signatures: Signatures) -> PgUnit:
    """The unit of a new dependency, made once no other is being added (``DEPENDENCY_LOCK``)."""
    tx.run("SELECT pg_advisory_xact_lock(%s)", (DEPENDENCY_LOCK,))
    return PgUnit(tx, signatures)


def hydrate(rows: list[Any]) -> Reads[list[Task]]:
    """Attach prerequisites, and say why each blocked task is blocked."""
    if not rows:
        return []
    return tasks_of(rows, (yield All(PREREQUISITES_OF, ([r["id"] for r in rows],))))


def _ids(task_ids: Iterable[Any]) -> list[int]:
    """Ids as one array parameter (``= ANY(%s)``); a value that is no id matches nothing, as SQLite's
    ``json_each`` comparison does."""
    out = []
    for i in task_ids:
        if isinstance(i, int) and not isinstance(i, bool) and -2**63 <= i < 2**63:
            out.append(i)
    return out
