"""Reviewers on PostgreSQL. The rules and the statements are both backends' (store/reviewer_area.py's
``Reviewers``, which says why adding one runs SERIALIZABLE here); this store builds the part over a
``PgUnit`` per write that first waits for any other write of the gates and reviewers (uow.py's
``gate_unit``: they run one at a time, as on SQLite), and SQLite's statements in PostgreSQL's terms."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..reads import One
from ..reviewer_area import Reviewers
from .sql import PG_SQL
from .uow import gate_unit

if TYPE_CHECKING:
    from ..models import Milestone
    from .base import Database

__all__ = ["Reviewers", "reviewers_part"]  # the part's class, and how this store builds it


def reviewers_part(db: Database, milestone: Callable[[int | str], Awaitable[Milestone]]) -> Reviewers:
    return Reviewers(db, milestone, unit=gate_unit, sql=PG_SQL, one=One)
