"""Agents: registration, heartbeats, the seed-002 status fields, and action logs, the same on both backends:
each write a rule of store/domain/agents.py run over the backend's unit of one transaction, each read one
statement in SQLite's terms that the backend's ``Sql`` (store/sql_dialect.py) turns into its own
(store/sqlite/agents.py, store/postgres/agents.py build the part).

A registration runs SERIALIZABLE on PostgreSQL: its check that the name is no reviewer's must not race a
reviewer's registration (store/reviewer_area.py says why); on SQLite every write is serialised anyway."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import identity
from .domain import agents
from .errors import InvalidArgument, NotFound
from .limits import MAX_LINE, MAX_NAME, MAX_TEXT, check_fields
from .models import UNSET, Agent, AgentStatus
from .rows import agent_from_row

if TYPE_CHECKING:
    from .domain.uow import Unit
    from .sql_dialect import Sql


def _lookup(name: Any) -> Any:
    """A name to look an agent up by: its canonical form (a name that is nobody's matches nobody)."""
    return identity.key(name) or name


class Agents:
    """Agents' public methods: the reads, and each write as a rule of store/domain/agents.py run over the
    backend's ``unit`` of one transaction."""

    __slots__ = ("_sql", "_unit", "db")

    def __init__(self, db: Any, *, unit: Callable[[Any], Unit], sql: Sql) -> None:
        self.db = db
        self._unit = unit
        self._sql = sql

    async def register_agent(
        self,
        name: str,
        *,
        agent_type: str,
        colour: str | None = None,
        model: str | None = None,
        stale_after_seconds: float = 60.0,
        requeue_after_seconds: float = 300.0,
        actor: str | None = None,
    ) -> Agent:
        """Register an agent, or update the registration of one that exists (its history stays).

        An agent is shown stale once its heartbeat is older than ``stale_after_seconds``; once it has
        been stale for ``requeue_after_seconds`` more, the tasks it claimed go back to the queue.

        The name is kept in its canonical form (store/identity.py); it can never be a reviewer's.
        """
        name = agents.check_registration(name, agent_type, colour, model, stale_after_seconds,
                                         requeue_after_seconds, actor)
        return await self.db._write(actor or name, lambda tx: agents.register(
            self._unit(tx), name, agent_type=agent_type, colour=colour, model=model,
            stale_after_seconds=stale_after_seconds, requeue_after_seconds=requeue_after_seconds),
            serializable=True)

    async def heartbeat(self, name: str, **fields: Any) -> Agent:
        """Record that the agent is alive, with any status fields it reports (see update_agent)."""
        return await self.update_agent(name, heartbeat=True, **fields)

    async def update_agent(
        self,
        name: str,
        *,
        status: AgentStatus | str = UNSET,
        current_task_id: int | None = UNSET,
        completion: float = UNSET,
        blockers: Sequence[str] = UNSET,
        next_milestone: str | None = UNSET,
        heartbeat: bool = False,
        actor: str | None = None,
        todos: Sequence[Any] | None = UNSET,
    ) -> Agent:
        """Change the fields given; leave the rest. ``heartbeat`` also stamps the heartbeat time.
        ``todos``: seed 001's todo list, giving completion, status and what the agent is doing."""
        changes = agents.check_update(status=status, current_task_id=current_task_id, completion=completion,
                                      blockers=blockers, next_milestone=next_milestone, todos=todos, name=name,
                                      actor=actor)
        name = _lookup(name)
        return await self.db._write(
            actor or name, lambda tx: agents.update(self._unit(tx), name, changes, heartbeat=heartbeat),
            quick=True)

    async def get_agent(self, name: str) -> Agent:
        row = await self.db._one(self._sql.q("SELECT * FROM agents WHERE name = ?"), (_lookup(name),))
        if row is None:
            raise NotFound(entity="agent", key=name)
        return agent_from_row(row, self.db.clock())

    async def list_agents(self) -> list[Agent]:
        now = self.db.clock()
        rows = await self.db._all(f"SELECT * FROM agents ORDER BY {self._sql.binary('name')}")
        return [agent_from_row(r, now) for r in rows]

    async def agents_by_names(self, names: Sequence[str]) -> list[Agent]:
        now = self.db.clock()
        among, listed = self._sql.ids("name", [_lookup(n) for n in names])
        rows = await self.db._all(self._sql.q(f"SELECT * FROM agents WHERE {among} ORDER BY {self._sql.binary('name')}"),
                                  (listed,))
        return [agent_from_row(r, now) for r in rows]

    async def agent_task_counts(self) -> dict[str, dict[str, int]]:
        """Completed and failed task counts per agent."""
        counts: dict[str, dict[str, int]] = {}
        for row in await self.db._all(
            "SELECT assigned_agent, status, count(*) FROM tasks "
            # SQLite's `+status`: walk tasks_agent (covering, already grouped), not every finished task's row.
            f"WHERE assigned_agent IS NOT NULL AND {self._sql.unindexed('status')} IN ('completed', 'failed') "
            "GROUP BY assigned_agent, status"
        ):
            counts.setdefault(row[0], {})[row[1]] = row[2]
        return counts

    async def log_action(
        self,
        agent: str,
        *,
        phase: str,
        action: str,
        duration_ms: float | None = None,
        success: bool = True,
        error_message: str | None = None,
    ) -> None:
        """Record one step an agent took (seed 003's agent_logs), for the activity log and charts."""
        check_fields(agent=(agent, MAX_NAME), phase=(phase, MAX_LINE), action=(action, MAX_TEXT),
                     error_message=(error_message, MAX_TEXT))
        if not phase or not action:
            raise InvalidArgument("phase and action must not be empty")
        if duration_ms is not None and not (isinstance(duration_ms, (int, float)) and duration_ms >= 0):
            raise InvalidArgument("duration_ms must be a non-negative number")
        agent = _lookup(agent)
        payload = {"phase": phase, "action": action, "duration_ms": duration_ms, "success": bool(success),
                   "error_message": error_message}
        return await self.db._write(agent, lambda tx: agents.log_action(self._unit(tx), agent, payload))
