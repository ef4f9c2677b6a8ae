"""Agents: registration, heartbeats, the seed-002 status fields, and action logs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .. import identity
from ..errors import InvalidArgument, NotFound
from ..limits import MAX_LINE, MAX_NAME, MAX_TEXT, check_fields
from ..models import UNSET, Agent, AgentStatus
from .base import StoreBase, Tx
from .reviewers import refuse_reviewer_name
from .rows import agent_from_row, dumps


def _lookup(name: Any) -> Any:
    """A name to look an agent up by: its canonical form (a name that is nobody's matches nobody)."""
    return identity.key(name) or name


class AgentOps(StoreBase):
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
        check_fields(name=(name, MAX_NAME), agent_type=(agent_type, MAX_NAME), colour=(colour, MAX_NAME),
                     model=(model, MAX_NAME), actor=(actor, MAX_NAME))
        if not identity.has_content(name):
            raise InvalidArgument("an agent needs a name")
        name = identity.canonical(name, "the agent name")
        if not agent_type or not agent_type.strip():
            raise InvalidArgument("an agent needs an agent_type (its role)")
        if not (isinstance(stale_after_seconds, (int, float)) and math.isfinite(stale_after_seconds)
                and stale_after_seconds > 0):
            raise InvalidArgument("stale_after_seconds must be a positive number")
        if not (isinstance(requeue_after_seconds, (int, float)) and math.isfinite(requeue_after_seconds)
                and requeue_after_seconds >= 0):
            raise InvalidArgument("requeue_after_seconds must be a number of seconds, 0 or more")
        def in_tx(tx: Tx):
            tx.read(refuse_reviewer_name(name))
            tx.run(
                """INSERT INTO agents (name, agent_type, colour, model, stale_after_seconds,
                                       requeue_after_seconds, registered_at, last_heartbeat)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET agent_type = excluded.agent_type,
                       colour = coalesce(excluded.colour, colour), model = coalesce(excluded.model, model),
                       stale_after_seconds = excluded.stale_after_seconds,
                       requeue_after_seconds = excluded.requeue_after_seconds,
                       last_heartbeat = excluded.last_heartbeat,
                       status = CASE status WHEN 'offline' THEN 'idle' ELSE status END""",
                (name, agent_type, colour, model, float(stale_after_seconds), float(requeue_after_seconds),
                 tx.now, tx.now),
            )
            tx.event("agent.registered", "agent", name, {
                "agent_type": agent_type, "colour": colour, "model": model,
            })
            return self._agent_in(tx, name)

        return await self._write(actor or name, in_tx)

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
    ) -> Agent:
        """Change the fields given; leave the rest. ``heartbeat`` also stamps the heartbeat time."""
        from ..inputs import AgentUpdate  # pydantic loads only when an agent is updated

        check_fields(name=(name, MAX_NAME), actor=(actor, MAX_NAME))
        update = AgentUpdate.given(status=status, current_task_id=current_task_id, completion=completion,
                                   blockers=blockers, next_milestone=next_milestone)
        name = _lookup(name)
        sets: dict[str, Any] = update.changes()
        if "status" in sets:
            sets["status"] = sets["status"].value
        if "blockers" in sets:
            blockers = sets["blockers"]
            sets["blockers"] = dumps(blockers)
        current_task_id = sets.get("current_task_id", current_task_id)
        def in_tx(tx: Tx):
            if heartbeat:
                sets["last_heartbeat"] = tx.now
            if not sets:
                raise InvalidArgument("nothing to update: give at least one field")
            if current_task_id not in (UNSET, None) and not tx.one(
                "SELECT 1 FROM tasks WHERE id = ?", (current_task_id,)
            ):
                raise NotFound(f"task {current_task_id} does not exist", entity="task", key=current_task_id)
            assignments = ", ".join(f"{column} = ?" for column in sets)
            if not tx.run(f"UPDATE agents SET {assignments} WHERE name = ?", (*sets.values(), name)):
                raise NotFound(entity="agent", key=name)
            payload = {k: v for k, v in sets.items() if k != "last_heartbeat"}
            if "blockers" in payload:
                payload["blockers"] = list(blockers)  # the list itself, not its stored JSON text
            tx.event("agent.heartbeat" if heartbeat else "agent.updated", "agent", name, payload)
            return self._agent_in(tx, name)

        return await self._write(actor or name, in_tx, quick=True)

    async def get_agent(self, name: str) -> Agent:
        row = await self._one("SELECT * FROM agents WHERE name = ?", (_lookup(name),))
        if row is None:
            raise NotFound(entity="agent", key=name)
        return agent_from_row(row, self.clock())

    async def list_agents(self) -> list[Agent]:
        now = self.clock()
        return [agent_from_row(r, now) for r in await self._all("SELECT * FROM agents ORDER BY name")]

    async def agents_by_names(self, names: Sequence[str]) -> list[Agent]:
        now = self.clock()
        rows = await self._all(
            "SELECT * FROM agents WHERE name IN (SELECT value FROM json_each(?)) ORDER BY name",
            (dumps([_lookup(n) for n in names]),),
        )
        return [agent_from_row(r, now) for r in rows]

    async def agent_task_counts(self) -> dict[str, dict[str, int]]:
        """Completed and failed task counts per agent."""
        counts: dict[str, dict[str, int]] = {}
        for row in await self._all(
            "SELECT assigned_agent, status, count(*) FROM tasks "
            # `+status`: walk tasks_agent (covering, already grouped), not every finished task's row.
            "WHERE assigned_agent IS NOT NULL AND +status IN ('completed', 'failed') "
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
        def in_tx(tx: Tx):
            if not tx.one("SELECT 1 FROM agents WHERE name = ?", (agent,)):
                raise NotFound(entity="agent", key=agent)
            tx.event("agent.action", "agent", agent, {
                "phase": phase, "action": action, "duration_ms": duration_ms,
                "success": bool(success), "error_message": error_message,
            })

        return await self._write(agent, in_tx)

    def _agent_in(self, tx: Tx, name: str) -> Agent:
        row = tx.one("SELECT * FROM agents WHERE name = ?", (name,))
        return agent_from_row(row, tx.now)
