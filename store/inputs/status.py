"""Seed 002's ``coordination_status.json``, which the status bridge (app/status_bridge.py) mirrors: the
whole file (``CoordinationStatus``: its agents and the swarm's phase, quality gates and critical issues)
and one agent's entry in it (``AgentStatusEntry``). Keys seed 002 does not define are ignored."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, model_validator

from ..limits import MAX_LINE, MAX_NAME, MAX_TEXT, check_json, check_text
from .fields import Line, Name, Prose, StoreInput, at_most, limited, text, text_list
from .problems import kind_of, problem, shown

#: How the bridge logs a free-text current task as an agent's action, and in which phase: the logged text
#: (prefix included) stays within the store's limits, so the file's values are limited that much less.
TASK_ACTION = "current task: "
PHASE = "phase "


def _agent_name(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise problem(f"agent name {str(value)[:40]!r} must be 1 to {MAX_NAME} characters")
    return value


def _completion(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= 100:
        raise problem(f"must be a number from 0 to 100, not {shown(value)}")
    return float(value)


def _stripped(value: Any) -> Any:
    return value.strip() or None if isinstance(value, str) else value


def _current_task(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise problem(f"must be text or a task id, not {kind_of(value)}")
    if isinstance(value, int) or value.strip().isdigit():
        return int(value)
    return value.strip()


def _phase(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise problem(f"must be text or a number, not {kind_of(value)}")
    return str(value).strip() or None


class AgentStatusEntry(StoreInput):
    """One agent's entry in coordination_status.json. Keys seed 002 does not define are ignored; a key
    the entry omits is not in ``model_fields_set`` (the bridge leaves that field as it is)."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    agent_type: Annotated[Name | None, BeforeValidator(_stripped)] = None
    role: Annotated[Name | None, BeforeValidator(_stripped)] = None
    type: Annotated[Name | None, BeforeValidator(_stripped)] = None
    status: str | None = None
    completion: Annotated[float | None, BeforeValidator(_completion)] = None
    blockers: Annotated[tuple[Prose, ...], BeforeValidator(text_list), AfterValidator(at_most())] = ()
    next_milestone: Annotated[Line | None, BeforeValidator(_stripped)] = None
    current_task: Annotated[int | text(MAX_TEXT - len(TASK_ACTION)) | None, BeforeValidator(_current_task)] = None

    @property
    def kind(self) -> str | None:
        """The agent's type: ``agent_type``, else ``role``, else ``type``."""
        return self.agent_type or self.role or self.type

    def given(self, name: str) -> bool:
        """Whether the entry gave the field (a null counts: it clears)."""
        return name in self.model_fields_set


def _bounded_json(value: Any) -> Any:
    return limited(check_json)(value)


class CoordinationStatus(StoreInput):
    """A whole seed-002 coordination_status.json: ``agents`` (name: entry), and the swarm's ``phase``,
    ``quality_gates`` and ``critical_issues``; other keys are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    phase: Annotated[text(MAX_LINE - len(PHASE)) | None, BeforeValidator(_phase)] = None
    timestamp: str | None = None
    agents: dict[Annotated[str, BeforeValidator(_agent_name), AfterValidator(limited(check_text, MAX_NAME))],
                 AgentStatusEntry]
    quality_gates: Annotated[dict[str, Any] | None, AfterValidator(_bounded_json)] = None
    critical_issues: Annotated[list[Any] | None, AfterValidator(_bounded_json)] = None

    @model_validator(mode="before")
    @classmethod
    def _an_object_with_agents(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise problem(f"the top level must be an object, not {kind_of(data)}")
        if "agents" not in data:
            raise problem("there is no \"agents\" object")
        return data
