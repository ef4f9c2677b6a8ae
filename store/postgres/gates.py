"""Milestones, validation reports, gate decisions, conditions, and pausing the swarm, on PostgreSQL. The rules
and the statements are both backends' (store/gate_area.py's ``Gates``); this store builds the part over a
``PgUnit`` per write that first waits for any other write of the gates and reviewers (uow.py's ``gate_unit``:
they run one at a time, as on SQLite), and SQLite's statements in PostgreSQL's terms (``PgSql``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..gate_area import Gates
from .sql import PG_SQL
from .uow import PgUnit, gate_unit

if TYPE_CHECKING:
    from .base import Database
    from .signatures import Signatures

__all__ = ["Gates", "gates_part"]  # the part's class, and how this store builds it


def gates_part(db: Database, signatures: Signatures) -> Gates:
    return Gates(db, signatures, unit=gate_unit, sql=PG_SQL, milestone_reads=PgUnit.reads.milestone,
                 report_reads=PgUnit.reads.report)
