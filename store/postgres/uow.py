"""The PostgreSQL unit of work: the domain's data operations (store/domain/uow.py) as SQL over one
``Tx`` of store/postgres/base.py. The rules themselves are store/domain/'s, unchanged; rows become
models through store/rows.py, as SQLite's do.

So far the operations the agents area needs (agents, the reviewer check of a registration, whether a
task exists, events), the gates' and reviewers' (the swarm's pause and the gates' guard, reviewers,
milestones, reports, decisions, conditions, resumptions) and the task queue's (store/domain/tasks.py
and liveness.py: its own block); each further area adds the operations its rules call, next to
SQLite's (store/sqlite/uow.py), statement for statement.

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

import functools
from collections.abc import Sequence
from typing import Any

from .. import milestone_refs
from ..domain.gates import GateGuard
from ..domain.uow import ConditionRow, EscalatedGate, Lease, Pause, PrerequisiteState, Silent
from ..errors import NotFound
from ..events import EventKind
from ..models import (
    Agent,
    Comparator,
    Condition,
    Criterion,
    CriterionEvidence,
    CriterionStatus,
    Decision,
    GateDecision,
    Metric,
    Milestone,
    ReportIssue,
    Reviewer,
    Severity,
    Task,
    TaskStatus,
    ValidationReport,
    from_ts,
)
from ..rows import (
    agent_from_row,
    condition_from_row,
    decision_from_row,
    evidence_from_row,
    dumps,
    milestone_from_row,
    reviewer_from_row,
    tasks_of,
)
from .base import All, One, Reads, Tx
from .schema import GATES_LOCK
from ..unit_base import TASK_SELECT, UNFINISHED_SQL, UnitBase
# store/postgres/tasks.py takes these from here.
from ..unit_base import PRIORITY_INPUTS, priority_inputs_of  # noqa: F401
from .signatures import DECISION_SELECT, GUARD_MARK, Signatures
from .sql import PG_SQL


#: The agent columns ``update_agent`` may set: the Agent fields' own names (never text from a caller);
#: the JSON ones (``jsonb``) are given as JSON text and cast.
_AGENT_COLUMNS = frozenset({"status", "current_task_id", "completion", "blockers", "next_milestone",
                            "last_heartbeat", "blockers_since"})
_JSON_COLUMNS = frozenset({"blockers", "blockers_since"})


#: The milestone after ``position`` that is still locked: the one a passed gate opens.
NEXT_LOCKED = "SELECT * FROM milestones WHERE position > %s AND status = 'locked' ORDER BY position LIMIT 1"

#: The pause flag and the marks that say whether the cached guard still holds: one statement.
_PAUSE_AND_MARK = f"SELECT paused, reason, {GUARD_MARK} FROM swarm_state WHERE id = 1"


def milestone_reads(ref: int | str) -> Reads[Milestone]:
    """The milestone ``ref`` names (store/milestone_refs.py's rules), or its NotFound / InvalidArgument.
    An id that exists costs one probe; any other reference reads the names (milestones are few)."""
    number = milestone_refs.as_id(ref)
    if number is not None and number < 2**63:  # beyond bigint no row can match
        row = yield One("SELECT * FROM milestones WHERE id = %s", (number,))
        if row is not None:
            return milestone_from_row(row)
    names = yield All("SELECT id, name FROM milestones ORDER BY position")
    found = milestone_refs.resolve(ref, [(r[0], r[1]) for r in names])
    row = yield One("SELECT * FROM milestones WHERE id = %s", (found,))
    return milestone_from_row(row)


def report_reads(milestone_id: int, version: int | None) -> Reads[ValidationReport | None]:
    """A version of the milestone's validation report (the latest by default); None if none was
    submitted, NotFound if the version asked for was not."""
    if version is None:
        row = yield One(
            "SELECT * FROM validation_reports WHERE milestone_id = %s ORDER BY version DESC LIMIT 1",
            (milestone_id,),
        )
    else:
        row = yield One(
            "SELECT * FROM validation_reports WHERE milestone_id = %s AND version = %s",
            (milestone_id, version)
        )
    if row is None:
        if version is not None:
            raise NotFound(f"milestone {milestone_id} has no report version {version}")
        return None
    rid = row["id"]
    crit = yield All("SELECT * FROM report_criteria WHERE report_id = %s ORDER BY position", (rid,))
    mets = yield All("SELECT * FROM report_metrics WHERE report_id = %s ORDER BY position", (rid,))
    iss = yield All("SELECT * FROM report_issues WHERE report_id = %s ORDER BY position", (rid,))
    recs = yield All("SELECT * FROM report_recommendations WHERE report_id = %s ORDER BY position", (rid,))
    return ValidationReport(
        id=rid,
        milestone_id=row["milestone_id"],
        version=row["version"],
        submitted_by=row["submitted_by"],
        submitted_at=from_ts(row["submitted_at"]),
        summary=row["summary"],
        proposed_decision=row["proposed_decision"] and Decision(row["proposed_decision"]),
        criteria=tuple(Criterion(c["name"], CriterionStatus(c["status"]), c["evidence"]) for c in crit),
        metrics=tuple(
            Metric(m["name"], m["value"], m["target"], Comparator(m["comparator"]), m["unit"]) for m in mets
        ),
        issues=tuple(ReportIssue(Severity(i["severity"]), i["description"]) for i in iss),
        recommendations=tuple(r["text"] for r in recs),
        content_hash=row["content_hash"],
        next_milestone_context=row["next_context"] or "",
    )


@functools.lru_cache(maxsize=64)
def _agent_update_sql(columns: tuple[str, ...]) -> str:
    assignments = ", ".join(f"{c} = %s::jsonb" if c in _JSON_COLUMNS else f"{c} = %s" for c in columns)
    return f"UPDATE agents SET {assignments} WHERE name = %s"


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


#: Every unfinished task that waits on the task, transitively (the task itself left out).
_CASCADE = """WITH RECURSIVE down(id) AS (SELECT %s::bigint UNION
                   SELECT d.task_id FROM task_dependencies d JOIN down ON d.prerequisite_id = down.id)
               SELECT t.id FROM tasks t
               WHERE t.id IN (SELECT id FROM down) AND t.id != %s
                 AND t.status NOT IN ('completed', 'cancelled')
               ORDER BY t.id"""


#: The unfinished tasks among the given ones and everything waiting on them, transitively, that no
#: failure holds yet: what a failure for good holds.
_HOLDABLE = f"""WITH RECURSIVE down(id) AS (SELECT unnest(%s::bigint[]) UNION
                    SELECT d.task_id FROM task_dependencies d JOIN down ON d.prerequisite_id = down.id)
                SELECT t.id FROM tasks t
                WHERE t.id IN (SELECT id FROM down) AND t.held_by IS NULL AND t.status IN {UNFINISHED_SQL}
                ORDER BY t.id"""


class PgUnit(UnitBase):
    """One write transaction of the PostgreSQL store, seen by the rules (``domain.uow.Unit``):
    store/unit_base.py's shared operations and PostgreSQL's own (its row locks, above)."""

    __slots__ = ()

    sql = PG_SQL
    json_param = "?::jsonb"  # JSON columns are jsonb, given as JSON text

    def event(self, kind: EventKind, entity: str, entity_id: Any = None,
              payload: dict[str, Any] | None = None) -> None:
        self.tx.event(kind, entity, entity_id, payload)

    # -- agents -----------------------------------------------------------------------------------

    def agent_exists(self, name: str) -> bool:
        return self.tx.one("SELECT 1 FROM agents WHERE name = %s", (name,)) is not None

    def set_agent_working(self, name: str, task_id: int, *, seen_at: float) -> None:
        self.tx.run("UPDATE agents SET status = 'working', current_task_id = %s, completion = 0, "
                    "last_heartbeat = %s WHERE name = %s", (task_id, seen_at, name))

    def touch_agent(self, name: str, *, seen_at: float) -> bool:
        return bool(self.tx.run("UPDATE agents SET last_heartbeat = %s WHERE name = %s", (seen_at, name)))

    def release_agent(self, name: str, task_id: int, *, seen_at: float | None = None) -> None:
        if seen_at is not None:  # idle if it was on the task, heard from now either way
            self.tx.run("UPDATE agents SET last_heartbeat = %s, "
                        "status = CASE WHEN current_task_id = %s THEN 'idle' ELSE status END, "
                        "current_task_id = CASE WHEN current_task_id = %s THEN NULL ELSE current_task_id END "
                        "WHERE name = %s", (seen_at, task_id, task_id, name))
            return
        self.tx.run("UPDATE agents SET status = 'idle', current_task_id = NULL "
                    "WHERE name = %s AND current_task_id = %s", (name, task_id))

    def reviewer(self, name: str) -> Reviewer | None:
        row = self.tx.one("SELECT * FROM reviewers WHERE name = %s", (name,))
        return None if row is None else reviewer_from_row(row)

    def agent(self, name: str) -> Agent:
        row = self.tx.one("SELECT * FROM agents WHERE name = %s", (name,))
        if row is None:
            raise NotFound(f"agent {name!r} is not registered")
        return agent_from_row(row, self.now)

    def upsert_agent(self, name: str, *, agent_type: str, colour: str | None, model: str | None,
                     stale_after_seconds: float, requeue_after_seconds: float) -> None:
        self.tx.run(
            """INSERT INTO agents (name, agent_type, colour, model, stale_after_seconds,
                                   requeue_after_seconds, registered_at, last_heartbeat)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (name) DO UPDATE SET agent_type = excluded.agent_type,
                   colour = coalesce(excluded.colour, agents.colour),
                   model = coalesce(excluded.model, agents.model),
                   stale_after_seconds = excluded.stale_after_seconds,
                   requeue_after_seconds = excluded.requeue_after_seconds,
                   last_heartbeat = excluded.last_heartbeat,
                   status = CASE agents.status WHEN 'offline' THEN 'idle' ELSE agents.status END""",
            (name, agent_type, colour, model, stale_after_seconds, requeue_after_seconds, self.now, self.now),
        )

    def update_agent(self, name: str, fields: dict[str, Any]) -> bool:
        if not _AGENT_COLUMNS.issuperset(fields):
            raise ValueError(f"not an agent field to update: {sorted(set(fields) - _AGENT_COLUMNS)}")
        values = [dumps(v) if k in _JSON_COLUMNS else v for k, v in fields.items()]
        return bool(self.tx.run(_agent_update_sql(tuple(fields)), (*values, name)))

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
        locked: set[int] = set()
        while True:
            ids = [r[0] for r in self.tx.all(_CASCADE, (task_id, task_id))]
            new = [i for i in ids if i not in locked]
            if not new:
                return ids
            self.tx.all("SELECT id FROM tasks WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (new,))
            locked.update(new)

    def upstream_edges(self, task_id: int) -> list[tuple[int, int]]:
        rows = self.tx.all(
            """WITH RECURSIVE up(id) AS (SELECT %s::bigint UNION
                   SELECT d.prerequisite_id FROM task_dependencies d JOIN up ON d.task_id = up.id)
               SELECT d.task_id, d.prerequisite_id FROM task_dependencies d
               WHERE d.task_id IN (SELECT id FROM up)""",
            (task_id,),
        )
        return [(r[0], r[1]) for r in rows]

    def downstream_of(self, task_id: int) -> list[int]:
        rows = self.tx.all(
            """WITH RECURSIVE down(id) AS (SELECT %s::bigint UNION
                   SELECT d.task_id FROM task_dependencies d JOIN down ON d.prerequisite_id = down.id)
               SELECT id FROM down""",
            (task_id,),
        )
        return [r[0] for r in rows]

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

    def swarm_pause(self, agent: str | None = None) -> Pause:
        row = self.tx.one(_PAUSE_AND_MARK)
        self._mark = tuple(row[2:])
        return Pause(bool(row[0]), row[1])

    def gate_guard(self) -> GateGuard:
        mark, self._mark = self._mark, None
        kept = None if mark is None else self._signatures.cached_guard(mark)
        return kept if kept is not None else self.tx.read(self._signatures.gate_guard(mark))

    def pause_swarm(self, reason: str, by: str) -> None:
        self.tx.run(
            "UPDATE swarm_state SET paused = 1, reason = %s, paused_by = %s, paused_at = %s WHERE id = 1",
            (reason, by, self.now),
        )

    def unpause_swarm(self) -> None:
        self.tx.run("UPDATE swarm_state SET paused = 0, reason = NULL, paused_by = NULL, paused_at = NULL")

    # -- reviewers ----------------------------------------------------------------------------------

    def any_active_reviewer(self) -> bool:
        return self.tx.one("SELECT 1 FROM reviewers WHERE removed_at IS NULL LIMIT 1") is not None

    def insert_reviewer(self, name: str, *, public_key: bytes | None, by: str) -> None:
        self.tx.run("INSERT INTO reviewers (name, public_key, added_at, added_by) VALUES (%s, %s, %s, %s)",
                    (name, public_key, self.now, by))

    def readmit_reviewer(self, name: str, *, public_key: bytes | None, by: str) -> None:
        self.tx.run("UPDATE reviewers SET added_at = %s, added_by = %s, removed_at = NULL, "
                    "removed_by = NULL, public_key = coalesce(public_key, %s) WHERE name = %s",
                    (self.now, by, public_key, name))

    def set_reviewer_key(self, name: str, public_key: bytes) -> None:
        self.tx.run("UPDATE reviewers SET public_key = %s WHERE name = %s", (public_key, name))

    def remove_reviewer(self, name: str, *, by: str) -> None:
        self.tx.run("UPDATE reviewers SET removed_at = %s, removed_by = %s WHERE name = %s",
                    (self.now, by, name))

    # -- milestones and gates ---------------------------------------------------------------------

    def milestone(self, ref: int | str) -> Milestone:
        return self.tx.read(milestone_reads(ref))

    def next_locked_milestone(self, position: int) -> Milestone | None:
        row = self.tx.one(NEXT_LOCKED, (position,))
        return None if row is None else milestone_from_row(row)

    def set_milestone_status(self, milestone_id: int, status: str) -> None:
        self.tx.run("UPDATE milestones SET status = %s WHERE id = %s", (status, milestone_id))

    def milestone_names(self) -> list[str]:
        return [r[0] for r in self.tx.all("SELECT name FROM milestones")]

    def milestone_tail(self) -> tuple[int, int]:
        row = self.tx.one(
            "SELECT coalesce(max(position), 0), "
            "count(*) FILTER (WHERE status NOT IN ('approved', 'conditional')) FROM milestones"
        )
        return row[0], row[1]

    def insert_milestone(self, *, name: str, position: int, objective: str, planned_weeks: str | None,
                         hour_budget: float | None, deliverables: list[str], acceptance_criteria: list[str],
                         status: str, required_approvals: int,
                         review_within_seconds: float | None = None,
                         prerequisites: list[int] | None = None, starts_on: str | None = None,
                         money_budget: float | None = None, hour_rate: float | None = None) -> int:
        return self.tx.one(
            """INSERT INTO milestones (name, position, objective, planned_weeks, hour_budget, deliverables,
                   acceptance_criteria, status, required_approvals, created_at, review_within_seconds,
                   prerequisites, starts_on, money_budget, hour_rate)
               VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)
               RETURNING id""",
            (name, position, objective, planned_weeks, hour_budget, dumps(deliverables),
             dumps(acceptance_criteria), status, required_approvals, self.now, review_within_seconds,
             dumps(prerequisites), starts_on, money_budget, hour_rate),
        )[0]

    def milestones(self) -> list[Milestone]:
        return [milestone_from_row(r) for r in self.tx.all("SELECT * FROM milestones ORDER BY position")]

    def set_plan_state(self, milestone_id: int, state: str) -> None:
        self.tx.run("UPDATE milestones SET plan_state = %s, plan_version = plan_version + 1 WHERE id = %s",
                    (state, milestone_id))

    def hold_milestone_tasks(self, milestone_id: int) -> list[int]:
        rows = self.tx.all("UPDATE tasks SET status = 'blocked', updated_at = %s WHERE milestone_id = %s "
                           "AND status IN ('pending', 'ready') RETURNING id", (self.now, milestone_id))
        return sorted(r[0] for r in rows)

    def report(self, milestone_id: int, version: int | None) -> ValidationReport | None:
        return self.tx.read(report_reads(milestone_id, version))

    def latest_report_version(self, milestone_id: int) -> int:
        return self.tx.one(
            "SELECT coalesce(max(version), 0) FROM validation_reports WHERE milestone_id = %s",
            (milestone_id,)
        )[0]

    def insert_report(self, *, milestone_id: int, version: int, submitted_by: str, summary: str,
                      criteria: Sequence[Criterion], metrics: Sequence[Metric], issues: Sequence[ReportIssue],
                      recommendations: Sequence[str], proposed: Decision | None, content_hash: str,
                      next_context: str = "") -> int:
        tx = self.tx
        report_id = tx.one(
            """INSERT INTO validation_reports (milestone_id, version, submitted_by, submitted_at, summary,
                   proposed_decision, content_hash, next_context)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (milestone_id, version, submitted_by, self.now, summary, proposed and proposed.value,
             content_hash, next_context),
        )[0]
        tx.many(
            "INSERT INTO report_criteria VALUES (%s, %s, %s, %s, %s)",
            [(report_id, i, c.name, c.status.value, c.evidence) for i, c in enumerate(criteria)],
        )
        tx.many(
            "INSERT INTO report_metrics VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(report_id, i, m.name, m.value, m.target, m.comparator.value, m.unit)
             for i, m in enumerate(metrics)],
        )
        tx.many(
            "INSERT INTO report_issues VALUES (%s, %s, %s, %s)",
            [(report_id, i, x.severity.value, x.description) for i, x in enumerate(issues)],
        )
        tx.many(
            "INSERT INTO report_recommendations VALUES (%s, %s, %s)",
            [(report_id, i, r) for i, r in enumerate(recommendations)],
        )
        return report_id

    def verified_approvers(self, report_id: int) -> set[str]:
        # Only verified approvals count: a row written around swarmdeck neither adds an approval nor
        # stands in the way of the reviewer it names.
        approvals = self.tx.all(
            f"{DECISION_SELECT} WHERE g.report_id = %s AND g.decision IN ('APPROVE', 'CONDITIONAL')",
            (report_id,),
        )
        verdicts = self.tx.read(self._signatures.verified_decisions(approvals))
        return {r["reviewer"] for r, ok in zip(approvals, verdicts) if ok}

    def insert_decision(self, *, milestone_id: int, report: ValidationReport, decision: str, rationale: str,
                        reviewer: str, signature: bytes, conditions: Sequence[str],
                        accepted_unmet: Sequence[str] = ()) -> int:
        decision_id = self.tx.one(
            """INSERT INTO gate_decisions (milestone_id, report_id, report_hash, decision, rationale,
                   reviewer, decided_at, signature, accepted_unmet)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (milestone_id, report.id, report.content_hash, decision, rationale, reviewer, self.now,
             signature, dumps(list(accepted_unmet)) if accepted_unmet else None),
        )[0]
        self.tx.many(
            "INSERT INTO gate_conditions (milestone_id, decision_id, text) VALUES (%s, %s, %s)",
            [(milestone_id, decision_id, c) for c in conditions],
        )
        return decision_id

    def decision(self, decision_id: int) -> GateDecision:
        row = self.tx.one(f"{DECISION_SELECT} WHERE g.id = %s", (decision_id,))
        return decision_from_row(row, verified=True)  # its signature was checked just now

    def insert_evidence(self, *, milestone_id: int, criterion: int, command: str, exit_code: int,
                        output_sha256: str, ran_at: float, recorded_by: str) -> CriterionEvidence:
        row = self.tx.one(
            """INSERT INTO criterion_evidence (milestone_id, criterion, command, exit_code, output_sha256,
                   ran_at, recorded_by, recorded_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING *""",
            (milestone_id, criterion, command, exit_code, output_sha256, ran_at, recorded_by, self.now))
        return evidence_from_row(row)

    def open_conditions(self, milestone_id: int) -> int:
        return self.tx.one(
            "SELECT count(*) FROM gate_conditions WHERE milestone_id = %s AND status = 'open'",
            (milestone_id,)
        )[0]

    def condition(self, condition_id: int) -> ConditionRow | None:
        row = self.tx.one(
            "SELECT c.*, r.submitted_by FROM gate_conditions c JOIN gate_decisions d ON d.id = c.decision_id "
            "JOIN validation_reports r ON r.id = d.report_id WHERE c.id = %s",
            (condition_id,),
        )
        if row is None:
            return None
        return ConditionRow(row["id"], row["milestone_id"], row["text"], row["status"], row["submitted_by"],
                            condition_from_row(row))

    def close_condition(self, condition_id: int, *, by: str, note: str, signature: bytes) -> None:
        self.tx.run(
            "UPDATE gate_conditions SET status = 'closed', closed_by = %s, closed_at = %s, note = %s, "
            "close_signature = %s WHERE id = %s",
            (by, self.now, note, signature, condition_id),
        )

    def closed_condition(self, condition_id: int) -> Condition:
        return condition_from_row(self.tx.one("SELECT * FROM gate_conditions WHERE id = %s", (condition_id,)),
                                  verified=True)

    def escalated_gates(self, escalation_milestone: int | None) -> list[EscalatedGate]:
        rows = self.tx.all(
            """SELECT m.id, m.name, m.status,
                      (SELECT max(d.id) FROM gate_decisions d
                       WHERE d.milestone_id = m.id AND d.decision = 'ESCALATE') AS escalation,
                      (SELECT r.submitted_by FROM validation_reports r
                       WHERE r.milestone_id = m.id ORDER BY r.version DESC LIMIT 1) AS submitted_by
               FROM milestones m WHERE m.status = 'escalated' OR m.id = %s ORDER BY m.position""",
            (escalation_milestone,),
        )
        return [EscalatedGate(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def record_resumption(self, gate: EscalatedGate, *, by: str, reason: str, escalation_id: int,
                          signature: bytes) -> None:
        self.tx.run(
            """INSERT INTO gate_resumptions (milestone_id, decision_id, resumed_by, reason, resumed_at,
                   escalation_id, signature) VALUES (%s, %s, %s, %s, %s, %s, %s)""",
            (gate.id, gate.escalation, by, reason, self.now, escalation_id, signature),
        )


    # -- the task queue: liveness -------------------------------------------------------------------

    # Reaped tasks are locked as found, passing over those another store is reaping (or its agent
    # finishing) right now: whoever holds one decides its fate, and a reaper that finds it no longer
    # running once that commits leaves it alone. Every claim reaps now and then, so stores reap at once.

    def expired_leases(self) -> list[Lease]:
        rows = self.tx.all(
            "SELECT id, assigned_agent, timeout_seconds FROM tasks "
            "WHERE status = 'running' AND lease_expires_at < %s ORDER BY id FOR UPDATE SKIP LOCKED",
            (self.now,),
        )
        return [Lease(r[0], r[1], r[2]) for r in rows]

    def silent_agents_tasks(self) -> list[Silent]:
        rows = self.tx.all(
            """SELECT t.id, a.name, greatest(coalesce(a.last_heartbeat, 0), t.started_at) AS seen,
                      a.stale_after_seconds AS stale, a.requeue_after_seconds AS grace
               FROM agents a JOIN tasks t ON t.assigned_agent = a.name AND t.status = 'running'
               WHERE coalesce(a.last_heartbeat, 0) + a.stale_after_seconds + a.requeue_after_seconds < %s
                 AND t.started_at + a.stale_after_seconds + a.requeue_after_seconds < %s
               ORDER BY t.id FOR UPDATE OF t SKIP LOCKED""",
            (self.now, self.now),
        )
        return [Silent(r[0], r[1], r[2], r[3], r[4]) for r in rows]

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
        locked: set[int] = set()
        while True:
            rows = self.tx.all("SELECT id FROM tasks WHERE held_by = %s ORDER BY id", (failed_id,))
            ids = [r[0] for r in rows]
            new = [i for i in ids if i not in locked]
            if not new:
                return ids
            self.tx.all("SELECT id FROM tasks WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (new,))
            locked.update(new)

    def failed_upstream(self, task_id: int) -> list[int]:
        rows = self.tx.all(
            f"""WITH RECURSIVE up(id) AS (SELECT %s::bigint UNION
                    SELECT d.prerequisite_id FROM task_dependencies d JOIN up ON d.task_id = up.id
                    JOIN tasks p ON p.id = d.prerequisite_id WHERE p.status IN {UNFINISHED_SQL})
                SELECT DISTINCT d.prerequisite_id FROM task_dependencies d
                JOIN tasks p ON p.id = d.prerequisite_id
                WHERE d.task_id IN (SELECT id FROM up) AND p.status = 'failed' ORDER BY 1""",
            (task_id,),
        )
        return [r[0] for r in rows]
