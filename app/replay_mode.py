"""What the dashboard's replay mode decides without Textual: the marker it shows, how long play waits
between two events, and what a person types to jump (an event id or a time). The mode itself, in the
App, is app/replay_seat.py."""

from __future__ import annotations

import re
from datetime import datetime, time

from swarmdeck.store import timeparse
from swarmdeck.store.replay import ReplayPoint, Step

#: Play speeds, as multiples of real time (``<`` and ``>`` move through them).
SPEEDS = (1, 2, 5, 10, 30, 60, 300, 1000, 10_000)
DEFAULT_SPEED = 10
#: An idle stretch of history plays as at most this many seconds: play never stalls on a quiet night.
MAX_IDLE_S = 2.0
#: Two events play at least this far apart, so that every screen has drawn one before the next.
MIN_FRAME_S = 0.05

#: What each kind of step is called where a person reads it ("no later decision").
STEP_WORDS = {Step.EVENT: "event", Step.DECISION: "decision", Step.FAILURE: "failure",
              Step.STALE: "stale agent", Step.REPORT: "report"}


def pace(before: datetime, after: datetime, speed: float) -> float:
    """Seconds to wait before showing ``after`` when playing from ``before`` at ``speed``× real time:
    the real spacing divided by the speed, never under a frame, never over ``MAX_IDLE_S``."""
    gap = max(0.0, (after - before).total_seconds()) / speed
    return min(max(gap, MIN_FRAME_S), MAX_IDLE_S)


def step_speed(speed: int, direction: int) -> int:
    """The next speed up (+1) or down (-1) from ``speed``, held at the ends."""
    index = min(range(len(SPEEDS)), key=lambda i: abs(SPEEDS[i] - speed))
    return SPEEDS[max(0, min(len(SPEEDS) - 1, index + direction))]


def marker(point: ReplayPoint, *, playing: bool = False, speed: int = DEFAULT_SPEED) -> str:
    """The status bar's ``REPLAY 14:32:05 · event 1234 task.failed``: the point's time in local time, as
    every time in the dashboard is shown, then what happened there, then ``▶ 10×`` while playing."""
    text = f"REPLAY {point.ts.astimezone().strftime('%H:%M:%S')} · event {point.event_id} {point.kind}"
    if playing:
        text += f" · ▶ {speed}×"
    return text


_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def parse_target(text: str, *, day: datetime | None = None) -> int | datetime:
    """An event id (``1234``, ``#1234``); a time of day as the dashboard shows it (``14:32`` or
    ``14:32:05``, local time, on the day of ``day``, else today); or a moment as every swarmdeck command
    reads one (store/timeparse.py ``past``: ISO-8601, UTC if no zone is given, or how long ago: 2h, 1d).
    A ``ValueError`` says what is accepted."""
    value = text.strip().removeprefix("#")
    shown = repr(value if len(value) <= 40 else value[:40] + "…")  # said back, never a page of it
    if value.isdigit():
        if len(value) > 18:  # beyond any event id (a 64-bit integer), and int() refuses past 4,300 digits
            raise ValueError(f"{shown} is no event id: too large")
        event_id = int(value)
        if event_id < 1:
            raise ValueError("an event id is 1 or more")
        return event_id
    if match := _CLOCK.match(value):
        hours, minutes, seconds = (int(g or 0) for g in match.groups())
        if hours > 23 or minutes > 59 or seconds > 59:
            raise ValueError(f"{shown} is not a time of day")
        base = (day or datetime.now().astimezone()).astimezone()
        return datetime.combine(base.date(), time(hours, minutes, seconds), tzinfo=base.tzinfo)
    try:
        return timeparse.past(value)
    except ValueError:
        raise ValueError(f"{shown} is neither an event id nor a time: give an event id (1234), "
                         "a time of day (14:32 or 14:32:05), a date and time (2026-12-03T14:32:05, UTC "
                         "unless a zone is given) or how long ago (2h)") from None
