"""A task to enqueue (``TaskSpec``): what ``enqueue_task`` takes, ``task enqueue`` parses its options into
and the MCP server's ``task_enqueue`` takes as its parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from ..models import TaskSource
from ..priority import BASE_PRIORITY_DEFAULT, BASE_PRIORITY_MAX, BASE_PRIORITY_MIN
from .fields import JsonValue, Line, Name, Prose, StoreInput, TaskId, choice, time_or_epoch, whole
from .problems import problem


def _agent_type(value: Any) -> Any:
    if isinstance(value, str) and not value.strip() or value is None:
        raise problem("must not be empty")
    return value


class TaskSpec(StoreInput):
    """A task to enqueue."""

    description: Annotated[Prose, BeforeValidator(lambda v: _nonempty_description(v))] = Field(
        description="What to do, written for the agent that will claim it.")
    source: choice(TaskSource) = Field(TaskSource.HUMAN, description="Who asks for it; weighs into priority (human highest).")
    agent_type: Annotated[Name, BeforeValidator(_agent_type)] = Field(
        "general", description="The kind of agent that should do it; claims can filter on it.")
    base_priority: whole(BASE_PRIORITY_MIN, BASE_PRIORITY_MAX) = Field(
        BASE_PRIORITY_DEFAULT, description=f"{BASE_PRIORITY_MIN} (lowest) to {BASE_PRIORITY_MAX} (highest).")
    prerequisites: list[TaskId] = Field([], description="Task ids that must complete first.")
    deadline: Annotated[datetime | float | None, BeforeValidator(time_or_epoch)] = Field(
        None, description="When it is due: an ISO 8601 time with a timezone (e.g. 2026-01-31T17:00:00Z), "
                          "or epoch seconds.")
    estimated_duration_seconds: whole(1, 10**9) | None = Field(None, description="Expected duration.")
    milestone: TaskId | Name | None = Field(
        None, description="Milestone id, name or label (e.g. M3); its tasks wait until its gate opens.")
    parent_task_id: TaskId | None = Field(None, description="The task this one was split from.")
    session_id: Name | None = Field(None, description="Session whose memory gives context.")
    input_data: JsonValue = Field(None, description="Any JSON the worker needs.")
    summary: Line | None = Field(None, description="One line for humans.")
    max_retries: whole(0, 1000) = 3
    timeout_seconds: whole(1, 10**9) = Field(3600, description="A running task past this is retried or failed.")


def _nonempty_description(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise problem("a task needs a non-empty description")
    return value
