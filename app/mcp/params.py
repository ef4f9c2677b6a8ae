"""Parameter types the tools share: whole numbers and numbers that refuse true/false, ids within
SQLite's range, names within the store's limits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from swarmdeck.store import rules, timeparse
from swarmdeck.store.errors import InvalidArgument
from swarmdeck.store.limits import MAX_NAME

#: The largest integer SQLite stores: a bigger id is refused as an argument, never an overflow.
MAX_ID = rules.MAX_ID


def _not_bool(value: Any) -> Any:
    # JSON true/false would otherwise pass as 1/0 for a number parameter.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


def whole(ge: int | None = None, le: int | None = None) -> Any:
    """A whole-number parameter. The bounds come before the validator, or the schema loses them."""
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_not_bool)]


def number(*, ge: float | None = None, gt: float | None = None, le: float | None = None) -> Any:
    return Annotated[float, Field(ge=ge, gt=gt, le=le), BeforeValidator(_not_bool)]


TaskId = whole(1, MAX_ID)
MilestoneRef = Annotated[int | str, Field(description="Milestone id (a number) or its exact name.")]
Source = Literal["human", "agent_requirements", "agent_planner", "agent_implementation"]
TaskStatusName = Literal["pending", "blocked", "ready", "running", "completed", "failed", "cancelled"]
AgentStatusName = Literal["idle", "working", "blocked", "failed", "offline"]
MemoryTypeName = Literal["semantic", "episodic", "procedural"]
DecisionName = Literal["APPROVE", "CONDITIONAL", "REVISE", "ESCALATE"]
AgentName = Annotated[str, Field(min_length=1, max_length=MAX_NAME, description="The agent's registered name.")]
Namespace = Annotated[str, Field(min_length=1, description="Hierarchical, e.g. project:abathur/agent:builder.")]


def deadline(text: str | None) -> datetime | None:
    """An ISO 8601 time with a timezone (store/timeparse.py), refused as an argument if it is not."""
    try:
        return timeparse.deadline(text)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
