"""Real separate processes racing on one database file.

Each worker is a spawned process with its own store (its own SQLite connections), released
together by a barrier so that they really contend for the write lock. What is checked is the
store's promise, not timing: every ready task goes to exactly one agent, a task is never claimed
before its prerequisites complete, and no interleaving of enqueue / add_dependency closes a cycle.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import queue as queue_mod
import traceback
from collections import Counter, defaultdict
from pathlib import Path

import sqlean

from swarmdeck.store import TaskStatus, open_store
from swarmdeck.store.errors import CycleError

STORE_BACKENDS = ("sqlite", "postgres")

CTX = mp.get_context("spawn")
#: Generous upper bounds so a hung worker fails the test instead of hanging it.
BARRIER_TIMEOUT_S = 60
RESULT_TIMEOUT_S = 120


# -- helpers run in the parent ---------------------------------------------------------------


def _raw(db: Path) -> sqlean.Connection:
    """A plain connection for checking what the workers left behind (independent of the store)."""
    conn = sqlean.connect(str(db), isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def _run_workers(target, args_per_worker: list[tuple]) -> list[dict]:
    """Start one spawned process per args tuple, collect one result dict from each, join them."""
    results = CTX.Queue()
    procs = [CTX.Process(target=target, args=(*args, results), daemon=True) for args in args_per_worker]
    for p in procs:
        p.start()
    collected = []
    try:
        for _ in procs:
            try:
                collected.append(results.get(timeout=RESULT_TIMEOUT_S))
            except queue_mod.Empty:
                dead = [(p.name, p.exitcode) for p in procs if not p.is_alive()]
                raise AssertionError(f"a worker gave no result within {RESULT_TIMEOUT_S} s; exited: {dead}")
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
    errors = [r["error"] for r in collected if r.get("error")]
    assert not errors, "worker(s) failed:\n" + "\n".join(errors)
    assert all(p.exitcode == 0 for p in procs), [(p.name, p.exitcode) for p in procs]
    return collected


def _worker_main(coro_fn, barrier, *args) -> None:
    """Run an async worker; always put exactly one result (with the traceback if it failed).

    A failed worker breaks the barrier so that its partners fail at once instead of waiting.
    """
    results = args[-1]
    try:
        out = asyncio.run(coro_fn(barrier, *args[:-1]))
    except BaseException:
        barrier.abort()
        out = {"error": traceback.format_exc()}
    results.put(out)


async def _setup(db: Path, agents: list[str], build) -> dict:
    store = await open_store(db, create=True)
    try:
        for name in agents:
            await store.register_agent(name, agent_type="general")
        return await build(store)
    finally:
        await store.close()


# -- the claim race ----------------------------------------------------------------------------


async def _claim_until_empty(barrier, db: str, agent: str, drain: bool) -> dict:
    """Claim -> complete until nothing is left.

    With ``drain`` the worker keeps asking while tasks are still blocked or running elsewhere
    (their completion may release more); without it, the first empty claim ends the loop.
    """
    store = await open_store(db)
    claimed: list[int] = []
    empty_polls = 0
    try:
        barrier.wait(timeout=BARRIER_TIMEOUT_S)
        while True:
            task = await store.claim_task(agent=agent)
            if task is None:
                if not drain:
                    break
                counts = (await store.queue_status()).counts
                if not any(counts[s] for s in ("pending", "blocked", "ready", "running")):
                    break
                empty_polls += 1
                continue
            if task.status is not TaskStatus.RUNNING or task.assigned_agent != agent:
                raise AssertionError(f"claim returned {task.status} task {task.id} for {task.assigned_agent}")
            claimed.append(task.id)
            done = await store.complete_task(task.id, agent=agent, result={"by": agent})
            if done.status is not TaskStatus.COMPLETED:
                raise AssertionError(f"task {task.id} is {done.status} after complete")
    finally:
        await store.close()
    return {"agent": agent, "claimed": claimed, "empty_polls": empty_polls}


def _claim_worker(db: str, agent: str, barrier, drain: bool, results) -> None:
    _worker_main(_claim_until_empty, barrier, db, agent, drain, results)


def _check_claims(db: Path, reports: list[dict], task_ids: list[int]) -> None:
    """The exactly-once promise, checked from the workers' side and from the database's."""
    by_agent = {r["agent"]: r["claimed"] for r in reports}
    seen: Counter[int] = Counter()
    for claimed in by_agent.values():
        assert len(claimed) == len(set(claimed)), "a worker claimed the same task twice"
        seen.update(claimed)
    doubles = sorted(t for t, n in seen.items() if n > 1)
    assert not doubles, f"tasks claimed by more than one worker: {doubles[:20]}"
    assert set(seen) == set(task_ids), (
        f"missing {sorted(set(task_ids) - set(seen))[:20]}, unexpected {sorted(set(seen) - set(task_ids))[:20]}"
    )
    # The race was real: the work was actually shared out.
    assert sum(1 for claimed in by_agent.values() if claimed) >= 2, {a: len(c) for a, c in by_agent.items()}

    conn = _raw(db)
    try:
        claim_events = Counter(
            dict(conn.execute(
                "SELECT CAST(entity_id AS INTEGER), count(*) FROM events WHERE kind = 'task.claimed' "
                "GROUP BY entity_id"
            ).fetchall())
        )
        assert set(claim_events) == set(task_ids)
        assert {t: n for t, n in claim_events.items() if n != 1} == {}, "task.claimed events per task must be 1"
        complete_events = Counter(dict(conn.execute(
            "SELECT CAST(entity_id AS INTEGER), count(*) FROM events WHERE kind = 'task.completed' "
            "GROUP BY entity_id"
        ).fetchall()))
        assert complete_events == Counter({t: 1 for t in task_ids})

        rows = conn.execute("SELECT id, status, assigned_agent FROM tasks").fetchall()
        assert {r[0] for r in rows} == set(task_ids)
        assert {r[1] for r in rows} == {"completed"}
        owner = {t: a for a, claimed in by_agent.items() for t in claimed}
        wrong = [(r[0], r[2], owner[r[0]]) for r in rows if r[2] != owner[r[0]]]
        assert not wrong, f"assigned_agent differs from the worker that claimed the task: {wrong[:10]}"
        # The event's actor is the claimer too (the audit trail agrees with the row).
        actors = dict(conn.execute(
            "SELECT CAST(entity_id AS INTEGER), actor FROM events WHERE kind = 'task.claimed'"
        ).fetchall())
        assert actors == owner

        # The trigger-kept counters stayed exact under concurrent writers.
        counts = dict(conn.execute("SELECT status, n FROM task_counts").fetchall())
        assert counts["completed"] == len(task_ids)
        assert sum(counts.values()) == len(task_ids)
        # Every agent was released at the end.
        agents = conn.execute("SELECT name, status, current_task_id FROM agents").fetchall()
        assert all(status == "idle" and current is None for _, status, current in agents), agents
    finally:
        conn.close()


def test_claim_race_each_task_goes_to_exactly_one_agent(tmp_path: Path) -> None:
    """4 processes (twice the cores CI has) drain 200 ready tasks: every task is claimed once, completed once."""
    db = tmp_path / "swarm.db"
    n_workers, n_tasks = 4, 200
    agents = [f"agent-{i}" for i in range(n_workers)]

    async def build(store):
        ids = []
        for i in range(n_tasks):
            t = await store.enqueue_task(description=f"task {i}", base_priority=i % 11)
            assert t.status is TaskStatus.READY
            ids.append(t.id)
        return {"ids": ids}

    setup = asyncio.run(_setup(db, agents, build))
    barrier = CTX.Barrier(n_workers)
    reports = _run_workers(_claim_worker, [(str(db), a, barrier, False) for a in agents])
    _check_claims(db, reports, setup["ids"])


def test_claim_race_with_dependencies_releases_each_task_once_and_in_order(tmp_path: Path) -> None:
    """4 processes drain 12 chains of dependent tasks: completions release dependents while
    others claim; each task is still claimed once, and never before its prerequisites completed."""
    db = tmp_path / "swarm.db"
    n_workers, n_chains, length = 4, 12, 8
    agents = [f"agent-{i}" for i in range(n_workers)]

    async def build(store):
        ids, prereqs = [], {}
        heads = []
        for c in range(n_chains):
            t = await store.enqueue_task(description=f"chain {c} step 0")
            ids.append(t.id)
            heads.append(t.id)
        for step in range(1, length):
            for c in range(n_chains):
                # Each step waits on its own chain's previous step, and every 4th also on a neighbour's.
                pre = [heads[c]] + ([heads[(c + 1) % n_chains]] if step % 4 == 0 else [])
                t = await store.enqueue_task(description=f"chain {c} step {step}", prerequisites=pre)
                assert t.status is TaskStatus.BLOCKED
                prereqs[t.id] = pre
                ids.append(t.id)
            heads = ids[-n_chains:]
        return {"ids": ids, "prereqs": prereqs}

    setup = asyncio.run(_setup(db, agents, build))
    barrier = CTX.Barrier(n_workers)
    reports = _run_workers(_claim_worker, [(str(db), a, barrier, True) for a in agents])
    _check_claims(db, reports, setup["ids"])

    conn = _raw(db)
    try:
        claimed_at = dict(conn.execute(
            "SELECT CAST(entity_id AS INTEGER), id FROM events WHERE kind = 'task.claimed'"
        ).fetchall())
        completed_at = dict(conn.execute(
            "SELECT CAST(entity_id AS INTEGER), id FROM events WHERE kind = 'task.completed'"
        ).fetchall())
        readied = Counter(r[0] for r in conn.execute(
            "SELECT CAST(entity_id AS INTEGER) FROM events WHERE kind = 'task.ready'"
        ).fetchall())
    finally:
        conn.close()
    early = [
        (task, pre) for task, pres in setup["prereqs"].items() for pre in pres
        if claimed_at[task] < completed_at[pre]
    ]
    assert not early, f"tasks claimed before a prerequisite completed (task, prerequisite): {early[:10]}"
    # Each blocked task was released exactly once, though several completions raced to release it.
    assert readied == Counter({t: 1 for t in setup["prereqs"]})


# -- cycles under concurrent writers -------------------------------------------------------------


async def _add_edges(barrier, db: str, pairs: list[tuple[int, int]], via_enqueue: bool) -> dict:
    """For each (task, prerequisite), wait for the other worker at the barrier, then add the edge.

    With ``via_enqueue`` the edge goes through a freshly enqueued middle task: enqueue ``m``
    waiting on ``prerequisite``, then make ``task`` wait on ``m``.
    """
    store = await open_store(db)
    outcomes: list[str] = []
    try:
        for task, prerequisite in pairs:
            barrier.wait(timeout=BARRIER_TIMEOUT_S)
            try:
                if via_enqueue:
                    middle = await store.enqueue_task(
                        description=f"between {task} and {prerequisite}", prerequisites=[prerequisite]
                    )
                    await store.add_dependency(task, middle.id)
                else:
                    await store.add_dependency(task, prerequisite)
                outcomes.append("added")
            except CycleError as exc:
                if "cycle" not in str(exc):
                    raise AssertionError(f"cycle refusal without a useful message: {exc}") from exc
                outcomes.append("cycle")
    finally:
        await store.close()
    return {"outcomes": outcomes}


def _edge_worker(db: str, pairs, via_enqueue: bool, barrier, results) -> None:
    _worker_main(_add_edges, barrier, db, pairs, via_enqueue, results)


def _assert_acyclic(db: Path) -> None:
    """Kahn's algorithm over the stored edges, independent of the store's own graph code."""
    conn = _raw(db)
    try:
        edges = conn.execute("SELECT task_id, prerequisite_id FROM task_dependencies").fetchall()
        nodes = [r[0] for r in conn.execute("SELECT id FROM tasks").fetchall()]
    finally:
        conn.close()
    waiting = {n: 0 for n in nodes}
    dependents = defaultdict(list)
    for task, pre in edges:
        waiting[task] += 1
        dependents[pre].append(task)
    free = [n for n, k in waiting.items() if k == 0]
    placed = 0
    while free:
        n = free.pop()
        placed += 1
        for d in dependents[n]:
            waiting[d] -= 1
            if waiting[d] == 0:
                free.append(d)
    stuck = sorted(n for n, k in waiting.items() if k)
    assert placed == len(nodes), f"the stored dependency graph has a cycle through {stuck[:20]}"


def _race_opposite_edges(tmp_path: Path, via_enqueue: bool, n_pairs: int) -> None:
    db = tmp_path / "swarm.db"

    async def build(store):
        pairs = []
        for i in range(n_pairs):
            a = await store.enqueue_task(description=f"a{i}")
            b = await store.enqueue_task(description=f"b{i}")
            pairs.append((a.id, b.id))
        return {"pairs": pairs}

    pairs = asyncio.run(_setup(db, [], build))["pairs"]
    barrier = CTX.Barrier(2)
    # Worker 0 makes a wait on b; worker 1 makes b wait on a — at the same moment, pair by pair.
    forward = [(a, b) for a, b in pairs]
    backward = [(b, a) for a, b in pairs]
    one, two = _run_workers(_edge_worker, [(str(db), forward, via_enqueue, barrier),
                                           (str(db), backward, via_enqueue, barrier)])
    for i, outcome in enumerate(zip(one["outcomes"], two["outcomes"])):
        assert sorted(outcome) == ["added", "cycle"], (
            f"pair {pairs[i]}: expected exactly one edge added and one refused, got {outcome}"
        )
    _assert_acyclic(db)
    conn = _raw(db)
    try:
        n_edges = conn.execute("SELECT count(*) FROM task_dependencies").fetchone()[0]
        n_events = conn.execute(
            "SELECT count(*) FROM events WHERE kind = 'task.dependency_added'"
        ).fetchone()[0]
    finally:
        conn.close()
    # One edge per pair; via enqueue, each of the two middle tasks also has its own edge.
    assert n_events == n_pairs
    assert n_edges == n_pairs * (3 if via_enqueue else 1)


def test_racing_add_dependency_cannot_form_a_cycle(tmp_path: Path) -> None:
    """Two processes add opposite edges between the same two tasks at once: exactly one wins."""
    _race_opposite_edges(tmp_path, via_enqueue=False, n_pairs=60)


def test_racing_enqueue_and_add_dependency_cannot_form_a_cycle(tmp_path: Path) -> None:
    """Each process enqueues a task waiting on one end of a pair, then makes the other end wait
    on it; together the two would close a four-task cycle, so exactly one add_dependency wins."""
    _race_opposite_edges(tmp_path, via_enqueue=True, n_pairs=60)
