"""The PostgreSQL claim walks its index: the highest-priority ready task (of the agent's type) is the
first entry of tasks_claim (tasks_claim_by_type), locked as found, whatever else the table holds."""

from __future__ import annotations

import pytest

from swarmdeck.store.postgres.uow import _CLAIM

STORE_BACKENDS = ("postgres",)


@pytest.mark.parametrize(("filters", "params", "index"), [
    ("", (), "tasks_claim"),
    (" AND agent_type = %s", ("coder",), "tasks_claim_by_type"),
    (" AND agent_type = %s AND coalesce(milestone_id, 0) <> ALL(%s)", ("coder", [3, 4]),
     "tasks_claim_by_type"),
])
async def test_the_claim_reads_one_entry_of_its_index(store, filters, params, index):
    # 50,000 tasks, a tenth ready, a third of them a coder's: what a long-running swarm keeps.
    await store._write("test", lambda tx: tx.run(
        "INSERT INTO tasks (description, source, agent_type, status, priority, created_at, updated_at) "
        "SELECT 't', 'human', CASE WHEN mod(i, 3) = 0 THEN 'coder' ELSE 'writer' END, "
        "CASE WHEN mod(i, 10) = 0 THEN 'ready' ELSE 'completed' END, mod(i, 97), 0, 0 "
        "FROM generate_series(1, 50000) AS i"))
    await store._write("test", lambda tx: tx.run("ANALYZE tasks"))
    plan = "\n".join(r[0] for r in await store._all(
        "EXPLAIN " + _CLAIM.format(filters=filters), ("a1", 1.0, 1.0, 1.0, *params)))
    assert f"Index Scan using {index} on tasks" in plan, plan
    assert "LockRows" in plan and "Sort" not in plan and "Seq Scan" not in plan, plan
