"""What an agent says of itself: a heartbeat's or ``update_agent``'s fields (``AgentUpdate``: a field
not given is left as it is, an explicit ``None`` clears it; ``model_fields_set`` tells them apart, and
``UNSET`` means "not given"), and seed 001's todo list it sends with a heartbeat (``TodoList``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, model_validator

from ..limits import MAX_TEXT
from ..models import AgentStatus
from .fields import Line, StoreInput, TaskId, at_most, choice, filled, texts
from .problems import problem, shown


def _percent(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise problem(f"must be a percentage from 0 to 100, not {shown(value)}")
    return float(value)


def _blockers(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, (str, bytes, Mapping)):
        raise problem("must be a list of strings")
    return value


def _next_milestone(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class AgentUpdate(StoreInput):
    """What a heartbeat (or update_agent) changes. A field not given stays as it is; an explicit null
    clears it (current_task_id, next_milestone: none; blockers: empty). Status and completion cannot be
    cleared, only set."""

    status: choice(AgentStatus, "agent status") | None = Field(None, description="What you are doing now.")
    current_task_id: TaskId | None = Field(None, description="Id of the task you are on; null: none.")
    completion: Annotated[float, BeforeValidator(_percent)] | None = Field(
        None, description="Percent done of the current work.")
    blockers: Annotated[texts(MAX_TEXT), BeforeValidator(_blockers)] = Field(
        [], description="What blocks you; [] or null clears them.")
    next_milestone: Annotated[Line | None, BeforeValidator(_next_milestone)] = Field(
        None, description="What you reach next; null or \"\" clears it.")

    @model_validator(mode="after")
    def _set_only(self) -> AgentUpdate:
        for name in ("status", "completion"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise problem(f"{name} can be set, not cleared")
        return self

    @classmethod
    def given(cls, **fields: Any) -> AgentUpdate:
        """The update from the store API's keywords, where ``UNSET`` (any value whose repr is UNSET) marks a
        field not given."""
        return cls.parse({k: v for k, v in fields.items() if repr(v) != "UNSET"})

    def changes(self) -> dict[str, Any]:
        """The fields given, with their (validated) values."""
        return {name: getattr(self, name) for name in type(self).model_fields if name in self.model_fields_set}


class TodoItem(StoreInput):
    """One item of seed 001's todo list, as agents keep it: what, its status, and what the agent is
    doing while it is in progress (``activeForm``, e.g. "Executing Milestone 1")."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, populate_by_name=True)

    content: filled(MAX_TEXT, "a todo's content")
    status: Literal["pending", "in_progress", "completed"] = Field(
        description="pending, in_progress or completed.")
    active_form: Line | None = Field(None, alias="activeForm",
                                     description="What you are doing while it is in progress.")


class TodoList(StoreInput):
    todos: Annotated[list[TodoItem], AfterValidator(at_most())]
