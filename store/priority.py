"""abathur's five-factor task priority, 0-100. Pure: no database, no clock."""

from __future__ import annotations

import math

from .models import PriorityBreakdown, TaskSource

WEIGHTS = {"base": 0.30, "depth": 0.25, "urgency": 0.25, "blocking": 0.15, "source": 0.05}

#: A task's base priority is a whole number in this range, inclusive: 0 (lowest) to 10 (highest).
BASE_PRIORITY_MIN, BASE_PRIORITY_MAX = 0, 10
#: The base priority of a task that names none: the middle of the range.
BASE_PRIORITY_DEFAULT = 5

SOURCE_SCORES = {
    TaskSource.HUMAN: 100.0,
    TaskSource.AGENT_REQUIREMENTS: 75.0,
    TaskSource.AGENT_PLANNER: 50.0,
    TaskSource.AGENT_IMPLEMENTATION: 25.0,
}

_MINUTE, _HOUR, _DAY, _WEEK = 60.0, 3600.0, 86400.0, 604800.0


def urgency_score(deadline: float | None, estimate: float | None, now: float) -> float:
    """How pressing the deadline is: 50 without one, 100 once it can no longer be met."""
    if deadline is None:
        return 50.0
    remaining = deadline - now
    if remaining <= 0 or (estimate and remaining < estimate):
        return 100.0
    if estimate:
        return 100.0 * math.exp(-remaining / (2.0 * estimate))
    if remaining < _MINUTE:
        return 100.0
    if remaining < _HOUR:
        return 80.0
    if remaining < _DAY:
        return 50.0
    if remaining < _WEEK:
        return 30.0
    return 10.0


def clamp_base_priority(value: int) -> int:
    """The nearest base priority the store accepts (a step past either end stays at the end)."""
    return max(BASE_PRIORITY_MIN, min(BASE_PRIORITY_MAX, value))


def depth_score(dependency_depth: int) -> float:
    return float(min(dependency_depth * 10, 100))


def blocking_score(unfinished_dependents: int) -> float:
    return min(math.log10(unfinished_dependents + 1) * 33.33, 100.0)


def breakdown(
    *,
    base_priority: int,
    dependency_depth: int,
    deadline: float | None,
    estimate: float | None,
    unfinished_dependents: int,
    source: TaskSource | str,
    now: float,
) -> PriorityBreakdown:
    """Every factor and the weighted total, as the UI shows them."""
    factors = {
        "base": float(base_priority * 10),
        "depth": depth_score(dependency_depth),
        "urgency": urgency_score(deadline, estimate, now),
        "blocking": blocking_score(unfinished_dependents),
        "source": SOURCE_SCORES[TaskSource(source)],
    }
    total = sum(WEIGHTS[name] * value for name, value in factors.items())
    return PriorityBreakdown(total=round(total, 4), **factors)
