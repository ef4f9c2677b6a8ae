"""What enters the store, as pydantic models: one validation and one error format for every face.

The CLI parses its options into these models, the MCP server takes their fields as its tools' parameter
schemas, the status bridge parses the seed-002 file with ``CoordinationStatus``, and the store validates
every write with them (whatever a face already did), so a value is checked once, by the same rules, and
refused in the same words wherever it comes from. One module per kind of input:

- ``tasks``: ``TaskSpec``, what ``enqueue_task`` takes;
- ``agents``: ``AgentUpdate``, a heartbeat's or ``update_agent``'s fields (a field not given is left as
  it is, an explicit ``None`` clears it: ``model_fields_set`` tells them apart; ``UNSET`` means "not
  given"), and seed 001's todo list (``TodoList``);
- ``reports``: ``ReportInput``, a milestone's validation report (criteria, metrics, issues,
  recommendations);
- ``evidence``: ``EvidenceInput``, a command run as evidence for one acceptance criterion;
- ``records``: seed 003's learning records, one model per kind, a union discriminated on ``kind``
  (``LearningRecord``, ``parse_record``);
- ``status``: ``CoordinationStatus``, the seed-002 ``coordination_status.json`` the status bridge mirrors.

What they are built from: ``fields`` (``StoreInput``, and field types whose limits come from
store/limits.py, its constants and its checks as validators; enums from store/models.py) and
``problems`` (the error format: ``invalid(exc)`` turns a ``ValidationError`` into the store's
``InvalidArgument``, one line per problem, each naming the field (``criteria[2].status``) and what is
wrong with it).

This package is the only part of the store that imports pydantic (about 45 ms): the store imports it
only where it validates, so reads and claims never pay for it. Every name is imported from here
(``from swarmdeck.store.inputs import TaskSpec``), not from the module that defines it.
"""

from __future__ import annotations

from ..limits import MAX_DOCUMENT
from .agents import AgentUpdate, TodoItem, TodoList
from .evidence import EvidenceInput, evidence_input
from .fields import (
    JsonValue,
    Line,
    Name,
    Prose,
    StoreInput,
    TaskId,
    choice,
    filled,
    number,
    text,
    texts,
    whole,
)
from .problems import error_lines, invalid, kind_of, problem, shown
from .records import RECORD_MODELS, LearningRecord, RecordBase, RecordFlag, RecordText, parse_record
from .reports import CriterionInput, IssueInput, MetricInput, ReportInput
from .status import PHASE, TASK_ACTION, AgentStatusEntry, CoordinationStatus
from .tasks import TaskSpec

__all__ = [
    "MAX_DOCUMENT",
    "PHASE",
    "RECORD_MODELS",
    "TASK_ACTION",
    "AgentStatusEntry",
    "AgentUpdate",
    "CoordinationStatus",
    "CriterionInput",
    "EvidenceInput",
    "IssueInput",
    "JsonValue",
    "LearningRecord",
    "Line",
    "MetricInput",
    "Name",
    "Prose",
    "RecordBase",
    "RecordFlag",
    "RecordText",
    "ReportInput",
    "StoreInput",
    "TaskId",
    "TaskSpec",
    "TodoItem",
    "TodoList",
    "choice",
    "error_lines",
    "evidence_input",
    "filled",
    "invalid",
    "kind_of",
    "number",
    "parse_record",
    "problem",
    "shown",
    "text",
    "texts",
    "whole",
]
