"""Click parameter types for times and durations."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

import click

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration (examples: 90, 90s, 30m, 2h, 1d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


class Duration(click.ParamType):
    """Seconds, or a number with s/m/h/d/w: 90, 30m, 2h. Whole seconds unless ``whole=False``."""

    name = "duration"

    def __init__(self, *, whole: bool = True) -> None:
        self.whole = whole

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return value
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return int(seconds) if self.whole else seconds


#: The largest integer SQLite stores; a bigger id would crash the driver instead of being "not found".
SQLITE_MAX_INT = 2**63 - 1


class Id(click.ParamType):
    """A row id: a whole number from 1 (0 too with ``zero_ok``, e.g. an event id to start after)."""

    name = "id"

    def __init__(self, *, zero_ok: bool = False) -> None:
        self.low = 0 if zero_ok else 1

    def convert(self, value, param, ctx):
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = int(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not an id (a whole number)", param, ctx)
        if not self.low <= number <= SQLITE_MAX_INT:
            self.fail(f"{value!r} is not an id (a whole number from {self.low} to {SQLITE_MAX_INT})",
                      param, ctx)
        return number


class Moment(click.ParamType):
    """An ISO-8601 time (UTC if no zone is given) or a time from now: +30m, +2h, +1d."""

    name = "time"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        text = value.strip()
        if text.startswith("+"):
            try:
                return datetime.fromtimestamp(time.time() + parse_duration(text[1:]), tz=timezone.utc)
            except ValueError as exc:
                self.fail(str(exc), param, ctx)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is not a time (examples: 2026-12-01T17:00:00+00:00, +2h)", param, ctx)
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Past(click.ParamType):
    """A moment in the past: an ISO-8601 time (UTC if no zone is given) or how long ago: 30m, 2h, 1d.

    A sign is accepted and ignored (+1d and -1d are both a day ago): a search filter only looks back.
    """

    name = "time"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        text = value.strip()
        span = text[1:] if text[:1] in ("+", "-") else text
        if _DURATION.match(span):
            return datetime.fromtimestamp(time.time() - parse_duration(span), tz=timezone.utc)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is not a time (examples: 2026-12-01T17:00:00+00:00, 2h, 1d)", param, ctx)
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


DURATION = Duration()
SECONDS = Duration(whole=False)
MOMENT = Moment()
PAST = Past()
ID = Id()
EVENT_ID = Id(zero_ok=True)
