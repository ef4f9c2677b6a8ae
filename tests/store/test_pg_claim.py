"""The PostgreSQL claim statement (tests/pg_claim.py, what bench_pg_claim.py measures) on a real server.

``FOR UPDATE SKIP LOCKED``: claims from several connections at once each get a different task and
none waits for another; drained from many connections, every task is handed out exactly once; a claim
sees only ready tasks, highest priority first, and passes over the ones another transaction holds.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from pg_claim import AGENT_WORKING, CLAIM, DOUBLE_CLAIMS, EVENT, SCHEMA, SEED_AGENTS, SEED_TASKS

#: A bound on any wait here: a claim that blocks on another's lock would stall a test this long.
BOUND_S = 10.0


@pytest.fixture
def claims_db(pg_database):
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(SCHEMA)
    return pg_database


def seed(url: str, n_tasks: int, n_agents: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SEED_TASKS.psycopg, SEED_TASKS.args(n_tasks, time.time()))
        conn.execute(SEED_AGENTS.psycopg, SEED_AGENTS.args(n_agents, time.time()))


def claim(conn: psycopg.Connection, agent: str) -> int | None:
    """One claim transaction as the store's rules run it: the claim, the agent, the event."""
    with conn.transaction():
        row = conn.execute(CLAIM.psycopg, CLAIM.args(agent, time.time())).fetchone()
        if row is None:
            return None
        conn.execute(AGENT_WORKING.psycopg, AGENT_WORKING.args(row[0], agent))
        conn.execute(EVENT.psycopg, EVENT.args(time.time(), agent, "task.claimed", str(row[0]), "{}"))
    return row[0]


def test_claims_open_at_once_get_different_tasks_without_waiting(claims_db):
    """K transactions each claim and then hold their locks until all K have claimed: with SKIP LOCKED
    none waits for another and no two get the same task. (A plain FOR UPDATE, or a claim that locks
    nothing, would block the second claim on the first's row until the first commits, which waits
    for the barrier: the barrier breaks and the test fails.)"""
    k = 6
    seed(claims_db, n_tasks=20, n_agents=k)
    barrier = threading.Barrier(k, timeout=BOUND_S)

    def one(i: int) -> int:
        with psycopg.connect(claims_db) as conn:
            conn.execute("SET lock_timeout = '5s'")
            conn.commit()
            with conn.transaction():
                row = conn.execute(CLAIM.psycopg, CLAIM.args(f"w{i}", time.time())).fetchone()
                barrier.wait()  # every claim is made while all the others still hold theirs
            return row[0]

    with ThreadPoolExecutor(k) as pool:
        got = list(pool.map(one, range(k)))
    assert len(set(got)) == k, got
    with psycopg.connect(claims_db) as conn:
        running = conn.execute(
            "SELECT id, assigned_agent FROM tasks WHERE status = 'running' ORDER BY id").fetchall()
    assert sorted(got) == [r[0] for r in running]
    # Highest priority first: the k claimed are the k best of the queue (priority DESC, id).
    with psycopg.connect(claims_db) as conn:
        best = [r[0] for r in conn.execute("SELECT id FROM tasks ORDER BY priority DESC, id LIMIT %s", (k,))]
    assert sorted(got) == sorted(best)


def test_drained_from_many_connections_every_task_is_claimed_once(claims_db):
    n, k = 300, 8
    seed(claims_db, n_tasks=n, n_agents=k)
    start = threading.Barrier(k, timeout=BOUND_S)

    def drain(i: int) -> list[int]:
        got = []
        with psycopg.connect(claims_db) as conn:
            start.wait()
            while (task := claim(conn, f"w{i}")) is not None:
                got.append(task)
        return got

    with ThreadPoolExecutor(k) as pool:
        per_worker = list(pool.map(drain, range(k)))
    claimed = [t for got in per_worker for t in got]
    assert len(claimed) == n
    assert len(set(claimed)) == n, "a task was handed out twice"
    assert sum(1 for got in per_worker if got) > 1, "the claims did not overlap at all"
    with psycopg.connect(claims_db) as conn:
        assert conn.execute(DOUBLE_CLAIMS).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM events WHERE kind = 'task.claimed'").fetchone()[0] == n
        assert conn.execute("SELECT count(*) FROM tasks WHERE status <> 'running'").fetchone()[0] == 0
        # Each task's event names the agent the row was given to.
        assert conn.execute(
            "SELECT count(*) FROM events e JOIN tasks t ON t.id = e.entity_id::bigint "
            "WHERE e.kind = 'task.claimed' AND e.actor <> t.assigned_agent").fetchone()[0] == 0


def test_a_claim_sees_only_ready_tasks_and_passes_over_held_ones(claims_db):
    now = time.time()
    statuses = ["pending", "blocked", "running", "completed", "failed", "cancelled"]
    with psycopg.connect(claims_db, autocommit=True) as conn:
        for status in statuses:  # not ready, at the highest priority
            conn.execute("INSERT INTO tasks (description, status, priority, created_at, updated_at) "
                         "VALUES (%s, %s, 10, %s, %s)", (f"not ready: {status}", status, now, now))
        ready = [conn.execute("INSERT INTO tasks (description, status, priority, created_at, updated_at) "
                              "VALUES (%s, 'ready', %s, %s, %s) RETURNING id", (f"ready {p}", p, now, now)
                              ).fetchone()[0] for p in (1, 5, 3)]
        conn.execute(SEED_AGENTS.psycopg, SEED_AGENTS.args(2, now))
        before = conn.execute("SELECT id, status, assigned_agent FROM tasks WHERE status <> 'ready' "
                              "ORDER BY id").fetchall()

    by_priority = [ready[1], ready[2], ready[0]]  # priorities 5, 3, 1
    with psycopg.connect(claims_db) as holder, psycopg.connect(claims_db) as other:
        other.execute("SET lock_timeout = '5s'")
        other.commit()
        # One transaction holds the best ready task; the other's claim passes over it, not waiting.
        holder.execute(CLAIM.psycopg, CLAIM.args("w0", now))
        assert claim(other, "w1") == by_priority[1]
        assert claim(other, "w1") == by_priority[2]
        assert claim(other, "w1") is None  # the held one is not handed out, nothing else is ready
        holder.rollback()  # its claim undone: the task is ready again, and claimable
        assert claim(other, "w1") == by_priority[0]
        assert claim(other, "w1") is None

    with psycopg.connect(claims_db) as conn:
        after = conn.execute("SELECT id, status, assigned_agent FROM tasks WHERE id <> ALL(%s) "
                             "ORDER BY id", (ready,)).fetchall()
        assert after == before, "a task that was not ready was changed"
        rows = conn.execute("SELECT status, assigned_agent FROM tasks WHERE id = ANY(%s)",
                            (ready,)).fetchall()
        assert rows == [("running", "w1")] * 3
