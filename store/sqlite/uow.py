"""The SQLite unit of work: the domain's data operations (store/domain/uow.py) as SQL over one ``Tx``.

The operations that are the same statement on both backends are store/unit_base.py's; here are SQLite's
own, with their index hints and what they are for (the claim, the release, the completion that chains
the events, the hold). The rules themselves (what a claim hands out, what a failure holds)
are in store/domain/. A unit lives for one transaction and is made by the write body:
``lambda tx: domain.tasks.claim(SqliteUnit(tx, self), ...)``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import sqlean

from ..domain.uow import PrerequisiteState
from ..errors import NotFound
from ..models import CriterionEvidence, Task, TaskStatus
from ..reads import All, Reads
from ..rows import evidence_from_row, tasks_of
from ..sql_dialect import SQLITE
from ..unit_base import TASK_SELECT, UNFINISHED_SQL, MilestoneReads, UnitBase
from .base import Tx
from .liveness import ids_json
from .signatures import GUARD_MARK, Signatures


_TASK_BY_ID = f"{TASK_SELECT} WHERE t.id = ?"

#: The prerequisites (and their statuses) of the tasks whose ids are the JSON parameter.
PREREQUISITES_OF = (
    "SELECT d.task_id, d.prerequisite_id, p.status FROM task_dependencies d "
    "JOIN tasks p ON p.id = d.prerequisite_id "
    "WHERE d.task_id IN (SELECT value FROM json_each(?)) ORDER BY d.task_id, d.prerequisite_id"
)


def hydrate(rows: list[sqlean.Row]) -> Reads[list[Task]]:
    """Attach prerequisites, and say why each blocked task is blocked."""
    if not rows:
        return []
    return tasks_of(rows, (yield All(PREREQUISITES_OF, (ids_json(r["id"] for r in rows),))))


@functools.lru_cache(maxsize=64)
def _locked_sql(locked: frozenset[int]) -> str:
    """The locked milestones as the list of numbers the claim statement names (our own integer ids,
    never text): one statement text per locked set."""
    return ", ".join(map(str, sorted(locked)))


#: The pause flag, the newest event (what this transaction's first event chains to) and the
#: primary-key probes that say whether the cached guard still holds: one statement.
_PAUSE_AND_MARK = (
    "SELECT paused, reason, (SELECT max(id) FROM events), "
    "(SELECT hash FROM events WHERE id = (SELECT max(id) FROM events)), "
    f"{GUARD_MARK} FROM swarm_state WHERE id = 1"
)

_PAUSE_MARK_AND_AGENT = _PAUSE_AND_MARK.replace(
    " FROM swarm_state", ", EXISTS (SELECT 1 FROM agents WHERE name = ?) FROM swarm_state")

#: The claim: the choice and the update in one statement, returning the row it wrote.
_CLAIM = (
    "UPDATE tasks SET status = 'running', assigned_agent = ?, started_at = ?, "
    "lease_expires_at = ? + timeout_seconds, updated_at = ? "
    "WHERE id = (SELECT id FROM tasks WHERE status = 'ready'{filters} ORDER BY priority DESC, id LIMIT 1) "
    "RETURNING *"
)

#: A running task completed, returning the row it wrote, whether anything waits on it and the newest
#: event (what the completion's event chains to).
_COMPLETE = (
    "UPDATE tasks SET status = 'completed', result_data = ?, finished_at = ?, lease_expires_at = NULL, "
    "updated_at = ? WHERE id = ? AND status = 'running' "
    "RETURNING *, EXISTS (SELECT 1 FROM task_dependencies WHERE prerequisite_id = tasks.id) AS has_dependents, "
    "(SELECT max(id) FROM events) AS last_event, "
    "(SELECT hash FROM events WHERE id = (SELECT max(id) FROM events)) AS last_hash"
)


class SqliteUnit(UnitBase):
    """``domain.uow.Unit`` over one SQLite write transaction: store/unit_base.py's shared operations and
    SQLite's own. ``signatures``: the store's verdicts and gate guard, which outlive the transaction (the
    writes of gates and claims need them)."""

    __slots__ = ("event", "_leaves")

    sql = SQLITE
    reads = MilestoneReads(SQLITE)
    pause_sql, pause_and_agent_sql = _PAUSE_AND_MARK, _PAUSE_MARK_AND_AGENT

    def __init__(self, tx: Tx, signatures: Signatures | None = None) -> None:
        super().__init__(tx, signatures)
        self.event = tx.event
        self._leaves: set[int] = set()  # tasks this unit completed that nothing waits on

    # -- the swarm and the gates' guard ------------------------------------------------------------

    def _read_with_pause(self, rest: Sequence[Any]) -> tuple[Any, ...]:
        self.tx.chain_to(rest[0], rest[1])  # the newest event: what this transaction's first chains to
        return tuple(rest[2:])

    # -- tasks: reads -----------------------------------------------------------------------------

    def task(self, task_id: int) -> Task:
        rows = self.tx.all(_TASK_BY_ID, (task_id,))
        if not rows:
            raise NotFound(f"task {task_id} does not exist", entity="task", key=task_id)
        return tasks_of(rows, self.tx.all(PREREQUISITES_OF, (ids_json(r["id"] for r in rows),)))[0]

    def prerequisite_states(self, task_ids: Sequence[int]) -> dict[int, PrerequisiteState]:
        return {
            r[0]: PrerequisiteState(r[1], r[2], r[0] if r[1] == TaskStatus.FAILED else r[3])
            for r in self.tx.all(
                "SELECT id, status, dependency_depth, held_by FROM tasks "
                "WHERE id IN (SELECT value FROM json_each(?))",
                (ids_json(task_ids),),
            )
        }

    def ready_to_release(self, *, dependents_of: int | None = None, task_id: int | None = None,
                         milestone_id: int | None = None) -> list[int]:
        if dependents_of in self._leaves:
            return []  # its completion found nothing waiting on it
        if dependents_of is not None:
            where, params = "t.id IN (SELECT task_id FROM task_dependencies WHERE prerequisite_id = ?)", (dependents_of,)
        elif task_id is not None:
            where, params = "t.id = ?", (task_id,)
        else:
            where, params = "t.milestone_id = ? AND t.status = 'blocked'", (milestone_id,)
        # `+t.status`: never drive this from the status index (every blocked task); ``where`` narrows it.
        rows = self.tx.all(
            f"""SELECT t.id FROM tasks t LEFT JOIN milestones m ON m.id = t.milestone_id
                WHERE {where} AND +t.status = 'blocked'
                  AND (m.status IS NULL OR (m.status != 'locked' AND m.plan_state = 'active'))
                  AND NOT EXISTS (SELECT 1 FROM task_dependencies d JOIN tasks p ON p.id = d.prerequisite_id
                                  WHERE d.task_id = t.id AND p.status != 'completed')""",
            params,
        )
        return [r[0] for r in rows]

    # -- tasks: writes ----------------------------------------------------------------------------

    def claim_next(self, agent: str, agent_type: str | None, locked: frozenset[int] | None) -> Task | None:
        """One statement: the choice and the update; the task built from the row it returned."""
        of_type, params = ("", ()) if agent_type is None else (" AND agent_type = ?", (agent_type,))
        if locked:
            # `+milestone_id`: still walk the claim index in priority order, skipping the few ready
            # tasks (if any: status set around swarmdeck) of a milestone no verified gate opened. The
            # ids are the guard's own integers, written into the statement (one text per locked set).
            of_type += f" AND coalesce(+milestone_id, 0) NOT IN ({_locked_sql(locked)})"
        now = self.now
        row = self.tx.one(_CLAIM.format(filters=of_type), (agent, now, now, now, *params))
        return None if row is None else self._returned(row)

    def mark_completed(self, task_id: int, result_json: str | None) -> Task | None:
        row = self.tx.one(_COMPLETE, (result_json, self.now, self.now, task_id))
        if row is None:
            return None
        self.tx.chain_to(row["last_event"], row["last_hash"])
        if not row["has_dependents"]:
            self._leaves.add(task_id)
        return self._returned(row)

    # -- liveness ---------------------------------------------------------------------------------

    def hold(self, task_ids: Sequence[int], failed_id: int) -> list[int]:
        rows = self.tx.all(
            f"""WITH RECURSIVE down(id) AS (SELECT value FROM json_each(?) UNION
                    SELECT d.task_id FROM task_dependencies d JOIN down ON d.prerequisite_id = down.id)
                UPDATE tasks SET held_by = ?
                WHERE id IN down AND held_by IS NULL AND status IN {UNFINISHED_SQL} RETURNING id""",
            (ids_json(task_ids), failed_id),
        )
        return [r[0] for r in rows]

    # -- milestones and gates ---------------------------------------------------------------------

    def hold_milestone_tasks(self, milestone_id: int) -> list[int]:
        rows = self.tx.all("SELECT id FROM tasks WHERE milestone_id = ? AND status IN ('pending', 'ready') "
                           "ORDER BY id", (milestone_id,))
        ids = [r[0] for r in rows]
        if ids:
            self.tx.run("UPDATE tasks SET status = 'blocked', updated_at = ? WHERE milestone_id = ? "
                        "AND status IN ('pending', 'ready')", (self.now, milestone_id))
        return ids

    def insert_evidence(self, *, milestone_id: int, criterion: int, command: str, exit_code: int,
                        output_sha256: str, ran_at: float, recorded_by: str) -> CriterionEvidence:
        evidence_id = self.tx.run(
            """INSERT INTO criterion_evidence (milestone_id, criterion, command, exit_code, output_sha256,
                   ran_at, recorded_by, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (milestone_id, criterion, command, exit_code, output_sha256, ran_at, recorded_by, self.now))
        return evidence_from_row(self.tx.one("SELECT * FROM criterion_evidence WHERE id = ?", (evidence_id,)))
