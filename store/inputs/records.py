"""Seed 003's learning records: one model per kind (``RECORD_MODELS``), built from store/learning.py's
``KINDS`` (each kind's required and optional fields, and the type and bounds of every field that is not
free text), and their union discriminated on ``kind`` (``LearningRecord``), which ``parse_record``
validates a record with."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from functools import cache
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Tag,
    TypeAdapter,
    ValidationError,
    create_model,
    model_validator,
)

from .. import learning
from ..errors import InvalidArgument
from ..limits import MAX_LINE, MAX_TEXT, check_json, check_text
from .fields import StoreInput, at_most, limited, text_list
from .problems import error_lines, field_path, kind_of, problem, shown


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
    return text_list(list(value) if isinstance(value, tuple) else value)


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
        at_most()(value)
        for i, item in enumerate(value):
            try:
                check_text(f"[{i}]", item, MAX_TEXT)
            except InvalidArgument as exc:
                raise problem(str(exc)) from None
        return value
    return limited(check_text, MAX_TEXT)(value)


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
        return Annotated[str, BeforeValidator(_record_url), AfterValidator(limited(check_text, MAX_LINE))]
    if typed.type == "object":
        return Annotated[dict[str, Any], BeforeValidator(_record_object), AfterValidator(limited(check_json))]
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
        raise InvalidArgument("; ".join(error_lines(exc, where=lambda loc: field_path(list(loc)[1:])))) from None
