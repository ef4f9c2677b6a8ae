"""Seed 003's learning records: what each kind holds, and how it reads when searched. Pure.

``KINDS`` is the one table of kinds and fields; ``store.inputs`` builds a model per kind from it (the
numeric and true/false fields are typed there)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: kind -> (required fields, optional fields). The first required field titles the record.
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "failure": (("feature", "approach", "why_failed", "lesson"), ("error", "cost_minutes")),
    "decision": (("decision", "rationale"), ("alternatives", "consequences", "status")),
    "retrospective": (("feature",), ("surprises", "would_change", "new_patterns", "spike_accuracy")),
    "spike": (("feature", "question", "approach", "result"), ("viable", "lessons", "time_spent")),
    "pattern": (("name", "description"), ("example", "when_to_use", "anti_patterns")),
    "estimate": (("feature", "estimated_sessions"), ("actual_sessions", "complexity_score", "notes")),
}

#: Fields that hold numbers, and true/false; every other field holds text or a list of text.
NUMBER_FIELDS = frozenset({"estimated_sessions", "actual_sessions", "complexity_score", "spike_accuracy",
                           "time_spent", "cost_minutes"})
FLAG_FIELDS = frozenset({"viable"})


def validate(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The record's fields, checked by its model (``store.inputs.RECORD_MODELS``): required ones present and
    non-empty, no unknown ones, each of its type and within the store's limits. Null optional fields are
    left out."""
    from .inputs import parse_record  # pydantic loads only when a record is written

    return parse_record(kind, fields).fields()


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
