"""Work never waits on the dead: running tasks whose lease ran out or whose agent went silent go back
to the queue (reaping), and the tasks waiting on a task that failed for good are marked held by it
(``tasks.held_by``), kept by every write that can change that."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from ..limits import MAX_NAME, check_text
from ..models import Task
from .base import Tx
from .signatures import SignatureOps

#: The statuses of a task that is not finished, as SQL.
UNFINISHED_SQL = "('pending', 'blocked', 'ready', 'running')"


def ids_json(ids: Iterable[int]) -> str:
    """Ids as one JSON parameter, for ``IN (SELECT value FROM json_each(?))``."""
    return json.dumps(list(ids))


class LivenessOps(SignatureOps):
    """Reaping and holding; the task queue (TaskOps) builds on it and provides ``_finish_failure``
    and ``_task_in``."""

    _last_reap = float("-inf")

    async def reap_timeouts(self, *, actor: str = "system") -> list[Task]:
        """Retry (or fail, once retries run out) every running task past its timeout, or whose agent
        has been stale for longer than its ``requeue_after_seconds``."""
        check_text("actor", actor, MAX_NAME)
        def in_tx(tx: Tx):
            ids = self._reap(tx)
            return [self._task_in(tx, i) for i in ids]

        return await self._write(actor, in_tx)

    def _reap(self, tx: Tx) -> list[int]:
        self._last_reap = tx.now
        reaped: dict[int, tuple[str, str]] = {}
        for r in tx.all(
            "SELECT id, assigned_agent, timeout_seconds FROM tasks WHERE status = 'running' AND lease_expires_at < ?",
            (tx.now,),
        ):
            reaped[r[0]] = (r[1], f"timed out after {r['timeout_seconds']} s with {r['assigned_agent']}")
        # An agent that stopped heartbeating (killed, say) loses its tasks once it has been stale for its
        # grace period, counted from its last heartbeat or from the claim, whichever came later.
        for r in tx.all(
            """SELECT t.id, a.name, max(coalesce(a.last_heartbeat, 0), t.started_at) AS seen,
                      a.stale_after_seconds AS stale, a.requeue_after_seconds AS grace
               FROM agents a JOIN tasks t ON t.assigned_agent = a.name AND t.status = 'running'
               WHERE coalesce(a.last_heartbeat, 0) + a.stale_after_seconds + a.requeue_after_seconds < ?
                 AND t.started_at + a.stale_after_seconds + a.requeue_after_seconds < ?""",
            (tx.now, tx.now),
        ):
            if r[0] not in reaped:
                reaped[r[0]] = (r[1], f"{r[1]} went silent: no heartbeat for {_span(tx.now - r['seen'])} "
                                      f"(stale after {_span(r['stale'])}, its tasks released "
                                      f"{_span(r['grace'])} later)")
        for task_id, (agent, reason) in sorted(reaped.items()):
            self._finish_failure(tx, task_id, agent, reason, retry=True)
        return sorted(reaped)

    def _hold(self, tx: Tx, task_ids: Sequence[int], failed_id: int) -> None:
        """These tasks, and every unfinished task that waits on them, are held by ``failed_id`` (unless
        another failure already holds them)."""
        if not task_ids:
            return
        rows = tx.all(
            f"""WITH RECURSIVE down(id) AS (SELECT value FROM json_each(?) UNION
                    SELECT d.task_id FROM task_dependencies d JOIN down ON d.prerequisite_id = down.id)
                UPDATE tasks SET held_by = ?
                WHERE id IN down AND held_by IS NULL AND status IN {UNFINISHED_SQL} RETURNING id""",
            (ids_json(task_ids), failed_id),
        )
        for r in sorted(r[0] for r in rows):
            tx.event("task.held", "task", r, {"failed_task": failed_id})

    def _unhold(self, tx: Tx, failed_id: int) -> None:
        """``failed_id`` is failed no more: what it held waits on its work again, or on another failure."""
        for (task_id,) in tx.all("SELECT id FROM tasks WHERE held_by = ? ORDER BY id", (failed_id,)):
            other = min(self._failed_upstream(tx, task_id), default=None)
            tx.run("UPDATE tasks SET held_by = ? WHERE id = ?", (other, task_id))
            if other is None:
                tx.event("task.unheld", "task", task_id, {"failed_task": failed_id})
            else:
                tx.event("task.held", "task", task_id, {"failed_task": other})

    @staticmethod
    def _failed_upstream(tx: Tx, task_id: int) -> list[int]:
        """The failed tasks that ``task_id`` waits on, through unfinished tasks."""
        rows = tx.all(
            f"""WITH RECURSIVE up(id) AS (SELECT ? UNION
                    SELECT d.prerequisite_id FROM task_dependencies d JOIN up ON d.task_id = up.id
                    JOIN tasks p ON p.id = d.prerequisite_id WHERE p.status IN {UNFINISHED_SQL})
                SELECT DISTINCT d.prerequisite_id FROM task_dependencies d JOIN tasks p ON p.id = d.prerequisite_id
                WHERE d.task_id IN up AND p.status = 'failed' ORDER BY 1""",
            (task_id,),
        )
        return [r[0] for r in rows]


def _span(seconds: float) -> str:
    """12 s, 6 min, 2.5 h: a duration for a sentence."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
