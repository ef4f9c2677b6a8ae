"""Parameter types the tools share: whole numbers and numbers that refuse true/false, ids within
SQLite's range, names within the store's limits, enums from store/models.py, and the fields of the
input models (store/inputs/) that tools take as their parameters."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema
from swarmdeck.store import rules
from swarmdeck.store.limits import MAX_NAME
from swarmdeck.store.models import STATUS_ALIASES, AgentStatus, MemoryType, TaskSource, TaskStatus

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
MilestoneRef = Annotated[int | str, Field(
    description="Milestone: its id (a number), its name, its label (the name's first word, e.g. M3) or the "
                "start of its name; a reference that could name several is refused.")]


def one_of(kind: type[Enum]) -> Any:
    """A parameter taking one of an enum's values (store/models.py), its values listed in the schema
    itself (not behind a $ref) so that a client sees them beside the parameter; the other words it is
    accepted as (``STATUS_ALIASES``: seed 001's in_progress...) are listed after them."""
    values = [v.value for v in kind] + list(STATUS_ALIASES.get(kind, ()))
    return Annotated[kind, WithJsonSchema({"type": "string", "enum": values})]


Source = one_of(TaskSource)
TaskStatusName = one_of(TaskStatus)
AgentStatusName = one_of(AgentStatus)
MemoryTypeName = one_of(MemoryType)


def field_of(model: type[BaseModel], name: str, **schema: Any) -> Any:
    """A model field (store/inputs/) as a tool parameter: its type, limits, validators and description;
    ``schema`` adds to or replaces the description. The default stays the tool's (defaults: ``default_of``)."""
    info = model.model_fields[name]
    described = {"description": info.description} if info.description else {}
    return Annotated[(info.annotation, *info.metadata, Field(**{**described, **schema}))]


def default_of(model: type[BaseModel], name: str) -> Any:
    return model.model_fields[name].get_default(call_default_factory=True)
AgentName = Annotated[str, Field(min_length=1, max_length=MAX_NAME, description="The agent's registered name.")]
Namespace = Annotated[str, Field(min_length=1, description="Hierarchical, e.g. project:abathur/agent:builder.")]
#: The agent a task is assigned to, naming itself: a call for another agent's task is refused.
Assignee = Annotated[str, Field(min_length=1, description="You: refused unless the task is assigned to you.")]
