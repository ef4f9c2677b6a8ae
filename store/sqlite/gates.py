"""Milestones, validation reports, gate decisions, conditions, and pausing the swarm, on SQLite. The rules and
the statements are both backends' (store/gate_area.py's ``Gates``); this store builds the part over a
``SqliteUnit`` of one transaction per write, and SQLite's SQL as written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..gate_area import Gates
from ..sql_dialect import SQLITE
from .uow import SqliteUnit

if TYPE_CHECKING:
    from .base import Database
    from .signatures import Signatures

__all__ = ["Gates", "gates_part"]  # the part's class, and how this store builds it


def gates_part(db: Database, signatures: Signatures) -> Gates:
    return Gates(db, signatures, unit=SqliteUnit, sql=SQLITE, milestone_reads=SqliteUnit.reads.milestone,
                 report_reads=SqliteUnit.reads.report)
