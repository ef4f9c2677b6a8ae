"""The task queue on SQLite. The rules and the statements are both backends' (store/task_area.py's ``Tasks``);
this store builds the part over a ``SqliteUnit`` of one transaction per write (every write, a claim and a new
dependency too: one write runs at a time, inside one BEGIN IMMEDIATE transaction), SQLite's SQL as written,
and the task statements of its unit of work (uow.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..sql_dialect import SQLITE
from ..task_area import Tasks
from .uow import SqliteUnit, hydrate

if TYPE_CHECKING:
    from ..domain.liveness import Housekeeping
    from .base import Database
    from .signatures import Signatures

__all__ = ["Tasks", "tasks_part"]  # the part's class, and how this store builds it


def tasks_part(db: Database, signatures: Signatures, chores: Housekeeping) -> Tasks:
    return Tasks(db, signatures, chores, unit=SqliteUnit, claim_unit=SqliteUnit, dependency_unit=SqliteUnit,
                 sql=SQLITE, hydrate=hydrate, id_values=list)
