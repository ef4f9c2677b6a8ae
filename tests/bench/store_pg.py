"""The PostgreSQL variant of the store benchmark (bench_store.py ``--backend postgres``): the agent
processes' loops against a PostgreSQL store, and the ceiling beside them: raw asyncpg running the
store's own statements.

``pg``: each agent process opens the PostgreSQL store (its writer connection on the store's thread;
its reader and listener only if it reads or waits) and loops heartbeat -> claim -> complete, as the
SQLite agents do. ``asyncpg``: each process holds one asyncpg connection and runs, per message, the
statements the store's transaction runs (traced from the store: the heartbeat's ``UPDATE ... RETURNING
*`` and event; the claim's shared gates lock, the pause flag, guard mark and agent check in one
statement, ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING *``, agent
and event; the completion's update, agent, event and dependents),
then the seal as the store makes it (store/postgres/base.py: 20 ms after a write, unless the events
are sealed by then, the advisory lock tried without waiting, the unsealed events, the chain head, the
hashes, one ``UPDATE ... pg_notify``; tried again later if another sealer held the lock), run before
the process's next message once due, as the store's writer thread runs it between writes: the store's
SQL without psycopg, the thread hand-offs, the domain rules and the models.

Databases: one migrated database with ``--tasks`` ready tasks is made per run from a template
(CREATE DATABASE ... TEMPLATE), on a throwaway server (tests/pg_support.py, PostgreSQL's defaults:
durable commits) or on ``--pg-url``'s server. ``max_connections`` is raised for the throwaway server
(``PG_SETTINGS``): 100 agents hold 100 to 200 connections, beyond PostgreSQL's default 100.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: pg_support

OPS = ("heartbeat", "claim", "complete")
#: Settings of the throwaway server for this benchmark, beside PostgreSQL's defaults: room for 100
#: agents of two connections each, the reader, the raw runs and the bookkeeping.
PG_SETTINGS = {"max_connections": "400"}

TEMPLATE = "swarmdeck_bench_template"


# -- databases ---------------------------------------------------------------------------------------

def make_template(server_url: str, n_tasks: int) -> None:
    """A migrated swarmdeck database holding ``n_tasks`` ready tasks: each run's database is a copy."""
    import psycopg

    import pg_support
    from swarmdeck.store.postgres import migrate

    url = pg_support.create_database(server_url, TEMPLATE)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate.migrate(conn)
        now = time.time()
        conn.execute(
            "INSERT INTO tasks (description, source, agent_type, base_priority, status, priority, created_at, "
            "updated_at) SELECT 'bench task ' || i, 'human', 'general', (i * 7) %% 11, 'ready', "
            "round(((i * 7919) %% 10000) / 100.0, 2), %s, %s FROM generate_series(1, %s) AS i",
            (now, now, n_tasks))
        conn.execute("VACUUM ANALYZE")


def fresh_db(server_url: str, name: str) -> str:
    import pg_support

    return pg_support.create_database(server_url, name, TEMPLATE)


def drop(server_url: str, name: str) -> None:
    import pg_support

    pg_support.drop_database(server_url, name)


def check_exactly_once(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        claims, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT entity_id) FROM events WHERE kind = 'task.claimed'").fetchone()
    return claims - distinct


def max_connections(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return int(conn.execute("SHOW max_connections").fetchone()[0])


# -- the loop both kinds of agent run ----------------------------------------------------------------

async def _loop(name: str, seconds: float, pace: float, warmup: float, barriers, heartbeat, claim,
                complete, busy_errors: tuple[type[BaseException], ...]) -> dict:
    latency = {op: array("d") for op in OPS}
    busy = {op: 0 for op in OPS}
    empty = behind = 0
    gave_up = object()
    started = float("inf")

    async def timed(op, call):
        start = time.monotonic()
        try:
            result = await call()
        except busy_errors:
            busy[op] += 1
            return gave_up
        if start >= started:
            latency[op].append(time.monotonic() - start)
        return result

    period = 3 / pace if pace else 0.0
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
        await timed("heartbeat", heartbeat)
        task = await timed("claim", claim)
        if task is gave_up:
            continue
        if task is None:
            empty += 1
            continue
        await timed("complete", lambda: complete(task))
    finished, cpu = time.monotonic(), time.process_time() - (cpu_started or time.process_time())
    return {
        "name": name, "started": started, "finished": finished, "empty_claims": empty, "busy": busy,
        "retries": 0, "behind": behind, "cpu_s": cpu,
        "latency": {op: v.tobytes() for op, v in latency.items()},
        "waited": {op: b"" for op in OPS}, "to_sqlite": b"", "slow": [],
    }


def _process(body, name: str, barriers, results, *args) -> None:
    try:
        results.put(asyncio.run(body(name, barriers, *args)))
    except BaseException as exc:  # a dead agent must not hang the parent
        for barrier in barriers:
            barrier.abort()
        results.put({"name": name, "error": f"{type(exc).__name__}: {exc}"})


# -- the store's agents ----------------------------------------------------------------------------------

def pg_agent_process(url: str, name: str, seconds: float, mode: str, pace: float, warmup: float, barriers,
                     results) -> None:
    _process(_pg_agent, name, barriers, results, url, seconds, pace, warmup)


async def _pg_agent(name: str, barriers, url: str, seconds: float, pace: float, warmup: float) -> dict:
    from swarmdeck.store import open_store
    from swarmdeck.store.errors import Busy

    store = await open_store(url)
    try:
        await store.register_agent(name, agent_type="general")
        report = await _loop(
            name, seconds, pace, warmup, barriers, lambda: store.heartbeat(name),
            lambda: store.claim_task(agent=name), lambda task: store.complete_task(task.id, agent=name), (Busy,))
        report["connections"] = 1 + (store.db._reader is not None) + (store.db._listener is not None)
        barriers[1].wait(timeout=600)
    finally:
        await store.close()
    return report


# -- raw asyncpg: the store's statements ------------------------------------------------------------

def _dollar(sql: str) -> str:
    """psycopg's ``%s`` placeholders as asyncpg's ``$1, $2 ...``."""
    parts = sql.split("%s")
    return "".join(p + (f"${i}" if i < len(parts) else "") for i, p in enumerate(parts, 1))


class RawPg:
    """One agent's heartbeat, claim and completion as the store's statements, on one asyncpg
    connection, each followed by the store's seal."""

    def __init__(self, conn, name: str, *, seal: bool = True) -> None:
        from swarmdeck.store import unit_base
        from swarmdeck.store.postgres import base, sealing, uow
        from swarmdeck.store.postgres.sql import PG_SQL
        from swarmdeck.store.postgres.schema import GATES_LOCK, SEAL_LOCK

        self.conn = conn
        self.name = name
        self.sealing = seal  # False: the events are left unsealed (what the seal costs, by difference)
        self.gates_lock, self.seal_lock = GATES_LOCK, SEAL_LOCK
        self.event_sql = _dollar(base._EVENT_SQL)
        self.pause = _dollar(uow._PAUSE_MARK_AND_AGENT)
        self.claim_sql = _dollar(uow._CLAIM.format(filters=""))
        self.release_heard = _dollar(PG_SQL.q(unit_base._RELEASE_HEARD))
        self.head = sealing._HEAD
        self.seal_notify = _dollar(sealing._SEAL_NOTIFY)
        self.sealed_up_to = "SELECT NOT EXISTS (SELECT 1 FROM events WHERE seq IS NULL AND id <= $1)"
        self.channel = base.NOTIFY_CHANNEL
        self.first_delay, self.retry_first, self.retry_max = base.SEAL_DELAY, base.SEAL_RETRY_FIRST, base.SEAL_RETRY_MAX
        self.owed: int | None = None  # the last event id of this process's writes not known sealed
        self.due = self.delay = 0.0

    async def heartbeat(self) -> None:
        await self.seal_if_due()
        now = time.time()
        async with self.conn.transaction():
            await self.conn.fetchrow("UPDATE agents SET last_heartbeat = $1 WHERE name = $2 RETURNING *", now,
                                     self.name)
            event = await self.conn.fetchval(self.event_sql, now, self.name, "agent.heartbeat", "agent", self.name,
                                             "{}")
        self.seal(event)

    async def claim(self):
        await self.seal_if_due()
        now = time.time()
        async with self.conn.transaction():
            await self.conn.fetchval("SELECT pg_advisory_xact_lock_shared($1)", self.gates_lock)
            await self.conn.fetchrow(self.pause, self.name)
            row = await self.conn.fetchrow(self.claim_sql, self.name, now, now, now)
            if row is not None:
                await self.conn.execute("UPDATE agents SET status = 'working', current_task_id = $1, "
                                        "completion = 0, last_heartbeat = $2 WHERE name = $3", row["id"], now,
                                        self.name)
                event = await self.conn.fetchval(self.event_sql, now, self.name, "task.claimed", "task",
                                                 str(row["id"]), json.dumps({"agent": self.name}))
        if row is not None:
            self.seal(event)
        return row

    async def complete(self, row) -> None:
        await self.seal_if_due()
        now = time.time()
        task_id = row["id"]
        async with self.conn.transaction():
            await self.conn.fetchrow(
                "UPDATE tasks SET status = 'completed', result_data = $1::jsonb, finished_at = $2, "
                "lease_expires_at = NULL, updated_at = $3 WHERE id = $4 AND status = 'running' RETURNING *",
                None, now, now, task_id)
            await self.conn.execute(self.release_heard, now, task_id, task_id, self.name)
            event = await self.conn.fetchval(self.event_sql, now, self.name, "task.completed", "task",
                                             str(task_id), "{}")
            await self.conn.fetch(
                "SELECT t.id FROM tasks t WHERE t.id IN (SELECT task_id FROM task_dependencies "
                "WHERE prerequisite_id = $1) AND t.status = 'blocked' ORDER BY t.id FOR UPDATE", task_id)
        self.seal(event)

    def seal(self, event_id: int) -> None:
        """A seal owed for events up to ``event_id``: made ``SEAL_DELAY`` later (``seal_if_due``)."""
        if not self.sealing:
            return
        if self.owed is None:
            self.due, self.delay = time.monotonic() + self.first_delay, self.first_delay
        self.owed = max(self.owed or 0, event_id)

    async def seal_if_due(self) -> None:
        """The store's seal attempt, once due: done if the events are sealed by now (by anyone) or the
        lock was had; else tried again later."""
        if self.owed is None or time.monotonic() < self.due:
            return
        if (await self.conn.fetchval(self.sealed_up_to, self.owed)) or await self._seal():
            self.owed = None
        else:
            self.delay = min(max(self.delay * 2, self.retry_first), self.retry_max)
            self.due = time.monotonic() + self.delay

    async def _seal(self) -> bool:
        from swarmdeck.store import audit

        async with self.conn.transaction():
            if not await self.conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", self.seal_lock):
                return False
            rows = await self.conn.fetch("SELECT id, ts, actor, kind, entity, entity_id, payload FROM events "
                                         "WHERE seq IS NULL ORDER BY id LIMIT 10000")
            if not rows:
                return True
            head = await self.conn.fetchrow(self.head)
            last_seq, last_hash = (head["seq"], head["hash"]) if head is not None else (0, audit.GENESIS)
            ids, seqs, hashes = [], [], []
            for ident, *content in rows:
                last_seq += 1
                last_hash = audit.event_hash(last_hash, last_seq, *content)
                ids.append(ident)
                seqs.append(last_seq)
                hashes.append(last_hash)
            await self.conn.execute(self.seal_notify, ids, seqs, hashes, self.channel, str(last_seq))
        return True


class OneStatementPg(RawPg):
    """What the store's statements would cost as one statement per message (``--pg-one-statement``):
    each message's rows changed and event appended by a single data-modifying ``WITH`` statement, run
    as its own transaction (autocommit), then the same seal. Not what the store runs (its rules take
    several statements, some of them reads a rule looks at before it writes): the ceiling of a design
    that put a message's rules into one statement."""

    _HEARTBEAT = """WITH a AS (UPDATE agents SET last_heartbeat = $1 WHERE name = $2 RETURNING *),
        e AS (INSERT INTO events (ts, actor, kind, entity, entity_id, payload)
              SELECT $1, $2, 'agent.heartbeat', 'agent', $2, '{}' FROM a RETURNING id)
        SELECT (SELECT id FROM e) AS event_id, a.* FROM a"""
    _CLAIM = """WITH t AS (UPDATE tasks SET status = 'running', assigned_agent = $1::text, started_at = $2::float8,
            lease_expires_at = $2::float8 + timeout_seconds, updated_at = $2::float8
            WHERE id = (SELECT id FROM tasks WHERE status = 'ready' ORDER BY priority DESC, id
                        LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING *),
        a AS (UPDATE agents SET status = 'working', current_task_id = t.id, completion = 0, last_heartbeat = $2
              FROM t WHERE name = $1),
        e AS (INSERT INTO events (ts, actor, kind, entity, entity_id, payload)
              SELECT $2, $1, 'task.claimed', 'task', t.id::text, json_build_object('agent', $1::text)::text FROM t
              RETURNING id)
        SELECT (SELECT id FROM e) AS event_id, t.* FROM t"""
    _COMPLETE = """WITH t AS (UPDATE tasks SET status = 'completed', result_data = NULL, finished_at = $2::float8,
            lease_expires_at = NULL, updated_at = $2::float8 WHERE id = $3 AND status = 'running' RETURNING *),
        a AS (UPDATE agents SET status = 'idle', current_task_id = NULL, last_heartbeat = $2
              WHERE name = $1 AND current_task_id = $3),
        e AS (INSERT INTO events (ts, actor, kind, entity, entity_id, payload)
              SELECT $2, $1, 'task.completed', 'task', t.id::text, '{}' FROM t RETURNING id),
        d AS (SELECT id FROM tasks WHERE id IN (SELECT task_id FROM task_dependencies WHERE prerequisite_id = $3)
              AND status = 'blocked' ORDER BY id FOR UPDATE)
        SELECT (SELECT id FROM e) AS event_id, (SELECT count(*) FROM d) AS dependents, t.* FROM t"""

    async def heartbeat(self) -> None:
        await self.seal_if_due()
        row = await self.conn.fetchrow(self._HEARTBEAT, time.time(), self.name)
        self.seal(row["event_id"])

    async def claim(self):
        await self.seal_if_due()
        row = await self.conn.fetchrow(self._CLAIM, self.name, time.time())
        if row is not None:
            self.seal(row["event_id"])
        return row

    async def complete(self, row) -> None:
        await self.seal_if_due()
        done = await self.conn.fetchrow(self._COMPLETE, self.name, time.time(), row["id"])
        self.seal(done["event_id"])


def asyncpg_agent_process(url: str, name: str, seconds: float, mode: str, pace: float, warmup: float,
                          barriers, results) -> None:
    _process(_asyncpg_agent, name, barriers, results, url, seconds, pace, warmup, mode)


async def _asyncpg_agent(name: str, barriers, url: str, seconds: float, pace: float, warmup: float,
                         mode: str = "asyncpg") -> dict:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        # JSON columns as their text, as the store reads them (payload is hashed as text).
        for kind in ("json", "jsonb"):
            await conn.set_type_codec(kind, encoder=str, decoder=str, schema="pg_catalog")
        await conn.execute("INSERT INTO agents (name, agent_type, registered_at, last_heartbeat) "
                           "VALUES ($1, 'general', $2, $2)", name, time.time())
        raw = (OneStatementPg(conn, name) if mode == "asyncpg-one"
               else RawPg(conn, name, seal=mode != "asyncpg-noseal"))
        report = await _loop(name, seconds, pace, warmup, barriers, raw.heartbeat, raw.claim, raw.complete,
                             (asyncpg.exceptions.LockNotAvailableError, asyncpg.exceptions.DeadlockDetectedError))
        report["connections"] = 1
        barriers[1].wait(timeout=600)
    finally:
        await conn.close()
    return report
