"""Signed acts on PostgreSQL: store/signatures.py's ``Signatures`` with PostgreSQL's reads.

The guard's mark differs from SQLite's. There the newest id of each gate table says whether a table grew,
because ids are given under the write lock in commit order. Here identity ids are given at insert and
committed in any order (a row with a smaller id can commit after a larger one was read), so the mark is
each table's row count with its newest id: a row committed late changes the count. Each milestone's
current report, its newest version, is a ``DISTINCT ON``."""

from __future__ import annotations

from ..reads import All, One
from ..signatures import Signatures
from ..sql_dialect import DECISION_SELECT
from .sql import PG_SQL

__all__ = ["DECISION_SELECT", "GUARD_MARK", "Signatures", "new_signatures"]

GUARD_MARK = ", ".join(f"(SELECT count(*) FROM {t}), (SELECT max(id) FROM {t})" for t in (
    "gate_decisions", "gate_resumptions", "validation_reports", "milestones", "reviewers")) \
    + ", (SELECT sum(plan_version) FROM milestones)"

CURRENT_REPORTS = ("SELECT DISTINCT ON (milestone_id) milestone_id, id FROM validation_reports "
                   "ORDER BY milestone_id, version DESC")


def new_signatures() -> Signatures:
    """The verdicts and guard of one store."""
    return Signatures(sql=PG_SQL, all_rows=All, one_row=One, guard_mark=GUARD_MARK, current_reports=CURRENT_REPORTS)
