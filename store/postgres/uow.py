"""The PostgreSQL unit of work: the domain's data operations (store/domain/uow.py) as SQL over one
``Tx`` of store/postgres/base.py. The rules themselves are store/domain/'s, unchanged; rows become
models through store/rows.py, as SQLite's do.

So far the operations the agents area needs (agents, the reviewer check of a registration, whether a
task exists, events); each further area adds the operations its rules call, next to SQLite's
(store/sqlite/uow.py), statement for statement.
"""

from __future__ import annotations

import functools
from typing import Any

from ..errors import NotFound
from ..events import EventKind
from ..models import Agent, Reviewer
from ..rows import agent_from_row, dumps, reviewer_from_row
from .base import Tx

#: The agent columns ``update_agent`` may set: the Agent fields' own names (never text from a caller);
#: the JSON ones (``jsonb``) are given as JSON text and cast.
_AGENT_COLUMNS = frozenset({"status", "current_task_id", "completion", "blockers", "next_milestone",
                            "last_heartbeat", "blockers_since"})
_JSON_COLUMNS = frozenset({"blockers", "blockers_since"})


@functools.lru_cache(maxsize=64)
def _agent_update_sql(columns: tuple[str, ...]) -> str:
    assignments = ", ".join(f"{c} = %s::jsonb" if c in _JSON_COLUMNS else f"{c} = %s" for c in columns)
    return f"UPDATE agents SET {assignments} WHERE name = %s"


class PgUnit:
    """One write transaction of the PostgreSQL store, seen by the rules (``domain.uow.Unit``)."""

    __slots__ = ("tx", "now", "actor")

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self.now = tx.now
        self.actor = tx.actor

    def event(self, kind: EventKind, entity: str, entity_id: Any = None,
              payload: dict[str, Any] | None = None) -> None:
        self.tx.event(kind, entity, entity_id, payload)

    # -- agents -----------------------------------------------------------------------------------

    def agent_exists(self, name: str) -> bool:
        return self.tx.one("SELECT 1 FROM agents WHERE name = %s", (name,)) is not None

    def set_agent_working(self, name: str, task_id: int) -> None:
        self.tx.run("UPDATE agents SET status = 'working', current_task_id = %s, completion = 0 "
                    "WHERE name = %s", (task_id, name))

    def release_agent(self, name: str, task_id: int) -> None:
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

    # -- tasks: reads -----------------------------------------------------------------------------

    def task_exists(self, task_id: int) -> bool:
        return self.tx.one("SELECT 1 FROM tasks WHERE id = %s", (task_id,)) is not None
