"""Times and durations as people and agents write them, for every face (CLI, MCP server, dashboard).

Backend-neutral and UI-free: plain functions that return numbers and datetimes or raise ``ValueError``
with a sentence a person can act on. The CLI wraps them in click parameter types (app/cli/_parse.py),
the enqueue modal calls them directly. (A task's deadline given as data, by the MCP server or a JSON
file, is parsed by its input model, store/inputs/.)
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime, timezone

__all__ = ["duration", "is_duration", "moment", "past"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

Clock = Callable[[], float]


def is_duration(text: str) -> bool:
    return _DURATION.match(text) is not None


def duration(text: str) -> float:
    """Seconds, or a number with s/m/h/d/w: ``90``, ``90s``, ``30m``, ``2h``, ``1d``, ``1w``."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration (examples: 90, 90s, 30m, 2h, 1d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _iso(text: str, examples: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time (examples: {examples})") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def moment(text: str, *, clock: Clock = time.time) -> datetime:
    """An ISO-8601 time (UTC if no zone is given) or a time from now: ``+30m``, ``+2h``, ``+1d``."""
    text = text.strip()
    if text.startswith("+"):
        return datetime.fromtimestamp(clock() + duration(text[1:]), tz=timezone.utc)
    return _iso(text, "2026-12-01T17:00:00+00:00, +2h")


def past(text: str, *, clock: Clock = time.time) -> datetime:
    """A moment in the past: an ISO-8601 time (UTC if no zone is given) or how long ago: 30m, 2h, 1d.

    A sign is accepted and ignored (+1d and -1d are both a day ago): a search filter only looks back.
    """
    text = text.strip()
    span = text[1:] if text[:1] in ("+", "-") else text
    if is_duration(span):
        return datetime.fromtimestamp(clock() - duration(span), tz=timezone.utc)
    return _iso(text, "2026-12-01T17:00:00+00:00, 2h, 1d")
