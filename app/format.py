"""Small display helpers for times and statuses (no agent text here: see widgets.text)."""

from __future__ import annotations

from datetime import datetime

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
