"""Signed acts on SQLite: store/signatures.py's ``Signatures`` with SQLite's reads.

The guard's mark is the newest id of each gate table: ids are given under the write lock in commit order,
so a table that grew has a newer one. Each milestone's current report is its newest version (a bare column
beside ``max()`` is that row's, in SQLite)."""

from __future__ import annotations

from ..reads import All, One
from ..signatures import Signatures
from ..sql_dialect import DECISION_SELECT, SQLITE

__all__ = ["DECISION_SELECT", "GUARD_MARK", "Signatures", "new_signatures"]

#: One primary-key probe per table: what changes when a gate's verified state can. Columns to add to a
#: statement a transaction runs anyway (the claim reads the pause flag with them).
GUARD_MARK = ("(SELECT max(id) FROM gate_decisions), (SELECT max(id) FROM gate_resumptions), "
              "(SELECT max(id) FROM validation_reports), (SELECT max(id) FROM milestones), "
              "(SELECT max(id) FROM reviewers), (SELECT sum(plan_version) FROM milestones)")

CURRENT_REPORTS = "SELECT milestone_id, id, max(version) FROM validation_reports GROUP BY milestone_id"


def new_signatures() -> Signatures:
    """The verdicts and guard of one store."""
    return Signatures(sql=SQLITE, all_rows=All, one_row=One, guard_mark=GUARD_MARK, current_reports=CURRENT_REPORTS)
