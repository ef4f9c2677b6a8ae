"""Seed 003's learning records: what each kind holds, and how it reads when searched. Pure.

``KINDS`` is the one table of kinds and fields: for each kind its required fields, its optional ones,
and the type and bounds of every field that is not free text (``Spec``). ``store.inputs`` builds a
pydantic model per kind from it; the CLI's ``record log`` help and the field parsing read it too.

Times (``completed_at``, ``expires_at``...) are stored as seconds since the epoch, as the seed's
``INTEGER`` columns; an ISO-8601 time is accepted on input (UTC when it names no zone). The seed's
``created_at``/``logged_at`` columns are the record's own ``created_at``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple


@dataclass(frozen=True, slots=True)
class Spec:
    """A field that is not free text. ``type``: ``number`` (finite), ``count`` (a whole number),
    ``flag`` (true/false), ``time`` (epoch seconds, or ISO-8601 text), ``texts`` (a list of text;
    one text, or a JSON array in text, is taken as the list), ``url`` (http or https) or ``object``
    (a JSON object, or its JSON text). ``ge``/``gt``/``le``: bounds of a number or count."""

    type: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None

    def bounds(self) -> str:
        """The bounds in words: ``from 0 to 100``, ``greater than 0``, ``of at least 0``."""
        if self.ge is not None and self.le is not None:
            return f"from {self.ge:g} to {self.le:g}"
        if self.gt is not None:
            return f"greater than {self.gt:g}" + (f" and at most {self.le:g}" if self.le is not None else "")
        if self.ge is not None:
            return f"of at least {self.ge:g}"
        if self.le is not None:
            return f"of at most {self.le:g}"
        return ""


class Kind(NamedTuple):
    required: tuple[str, ...]
    optional: tuple[str, ...]
    #: The fields that are not free text; every other field holds text (or a list of text).
    types: Mapping[str, Spec] = {}


PERCENT = Spec("number", ge=0, le=100)
MINUTES = Spec("number", ge=0)
COUNT = Spec("count", ge=0)
TIME = Spec("time")

#: kind -> its fields. The first required field titles the record. The kinds are seed 003's tables
#: (failures, estimates, retrospectives, spikes, docs_cache, complexity_snapshots, agent_logs,
#: pattern_usage, pipeline_states) and MemoryLayer's decisions and patterns.
KINDS: dict[str, Kind] = {
    "failure": Kind(("feature", "approach", "why_failed", "lesson"), ("error", "cost_minutes"),
                    {"cost_minutes": MINUTES}),
    "decision": Kind(("decision", "rationale"), ("alternatives", "consequences", "status")),
    "retrospective": Kind(("feature",), ("surprises", "would_change", "new_patterns", "spike_accuracy"),
                          {"new_patterns": Spec("texts"), "spike_accuracy": PERCENT}),
    "spike": Kind(("feature", "question", "approach", "result"), ("viable", "lessons", "time_spent"),
                  {"viable": Spec("flag"), "time_spent": MINUTES}),
    "pattern": Kind(("name", "description"), ("example", "when_to_use", "anti_patterns")),
    "estimate": Kind(("feature", "estimated_sessions"),
                     ("actual_sessions", "complexity_score", "files_created", "files_modified", "notes",
                      "completed_at"),
                     {"estimated_sessions": Spec("number", gt=0), "actual_sessions": Spec("number", ge=0),
                      "complexity_score": Spec("number", ge=1, le=10), "files_created": COUNT,
                      "files_modified": COUNT, "completed_at": TIME}),
    "pattern_usage": Kind(("pattern_id",), ("pipeline_id", "file_path", "compliance_score", "used_at"),
                          {"compliance_score": PERCENT, "used_at": TIME}),
    "agent_log": Kind(("agent_name", "phase", "action"),
                      ("pipeline_id", "input_summary", "output_summary", "duration_ms", "success",
                       "error_message", "timestamp"),
                      {"duration_ms": Spec("number", ge=0), "success": Spec("flag"), "timestamp": TIME}),
    "pipeline_state": Kind(("pipeline_id", "feature_request", "status"),
                           ("project_path", "planned_steps", "completed_steps", "state"),
                           {"planned_steps": COUNT, "completed_steps": COUNT, "state": Spec("object")}),
    "docs_cache": Kind(("library", "version"), ("source_url", "content", "fetched_at", "expires_at"),
                       {"source_url": Spec("url"), "fetched_at": TIME, "expires_at": TIME}),
    "complexity_snapshot": Kind(("file_path",),
                                ("lines", "functions", "dependencies", "complexity_score", "snapshot_at"),
                                {"lines": COUNT, "functions": COUNT, "dependencies": COUNT,
                                 "complexity_score": Spec("number", ge=0), "snapshot_at": TIME}),
}

#: Field names that hold numbers (number, count or epoch-seconds time) and true/false in some kind:
#: what the CLI's ``--field NAME=VALUE`` reads as a number or a flag before the model checks it.
NUMBER_FIELDS = frozenset(n for k in KINDS.values() for n, s in k.types.items() if s.type in ("number", "count"))
FLAG_FIELDS = frozenset(n for k in KINDS.values() for n, s in k.types.items() if s.type == "flag")
TIME_FIELDS = frozenset(n for k in KINDS.values() for n, s in k.types.items() if s.type == "time")

#: The docs cache's lifetime when a record gives no ``expires_at`` (seed 003: "auto-expire after 7 days").
DOCS_TTL_S = 7 * 86400.0


def spec(kind: str, name: str) -> Spec | None:
    """The type of a kind's field; None for free text."""
    return KINDS[kind].types.get(name)


def validate(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The record's fields, checked by its model (``store.inputs.RECORD_MODELS``): required ones present and
    non-empty, no unknown ones, each of its type and within its bounds and the store's limits. Null
    optional fields are left out."""
    from .inputs import parse_record  # pydantic loads only when a record is written

    return parse_record(kind, fields).fields()


def title(kind: str, fields: Mapping[str, Any]) -> str:
    first = KINDS[kind].required[0]
    return f"{kind}: {fields[first]}"


def iso(seconds: float) -> str:
    """An epoch-seconds time as ISO-8601 UTC, to the second: ``2026-12-01T10:00:00Z``."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def shown(kind: str, name: str, value: Any) -> str:
    """A field's value as text: lists joined with "; ", times in ISO-8601, flags as true/false."""
    typed = KINDS[kind].types.get(name) if kind in KINDS else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if typed is not None and typed.type == "time" and isinstance(value, (int, float)):
        return iso(value)
    if isinstance(value, list):
        return "; ".join(map(str, value))
    if isinstance(value, Mapping):
        import json

        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def body(kind: str, fields: Mapping[str, Any]) -> str:
    """The searchable text: every field, labelled, in the kind's order."""
    required, optional, _ = KINDS[kind]
    lines = []
    for name in required + optional:
        if name in fields:
            lines.append(f"{name.replace('_', ' ')}: {shown(kind, name, fields[name])}")
    return "\n".join(lines)


def label(typed: Spec) -> str:
    """A typed field's type in a few characters, for a help line: ``0-100``, ``int>=0``, ``time``."""
    short = {"number": "num", "count": "int", "flag": "true|false", "texts": "list", "object": "json"}
    name = short.get(typed.type, typed.type)
    if typed.type not in ("number", "count"):
        return name
    if typed.ge is not None and typed.le is not None:
        return f"{typed.ge:g}-{typed.le:g}"
    if typed.gt is not None:
        return f"{name}>{typed.gt:g}"
    return f"{name}>={typed.ge:g}" if typed.ge is not None else name


def field_help() -> list[str]:
    """One line per kind: its fields (* = required), a typed one with its type (``spike_accuracy:0-100``)."""
    width = max(map(len, KINDS))
    lines = []
    for kind, (required, optional, types) in KINDS.items():
        names = [name + ("*" if name in required else "") + (f":{label(types[name])}" if name in types else "")
                 for name in required + optional]
        lines += textwrap.wrap(f"{kind.ljust(width)}  {' '.join(names)}", 96, subsequent_indent=" " * (width + 4),
                               break_on_hyphens=False, break_long_words=False)
    return lines
