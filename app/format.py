"""Small display helpers for times, statuses and refusals (no agent text here: see widgets.text).

UI-free: the CLI's output (app/output.py) uses `age` too, so a duration reads the same everywhere."""

from __future__ import annotations

from datetime import datetime

from swarmdeck.store.errors import Remedy, StoreError

STATUS_STYLE = {
    "pending": "dim",
    "blocked": "yellow",
    "ready": "cyan",
    "running": "bold green",
    "completed": "green",
    "failed": "bold red",
    "cancelled": "dim strike",
    # agents
    "idle": "cyan",
    "working": "bold green",
    "offline": "dim",
    "stale": "bold black on yellow",
    # milestones
    "locked": "dim",
    "open": "cyan",
    "review": "bold magenta",
    "approved": "bold green",
    "conditional": "yellow",
    "escalated": "bold white on red",
    # milestones a person took out of the plan
    "cut": "dim strike",
    "deferred": "dim italic",
}


def age(seconds: float | None) -> str:
    """4s, 3m, 2h, 5d: compact, and stable within its unit (so cells rarely change)."""
    if seconds is None:
        return "never"
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def since(moment: datetime | None, now: float) -> str:
    return "-" if moment is None else age(now - moment.timestamp())


def until(moment: datetime | None, now: float) -> str:
    if moment is None:
        return "-"
    delta = moment.timestamp() - now
    return f"in {age(delta)}" if delta >= 0 else f"{age(-delta)} late"


def clock_time(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def at_own_terminal(exc: StoreError) -> str | None:
    """The advice for what only a person does, and only at their own terminal (register as a reviewer,
    make a signing key): every face words these the same, since the terminal is the only way."""
    who = exc.fields.get("who") or exc.fields.get("key")
    if exc.remedy is Remedy.REGISTER_REVIEWER:
        return f"a person registers once, from their own terminal: `swarmdeck reviewer add {who}`"
    if exc.remedy is Remedy.MAKE_KEY:
        return f"{who} makes one at their own terminal with `swarmdeck reviewer key {who}`"
    return None


def with_hint(exc: StoreError, advice: str | None) -> str:
    """A store error as a face says it: the store's message, then that face's advice, if any."""
    return f"{exc}; {advice}" if advice else str(exc)


def hint(exc: StoreError) -> str | None:
    """What the dashboard says to do about a store refusal, if a person at it can do anything: no
    command-line advice for what the dashboard does itself."""
    if exc.remedy is Remedy.RESUME_SWARM:
        return "a human resumes it from the milestones screen (R)"
    return at_own_terminal(exc)


def refusal(exc: StoreError) -> str:
    """A store error as a dashboard toast says it."""
    return with_hint(exc, hint(exc))
