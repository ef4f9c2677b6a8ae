"""Reviewers on SQLite. The rules and the statements are both backends' (store/reviewer_area.py's
``Reviewers``); this store builds the part over a ``SqliteUnit`` of one transaction per write, and SQLite's
SQL as written."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..reads import One
from ..reviewer_area import Reviewers
from ..sql_dialect import SQLITE
from .uow import SqliteUnit

if TYPE_CHECKING:
    from ..models import Milestone
    from .base import Database

__all__ = ["Reviewers", "reviewers_part"]  # the part's class, and how this store builds it


def reviewers_part(db: Database, milestone: Callable[[int | str], Awaitable[Milestone]]) -> Reviewers:
    return Reviewers(db, milestone, unit=SqliteUnit, sql=SQLITE, one=One)
