"""Signed acts, verified wherever they are read: gate decisions, resumes and condition closures.

A row's signature is checked against its reviewer's registered public key over the payload rebuilt
from the row itself (store/signing.py), so a row written around swarmdeck (raw SQL on a file every
agent can write) shows unverified, whatever it holds. Only verified rows count for what opens:
which milestones' tasks are handed out and whether the swarm is paused (``GateGuard``), whatever
the milestones' status column or the swarm's pause flag say.

Both are cached in the store. A verdict is kept by row with exactly what it covered (key, payload,
signature), so a row rewritten in place is checked again. The guard is computed again only when a
gate table has a new row (a few primary-key probes per claim): gate rows are append-only, and a
row changed in place without a new one can at worst leave the guard as the verified rows had made
it, never open something they did not.

The same on both backends: a store builds ``Signatures`` with its SQL dialect, its ``Reads`` steps (``All``,
``One``), its guard mark and its query for each milestone's current report (store/sqlite/signatures.py,
store/postgres/signatures.py say why theirs differ).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import identity
from .domain.gates import GateGuard, escalation_reason, guard
from .rows import prerequisite_ids
from .sql_dialect import DECISION_SELECT

if TYPE_CHECKING:
    from .sql_dialect import Sql

#: A read step a backend's ``Reads`` generator yields (its ``All`` or ``One``): statement, parameters.
Step = Callable[..., Any]
#: A ``Reads`` generator: yields steps, is sent their rows, returns its result.
Reads = Generator[Any, Any, Any]

_VERDICTS_MAX = 100_000


class Signatures:
    """The verdicts on signed rows and the gate guard, cached for one store object (which holds one
    of these): every method is a ``Reads`` generator or pure, so it serves the write transaction
    and the reader alike."""

    def __init__(self, *, sql: Sql, all_rows: Step, one_row: Step, guard_mark: str, current_reports: str) -> None:
        """``guard_mark``: the columns whose values change when a gate's verified state can;
        ``current_reports``: (milestone id, report id) of each milestone's newest report version."""
        self._verdicts: dict[tuple[str, int], tuple[tuple[Any, bytes, Any], bool]] = {}
        self._guard_cache: tuple[tuple[Any, ...], GateGuard] | None = None
        self._sql = sql
        self._all = all_rows
        self._one = one_row
        self._guard_mark = guard_mark
        self._current_reports = current_reports

    # -- verdicts ---------------------------------------------------------------------------------

    def verdict(self, kind: str, row_id: int, public_key: Any, message: bytes, signature: Any) -> bool:
        """``signing.verify``, remembered for the row as long as what it covered is unchanged."""
        from . import signing

        covered = (public_key, message, signature)
        seen = self._verdicts.get((kind, row_id))
        if seen is not None and seen[0] == covered:
            return seen[1]
        ok = signing.verify(public_key, message, signature)
        if len(self._verdicts) >= _VERDICTS_MAX:
            self._verdicts.clear()
        self._verdicts[(kind, row_id)] = (covered, ok)
        return ok

    def reviewer_keys(self) -> Reads:
        """{reviewer: public key} of every reviewer with a key."""
        rows = yield self._all("SELECT name, public_key FROM reviewers WHERE public_key IS NOT NULL")
        return {r[0]: r[1] for r in rows}

    @staticmethod
    def key_of(keys: dict[str, Any], who: Any) -> Any:
        return keys.get(identity.key(who) or who) if isinstance(who, str) else None

    def conditions_of(self, decision_ids: Iterable[int]) -> Reads:
        """Each decision's conditions, in order: part of what the decision's signature covers."""
        ids = sorted(set(decision_ids))
        out: dict[int, list[str]] = defaultdict(list)
        if ids:
            among, listed = self._sql.ids("decision_id", ids)
            for r in (yield self._all(self._sql.q(f"SELECT decision_id, text FROM gate_conditions WHERE {among} "
                                                  "ORDER BY id"), (listed,))):
                out[r[0]].append(r[1])
        return out

    def decision_verified(self, row: Mapping[str, Any], conditions: list[str], keys: dict[str, Any]) -> bool:
        """Signed by the reviewer's key over exactly this decision of exactly the report it names."""
        from . import signing
        from .rows import accepted_unmet

        if row["report_content_hash"] is None or row["report_content_hash"] != row["report_hash"] \
                or row["report_milestone"] != row["milestone_id"]:
            return False
        message = signing.decision_payload(
            milestone_id=row["milestone_id"], report_hash=row["report_hash"], decision=row["decision"],
            rationale=row["rationale"], conditions=conditions, reviewer=row["reviewer"],
            accepted_unmet=accepted_unmet(row["accepted_unmet"]))
        return self.verdict("decision", row["id"], self.key_of(keys, row["reviewer"]), message, row["signature"])

    def resumption_verified(self, row: Mapping[str, Any], keys: dict[str, Any]) -> bool:
        from . import signing

        message = signing.resume_payload(escalation_id=row["escalation_id"] or 0, note=row["reason"],
                                         reviewer=row["resumed_by"])
        return self.verdict("resumption", row["id"], self.key_of(keys, row["resumed_by"]), message,
                             row["signature"])

    def closure_verified(self, row: Mapping[str, Any], keys: dict[str, Any]) -> bool:
        from . import signing

        if row["status"] != "closed":
            return False
        message = signing.close_payload(condition_id=row["id"], note=row["note"], reviewer=row["closed_by"])
        return self.verdict("closure", row["id"], self.key_of(keys, row["closed_by"]), message,
                             row["close_signature"])

    def verified_decisions(self, rows: list[Mapping[str, Any]],
                            keys: dict[str, Any] | None = None) -> Reads:
        """Whether each decision row is verified (in order)."""
        if keys is None:
            keys = yield from self.reviewer_keys()
        conditions = yield from self.conditions_of(r["id"] for r in rows if r["decision"] == "CONDITIONAL")
        return [self.decision_verified(r, conditions.get(r["id"], []), keys) for r in rows]

    # -- what verified decisions allow -------------------------------------------------------------

    def cached_guard(self, mark: tuple[Any, ...]) -> GateGuard | None:
        """The guard kept for ``mark`` (the guard mark's columns), or None if it must be computed."""
        cached = self._guard_cache
        return cached[1] if cached is not None and cached[0] == mark else None

    def gate_guard(self, mark: tuple[Any, ...] | None = None) -> Reads:
        """The gates as verified decisions leave them; computed again only when a gate table grew.
        ``mark``: the guard mark's columns, if the caller read them already.

        Call it before a transaction writes to any gate table (or on the reader): a guard computed
        from rows a transaction then rolls back would be kept under ids that later rows reuse."""
        if mark is None:
            mark = tuple((yield self._one(f"SELECT {self._guard_mark}")))
        cached = self._guard_cache
        if cached is not None and cached[0] == mark:
            return cached[1]
        guard = yield from self.compute_guard()
        self._guard_cache = (mark, guard)
        return guard

    def compute_guard(self) -> Reads:
        keys = yield from self.reviewer_keys()
        milestones = yield self._all("SELECT id, name, required_approvals, prerequisites, plan_state "
                                     "FROM milestones ORDER BY position")
        current = {r[0]: r[1] for r in (yield self._all(self._current_reports))}
        rows = yield self._all(f"{DECISION_SELECT} WHERE g.decision IN ('APPROVE', 'CONDITIONAL', 'ESCALATE') "
                         "ORDER BY g.id")
        approvers: dict[int, set[str]] = defaultdict(set)
        escalation = None
        for row, ok in zip(rows, (yield from self.verified_decisions(rows, keys))):
            if not ok:
                continue
            if row["decision"] == "ESCALATE":
                escalation = row
            elif current.get(row["milestone_id"]) == row["report_id"]:
                approvers[row["milestone_id"]].add(identity.key(row["reviewer"]) or row["reviewer"])
        outstanding = None
        if escalation is not None:
            lifts = yield self._all(self._sql.q("SELECT * FROM gate_resumptions WHERE escalation_id = ?"),
                                    (escalation["id"],))
            if not any(self.resumption_verified(r, keys) for r in lifts):
                names = {m["id"]: m["name"] for m in milestones}
                named = names.get(escalation["milestone_id"], str(escalation["milestone_id"]))
                reason = escalation_reason(named, escalation["reviewer"], escalation["rationale"])
                outstanding = (escalation["id"], escalation["milestone_id"], reason)
        plan = [(m["id"], m["required_approvals"], prerequisite_ids(m["prerequisites"]), m["plan_state"])
                for m in milestones]
        return guard(plan, approvers, outstanding)
