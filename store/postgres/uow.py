"""The PostgreSQL unit of work: the domain's data operations (store/domain/uow.py) as SQL over one
``Tx`` of store/postgres/base.py. The rules themselves are store/domain/'s, unchanged; rows become
models through store/rows.py, as SQLite's do.

The operations that are the same statement on both backends are store/unit_base.py's (SQLite's SQL
through ``PG_SQL``); here are PostgreSQL's own: the row locks below, the gates' lock (``gate_unit``),
and the statements whose SQL differs from SQLite's (store/sqlite/uow.py).

Locks. On SQLite one write runs at a time, so what a rule read stays true until its commit. Here
other stores' transactions run at the same time (READ COMMITTED), so the rows a task rule decides
from are locked as it reads them: a task it reads (``task``: ``FOR UPDATE``), the prerequisites of a
task being enqueued (in id order), the blocked tasks a completion may release (locked before their
prerequisites are looked at, in a statement of its own), a cancel's cascade and what a failure holds
or a retry lets go (locked, then read again until nothing new is found), and the tasks a reaper
takes (``SKIP LOCKED``). Without them, on this backend: two stores completing a task's last two
prerequisites at once each saw the other still running and left it blocked for good; so did an
enqueue racing its prerequisite's completion; a task enqueued during a cancel waited on a cancelled
task, one enqueued during a failure was not held by it, one enqueued during a retry stayed held by a
task no longer failed, and two stores reaping at once retried each task twice
(tests/store/test_pg_task_concurrency.py). A lock wait is bounded by ``lock_timeout``, and a deadlock
is ``Busy``, as store/postgres/base.py says.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..domain.uow import PrerequisiteState
from ..errors import NotFound
from ..events import EventKind
from ..models import (
    CriterionEvidence,
    Task,
    TaskStatus,
)
from ..rows import (
    evidence_from_row,
    tasks_of,
)
from .base import Tx
from .schema import GATES_LOCK
from ..unit_base import TASK_SELECT, UNFINISHED_SQL, MilestoneReads, UnitBase
# store/postgres/tasks.py takes these from here.
from .signatures import GUARD_MARK, Signatures
from .sql import PG_SQL


#: The pause flag and the marks that say whether the cached guard still holds: one statement.
_PAUSE_AND_MARK = f"SELECT paused, reason, {GUARD_MARK} FROM swarm_state WHERE id = 1"
#: The same, and whether an agent is registered (a claim's next question).
_PAUSE_MARK_AND_AGENT = _PAUSE_AND_MARK.replace(
    " FROM swarm_state", ", EXISTS (SELECT 1 FROM agents WHERE name = %s) FROM swarm_state")


def gate_unit(tx: Tx, signatures: Signatures | None = None) -> PgUnit:
    """The unit of a write of the gates or reviewers (a milestone or report added, a decision, a
    closure, a resume, a reviewer added, keyed or removed). It first waits for any other such write to
    end (the advisory lock ``GATES_LOCK``, held to commit), so these run one at a time, as every write
    does on SQLite: each one's reads (statements at READ COMMITTED) see every one committed before it.
    Without it, two approvals of a 2-approval gate made at once would each count one, and neither
    would pass the gate; a decision would race its report's next version or its reviewer's removal.
    They are people's acts, a few a day: waiting costs nothing that matters."""
    u = PgUnit(tx, signatures)
    u.lock_gates()
    return u
# -- the task queue's statements ---------------------------------------------------------------------

#: A task a rule reads to decide on, locked until the transaction ends (``FOR UPDATE OF t``): what a
#: rule decides from it stays true until its commit, as under SQLite's one writer (module docstring).
TASK_BY_ID = f"{TASK_SELECT} WHERE t.id = %s FOR UPDATE OF t"

#: The prerequisites (and their statuses) of the tasks whose ids are the array parameter.
PREREQUISITES_OF = (
    "SELECT d.task_id, d.prerequisite_id, p.status FROM task_dependencies d "
    "JOIN tasks p ON p.id = d.prerequisite_id "
    "WHERE d.task_id = ANY(%s) ORDER BY d.task_id, d.prerequisite_id"
)

#: The claim: the choice and the update in one statement, returning the row it wrote. The subquery
#: locks the row it picks and skips rows other claims hold; a row whose claim committed meanwhile is
#: re-checked (no longer 'ready') and passed over. ``{filters}``: the agent type and locked milestones.
_CLAIM = (
    "UPDATE tasks SET status = 'running', assigned_agent = %s, started_at = %s, "
    "lease_expires_at = %s + timeout_seconds, updated_at = %s "
    "WHERE id = (SELECT id FROM tasks WHERE status = 'ready'{filters} ORDER BY priority DESC, id "
    "LIMIT 1 FOR UPDATE SKIP LOCKED) "
    "RETURNING *"
)


#: The unfinished tasks among the given ones and everything waiting on them, transitively, that no
#: failure holds yet: what a failure for good holds.
_HOLDABLE = f"""WITH RECURSIVE down(id) AS (SELECT unnest(%s::bigint[]) UNION
                    SELECT d.task_id FROM task_dependencies d JOIN down ON d.prerequisite_id = down.id)
                SELECT t.id FROM tasks t
                WHERE t.id IN (SELECT id FROM down) AND t.held_by IS NULL AND t.status IN {UNFINISHED_SQL}
                ORDER BY t.id"""


class PgUnit(UnitBase):
    """One write transaction of the PostgreSQL store, seen by the rules (``domain.uow.Unit``):
    store/unit_base.py's shared operations and PostgreSQL's own (the row locks of the module docstring)."""

    __slots__ = ()

    sql = PG_SQL
    reads = MilestoneReads(PG_SQL)
    json_param = "?::jsonb"  # JSON columns are jsonb, given as JSON text
    pause_sql, pause_and_agent_sql = _PAUSE_AND_MARK, _PAUSE_MARK_AND_AGENT
    id_param = "?::bigint"  # a parameter alone in a SELECT has no type PostgreSQL can tell

    def event(self, kind: EventKind, entity: str, entity_id: Any = None,
              payload: dict[str, Any] | None = None) -> None:
        self.tx.event(kind, entity, entity_id, payload)

    # -- the task queue (store/domain/tasks.py, liveness.py): what differs from SQLite's, mostly its row
    # -- locks; the operations that are one statement on both are store/unit_base.py's ----------------

    def task(self, task_id: int) -> Task:
        rows = self.tx.all(TASK_BY_ID, (task_id,))
        if not rows:
            raise NotFound(f"task {task_id} does not exist", entity="task", key=task_id)
        return tasks_of(rows, self.tx.all(PREREQUISITES_OF, ([r["id"] for r in rows],)))[0]

    def prerequisite_states(self, task_ids: Sequence[int]) -> dict[int, PrerequisiteState]:
        return {
            r[0]: PrerequisiteState(r[1], r[2], r[0] if r[1] == TaskStatus.FAILED else r[3])
            for r in self.tx.all(
                # Locked (in id order): a completion of one of them waits for this enqueue, or this
                # enqueue for it, so one of the two sees the other.
                "SELECT id, status, dependency_depth, held_by FROM tasks WHERE id = ANY(%s) "
                "ORDER BY id FOR UPDATE",
                (list(task_ids),))
        }

    def cascade_of(self, task_id: int) -> list[int]:
        """What waits on the task, transitively, unfinished; locked (as found, in id order) and read
        again until no more is found: a task enqueued meanwhile on one of them is then either seen
        here, or waits for this transaction and finds its prerequisite cancelled."""
        cascade = super().cascade_of
        return self._locked_as_found(lambda: cascade(task_id))

    def _locked_as_found(self, find: Callable[[], list[int]]) -> list[int]:
        """The task ids ``find`` reads, each locked as found (in id order), read again until no new one
        is found."""
        locked: set[int] = set()
        while True:
            ids = find()
            new = [i for i in ids if i not in locked]
            if not new:
                return ids
            self.tx.all("SELECT id FROM tasks WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (new,))
            locked.update(new)

    def ready_to_release(self, *, dependents_of: int | None = None, task_id: int | None = None,
                         milestone_id: int | None = None) -> list[int]:
        if dependents_of is not None:
            where, params = ("t.id IN (SELECT task_id FROM task_dependencies WHERE prerequisite_id = %s)",
                             (dependents_of,))
        elif task_id is not None:
            where, params = "t.id = %s", (task_id,)
        else:
            where, params = "t.milestone_id = %s AND t.status = 'blocked'", (milestone_id,)
        # First lock the blocked candidates (in id order), then look at their prerequisites in a
        # statement of its own, which sees every commit made before those locks were granted: two
        # completions of a task's last two prerequisites take turns, and the second sees the first.
        if not self.tx.all(f"SELECT t.id FROM tasks t WHERE {where} AND t.status = 'blocked' "
                           "ORDER BY t.id FOR UPDATE", params):
            return []
        rows = self.tx.all(
            f"""SELECT t.id FROM tasks t LEFT JOIN milestones m ON m.id = t.milestone_id
                WHERE {where} AND t.status = 'blocked'
                  AND (m.status IS NULL OR (m.status != 'locked' AND m.plan_state = 'active'))
                  AND NOT EXISTS (SELECT 1 FROM task_dependencies d JOIN tasks p ON p.id = d.prerequisite_id
                                  WHERE d.task_id = t.id AND p.status != 'completed')
                ORDER BY t.id""",
            params,
        )
        return [r[0] for r in rows]

    # -- the task queue: writes ---------------------------------------------------------------------

    def claim_next(self, agent: str, agent_type: str | None, locked: frozenset[int] | None) -> Task | None:
        """One statement: the choice (``FOR UPDATE SKIP LOCKED``: a ready task another claim holds is
        passed over, and one whose claim committed meanwhile is re-checked and no longer ready) and
        the update; the task built from the row it returned."""
        now = self.now
        params: list[Any] = [agent, now, now, now]
        filters = ""
        if agent_type is not None:
            filters += " AND agent_type = %s"
            params.append(agent_type)
        if locked:
            # Tasks of a milestone no verified gate opened are passed over, whatever their status says.
            filters += " AND coalesce(milestone_id, 0) <> ALL(%s)"
            params.append(sorted(locked))
        row = self.tx.one(_CLAIM.format(filters=filters), params)
        return None if row is None else self._returned(row)

    def mark_completed(self, task_id: int, result_json: str | None) -> Task | None:
        row = self.tx.one(
            "UPDATE tasks SET status = 'completed', result_data = %s::jsonb, finished_at = %s, "
            "lease_expires_at = NULL, updated_at = %s WHERE id = %s AND status = 'running' RETURNING *",
            (result_json, self.now, self.now, task_id))
        return None if row is None else self._returned(row)

    # -- the swarm and the gates' guard ------------------------------------------------------------

    def lock_gates(self) -> None:
        """Wait for any other write of the gates or reviewers to end (``gate_unit``)."""
        self.tx.one("SELECT pg_advisory_xact_lock(%s)", (GATES_LOCK,))

    def share_gates(self) -> None:
        """Wait for a write of the gates or reviewers under way to end, and keep the next from
        beginning until this transaction ends (``GATES_LOCK`` shared: claims do not wait for each
        other). A claim takes it before it reads the pause flag and the guard, in a statement of its
        own (a statement reads what was committed when it began): an escalation either commits
        before the claim looks, and the claim is refused, or waits for the claim to commit. Without
        it, a claim that read the guard just before an escalation committed handed out a task after
        it (tests/store/test_pg_gates.py)."""
        self.tx.one("SELECT pg_advisory_xact_lock_shared(%s)", (GATES_LOCK,))

    # -- milestones and gates ---------------------------------------------------------------------

    def hold_milestone_tasks(self, milestone_id: int) -> list[int]:
        rows = self.tx.all("UPDATE tasks SET status = 'blocked', updated_at = %s WHERE milestone_id = %s "
                           "AND status IN ('pending', 'ready') RETURNING id", (self.now, milestone_id))
        return sorted(r[0] for r in rows)

    def insert_evidence(self, *, milestone_id: int, criterion: int, command: str, exit_code: int,
                        output_sha256: str, ran_at: float, recorded_by: str) -> CriterionEvidence:
        row = self.tx.one(
            """INSERT INTO criterion_evidence (milestone_id, criterion, command, exit_code, output_sha256,
                   ran_at, recorded_by, recorded_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING *""",
            (milestone_id, criterion, command, exit_code, output_sha256, ran_at, recorded_by, self.now))
        return evidence_from_row(row)

    # -- the task queue: liveness -------------------------------------------------------------------

    def _reaped(self, table: str) -> str:
        """A reaper's read of running tasks locks them as found (in id order), passing over those another
        store is reaping (or its agent finishing) right now: whoever holds one decides its fate, and a
        reaper that finds it no longer running once that commits leaves it alone. Every claim reaps now
        and then, so stores reap at once."""
        return f" ORDER BY {table}.id FOR UPDATE OF {table} SKIP LOCKED"

    def hold(self, task_ids: Sequence[int], failed_id: int) -> list[int]:
        """Hold these tasks and every unfinished task waiting on them; locked (as found, in id order)
        and read again until no more is found, as ``cascade_of``: a task enqueued meanwhile on one of
        them is seen here, or waits for this transaction and finds its prerequisite held."""
        ids = list(task_ids)
        locked: set[int] = set()
        while True:
            found = [r[0] for r in self.tx.all(_HOLDABLE, (ids,))]
            new = [i for i in found if i not in locked]
            if not new:
                break
            self.tx.all("SELECT id FROM tasks WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (new,))
            locked.update(new)
        rows = self.tx.all(
            "UPDATE tasks SET held_by = %s "
            f"WHERE id = ANY(%s) AND held_by IS NULL AND status IN {UNFINISHED_SQL} RETURNING id",
            (failed_id, sorted(locked)),
        )
        return [r[0] for r in rows]

    def held_by(self, failed_id: int) -> list[int]:
        """What the failure holds; locked and read again until nothing new is found, as ``hold``."""
        held = super().held_by
        return self._locked_as_found(lambda: held(failed_id))
