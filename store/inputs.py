"""What enters the store, as pydantic models: one validation and one error format for every face.

The CLI parses its options into these models, the MCP server takes their fields as its tools' parameter
schemas, the status bridge parses the seed-002 file with ``CoordinationStatus``, and the store validates
every write with them (whatever a face already did), so a value is checked once, by the same rules, and
refused in the same words wherever it comes from:

- ``TaskSpec``: what ``enqueue_task`` takes;
- ``ReportInput``: a milestone's validation report (criteria, metrics, issues, recommendations);
- ``AgentUpdate``: a heartbeat's or ``update_agent``'s fields: a field not given is left as it is, an
  explicit ``None`` clears it (``model_fields_set`` tells them apart; ``UNSET`` means "not given");
- ``LearningRecord``: seed 003's learning records, one model per kind, a union discriminated on ``kind``;
- ``CoordinationStatus``: the seed-002 ``coordination_status.json`` the status bridge mirrors.

Limits come from store/limits.py (its constants, and its checks as validators); enums from
store/models.py. ``invalid(exc)`` turns a ``ValidationError`` into the store's ``InvalidArgument``, one
line per problem, each naming the field (``criteria[2].status``) and what is wrong with it.

This module is the only one in the store that imports pydantic (about 45 ms): the store imports it
only where it validates, so reads and claims never pay for it.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from functools import cache
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from . import learning
from .errors import InvalidArgument
from .limits import (
    MAX_DOCUMENT,
    MAX_ITEMS,
    MAX_LINE,
    MAX_NAME,
    MAX_REPORT_BYTES,
    MAX_TEXT,
    check_json,
    check_text,
)
from .models import (
    AgentStatus,
    Comparator,
    Criterion,
    CriterionStatus,
    Decision,
    Metric,
    ReportIssue,
    Severity,
    TaskSource,
)

from .priority import BASE_PRIORITY_DEFAULT, BASE_PRIORITY_MAX, BASE_PRIORITY_MIN
from .rules import MAX_ID  # the largest id SQLite stores: one bound for every face

# -- the error format ---------------------------------------------------------------------------------------


def problem(message: str) -> PydanticCustomError:
    """A validator's refusal in the store's words. A message starting with "must" reads after the field's
    name (``completion must be ...``); any other is a sentence of its own after it (``summary: 70000
    characters, limit 65536``)."""
    return PydanticCustomError("store", "{message}", {"message": message})


def _where(loc: Iterable[Any]) -> str:
    out = ""
    loc = list(loc)
    for i, part in enumerate(loc):
        if part == "[key]" or (i + 1 < len(loc) and loc[i + 1] == "[key]"):
            continue  # a dict's key that did not validate: its message names it
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def kind_of(value: Any) -> str:
    """What a JSON value is, in words: ``text``, ``a number``, ``a list``..."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return {dict: "an object", list: "a list", tuple: "a list", str: "text", type(None): "null"}.get(
        type(value), type(value).__name__)


def shown(value: Any) -> str:
    """A value quoted in a message: bounded, whatever its size or depth."""
    return reprlib.repr(value)[:80]


#: pydantic's own error types, reworded the store's way ("must be text, not a number").
_TYPE_WORDS = {
    "string_type": "must be text", "dict_type": "must be an object", "model_type": "must be an object",
    "model_attributes_type": "must be an object", "list_type": "must be a list",
    "bool_type": "must be true or false", "bool_parsing": "must be true or false",
    "int_type": "must be a whole number", "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number", "float_type": "must be a number",
    "float_parsing": "must be a number", "finite_number": "must be a finite number",
    "datetime_type": "must be a time", "datetime_parsing": "must be an ISO 8601 time",
}


def error_lines(exc: ValidationError, *, where: Callable[[Iterable[Any]], str] = _where) -> list[str]:
    """One line per problem: the field (``criteria[2].status``), then what is wrong with it."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        kind = err["type"]
        if kind == "missing":
            parent, name = where(loc[:-1]), loc[-1] if loc else "a value"
            lines.append(f"{parent} is missing {name!r}" if parent else f"{name} is required")
            continue
        if kind == "extra_forbidden":
            lines.append(f"{where(loc)} is not a field here")
            continue
        if kind in _TYPE_WORDS:
            message = f"{_TYPE_WORDS[kind]}, not {kind_of(err.get('input'))}"
        else:
            message = err["msg"].removeprefix("Value error, ")
        field = where(loc)
        if not field:
            lines.append(message)
        elif message.startswith(("must ", "needs ")):
            lines.append(f"{field} {message}")
        else:
            lines.append(f"{field}: {message}")
    return lines


def invalid(exc: ValidationError) -> InvalidArgument:
    """The store's error for input that did not validate, saying what to change."""
    return InvalidArgument("; ".join(error_lines(exc)))


# -- field types built on store/limits.py ----------------------------------------------------------------------

#: Stands for the field's name in a limits check: the error's location names the field instead.
_FIELD = "\x00"


def _limited(check: Callable[..., None], *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
    def run(value: Any) -> Any:
        try:
            check(_FIELD, value, *args, **kwargs)
        except InvalidArgument as exc:
            raise problem(str(exc).replace(f"{_FIELD}: ", "").replace(f"{_FIELD} ", "")) from None
        return value

    return run


def text(limit: int) -> Any:
    """Text of at most ``limit`` characters that SQLite can store (store/limits.check_text)."""
    return Annotated[str, AfterValidator(_limited(check_text, limit)), Field(json_schema_extra={"maxLength": limit})]


def _not_blank(what: str) -> Callable[[Any], Any]:
    def run(value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise problem(f"{what} must be non-empty text")
        return value

    return run


def filled(limit: int, what: str) -> Any:
    """Text with something in it besides spaces."""
    return Annotated[str, BeforeValidator(_not_blank(what)), AfterValidator(_limited(check_text, limit)),
                     Field(json_schema_extra={"minLength": 1, "maxLength": limit})]


def _items(limit: int = MAX_ITEMS) -> Callable[[Any], Any]:
    def run(values: Any) -> Any:
        if len(values) > limit:
            raise problem(f"{len(values)} entries, limit {limit}")
        return values

    return run


def texts(limit: int = MAX_TEXT) -> Any:
    """A list of text, each within ``limit`` characters, at most MAX_ITEMS of them."""
    return Annotated[list[text(limit)], AfterValidator(_items())]


Name = text(MAX_NAME)
Line = text(MAX_LINE)
Prose = text(MAX_TEXT)
#: Any value JSON can hold, within the store's depth and size limits.
JsonValue = Annotated[Any, AfterValidator(_limited(check_json))]


def _not_bool(value: Any) -> Any:
    # JSON true/false would otherwise pass as 1/0 for a number.
    if isinstance(value, bool):
        raise problem("must be a number, not true/false")
    return value


def whole(ge: int | None = None, le: int | None = None) -> Any:
    """A whole number within bounds, in the schema (Field) and in the store's words (the validator, which
    runs first: the bounds come before it, or the schema loses them)."""
    span = (f"from {ge} to {le}" if ge is not None and le is not None
            else f"of at least {ge}" if ge is not None else f"of at most {le}" if le is not None else "")

    def run(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or (ge is not None and value < ge) \
                or (le is not None and value > le):
            raise problem(f"must be a whole number {span}, not {shown(value)}".replace("  ", " "))
        return value

    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(run)]


def number(*, ge: float | None = None, gt: float | None = None, le: float | None = None) -> Any:
    return Annotated[float, Field(ge=ge, gt=gt, le=le, allow_inf_nan=False), BeforeValidator(_not_bool)]


TaskId = whole(1, MAX_ID)


def choice(kind: type[Enum], what: str | None = None) -> Any:
    """One of an enum's values (store/models.py), refused in words that list them (``what``: the name a
    person knows the field by, when it is not the field's own)."""

    def run(value: Any) -> Any:
        try:
            return kind(value)
        except (ValueError, TypeError):
            allowed = ", ".join(str(v.value) for v in kind)
            raise problem(f"{what + ' ' if what else ''}must be one of {allowed}, not {shown(value)}") from None

    return Annotated[kind, BeforeValidator(run)]


def _finite(what: str) -> Callable[[Any], Any]:
    def run(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise problem(f"{what} must be a finite number, not {shown(value)}")
        return float(value)

    return run


def _plain(what: str) -> Callable[[Any], Any]:
    """Optional text; a number is taken as its text, anything else (an object, a list) is refused."""

    def run(value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise problem(f"{what} must be text, not {kind_of(value)}")

    return run


class StoreInput(BaseModel):
    """A model of input: unknown fields refused, enums kept as enums."""

    #: A model's validator is built when it is first used, not when this module loads: a heartbeat
    #: builds AgentUpdate's alone.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    @classmethod
    def parse(cls, data: Any = None, /, **fields: Any) -> StoreInput:
        """The model, or the store's InvalidArgument saying what is wrong."""
        try:
            return cls.model_validate(fields if data is None else data)
        except ValidationError as exc:
            raise invalid(exc) from None


# -- tasks -----------------------------------------------------------------------------------------------------


def _deadline(value: Any) -> Any:
    if isinstance(value, bool):
        raise problem("must be a time or epoch seconds, not true/false")
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise problem("must be an ISO 8601 time with a timezone, e.g. 2026-01-31T17:00:00Z, "
                          f"not {shown(value)}") from None
    if isinstance(value, datetime) and value.tzinfo is None:
        raise problem("needs a timezone (e.g. 2026-01-31T17:00:00+00:00)")
    if isinstance(value, float) and not math.isfinite(value):
        raise problem(f"must be a datetime or epoch seconds, not {value!r}")
    return value


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
    deadline: Annotated[datetime | float | None, BeforeValidator(_deadline)] = Field(
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


# -- agents ----------------------------------------------------------------------------------------------------


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
    todos: Annotated[list[TodoItem], AfterValidator(_items())]


# -- validation reports ----------------------------------------------------------------------------------------


class _Entry(StoreInput):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, from_attributes=True)


class CriterionInput(_Entry):
    name: filled(MAX_TEXT, "criterion name")
    status: choice(CriterionStatus, "criterion status")
    evidence: Annotated[Prose, BeforeValidator(_plain("criterion evidence"))] = ""

    def model(self) -> Criterion:
        return Criterion(self.name, self.status, self.evidence)


class MetricInput(_Entry):
    name: filled(MAX_LINE, "metric name")
    value: Annotated[float, BeforeValidator(_finite("metric value"))]
    target: Annotated[float, BeforeValidator(_finite("metric target"))]
    comparator: choice(Comparator, "metric comparator") = Comparator.LE
    unit: Annotated[Name, BeforeValidator(_plain("metric unit"))] = ""

    def model(self) -> Metric:
        return Metric(self.name, self.value, self.target, self.comparator, self.unit)


class IssueInput(_Entry):
    severity: choice(Severity, "issue severity")
    description: filled(MAX_TEXT, "issue description")

    def model(self) -> ReportIssue:
        return ReportIssue(self.severity, self.description)


def _entries(what: str) -> Callable[[Any], Any]:
    def run(value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            if what == "recommendations":
                raise problem("recommendations must be a list of strings")
            raise problem(f"{what} must be a list of entries, not {kind_of(value)}")
        return list(value)

    return run


def _report_list(item: Any, what: str) -> Any:
    return Annotated[list[item], BeforeValidator(_entries(what)), AfterValidator(_items())]


class ReportInput(StoreInput):
    """A milestone's validation report, as its submitter writes it."""

    summary: Prose = Field("", description="What was validated and how it went.")
    criteria: _report_list(CriterionInput, "criteria") = Field(
        [], description="Acceptance criteria with status and evidence.")
    metrics: _report_list(MetricInput, "metrics") = Field([], description="Quality metrics against their targets.")
    issues: _report_list(IssueInput, "issues") = Field([], description="Issues found, with severity.")
    recommendations: _report_list(filled(MAX_TEXT, "recommendation"), "recommendations") = []
    proposed_decision: choice(Decision, "proposed decision") | None = Field(
        None, description="What you recommend; a human decides.")
    next_milestone_context: Prose = Field(
        "", description="Next Milestone Context: refined context and instructions for the next phase.")

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(cls.model_fields))
            if unknown:
                raise problem(f"unknown report field(s): {', '.join(map(str, unknown))} "
                              f"(allowed: {', '.join(cls.model_fields)})")
        elif not isinstance(data, ReportInput):
            raise problem(f"a report must hold a JSON object, not {kind_of(data)}")
        return data

    @model_validator(mode="after")
    def _whole_size(self) -> ReportInput:
        whole = self.model_dump(mode="json", include={
            "summary", "criteria", "metrics", "issues", "recommendations", "next_milestone_context"})
        try:
            check_json("report", whole, max_bytes=MAX_REPORT_BYTES)
        except InvalidArgument as exc:
            raise problem(str(exc)) from None
        return self

    def parts(self) -> tuple[tuple[Criterion, ...], tuple[Metric, ...], tuple[ReportIssue, ...], tuple[str, ...],
                             Decision | None]:
        """The report as the store keeps it: criteria, metrics, issues, recommendations, proposed decision."""
        return (tuple(c.model() for c in self.criteria), tuple(m.model() for m in self.metrics),
                tuple(i.model() for i in self.issues), tuple(self.recommendations), self.proposed_decision)


def _digest(value: Any) -> Any:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", value.strip()):
        raise problem(f"must be a SHA-256 digest: 64 hexadecimal digits, not {shown(value)}")
    return value.strip().lower()


def _whole(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int) or not -(2 ** 31) <= value < 2 ** 31:
        raise problem(f"must be a whole number, not {shown(value)}")
    return value


class EvidenceInput(StoreInput):
    """A command run as evidence for one acceptance criterion, and what it gave (an agent's claim)."""

    criterion: Annotated[int, Field(ge=1, le=10_000, description="The acceptance criterion's number.")]
    command: filled(MAX_TEXT, "command") = Field(description="The command as it was run, e.g. pytest -q.")
    exit_code: Annotated[int, BeforeValidator(_whole)] = Field(description="Its exit code (0: it passed).")
    output_sha256: Annotated[str, BeforeValidator(_digest)] = Field(
        description="SHA-256 (hex) of its output, stdout then stderr as captured.")
    ran_at: Annotated[datetime | float | None, BeforeValidator(_deadline)] = Field(
        None, description="When it ran (ISO 8601 with a timezone, or epoch seconds); default now.")

    def ran_at_seconds(self) -> float | None:
        """Epoch seconds, or None: now, by the store's clock."""
        if self.ran_at is None:
            return None
        return self.ran_at.timestamp() if isinstance(self.ran_at, datetime) else float(self.ran_at)


def evidence_input(recorded_by: Any, **fields: Any) -> tuple[str, dict[str, Any]]:
    """Who attaches evidence (canonical) and its fields as the store records them, or InvalidArgument."""
    from . import identity
    from .limits import MAX_NAME, check_fields

    check_fields(recorded_by=(recorded_by, MAX_NAME))
    if not identity.has_content(recorded_by):
        raise InvalidArgument("say who attaches the evidence (recorded_by)")
    who = identity.canonical(recorded_by, "the name of who attaches the evidence")
    given = EvidenceInput.parse(**fields)
    return who, {"criterion": given.criterion, "command": given.command, "exit_code": given.exit_code,
                 "output_sha256": given.output_sha256, "ran_at": given.ran_at_seconds()}


# -- learning records ------------------------------------------------------------------------------------------


def _record_number(typed: learning.Spec) -> Callable[[Any], Any]:
    """A number (a count: a whole one) within the field's bounds."""
    whole_only = typed.type == "count"
    span = typed.bounds()
    what = f"must be a {'whole ' if whole_only else ''}number{' ' + span if span else ''}"

    def run(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise problem(f"{what}, not {shown(value)}")
        if whole_only:
            if value != int(value):
                raise problem(f"{what}, not {shown(value)}")
            value = int(value)
        if (typed.ge is not None and value < typed.ge) or (typed.gt is not None and value <= typed.gt) \
                or (typed.le is not None and value > typed.le):
            raise problem(f"{what}, not {shown(value)}")
        return value

    return run


def _strict_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise problem(f"must be true or false, not {shown(value)}")
    return value


def _record_time(value: Any) -> Any:
    """Epoch seconds, from a number, an ISO-8601 text (UTC when it names no zone) or a datetime."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise problem("must be epoch seconds or an ISO 8601 time (e.g. 2026-12-01T10:00:00Z), "
                          f"not {shown(value)}") from None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise problem(f"must be epoch seconds or an ISO 8601 time, not {shown(value)}")
    return value


def _record_texts(value: Any) -> Any:
    """A list of text. One text is a list of one, unless it is a JSON array of text (as the seed's
    ``new_patterns TEXT -- JSON array`` column holds it)."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                parsed = json.loads(stripped)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                value = parsed
        if isinstance(value, str):
            return [value]
    return _text_list(list(value) if isinstance(value, tuple) else value)


def _record_url(value: Any) -> Any:
    from urllib.parse import urlsplit

    if not isinstance(value, str):
        raise problem(f"must be an http or https URL, not {kind_of(value)}")
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.netloc \
            or any(c.isspace() for c in value.strip()):
        raise problem(f"must be an http or https URL (e.g. https://fastapi.tiangolo.com/), not {shown(value)}")
    return value.strip()


def _record_object(value: Any) -> Any:
    """A JSON object, or its JSON text (the seed's ``state_json TEXT``)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise problem("must be a JSON object (or its JSON text), not text that is not JSON") from None
    if not isinstance(value, Mapping):
        raise problem(f"must be a JSON object, not {kind_of(value)}")
    return dict(value)


def _text_or_list(value: Any) -> Any:
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        raise problem("must be text or a list of text")
    if not isinstance(value, (str, list)):
        raise problem(f"must be text, not {shown(value)}")
    return value


def _record_text_limits(value: Any) -> Any:
    if isinstance(value, list):
        _items()(value)
        for i, item in enumerate(value):
            try:
                check_text(f"[{i}]", item, MAX_TEXT)
            except InvalidArgument as exc:
                raise problem(str(exc)) from None
        return value
    return _limited(check_text, MAX_TEXT)(value)


RecordText = Annotated[str | list[str], BeforeValidator(_text_or_list), AfterValidator(_record_text_limits)]
RecordFlag = Annotated[bool, BeforeValidator(_strict_bool)]


def _record_type(typed: learning.Spec | None) -> Any:
    """The annotation of a record field of this type (None: free text)."""
    if typed is None:
        return RecordText
    if typed.type in ("number", "count"):
        return Annotated[float | int, BeforeValidator(_record_number(typed))]
    if typed.type == "flag":
        return RecordFlag
    if typed.type == "time":
        return Annotated[float | int, BeforeValidator(_record_time)]
    if typed.type == "texts":
        return Annotated[list[str], BeforeValidator(_record_texts), AfterValidator(_record_text_limits)]
    if typed.type == "url":
        return Annotated[str, BeforeValidator(_record_url), AfterValidator(_limited(check_text, MAX_LINE))]
    if typed.type == "object":
        return Annotated[dict[str, Any], BeforeValidator(_record_object), AfterValidator(_limited(check_json))]
    raise ValueError(f"unknown field type {typed.type!r}")


class RecordBase(StoreInput):
    """A learning record's fields. Required ones must hold something (not "", [] or null); a null
    optional field is left out."""

    required: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _fields(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise problem("record fields must be an object of field: value")
        kind = cls.model_fields["kind"].default
        a = "an" if kind[:1] in "aeiou" else "a"
        fields = {k: v for k, v in data.items() if k != "kind"}
        allowed = [name for name in cls.model_fields if name != "kind"]
        unknown = sorted(set(fields) - set(allowed))
        if unknown:
            raise problem(f"unknown field(s) for {a} {kind}: {', '.join(unknown)} (allowed: {', '.join(allowed)})")
        missing = [f for f in cls.required if fields.get(f) in (None, "", [])]
        if missing:
            raise problem(f"{a} {kind} needs {', '.join(missing)}")
        return {"kind": kind, **{k: v for k, v in fields.items() if v is not None}}

    @model_validator(mode="after")
    def _in_order(self) -> RecordBase:
        fetched, expires = getattr(self, "fetched_at", None), getattr(self, "expires_at", None)
        if fetched is not None and expires is not None and expires < fetched:
            raise problem(f"expires_at ({learning.iso(expires)}) must not be before fetched_at "
                          f"({learning.iso(fetched)})")
        return self

    def fields(self) -> dict[str, Any]:
        """The record's fields as stored: those given, without the kind."""
        return self.model_dump(exclude={"kind"}, exclude_unset=True)


def _record_model(kind: str, spec: learning.Kind) -> type[RecordBase]:
    model = create_model(
        f"{kind.title().replace('_', '')}Record", __base__=RecordBase, __doc__=f"A {kind} learning record.",
        kind=(Literal[kind], kind),
        **{name: (_record_type(spec.types.get(name)), ...) for name in spec.required},
        **{name: (_record_type(spec.types.get(name)) | None, None) for name in spec.optional},
    )
    model.required = spec.required
    return model


#: One model per kind of learning record (the kinds and their fields: store/learning.py).
RECORD_MODELS: dict[str, type[RecordBase]] = {
    kind: _record_model(kind, spec) for kind, spec in learning.KINDS.items()
}

LearningRecord = Annotated[
    Union[tuple(Annotated[model, Tag(kind)] for kind, model in RECORD_MODELS.items())],  # noqa: UP007
    Discriminator(lambda v: v.get("kind") if isinstance(v, Mapping) else getattr(v, "kind", None)),
]


@cache
def _records() -> TypeAdapter:
    return TypeAdapter(LearningRecord)


def parse_record(kind: Any, fields: Any) -> RecordBase:
    """A learning record of ``kind``, or InvalidArgument saying what is wrong."""
    if kind not in RECORD_MODELS:
        raise InvalidArgument(f"record kind must be one of {', '.join(RECORD_MODELS)}, not {shown(kind)}")
    if not isinstance(fields, Mapping):
        raise InvalidArgument("record fields must be an object of field: value")
    try:
        return _records().validate_python({**fields, "kind": kind})
    except ValidationError as exc:
        # The union's tag is the kind, already known: name the field alone.
        raise InvalidArgument("; ".join(error_lines(exc, where=lambda loc: _where(list(loc)[1:])))) from None


# -- the seed-002 coordination status file -------------------------------------------------------------------

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


def _text_list(value: Any) -> Any:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise problem(f"must be a list of text, not {kind_of(value)}")
    odd = next((i for i, b in enumerate(value) if not isinstance(b, str)), None)
    if odd is not None:
        raise problem(f"must be a list of text ([{odd}] is {kind_of(value[odd])})")
    return value


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
    blockers: Annotated[tuple[Prose, ...], BeforeValidator(_text_list), AfterValidator(_items())] = ()
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
    return _limited(check_json)(value)


class CoordinationStatus(StoreInput):
    """A whole seed-002 coordination_status.json: ``agents`` (name: entry), and the swarm's ``phase``,
    ``quality_gates`` and ``critical_issues``; other keys are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    phase: Annotated[text(MAX_LINE - len(PHASE)) | None, BeforeValidator(_phase)] = None
    timestamp: str | None = None
    agents: dict[Annotated[str, BeforeValidator(_agent_name), AfterValidator(_limited(check_text, MAX_NAME))],
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


__all__ = [
    "MAX_DOCUMENT",
    "RECORD_MODELS",
    "AgentStatusEntry",
    "AgentUpdate",
    "TodoItem",
    "TodoList",
    "CoordinationStatus",
    "CriterionInput",
    "IssueInput",
    "JsonValue",
    "LearningRecord",
    "Line",
    "MetricInput",
    "Name",
    "Prose",
    "RecordBase",
    "ReportInput",
    "StoreInput",
    "TaskId",
    "TaskSpec",
    "choice",
    "error_lines",
    "invalid",
    "parse_record",
    "problem",
    "text",
    "texts",
    "whole",
]
