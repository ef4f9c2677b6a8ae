"""Store benchmark: N agent processes looping heartbeat -> claim -> complete on one database.

Each agent is a separate (spawned) process with its own store and SQLite connections, as real
agents are. Reported per run: transitions/s (claims + completes), messages/s (heartbeats too),
p50/p99 write latency per operation, how much of it was spent waiting for the write lock, and
lock errors (``Busy``). Beside them, in the same run: a single-process baseline doing the same
transitions with raw SQL (sqlean, no aiosqlite, no store), and exact-match reads (``get_task`` by
id) at 100k tasks. This is a benchmark, not a test: it prints figures and passes/fails nothing.

    python tests/bench/bench_store.py                                  # the full run
    python tests/bench/bench_store.py --agents 4,8 --seconds 2 --read-tasks 20000   # a quick one

``--variants`` adds runs at the largest N that change how writers wait for the lock, to see where
tail latency comes from (SQLite's busy handler sleeps 1, 2, 5, 10 ... then 100 ms between tries,
so a writer that has waited a while polls only ten times a second while fresh ones barge in):

* ``raw``: N processes doing the baseline's raw SQL (no aiosqlite, no store): SQLite's own
  locking at the same concurrency, with a short critical section.
* ``busy``: the store without its host write lock and with every write on the connection's
  thread: writers wait in SQLite's busy handler alone (the store's write path before the lock).
* ``thread``: the store with its host write lock but every write on the connection's thread
  (no quick writes on the event loop): what the lock does on its own.
* ``retry``: as ``busy``, but with busy_timeout 0 and the whole write retried after a random
  sleep of up to 0.2 ms, doubling to at most 4 ms (full jitter), for up to 10 s.

Agents that loop flat out are a closed system: by Little's law their mean write latency is
N / throughput whatever the locking, so at saturation 100 agents cannot see 50 ms unless the
database does well over 2,000 writes/s. ``--pace R`` adds a run at the largest N in which each
agent starts a loop every 3/R seconds (R messages/s each, random phase): latency at a load the
database can carry, which is what the seeds' "under 100 concurrent agents" target is about (the
variants but retry are run paced too).

``--claim-loop 1,4,16,64`` runs only the claim + complete loop instead (claim_loop.py): K processes
draining a fresh queue of ``--claim-tasks`` tasks, this checkout's store beside an older one
(``--old-python``), its statements issued raw and a bare ``UPDATE ... RETURNING`` claim.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from array import array
from pathlib import Path

CTX = mp.get_context("spawn")
OPS = ("heartbeat", "claim", "complete")
#: The PostgreSQL runs' modes: the store, and raw asyncpg (its statements, without the seal, one statement a message).
PG_MODES = ("pg", "asyncpg", "asyncpg-noseal", "asyncpg-one")
#: Writes slower than this are kept one by one (when, which agent, where the time went) for --slow-log.
SLOW_WRITE_S = 0.02


# -- figures -------------------------------------------------------------------------------------


def pct(values, q: float) -> float:
    """Nearest-rank percentile of ``values`` (any sequence of numbers); NaN when empty."""
    if not len(values):
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def times(x: float) -> str:
    return f"{x:.2f}" if x < 1 else f"{x:.1f}" if x < 10 else f"{x:.0f}"


def ms(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "–"
    value = seconds * 1000
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


# -- building databases --------------------------------------------------------------------------


def fresh_db(directory: Path, name: str, n_tasks: int) -> Path:
    """A new swarmdeck database (the store's own schema) with ``n_tasks`` ready tasks, bulk-inserted."""
    import sqlean

    from swarmdeck.store import open_store

    db = directory / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)

    async def create() -> None:
        store = await open_store(db, create=True)
        await store.close()

    asyncio.run(create())
    rng = random.Random(7)
    now = time.time()
    conn = sqlean.connect(str(db), isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO tasks (description, source, agent_type, base_priority, status, priority, created_at, "
        "updated_at) VALUES (?, 'human', 'general', ?, 'ready', ?, ?, ?)",
        ((f"bench task {i}", rng.randint(0, 10), round(rng.uniform(0, 100), 2), now, now)
         for i in range(n_tasks)),
    )
    conn.execute("COMMIT")
    conn.close()
    return db


# -- one agent process -----------------------------------------------------------------------------


def agent_process(db: str, name: str, seconds: float, mode: str, pace: float, warmup: float, barriers,
                  results) -> None:
    try:
        results.put(asyncio.run(_agent(db, name, seconds, mode, pace, warmup, barriers)))
    except BaseException as exc:  # a dead agent must not hang the parent
        for barrier in barriers:
            barrier.abort()
        results.put({"name": name, "error": f"{type(exc).__name__}: {exc}"})


async def _agent(db: str, name: str, seconds: float, mode: str, pace: float, warmup: float, barriers) -> dict:
    """heartbeat -> claim -> complete for ``warmup`` + ``seconds``, measuring the last ``seconds``;
    ``barriers`` start every process together and hold each one's store open until all have stopped
    writing, so no store's close (and its checkpoint) overlaps another's measured writes."""
    from swarmdeck.store import open_store
    from swarmdeck.store.errors import Busy
    from swarmdeck.store.sqlite import base

    # When BEGIN IMMEDIATE returned (the store builds its Tx right after): splits each write's
    # latency into waiting for the lock and holding it.
    began = [0.0]

    class TimedTx(base.Tx):
        __slots__ = ()

        def __init__(self, *args, **kwargs) -> None:
            began[0] = time.monotonic()
            super().__init__(*args, **kwargs)

    base.Tx = TimedTx
    store = await open_store(db)
    if mode in ("busy", "retry", "thread"):
        store._write_now = lambda *args: base._NOT_NOW  # every write on the connection's thread
    if mode in ("busy", "retry"):
        store._host_lock.close()  # SQLite's busy handler alone
        store._host_lock = base.HostWriteLock(None)
    await store.register_agent(name, agent_type="general")
    # When SQLite itself starts BEGIN IMMEDIATE (the trace callback runs in aiosqlite's thread):
    # splits the wait into getting the statement to SQLite and SQLite waiting for the lock.
    in_sqlite = [0.0]

    def trace(sql: str) -> None:
        if sql == "BEGIN IMMEDIATE":
            in_sqlite[0] = time.monotonic()

    await store._writer.set_trace_callback(trace)
    retries = [0]
    if mode == "retry":
        store.busy_timeout_ms = 0
        await store._writer.execute("PRAGMA busy_timeout = 0")
        write = store._write

        async def write_with_retry(*args, **kwargs):
            ceiling, give_up = 0.0002, time.monotonic() + 10
            while True:
                try:
                    return await write(*args, **kwargs)
                except Busy:  # it never began: try it again
                    if time.monotonic() > give_up:
                        raise
                    retries[0] += 1
                    await asyncio.sleep(random.uniform(0, ceiling))
                    ceiling = min(ceiling * 2, 0.004)

        store._write = write_with_retry
    latency = {op: array("d") for op in OPS}
    waited = {op: array("d") for op in OPS}
    to_sqlite = array("d")
    busy = {op: 0 for op in OPS}
    empty = 0
    slow = []
    gave_up = object()

    async def timed(op: str, call):
        start = time.monotonic()
        try:
            result = await call()
        except Busy:
            busy[op] += 1
            return gave_up
        end = time.monotonic()
        if start < started:  # warming up
            return result
        latency[op].append(end - start)
        waited[op].append(began[0] - start)
        to_sqlite.append(in_sqlite[0] - start)
        if end - start > SLOW_WRITE_S:
            slow.append((op, start, end - start, in_sqlite[0] - start, began[0] - in_sqlite[0]))
        return result

    period = 3 / pace if pace else 0.0  # one loop is three messages
    behind = 0
    try:
        barriers[0].wait(timeout=600)
        began_at = time.monotonic()
        started, cpu_started = began_at + warmup, None
        deadline = started + seconds
        next_loop = began_at + random.uniform(0, period)
        while time.monotonic() < deadline:
            if period:
                delay = next_loop - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    behind += 1
                next_loop += period
            if cpu_started is None and time.monotonic() >= started:
                cpu_started = time.process_time()
            await timed("heartbeat", lambda: store.heartbeat(name))
            task = await timed("claim", lambda: store.claim_task(agent=name))
            if task is gave_up:
                continue
            if task is None:
                empty += 1
                continue
            await timed("complete", lambda: store.complete_task(task.id, agent=name))
        finished, cpu = time.monotonic(), time.process_time() - (cpu_started or time.process_time())
        barriers[1].wait(timeout=600)
    finally:
        await store.close()
    return {
        "name": name, "started": started, "finished": finished, "empty_claims": empty, "busy": busy,
        "retries": retries[0], "behind": behind, "cpu_s": cpu,
        "latency": {op: v.tobytes() for op, v in latency.items()},
        "waited": {op: v.tobytes() for op, v in waited.items()},
        "to_sqlite": to_sqlite.tobytes(), "slow": slow,
    }


def reader_process(db: str, seconds: float, n_tasks: int, barriers, results) -> None:
    """A screen's worth of reads during the write load: get_task by random id, 50 times a second."""
    try:
        results.put(asyncio.run(_reader(db, seconds, n_tasks, barriers)))
    except BaseException as exc:
        for barrier in barriers:
            barrier.abort()
        results.put({"name": "reader", "error": f"{type(exc).__name__}: {exc}"})


async def _reader(db: str, seconds: float, n_tasks: int, barriers) -> dict:
    from swarmdeck.store import open_store

    store = await open_store(db, read_only=True)
    latency = array("d")
    rng = random.Random(3)
    try:
        barriers[0].wait(timeout=600)
        started = time.monotonic()
        next_read = started
        while time.monotonic() < started + seconds:
            delay = next_read - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            next_read += 0.02
            t0 = time.monotonic()
            await store.get_task(rng.randint(1, n_tasks))
            latency.append(time.monotonic() - t0)
        barriers[1].wait(timeout=600)
    finally:
        await store.close()
    return {"name": "reader", "latency": latency.tobytes()}


def _unpack(raw: bytes) -> array:
    values = array("d")
    values.frombytes(raw)
    return values


def run_agents(db: Path, n: int, seconds: float, mode: str, pace: float, n_tasks: int, warmup: float = 0.0) -> dict:
    barriers = (CTX.Barrier(n + 1), CTX.Barrier(n + 1))  # start together; stay open until all stop
    results = CTX.Queue()
    if mode in PG_MODES:
        import store_pg

        target = store_pg.pg_agent_process if mode == "pg" else store_pg.asyncpg_agent_process
    else:
        target = raw_agent_process if mode == "raw" else agent_process
    procs = [
        CTX.Process(target=target, args=(str(db), f"agent-{i:03d}", seconds, mode, pace, warmup, barriers, results))
        for i in range(n)
    ]
    procs.append(CTX.Process(target=reader_process, args=(str(db), warmup + seconds, n_tasks, barriers, results)))
    for p in procs:
        p.start()
    reports = [results.get(timeout=900) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    errors = [r for r in reports if "error" in r]
    if errors:
        raise SystemExit(f"{len(errors)} process(es) failed, e.g. {errors[0]['name']}: {errors[0]['error']}")
    reads = _unpack(next(r for r in reports if r["name"] == "reader")["latency"])
    reports = [r for r in reports if r["name"] != "reader"]

    latency = {op: array("d") for op in OPS}
    waited = {op: array("d") for op in OPS}
    for r in reports:
        for op in OPS:
            latency[op].extend(_unpack(r["latency"][op]))
            waited[op].extend(_unpack(r["waited"][op]))
    to_sqlite = array("d")
    for r in reports:
        to_sqlite.extend(_unpack(r["to_sqlite"]))
    all_waits = [w for op in OPS for w in waited[op]]
    in_begin = [w - q for w, q in zip(all_waits, to_sqlite)]
    window = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
    counts = {op: len(latency[op]) for op in OPS}
    if mode in PG_MODES:
        import store_pg

        check = store_pg.check_exactly_once(str(db))
    else:
        check = _check_exactly_once(db)
    t0 = min(r["started"] for r in reports)
    slow = sorted((at - t0, r["name"], op, total, to_sqlite, in_begin)
                  for r in reports for op, at, total, to_sqlite, in_begin in r.get("slow", ()))
    return {
        "pace": pace,
        "label": (f"raw SQL, {n} processes" if mode == "raw"
                  else f"PostgreSQL store, {n} agents" if mode == "pg"
                  else f"raw asyncpg, {n} processes" if mode == "asyncpg"
                  else f"raw asyncpg without the seal, {n} processes" if mode == "asyncpg-noseal"
                  else f"raw asyncpg, one statement a message, {n} processes" if mode == "asyncpg-one"
                  else f"store, {n} agents" + ("" if mode == "store" else f" + {mode}"))
                 + (f", paced {pace:g} msg/s each" if pace else ""),
        "agents": n,
        "window_s": window,
        "counts": counts,
        "transitions_per_s": (counts["claim"] + counts["complete"]) / window,
        "messages_per_s": sum(counts.values()) / window,
        "p50": {op: pct(latency[op], 50) for op in OPS},
        "p99": {op: pct(latency[op], 99) for op in OPS},
        "write_p99": pct([x for op in OPS for x in latency[op]], 99),
        "max": {op: max(latency[op], default=float("nan")) for op in OPS},
        "wait_p50": pct(all_waits, 50),
        "wait_p99": pct(all_waits, 99),
        "to_sqlite_p99": pct(to_sqlite, 99),
        "in_begin_p99": pct(in_begin, 99),
        "waits_over_100ms": sum(1 for w in all_waits if w > 0.1),
        "waits_over_100ms_in_begin": sum(1 for w, b in zip(all_waits, in_begin) if w > 0.1 and b > 0.9 * w),
        "hold_p50": pct([lat - w for op in OPS for lat, w in zip(latency[op], waited[op])], 50),
        "hold_p99": pct([lat - w for op in OPS for lat, w in zip(latency[op], waited[op])], 99),
        "busy": sum(sum(r["busy"].values()) for r in reports),
        "empty_claims": sum(r["empty_claims"] for r in reports),
        "begin_retries": sum(r["retries"] for r in reports),
        "loops_behind": sum(r["behind"] for r in reports),
        "littles_law_ms": 1000 * n / (sum(counts.values()) / window),
        "cpu_ms_per_message": 1000 * sum(r["cpu_s"] for r in reports) / max(1, sum(counts.values())),
        "cores_busy": sum(r["cpu_s"] for r in reports) / window,
        "double_claims": check,
        "connections_per_agent": max((r.get("connections", 0) for r in reports), default=0),
        "read_p50": pct(reads, 50), "read_p99": pct(reads, 99), "reads": len(reads),
        "slow_writes": slow,
    }


def _check_exactly_once(db: Path) -> int:
    import sqlean

    conn = sqlean.connect(str(db))
    claims, distinct = conn.execute(
        "SELECT count(*), count(DISTINCT entity_id) FROM events WHERE kind = 'task.claimed'"
    ).fetchone()
    conn.close()
    return claims - distinct


# -- the raw-SQL baseline ------------------------------------------------------------------------


class RawAgent:
    """The store's three writes in plain SQL on one synchronous sqlean connection.

    Same schema (indexes and triggers), WAL, synchronous=NORMAL, busy_timeout, BEGIN IMMEDIATE and
    an event row per write: what the store does minus aiosqlite's thread hops, the Python checks
    and the models. ``began`` is when the last BEGIN IMMEDIATE returned.
    """

    EVENT = "INSERT INTO events (ts, actor, kind, entity, entity_id, payload) VALUES (?, ?, ?, ?, ?, ?)"

    def __init__(self, db: str, name: str) -> None:
        import sqlean

        self.conn = sqlean.connect(db, isolation_level=None)
        for pragma in ("busy_timeout = 10000", "foreign_keys = ON", "synchronous = NORMAL", "journal_mode = WAL"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.name = name
        self.began = 0.0
        self.conn.execute(
            "INSERT INTO agents (name, agent_type, registered_at, last_heartbeat) VALUES (?, 'general', ?, ?)",
            (name, time.time(), time.time()),
        )

    def _begin(self) -> float:
        self.conn.execute("BEGIN IMMEDIATE")
        self.began = time.monotonic()
        return time.time()

    def heartbeat(self) -> None:
        now = self._begin()
        self.conn.execute("UPDATE agents SET last_heartbeat = ? WHERE name = ?", (now, self.name))
        self.conn.execute(self.EVENT, (now, self.name, "agent.heartbeat", "agent", self.name, "{}"))
        self.conn.execute("SELECT * FROM agents WHERE name = ?", (self.name,)).fetchone()
        self.conn.execute("COMMIT")

    def claim(self) -> int | None:
        now = self._begin()
        row = self.conn.execute(
            "SELECT id, timeout_seconds FROM tasks WHERE status = 'ready' ORDER BY priority DESC, id LIMIT 1"
        ).fetchone()
        if row is None:
            self.conn.execute("COMMIT")
            return None
        self.conn.execute(
            "UPDATE tasks SET status = 'running', assigned_agent = ?, started_at = ?, lease_expires_at = ?, "
            "updated_at = ? WHERE id = ?", (self.name, now, now + row[1], now, row[0]),
        )
        self.conn.execute(
            "UPDATE agents SET status = 'working', current_task_id = ? WHERE name = ?", (row[0], self.name)
        )
        self.conn.execute(self.EVENT, (now, self.name, "task.claimed", "task", str(row[0]),
                                       json.dumps({"agent": self.name})))
        self.conn.execute("SELECT * FROM tasks WHERE id = ?", (row[0],)).fetchone()
        self.conn.execute("COMMIT")
        return row[0]

    def complete(self, task_id: int) -> None:
        now = self._begin()
        self.conn.execute(
            "UPDATE tasks SET status = 'completed', finished_at = ?, lease_expires_at = NULL, updated_at = ? "
            "WHERE id = ? AND status = 'running'", (now, now, task_id),
        )
        self.conn.execute("UPDATE agents SET status = 'idle', current_task_id = NULL WHERE name = ?", (self.name,))
        self.conn.execute(self.EVENT, (now, self.name, "task.completed", "task", str(task_id), "{}"))
        self.conn.execute("SELECT task_id FROM task_dependencies WHERE prerequisite_id = ?", (task_id,)).fetchall()
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


def raw_loop(agent: RawAgent, seconds: float, pace: float, barriers=None, warmup: float = 0.0) -> dict:
    """heartbeat -> claim -> complete for ``seconds`` (paced at ``pace`` messages/s if given)."""
    import sqlean

    latency = {op: array("d") for op in OPS}
    waited = {op: array("d") for op in OPS}
    busy = {op: 0 for op in OPS}
    period = 3 / pace if pace else 0.0
    empty = behind = 0

    def timed(op: str, call):
        start = time.monotonic()
        try:
            result = call()
        except sqlean.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            agent.conn.execute("ROLLBACK") if agent.conn.in_transaction else None
            busy[op] += 1
            return RawAgent
        if start < started:  # warming up
            return result
        latency[op].append(time.monotonic() - start)
        waited[op].append(agent.began - start)
        return result

    if barriers is not None:
        barriers[0].wait(timeout=600)
    began_at = time.monotonic()
    started, cpu_started = began_at + warmup, None
    next_loop = began_at + random.uniform(0, period)
    while time.monotonic() < started + seconds:
        if period:
            delay = next_loop - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                behind += 1
            next_loop += period
        if cpu_started is None and time.monotonic() >= started:
            cpu_started = time.process_time()
        timed("heartbeat", agent.heartbeat)
        task_id = timed("claim", agent.claim)
        if task_id is RawAgent:
            continue
        if task_id is None:
            empty += 1
            continue
        timed("complete", lambda: agent.complete(task_id))
    finished, cpu = time.monotonic(), time.process_time() - (cpu_started or time.process_time())
    return {
        "name": agent.name, "started": started, "finished": finished, "empty_claims": empty, "busy": busy,
        "retries": 0, "behind": behind, "cpu_s": cpu,
        "latency": {op: v.tobytes() for op, v in latency.items()},
        "waited": {op: v.tobytes() for op, v in waited.items()},
        "to_sqlite": array("d", [0.0] * sum(len(v) for v in latency.values())).tobytes(),
    }


def raw_agent_process(db: str, name: str, seconds: float, mode: str, pace: float, warmup: float, barriers,
                      results) -> None:
    try:
        agent = RawAgent(db, name)
        try:
            report = raw_loop(agent, seconds, pace, barriers, warmup)
            barriers[1].wait(timeout=600)
            results.put(report)
        finally:
            agent.close()
    except BaseException as exc:
        for barrier in barriers:
            barrier.abort()
        results.put({"name": name, "error": f"{type(exc).__name__}: {exc}"})


def run_baseline(db: Path, seconds: float) -> dict:
    """One process, one connection, no contention: the ceiling for these writes on this machine."""
    agent = RawAgent(str(db), "baseline")
    try:
        report = raw_loop(agent, seconds, 0.0)
    finally:
        agent.close()
    latency = {op: _unpack(report["latency"][op]) for op in OPS}
    counts = {op: len(latency[op]) for op in OPS}
    window = report["finished"] - report["started"]
    return {
        "label": "raw SQL baseline, 1 process",
        "agents": 1,
        "pace": 0.0,
        "window_s": window,
        "counts": counts,
        "transitions_per_s": (counts["claim"] + counts["complete"]) / window,
        "messages_per_s": sum(counts.values()) / window,
        "p50": {op: pct(latency[op], 50) for op in OPS},
        "p99": {op: pct(latency[op], 99) for op in OPS},
        "max": {op: max(latency[op], default=float("nan")) for op in OPS},
        "wait_p50": float("nan"), "wait_p99": float("nan"), "hold_p50": float("nan"), "hold_p99": float("nan"),
        "to_sqlite_p99": float("nan"), "in_begin_p99": float("nan"),
        "waits_over_100ms": 0, "waits_over_100ms_in_begin": 0,
        "busy": sum(report["busy"].values()),
        "empty_claims": report["empty_claims"],
        "begin_retries": 0,
        "loops_behind": 0,
        "littles_law_ms": float("nan"),
        "cpu_ms_per_message": 1000 * report["cpu_s"] / max(1, sum(counts.values())),
        "cores_busy": report["cpu_s"] / window,
        "double_claims": 0,
        "read_p50": float("nan"), "read_p99": float("nan"), "reads": 0,
    }


# -- exact-match reads -------------------------------------------------------------------------------


def run_reads(directory: Path, n_tasks: int, n_reads: int) -> dict:
    """get_task by random id at ``n_tasks`` tasks, through the store and through raw SQL."""
    import sqlean

    from swarmdeck.store import open_store

    db = fresh_db(directory, "reads", n_tasks)
    rng = random.Random(11)
    ids = [rng.randint(1, n_tasks) for _ in range(n_reads)]

    async def through_store() -> array:
        store = await open_store(db)
        out = array("d")
        try:
            for task_id in ids[:200]:  # warm the page cache and the statement cache
                await store.get_task(task_id)
            for task_id in ids:
                t0 = time.perf_counter()
                task = await store.get_task(task_id)
                out.append(time.perf_counter() - t0)
                assert task.id == task_id
        finally:
            await store.close()
        return out

    store_lat = asyncio.run(through_store())
    conn = sqlean.connect(str(db))
    raw_lat = array("d")
    for task_id in ids[:200]:
        conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
    for task_id in ids:
        t0 = time.perf_counter()
        conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        raw_lat.append(time.perf_counter() - t0)
    conn.close()
    return {
        "tasks": n_tasks, "reads": n_reads,
        "store_p50": pct(store_lat, 50), "store_p99": pct(store_lat, 99), "store_max": max(store_lat),
        "raw_p50": pct(raw_lat, 50), "raw_p99": pct(raw_lat, 99), "raw_max": max(raw_lat),
    }


# -- report ------------------------------------------------------------------------------------------


def table(runs: list[dict], baseline: dict) -> str:
    head = ("| run | transitions/s | messages/s | vs baseline | claim p50 / p99 ms | complete p50 / p99 ms "
            "| heartbeat p50 / p99 ms | lock wait p50 / p99 ms | Busy errors |")
    lines = [head, "|" + "|".join("---" for _ in range(9)) + "|"]
    for r in runs:
        ratio = r["transitions_per_s"] / baseline["transitions_per_s"]
        lines.append(
            f"| {r['label']} | {r['transitions_per_s']:,.0f} | {r['messages_per_s']:,.0f} | "
            f"{'1' if r is baseline else 'paced' if r.get('pace') else f'{ratio:.2f}×'} | "
            + " | ".join(f"{ms(r['p50'][op])} / {ms(r['p99'][op])}" for op in ("claim", "complete", "heartbeat"))
            + f" | {ms(r['wait_p50'])} / {ms(r['wait_p99'])} | {r['busy']:g} |"
        )
    return "\n".join(lines)


def where_time_goes(runs: list[dict]) -> str:
    lines = ["| run | CPU ms / message | cores busy | N ÷ messages/s ms | p99 ms: to SQLite / in BEGIN "
             "| waits > 100 ms (in BEGIN) | lock held p50 / p99 ms | slowest write ms | BEGIN retries "
             "| loops behind |",
             "|" + "|".join("---" for _ in range(10)) + "|"]
    for r in runs:
        lines.append(
            f"| {r['label']} | {r['cpu_ms_per_message']:.2f} | {r['cores_busy']:.2f} | "
            f"{ms(r['littles_law_ms'] / 1000)} | {ms(r['to_sqlite_p99'])} / {ms(r['in_begin_p99'])} | "
            f"{r['waits_over_100ms']:g} ({r['waits_over_100ms_in_begin']:g}) | "
            f"{ms(r['hold_p50'])} / {ms(r['hold_p99'])} | {ms(max(r['max'].values()))} | "
            f"{r['begin_retries']:g} | {r['loops_behind']:g} |"
        )
    return "\n".join(lines)


def latency_ratios(runs: list[dict], baseline: dict) -> str:
    lines = ["| run | claim p50 × | claim p99 × | complete p50 × | complete p99 × "
             "| get_task meanwhile p50 / p99 ms | empty claims | double claims |",
             "|" + "|".join("---" for _ in range(8)) + "|"]
    for r in runs:
        if r is baseline:
            continue
        lines.append(
            f"| {r['label']} | {times(r['p50']['claim'] / baseline['p50']['claim'])} | "
            f"{times(r['p99']['claim'] / baseline['p99']['claim'])} | "
            f"{times(r['p50']['complete'] / baseline['p50']['complete'])} | "
            f"{times(r['p99']['complete'] / baseline['p99']['complete'])} | "
            f"{ms(r['read_p50'])} / {ms(r['read_p99'])} | {r['empty_claims']:g} | {r['double_claims']:g} |"
        )
    return "\n".join(lines)


#: Counts of things that should not happen: the worst round is reported, not the median.
WORST_OF = ("busy", "double_claims", "empty_claims")


def write_slow_log(path: Path, label: str, slow: list[tuple]) -> None:
    """The slow writes of one run as a timeline: do they come alone or together?"""
    with path.open("a") as f:
        f.write(f"# {label}: {len(slow)} writes over {SLOW_WRITE_S * 1000:g} ms\n"
                "# s into run, agent, write, total ms, ms before BEGIN (queues and the host lock), ms in BEGIN\n")
        for at, name, op, total, to_sqlite, in_begin in slow:
            f.write(f"{at:8.3f} {name} {op:9s} {total * 1000:7.1f} {to_sqlite * 1000:7.1f} {in_begin * 1000:7.1f}\n")


def median_of(results: list[dict]) -> dict:
    """Figure by figure, the median over repeated runs of the same configuration."""
    out = dict(results[0])
    for key, value in results[0].items():
        if isinstance(value, dict):
            out[key] = median_of([r[key] for r in results])
        elif key in WORST_OF:
            out[key] = max(r[key] for r in results)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = statistics.median(r[key] for r in results)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", default="10,50,100", help="comma-separated agent counts (default 10,50,100)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of load per run (default 10)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of every run; figures are the medians over rounds (default 1)")
    parser.add_argument("--tasks", type=int, default=60_000, help="ready tasks preloaded per run (default 60000)")
    parser.add_argument("--read-tasks", type=int, default=100_000, help="tasks in the read benchmark")
    parser.add_argument("--reads", type=int, default=5_000, help="get_task calls in the read benchmark")
    parser.add_argument("--pace", type=float, default=3.0,
                        help="messages/s per agent in the paced run at the largest N (0: no paced run)")
    parser.add_argument("--variants", default="raw,busy,thread",
                        help="extra runs at the largest N: raw, busy, thread, retry (comma-separated; '' for none)")
    parser.add_argument("--paced-only", action="store_true", help="only the paced runs (and the baseline)")
    parser.add_argument("--warmup", type=float, default=0.0,
                        help="seconds each multi-process run writes before its measured seconds (default 0: "
                             "the cold start of every process at once is measured)")
    parser.add_argument("--dir", type=Path, default=None, help="where the databases go (default: a temp dir)")
    parser.add_argument("--json", type=Path, default=None, help="also write every round's figures as JSON here")
    parser.add_argument("--slow-log", type=Path, default=None,
                        help=f"append every store write over {SLOW_WRITE_S * 1000:g} ms here, by time into its run")
    loop = parser.add_argument_group("the claim + complete loop (claim_loop.py)")
    loop.add_argument("--claim-loop", metavar="KS", default=None,
                      help="run only the claim + complete loop at these worker counts (e.g. 1,4,16,64)")
    loop.add_argument("--claim-tasks", type=int, default=2000, help="ready tasks per run (default 2000)")
    loop.add_argument("--rounds", type=int, default=3, help="measured rounds, after the warm-up (default 3)")
    loop.add_argument("--warmup-rounds", type=int, default=1, help="warm-up rounds, not counted (default 1)")
    loop.add_argument("--old-python", default=None,
                      help="a python whose swarmdeck is older: adds the 'store (old)' variant")
    loop.add_argument("--claim-variants", default=None,
                      help="which of store, store (old), raw, bare (comma-separated; default all)")
    loop.add_argument("--profile", type=Path, default=None,
                      help="then profile one store worker (K=1) into this file and print its top ten")
    loop.add_argument("--profiler", choices=("cprofile", "py-spy"), default="cprofile",
                      help="cProfile in the worker (default), or py-spy sampling it from outside (on PATH)")
    loop.add_argument("--start-timeout", type=float, default=600.0,
                      help="seconds the workers of a run have to open and register (default 600)")
    pg = parser.add_argument_group("PostgreSQL (store_pg.py)")
    pg.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite",
                    help="postgres: at each N, the PostgreSQL store, raw asyncpg running its statements "
                         "and the SQLite store, and the paced run of each at the largest N")
    pg.add_argument("--pg-url", default=None,
                    help="a server whose role may CREATE DATABASE (default: a throwaway server)")
    pg.add_argument("--pg-noseal", action="store_true",
                    help="also raw asyncpg without the seal after each commit (what sealing costs)")
    pg.add_argument("--pg-one-statement", action="store_true",
                    help="also raw asyncpg running each message as one statement, with the seal (the ceiling "
                         "of a design that put a message's rules into one statement)")
    pg.add_argument("--pg-setting", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting of the throwaway server beside PostgreSQL's defaults and store_pg.PG_SETTINGS "
                         "(e.g. synchronous_commit=off; repeatable)")
    args = parser.parse_args(argv)
    if args.backend == "postgres":
        return main_postgres(args)
    if args.claim_loop:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import claim_loop

        variants = [v.strip() for v in args.claim_variants.split(",")] if args.claim_variants else None
        unknown = set(variants or ()) - set(claim_loop.VARIANTS)
        if unknown:
            parser.error(f"unknown claim-loop variant(s): {', '.join(sorted(unknown))}")
        return claim_loop.run_section(
            ks=[int(k) for k in args.claim_loop.split(",") if k.strip()], n_tasks=args.claim_tasks,
            rounds=args.rounds, warmup_rounds=args.warmup_rounds, old_python=args.old_python,
            directory=args.dir or Path(tempfile.mkdtemp(prefix="swarmdeck-claim-loop-")), json_path=args.json,
            profile=args.profile, start_timeout=args.start_timeout, run_timeout=3600.0, variants=variants,
            profiler=args.profiler)
    ns = [int(n) for n in args.agents.split(",") if n.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(variants) - {"raw", "busy", "thread", "retry"}
    if unknown:
        parser.error(f"unknown variant(s): {', '.join(sorted(unknown))}")
    plan = [(n, "store", 0.0) for n in ns] + [(max(ns), v, 0.0) for v in variants]
    if args.paced_only:
        plan = []
    if args.pace:
        # retry is left out of the paced runs: flat out it already shows what it does.
        plan += [(max(ns), mode, args.pace) for mode in ("store", *variants) if mode != "retry"]

    directory = args.dir or Path(tempfile.mkdtemp(prefix="swarmdeck-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    import sqlean

    loads = [os.getloadavg()[0]]
    print(f"# swarmdeck store benchmark\n\nmachine: {platform.platform()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, SQLite {sqlean.sqlite_version}\n"
          f"databases in {directory}; {args.seconds:g} s per run; {args.repeat} round(s), medians shown\n",
          flush=True)

    rounds: list[list[dict]] = []
    read_rounds: list[dict] = []
    for round_no in range(1, args.repeat + 1):
        runs = [run_baseline(fresh_db(directory, "baseline", args.tasks), args.seconds)]
        print(f"round {round_no}: baseline {runs[0]['transitions_per_s']:,.0f} transitions/s",
              file=sys.stderr, flush=True)
        for n, mode, pace in plan:
            db = fresh_db(directory, f"agents-{n}-{mode}{'-paced' if pace else ''}", args.tasks)
            run = run_agents(db, n, args.seconds, mode, pace, args.tasks, args.warmup)
            runs.append(run)
            if args.slow_log:
                write_slow_log(args.slow_log, f"round {round_no}: {run['label']}", run["slow_writes"])
            print(f"round {round_no}: {run['label']}: {run['transitions_per_s']:,.0f} transitions/s, "
                  f"claim p99 {ms(run['p99']['claim'])} ms", file=sys.stderr, flush=True)
        read_rounds.append(run_reads(directory, args.read_tasks, args.reads))
        rounds.append(runs)
        loads.append(os.getloadavg()[0])

    runs = []
    for i in range(len(rounds[0])):
        runs.append(median_of([r[i] for r in rounds]))
        runs[-1]["spread"] = [r[i]["transitions_per_s"] for r in rounds]
    baseline = runs[0]
    reads = median_of(read_rounds)

    print("## Writes: heartbeat -> claim -> complete\n")
    print(table(runs, baseline))
    print("\nWhere the time goes:\n")
    print(where_time_goes(runs))
    print("\nLatency relative to the baseline (×), reads during the load, and checks:\n")
    print(latency_ratios(runs, baseline))
    if args.repeat > 1:
        print("\nTransitions/s in each round (the spread behind the medians):\n")
        for r in runs:
            print(f"- {r['label']}: " + ", ".join(f"{x:,.0f}" for x in r["spread"]))
    print(f"\n## Exact-match reads: get_task by id at {reads['tasks']:,.0f} tasks "
          f"({reads['reads']:,.0f} random ids, idle database)\n")
    print("| path | p50 ms | p99 ms | max ms |\n|---|---|---|---|")
    print(f"| store.get_task | {reads['store_p50'] * 1000:.3f} | {reads['store_p99'] * 1000:.3f} | "
          f"{reads['store_max'] * 1000:.1f} |")
    print(f"| raw SELECT by id | {reads['raw_p50'] * 1000:.3f} | {reads['raw_p99'] * 1000:.3f} | "
          f"{reads['raw_max'] * 1000:.1f} |")
    print("\n1-minute load average at the start and after each round: "
          + ", ".join(f"{x:.1f}" for x in loads))
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds, "reads": read_rounds, "loads": loads},
                                        indent=2, default=str))
    return 0


# -- PostgreSQL ---------------------------------------------------------------------------------------


def pg_table(runs: list[dict]) -> str:
    """Each run's figures, and the PostgreSQL store's against raw asyncpg and SQLite at the same N."""
    by = {(r["mode"], r["agents"], bool(r.get("pace"))): r for r in runs}
    lines = ["| run | transitions/s | messages/s | claim p50 / p99 ms | complete p50 / p99 ms "
             "| heartbeat p50 / p99 ms | write p99 ms (all) | Busy | double claims | connections / agent |",
             "|" + "|".join("---" for _ in range(10)) + "|"]
    for r in runs:
        lines.append(
            f"| {r['label']} | {r['transitions_per_s']:,.0f} | {r['messages_per_s']:,.0f} | "
            + " | ".join(f"{ms(r['p50'][op])} / {ms(r['p99'][op])}" for op in ("claim", "complete", "heartbeat"))
            + f" | {ms(r['write_p99'])} | {r['busy']:g} | {r['double_claims']:g} | {r['connections_per_agent']:g} |")
    lines += ["", "| N | PostgreSQL store ÷ raw asyncpg (messages/s) | ÷ SQLite store (messages/s) "
              "| write p99: store / asyncpg / SQLite ms |", "|---|---|---|---|"]
    for (mode, n, paced), r in by.items():
        if mode != "pg":
            continue
        raw, lite = by.get(("asyncpg", n, paced)), by.get(("store", n, paced))
        label = f"{n}" + (" paced" if paced else "")
        lines.append(
            f"| {label} | {r['messages_per_s'] / raw['messages_per_s']:.2f} | "
            f"{r['messages_per_s'] / lite['messages_per_s']:.2f} | "
            f"{ms(r['write_p99'])} / {ms(raw['write_p99'])} / {ms(lite['write_p99'])} |")
    return "\n".join(lines)


def main_postgres(args) -> int:
    """``--backend postgres``: at each N the PostgreSQL store, raw asyncpg with its statements, and the
    SQLite store, one after the other, each on a fresh database; the paced runs at the largest N."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import pg_support
    import store_pg

    ns = [int(n) for n in args.agents.split(",") if n.strip()]
    modes = (("pg", "asyncpg", "store") + (("asyncpg-noseal",) if args.pg_noseal else ())
             + (("asyncpg-one",) if args.pg_one_statement else ()))
    plan = [(n, mode, 0.0) for n in ns for mode in modes]
    if args.paced_only:
        plan = []
    if args.pace:
        plan += [(max(ns), mode, args.pace) for mode in modes]
    directory = args.dir or Path(tempfile.mkdtemp(prefix="swarmdeck-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    server = None
    if args.pg_url:
        server_url = args.pg_url
    else:
        settings = dict(store_pg.PG_SETTINGS)
        settings.update(item.split("=", 1) for item in args.pg_setting)
        server = pg_support.start_server(settings)
        server_url = server.url
    try:
        store_pg.make_template(server_url, args.tasks)
        import psycopg

        with psycopg.connect(server_url) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        print(f"# swarmdeck store benchmark: PostgreSQL\n\nmachine: {platform.platform()}, {os.cpu_count()} "
              f"cores, Python {platform.python_version()}, PostgreSQL {version} "
              f"({'given by --pg-url' if args.pg_url else 'throwaway server, defaults but ' + str(settings)}), "
              f"max_connections {store_pg.max_connections(server_url)}\n"
              f"{args.seconds:g} s per run; {args.repeat} round(s), medians shown; {args.tasks} ready tasks per run\n",
              flush=True)
        rounds: list[list[dict]] = []
        for round_no in range(1, args.repeat + 1):
            runs = []
            for n, mode, pace in plan:
                name = f"bench_{mode.replace('-', '_')}_{n}{'_paced' if pace else ''}"
                if mode == "store":
                    db = fresh_db(directory, name, args.tasks)
                else:
                    db = store_pg.fresh_db(server_url, name)
                try:
                    run = run_agents(db, n, args.seconds, mode, pace, args.tasks, args.warmup)
                finally:
                    if mode != "store":
                        store_pg.drop(server_url, name)
                run["mode"] = mode
                runs.append(run)
                print(f"round {round_no}: {run['label']}: {run['messages_per_s']:,.0f} messages/s, "
                      f"write p99 {ms(run['write_p99'])} ms", file=sys.stderr, flush=True)
            rounds.append(runs)
        runs = [median_of([r[i] for r in rounds]) for i in range(len(rounds[0]))]
        print("## Writes: heartbeat -> claim -> complete, PostgreSQL beside raw asyncpg and SQLite\n")
        print(pg_table(runs))
        if args.json:
            args.json.write_text(json.dumps({"rounds": rounds}, indent=2, default=str))
    finally:
        if server is not None:
            server.stop()
        else:
            pg_support.drop_database(server_url, store_pg.TEMPLATE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
