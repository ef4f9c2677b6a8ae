"""What every input model is built from: ``StoreInput`` (unknown fields refused, the store's error
format), and field types on store/limits.py's limits and checks (text, names, lines, JSON, whole
numbers, ids, enum choices, times), each refusing a value in the store's words (problems.py)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ..errors import InvalidArgument
from ..limits import MAX_ITEMS, MAX_LINE, MAX_NAME, MAX_TEXT, check_json, check_text
from ..rules import MAX_ID  # the largest id SQLite stores: one bound for every face
from .problems import invalid, kind_of, problem, shown

#: Stands for the field's name in a limits check: the error's location names the field instead.
_FIELD = "\x00"


def limited(check: Callable[..., None], *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
    """A validator running one of store/limits.py's checks, its refusal worded for the field."""
    def run(value: Any) -> Any:
        try:
            check(_FIELD, value, *args, **kwargs)
        except InvalidArgument as exc:
            raise problem(str(exc).replace(f"{_FIELD}: ", "").replace(f"{_FIELD} ", "")) from None
        return value

    return run


def text(limit: int) -> Any:
    """Text of at most ``limit`` characters that SQLite can store (store/limits.check_text)."""
    return Annotated[str, AfterValidator(limited(check_text, limit)), Field(json_schema_extra={"maxLength": limit})]


def _not_blank(what: str) -> Callable[[Any], Any]:
    def run(value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise problem(f"{what} must be non-empty text")
        return value

    return run


def filled(limit: int, what: str) -> Any:
    """Text with something in it besides spaces."""
    return Annotated[str, BeforeValidator(_not_blank(what)), AfterValidator(limited(check_text, limit)),
                     Field(json_schema_extra={"minLength": 1, "maxLength": limit})]


def at_most(limit: int = MAX_ITEMS) -> Callable[[Any], Any]:
    """A validator refusing a list (or object) of more than ``limit`` entries."""
    def run(values: Any) -> Any:
        if len(values) > limit:
            raise problem(f"{len(values)} entries, limit {limit}")
        return values

    return run


def texts(limit: int = MAX_TEXT) -> Any:
    """A list of text, each within ``limit`` characters, at most MAX_ITEMS of them."""
    return Annotated[list[text(limit)], AfterValidator(at_most())]


Name = text(MAX_NAME)
Line = text(MAX_LINE)
Prose = text(MAX_TEXT)
#: Any value JSON can hold, within the store's depth and size limits.
JsonValue = Annotated[Any, AfterValidator(limited(check_json))]


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


def time_or_epoch(value: Any) -> Any:
    """A time with a timezone (ISO 8601 text or a datetime) or epoch seconds; blank text is none."""
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


def text_list(value: Any) -> Any:
    """A list of text, as it is; null is an empty one."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise problem(f"must be a list of text, not {kind_of(value)}")
    odd = next((i for i, b in enumerate(value) if not isinstance(b, str)), None)
    if odd is not None:
        raise problem(f"must be a list of text ([{odd}] is {kind_of(value[odd])})")
    return value


class StoreInput(BaseModel):
    """A model of input: unknown fields refused, enums kept as enums."""

    #: A model's validator is built when it is first used, not when its module loads: a heartbeat
    #: builds AgentUpdate's alone.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    @classmethod
    def parse(cls, data: Any = None, /, **fields: Any) -> StoreInput:
        """The model, or the store's InvalidArgument saying what is wrong."""
        try:
            return cls.model_validate(fields if data is None else data)
        except ValidationError as exc:
            raise invalid(exc) from None
