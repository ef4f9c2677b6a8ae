"""The store benchmark runs end to end at toy sizes, so its recorded figures stay reproducible; its
claim loop's raw variant issues the statements the store issues."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import claim_loop
import pytest

BENCH = Path(__file__).with_name("bench_store.py")


@pytest.mark.slow
def test_store_benchmark_runs_every_kind_of_run_and_checks_its_claims(tmp_path: Path) -> None:
    figures, slow_log = tmp_path / "figures.json", tmp_path / "slow.txt"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--agents", "3", "--seconds", "0.5", "--tasks", "400",
         "--read-tasks", "300", "--reads", "20", "--variants", "raw", "--pace", "30", "--warmup", "0.1",
         "--dir", str(tmp_path / "dbs"), "--json", str(figures), "--slow-log", str(slow_log)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr

    (runs,) = json.loads(figures.read_text())["rounds"]
    assert [r["label"] for r in runs] == [
        "raw SQL baseline, 1 process",
        "store, 3 agents",
        "raw SQL, 3 processes",
        "store, 3 agents, paced 30 msg/s each",
        "raw SQL, 3 processes, paced 30 msg/s each",
    ]
    for run in runs[1:]:
        assert run["counts"]["claim"] > 0 and run["counts"]["heartbeat"] > 0
        assert run["double_claims"] == 0
        assert run["busy"] == 0
    assert "| store, 3 agents, paced 30 msg/s each |" in done.stdout
    assert "store.get_task" in done.stdout
    # One section per multi-process run, even when none of its writes was slow.
    assert slow_log.read_text().count("# round 1: ") == 4


@pytest.mark.slow
def test_claim_loop_runs_every_variant_and_loses_no_task(tmp_path: Path) -> None:
    figures = tmp_path / "claim-loop.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--claim-loop", "1,2", "--claim-tasks", "200", "--rounds", "1",
         "--warmup-rounds", "0", "--dir", str(tmp_path / "dbs"), "--json", str(figures),
         "--profile", str(tmp_path / "loop.prof")],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr

    assert "| K | variant | claims/s | CPU ms / claim+complete |" in done.stdout
    for k in (1, 2):
        for variant in ("store", "raw", "bare"):
            assert f"| {k} | {variant} |" in done.stdout
    (runs,) = json.loads(figures.read_text())["rounds"]
    assert sorted((r["variant"], r["k"]) for r in runs) == sorted(
        (v, k) for v in ("store", "raw", "bare") for k in (1, 2))
    for run in runs:
        assert "error" not in run, run
        assert run["claims"] == 200 and run["double_claims"] == 0 and run["left"] == 0, run
    # Then one store worker alone under cProfile, and its top ten by own time.
    assert "## One store worker (K=1) under cprofile: 200 claims" in done.stdout
    assert done.stdout.count("\n| `") == 10


def test_a_worker_that_fails_is_reported_and_none_is_left_running(tmp_path: Path) -> None:
    """A worker that cannot register (no swarmdeck tables) ends the run with an error, promptly."""
    import sqlean

    template = tmp_path / "not-swarmdeck.db"
    # Already in WAL mode, as a swarmdeck database is: two workers switching a new file's journal mode at
    # once may refuse each other ("database is locked") before either reads a table.
    with contextlib.closing(sqlean.connect(str(template))) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
    before = set(_live_children())  # whatever other tests left running is not this run's
    started = time.monotonic()
    run = claim_loop.run_once(sys.executable, "raw", template, tmp_path / "run.db", 2, start_timeout=120,
                              run_timeout=120)
    assert "no such table: agents" in run["error"]
    assert time.monotonic() - started < 60
    assert not set(_live_children()) - before, "a worker outlived its run"


def _live_children() -> list[int]:
    """Live child processes of this one (from /proc: no extra dependency)."""
    me, children = str(os.getpid()), []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == me and not fields.get("State", "").startswith("Z"):
            children.append(int(status.parent.name))
    return children


# -- the raw variant issues the store's statements ----------------------------------------------------


def _shape(sql: str) -> str:
    """A statement with its literals replaced by ``?`` and its whitespace collapsed (as the query plan
    tests normalise them)."""
    sql = re.sub(r"'(?:[^']|'')*'", "?", sql)
    sql = re.sub(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b", "?", sql)
    return " ".join(sql.split())


async def _store_shapes(db: Path) -> list[str]:
    """The statements of one claim and one complete through this checkout's store, traced on its
    writer connection (after a first pair, which also loads the gate guard and reaps leases)."""
    from swarmdeck.store import open_store

    store = await open_store(db)
    seen: list[str] = []
    try:
        await store.register_agent("store-agent", agent_type=claim_loop.AGENT_TYPE)
        task = await store.claim_task(agent="store-agent")
        await store.complete_task(task.id, agent="store-agent")
        writer = store._writer.raw
        writer.set_trace_callback(seen.append)
        try:
            task = await store.claim_task(agent="store-agent")
            await store.complete_task(task.id, agent="store-agent")
        finally:
            writer.set_trace_callback(None)
    finally:
        await store.close()
    return seen


def test_raw_claim_loop_issues_the_store_statements(tmp_path: Path) -> None:
    """The raw variant measures the store's own statements without the store: when the store's
    claim or completion changes what it issues, this fails until RawClaimer is changed to match."""
    db = tmp_path / "shapes.db"
    claim_loop._seed(str(db), 6)
    store_shapes = asyncio.run(_store_shapes(db))

    raw = claim_loop.RawClaimer(str(db), "raw-agent")
    seen: list[str] = []
    try:
        raw.complete(raw.claim())
        raw.conn.set_trace_callback(seen.append)
        raw.complete(raw.claim())
    finally:
        raw.close()

    assert [_shape(s) for s in seen] == [_shape(s) for s in store_shapes]


@pytest.mark.slow
def test_store_benchmark_postgres_variant_runs_each_run_and_checks_its_claims(tmp_path: Path, pg_url: str) -> None:
    figures = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--backend", "postgres", "--pg-url", pg_url, "--agents", "2",
         "--seconds", "0.5", "--tasks", "300", "--pace", "30", "--warmup", "0.1", "--dir", str(tmp_path / "dbs"),
         "--json", str(figures), "--pg-one-statement"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr

    (runs,) = json.loads(figures.read_text())["rounds"]
    assert [r["label"] for r in runs] == [
        "PostgreSQL store, 2 agents", "raw asyncpg, 2 processes", "store, 2 agents",
        "raw asyncpg, one statement a message, 2 processes",
        "PostgreSQL store, 2 agents, paced 30 msg/s each", "raw asyncpg, 2 processes, paced 30 msg/s each",
        "store, 2 agents, paced 30 msg/s each", "raw asyncpg, one statement a message, 2 processes, paced 30 msg/s each",
    ]
    for run in runs:
        assert run["counts"]["claim"] > 0 and run["counts"]["heartbeat"] > 0, run["label"]
        assert run["double_claims"] == 0 and run["busy"] == 0, run["label"]
    # An agent that only heartbeats, claims and completes holds the writer's connection alone.
    assert [r["connections_per_agent"] for r in runs if r["mode"] == "pg"] == [1, 1]
    assert [r["counts"]["complete"] > 0 for r in runs if r["mode"] == "asyncpg-one"] == [True, True]
    assert "| 2 paced | " in done.stdout


@pytest.mark.slow
def test_pg_client_benchmark_runs_both_sides_and_prints_the_ratio(pg_url: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH.with_name("bench_pg_client.py")), "--pg-url", pg_url, "--loops", "20",
         "--rounds", "1"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    rows = {m[1]: int(m[2].replace(",", "")) for m in re.finditer(r"^\| (store|asyncpg) \| ([\d,]+) \|", done.stdout,
                                                                  re.M)}
    assert set(rows) == {"store", "asyncpg"} and all(v > 0 for v in rows.values()), done.stdout
    assert re.search(r"store ÷ raw asyncpg, client CPU: \d+\.\d\d", done.stdout)


#: The seal's and the queue sample's statements: made when due, not in step with the messages, by the
#: store (on its thread, after a delay) and raw asyncpg (before its next message) alike.
_PG_BOOKKEEPING = re.compile(r"seq IS NULL|seq IS NOT NULL|pg_try_advisory_xact_lock|WITH sealed AS|queue_samples")


def _pg_shape(sql: str) -> str:
    """A statement with psycopg's ``%s`` and asyncpg's ``$n`` both as ``?``, whitespace collapsed."""
    return _shape(re.sub(r"%s|\$\d+", "?", sql))


async def _pg_store_shapes(url: str) -> dict[str, list[str]]:
    """The statements of a heartbeat, a claim and a completion through this checkout's store, after a
    first loop (which also loads the gate guard and reaps leases)."""
    import psycopg

    from swarmdeck.store import open_store

    seen: list[str] = []
    execute = psycopg.Connection.execute

    def traced(self, query, *args, **kwargs):
        seen.append(str(query))
        return execute(self, query, *args, **kwargs)

    shapes: dict[str, list[str]] = {}
    store = await open_store(url)
    try:
        await store.register_agent("store-agent", agent_type="general")
        task = await store.claim_task(agent="store-agent")
        await store.complete_task(task.id, agent="store-agent")
        psycopg.Connection.execute = traced
        try:
            for op, call in (("heartbeat", lambda: store.heartbeat("store-agent")),
                             ("claim", lambda: store.claim_task(agent="store-agent")),
                             ("complete", lambda: store.complete_task(task.id, agent="store-agent"))):
                seen.clear()
                result = await call()
                task = result if op == "claim" else task
                shapes[op] = [s for s in seen if not _PG_BOOKKEEPING.search(s)]
        finally:
            psycopg.Connection.execute = execute
    finally:
        await store.close()
    return shapes


class _Traced:
    """An asyncpg connection whose statements are written down as they are sent."""

    def __init__(self, conn, seen: list[str]) -> None:
        self._wrapped, self._seen = conn, seen

    def __getattr__(self, name: str):
        attribute = getattr(self._wrapped, name)
        if name not in ("execute", "fetch", "fetchrow", "fetchval"):
            return attribute

        async def traced(query, *args, **kwargs):
            self._seen.append(query)
            return await attribute(query, *args, **kwargs)

        return traced


async def _raw_pg_shapes(url: str) -> dict[str, list[str]]:
    import asyncpg
    import store_pg

    conn = await asyncpg.connect(url)
    seen: list[str] = []
    try:
        for kind in ("json", "jsonb"):
            await conn.set_type_codec(kind, encoder=str, decoder=str, schema="pg_catalog")
        await conn.execute("INSERT INTO agents (name, agent_type, registered_at, last_heartbeat) "
                           "VALUES ('raw-agent', 'general', 0, 0)")
        raw = store_pg.RawPg(_Traced(conn, seen), "raw-agent", seal=False)
        shapes: dict[str, list[str]] = {}
        row = None
        for op in ("heartbeat", "claim", "complete"):
            seen.clear()
            result = await (raw.heartbeat() if op == "heartbeat" else raw.claim() if op == "claim"
                            else raw.complete(row))
            row = result if op == "claim" else row
            shapes[op] = list(seen)
    finally:
        await conn.close()
    return shapes


@pytest.mark.slow
def test_raw_asyncpg_issues_the_pg_store_statements(pg_database: str) -> None:
    """The PostgreSQL benchmark's ceiling runs the store's own statements (store_pg.RawPg): when the
    store's heartbeat, claim or completion changes what it issues, this fails until RawPg matches."""
    import psycopg
    import store_pg

    from swarmdeck.store.postgres import migrate

    with psycopg.connect(pg_database, autocommit=True) as conn:
        migrate.migrate(conn)
        conn.execute("INSERT INTO tasks (description, source, agent_type, base_priority, status, priority, "
                      "created_at, updated_at) SELECT 'task ' || i, 'human', 'general', 1, 'ready', i, 0, 0 "
                      "FROM generate_series(1, 6) AS i")
    store = asyncio.run(_pg_store_shapes(pg_database))
    raw = asyncio.run(_raw_pg_shapes(pg_database))
    assert store_pg.OPS == tuple(store)
    for op in store_pg.OPS:
        assert [_pg_shape(s) for s in raw[op]] == [_pg_shape(s) for s in store[op]], op
