"""The task state machine. Pure: which status may follow which, and why not."""

from __future__ import annotations

from .errors import InvalidTransition
from .models import TaskStatus as S

ALLOWED: dict[S, frozenset[S]] = {
    S.PENDING: frozenset({S.READY, S.BLOCKED, S.CANCELLED}),
    S.BLOCKED: frozenset({S.READY, S.CANCELLED}),
    S.READY: frozenset({S.RUNNING, S.BLOCKED, S.CANCELLED}),
    # running -> ready is a retry (timeout, or a failure with retries left)
    # running -> blocked is an escalation: it waits on a debugging task, then is ready again
    S.RUNNING: frozenset({S.COMPLETED, S.FAILED, S.READY, S.BLOCKED, S.CANCELLED}),
    # failed -> ready/blocked is a manual retry
    S.FAILED: frozenset({S.READY, S.BLOCKED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
}

# What each verb needs, phrased for the error message.
_NEEDS = {
    S.RUNNING: "only ready tasks can be claimed",
    S.COMPLETED: "only running tasks can be completed",
    S.FAILED: "only running tasks can be failed",
    S.CANCELLED: "completed and cancelled tasks cannot be cancelled",
}


def check_transition(task_id: int, current: S, target: S) -> None:
    """Raise InvalidTransition with a message a person can act on."""
    if target in ALLOWED[current]:
        return
    need = _NEEDS.get(target, f"it cannot become {target}")
    raise InvalidTransition(f"task {task_id} is {current}; {need}")
