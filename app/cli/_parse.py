"""Click parameter types for ids, times and durations: thin wrappers over store/timeparse.py and the
store's id rule (store/rules.py), so that every face reads a time and an id the same way. Those two
load when a value is converted, not with the command modules (a claim converts neither)."""

from __future__ import annotations

from datetime import datetime

import click


class Duration(click.ParamType):
    """Seconds, or a number with s/m/h/d/w: 90, 30m, 2h. Whole seconds unless ``whole=False``."""

    name = "duration"

    def __init__(self, *, whole: bool = True) -> None:
        self.whole = whole

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return value
        from swarmdeck.store import timeparse

        try:
            seconds = timeparse.duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return int(seconds) if self.whole else seconds


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
        from swarmdeck.store import rules

        if not rules.id_in_range(number, low=self.low):
            self.fail(f"{value!r} is not an id (a whole number from {self.low} to {rules.MAX_ID})",
                      param, ctx)
        return number


class Moment(click.ParamType):
    """An ISO-8601 time (UTC if no zone is given) or a time from now: +30m, +2h, +1d."""

    name = "time"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        from swarmdeck.store import timeparse

        try:
            return timeparse.moment(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class Past(click.ParamType):
    """A moment in the past: an ISO-8601 time (UTC if no zone is given) or how long ago: 30m, 2h, 1d.

    A sign is accepted and ignored (+1d and -1d are both a day ago): a search filter only looks back.
    """

    name = "time"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        from swarmdeck.store import timeparse

        try:
            return timeparse.past(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DURATION = Duration()
SECONDS = Duration(whole=False)
MOMENT = Moment()
PAST = Past()
ID = Id()
EVENT_ID = Id(zero_ok=True)
