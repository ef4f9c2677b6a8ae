"""Turning store models into JSON and into plain terminal text. Shared by the CLI and MCP server."""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import date, datetime, timezone
from typing import Any

# Untrusted text made safe for a terminal (controls, bidi and invisible characters shown as escapes):
# the same function the dashboard uses, under the name the CLI's renderers know.
from swarmdeck.store.text import scrub as plain

# One compact age (4s, 3m, 2h, 5d) for the CLI and the dashboard.
from .format import age as ago

__all__ = ["ago", "jsonable", "plain", "to_json", "when"]


def jsonable(value: Any) -> Any:
    """Models, enums and datetimes to plain JSON types (properties such as `total_cancelled` included)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name, attr in vars(type(value)).items():
            if isinstance(attr, property):
                out[name] = jsonable(getattr(value, name))
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()  # e.g. a reviewer's public key
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return value


def to_json(value: Any) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False)


def when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
