"""Seed 003's learning records: what each kind holds, and how it reads when searched. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import InvalidArgument
from .limits import MAX_TEXT, check_text, check_texts

#: kind -> (required fields, optional fields). The first required field titles the record.
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "failure": (("feature", "approach", "why_failed", "lesson"), ("error", "cost_minutes")),
    "decision": (("decision", "rationale"), ("alternatives", "consequences", "status")),
    "retrospective": (("feature",), ("surprises", "would_change", "new_patterns", "spike_accuracy")),
    "spike": (("feature", "question", "approach", "result"), ("viable", "lessons", "time_spent")),
    "pattern": (("name", "description"), ("example", "when_to_use", "anti_patterns")),
    "estimate": (("feature", "estimated_sessions"), ("actual_sessions", "complexity_score", "notes")),
}

_NUMERIC = {"estimated_sessions", "actual_sessions", "complexity_score", "spike_accuracy", "time_spent",
            "cost_minutes"}


def validate(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The record's fields, checked: required ones present and non-empty, no unknown ones."""
    if kind not in KINDS:
        raise InvalidArgument(f"record kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if not isinstance(fields, Mapping):
        raise InvalidArgument("record fields must be an object of field: value")
    required, optional = KINDS[kind]
    unknown = sorted(set(fields) - set(required) - set(optional))
    if unknown:
        allowed = ", ".join(required + optional)
        raise InvalidArgument(f"unknown field(s) for a {kind}: {', '.join(unknown)} (allowed: {allowed})")
    missing = [f for f in required if fields.get(f) in (None, "", [])]
    if missing:
        raise InvalidArgument(f"a {kind} needs {', '.join(missing)}")
    clean: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name in _NUMERIC:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidArgument(f"{name} must be a number, not {value!r}")
        elif name == "viable":
            if not isinstance(value, bool):
                raise InvalidArgument(f"viable must be true or false, not {value!r}")
        elif isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise InvalidArgument(f"{name} must be text or a list of text")
            check_texts(name, value, MAX_TEXT)
        elif not isinstance(value, str):
            raise InvalidArgument(f"{name} must be text, not {value!r}")
        else:
            check_text(name, value, MAX_TEXT)
        clean[name] = value
    return clean


def title(kind: str, fields: Mapping[str, Any]) -> str:
    first = KINDS[kind][0][0]
    return f"{kind}: {fields[first]}"


def body(kind: str, fields: Mapping[str, Any]) -> str:
    """The searchable text: every field, labelled, in the kind's order."""
    required, optional = KINDS[kind]
    lines = []
    for name in required + optional:
        if name in fields:
            value = fields[name]
            if isinstance(value, list):
                value = "; ".join(value)
            lines.append(f"{name.replace('_', ' ')}: {value}")
    return "\n".join(lines)
