"""swarmdeck's store: the coordination state every agent, script and screen shares.

``open_store(url)`` returns an object implementing the ``Store`` protocol. This package never
imports Textual (a checked contract: see pyproject's import-linter section).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlparse

from .errors import InvalidArgument, StoreError
from .models import (
    Agent,
    AgentStatus,
    CancelResult,
    Condition,
    Decision,
    Event,
    ExecutionPlan,
    GateDecision,
    GateStatus,
    Milestone,
    MilestoneStatus,
    PriorityBreakdown,
    QueueStatus,
    SwarmState,
    Task,
    TaskSource,
    TaskStatus,
    ValidationReport,
)
from .sqlite import UNSET, SQLiteStore


@runtime_checkable
class Store(Protocol):
    """Every operation on the coordination state. A PostgreSQL store implements the same."""

    async def close(self) -> None: ...

    # change feed
    async def latest_event_id(self) -> int: ...
    async def changes_since(self, event_id: int, *, limit: int = 1000) -> list[Event]: ...
    async def events(self, *, entity: str | None = None, entity_id: Any = None, actor: str | None = None,
                     kind: str | None = None, before_id: int | None = None, limit: int = 100) -> list[Event]: ...

    # tasks
    async def enqueue_task(self, *, description: str, source: TaskSource | str = ..., agent_type: str = ...,
                           base_priority: int = ..., prerequisites: Iterable[int] = ...,
                           deadline: datetime | float | None = ..., estimated_duration_seconds: int | None = ...,
                           milestone: int | str | None = ..., parent_task_id: int | None = ...,
                           session_id: str | None = ..., input_data: Any = ..., summary: str | None = ...,
                           max_retries: int = ..., timeout_seconds: int = ..., actor: str = ...) -> Task: ...
    async def get_task(self, task_id: int) -> Task: ...
    async def list_tasks(self, *, status: Any = None, source: Any = None, agent_type: str | None = None,
                         milestone_id: int | None = None, assigned_agent: str | None = None,
                         limit: int = 100) -> list[Task]: ...
    async def tasks_by_ids(self, task_ids: Iterable[int]) -> list[Task]: ...
    async def dependents(self, task_id: int) -> list[int]: ...
    async def add_dependency(self, task_id: int, prerequisite_id: int, *, actor: str = ...) -> Task: ...
    async def claim_task(self, *, agent: str, agent_type: str | None = None) -> Task | None: ...
    async def complete_task(self, task_id: int, *, agent: str | None = None, result: Any = None,
                            actor: str | None = None) -> Task: ...
    async def fail_task(self, task_id: int, *, error: str, agent: str | None = None, retry: bool = True,
                        actor: str | None = None) -> Task: ...
    async def retry_task(self, task_id: int, *, actor: str = ...) -> Task: ...
    async def cancel_task(self, task_id: int, *, dry_run: bool = False, reason: str | None = None,
                          actor: str = ...) -> CancelResult: ...
    async def set_base_priority(self, task_id: int, base_priority: int, *, actor: str = ...) -> Task: ...
    async def priority_breakdown(self, task_id: int) -> PriorityBreakdown: ...
    async def refresh_priorities(self, *, actor: str = ...) -> list[int]: ...
    async def reap_timeouts(self, *, actor: str = ...) -> list[Task]: ...
    async def queue_status(self) -> QueueStatus: ...
    async def execution_plan(self, task_ids: Iterable[int]) -> ExecutionPlan: ...

    # agents
    async def register_agent(self, name: str, *, agent_type: str, colour: str | None = None,
                             model: str | None = None, stale_after_seconds: float = 60.0,
                             actor: str | None = None) -> Agent: ...
    async def heartbeat(self, name: str, **fields: Any) -> Agent: ...
    async def update_agent(self, name: str, **fields: Any) -> Agent: ...
    async def get_agent(self, name: str) -> Agent: ...
    async def list_agents(self) -> list[Agent]: ...
    async def agents_by_names(self, names: Sequence[str]) -> list[Agent]: ...
    async def agent_task_counts(self) -> dict[str, dict[str, int]]: ...
    async def log_action(self, agent: str, *, phase: str, action: str, duration_ms: float | None = None,
                         success: bool = True, error_message: str | None = None) -> None: ...

    # milestones and gates
    async def add_milestone(self, name: str, *, objective: str = "", planned_weeks: str | None = None,
                            hour_budget: float | None = None, deliverables: Sequence[str] = (),
                            acceptance_criteria: Sequence[str] = (), required_approvals: int = 1,
                            actor: str = ...) -> Milestone: ...
    async def list_milestones(self) -> list[Milestone]: ...
    async def get_milestone(self, ref: int | str) -> Milestone: ...
    async def submit_report(self, milestone: int | str, *, submitted_by: str, summary: str = "",
                            criteria: Iterable[Any] = (), metrics: Iterable[Any] = (),
                            issues: Iterable[Any] = (), recommendations: Iterable[str] = (),
                            proposed_decision: Decision | str | None = None) -> ValidationReport: ...
    async def get_report(self, milestone: int | str, version: int | None = None) -> ValidationReport | None: ...
    async def decide_gate(self, milestone: int | str, *, decision: Decision | str, rationale: str,
                          reviewer: str, conditions: Sequence[str] = (),
                          report_hash: str | None = None) -> GateDecision: ...
    async def close_condition(self, condition_id: int, *, closed_by: str, note: str | None = None) -> Condition: ...
    async def gate_status(self, milestone: int | str) -> GateStatus: ...
    async def gates_awaiting_review(self) -> int: ...
    async def milestone_progress(self) -> dict[int, dict[str, int]]: ...
    async def latest_decision(self, milestone: int | str, *, after_id: int = 0) -> GateDecision | None: ...
    async def swarm_state(self) -> SwarmState: ...
    async def resume_swarm(self, *, by: str, note: str | None = None) -> SwarmState: ...


def path_from_url(url: str | Path) -> Path:
    """``sqlite:///rel.db`` (relative), ``sqlite:////abs.db`` (absolute), or a plain path."""
    if isinstance(url, Path):
        return url
    if "://" not in url:
        return Path(url)
    parsed = urlparse(url)
    if parsed.scheme != "sqlite":
        raise InvalidArgument(
            f"unsupported database URL scheme {parsed.scheme!r}: use sqlite:///path/to/swarm.db"
        )
    return Path(unquote(url[len("sqlite:///"):]))


async def open_store(
    url: str | Path, *, create: bool = False, read_only: bool = False, clock=time.time
) -> Store:
    """Open the coordination database at ``url``. ``create`` makes a new one if it is missing."""
    return await SQLiteStore.open(path_from_url(url), create=create, read_only=read_only, clock=clock)


__all__ = [
    "Agent", "AgentStatus", "CancelResult", "Condition", "Decision", "Event", "ExecutionPlan",
    "GateDecision", "GateStatus", "Milestone", "MilestoneStatus", "PriorityBreakdown", "QueueStatus", "SQLiteStore", "Store",
    "StoreError", "SwarmState", "Task", "TaskSource", "TaskStatus", "UNSET", "ValidationReport",
    "open_store", "path_from_url",
]
