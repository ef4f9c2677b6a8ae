"""The input models' error format: one line per problem, each naming the field (``criteria[2].status``)
and what is wrong with it, in the store's words; ``invalid`` makes it the store's ``InvalidArgument``."""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from ..errors import InvalidArgument


def problem(message: str) -> PydanticCustomError:
    """A validator's refusal in the store's words. A message starting with "must" reads after the field's
    name (``completion must be ...``); any other is a sentence of its own after it (``summary: 70000
    characters, limit 65536``)."""
    return PydanticCustomError("store", "{message}", {"message": message})


def field_path(loc: Iterable[Any]) -> str:
    """Where a problem is, as a person names the field: ``criteria[2].status``."""
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


def error_lines(exc: ValidationError, *, where: Callable[[Iterable[Any]], str] = field_path) -> list[str]:
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
