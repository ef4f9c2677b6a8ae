"""Every index some statement's plan uses, and no other: an index nobody's plan uses is write cost for nothing.

The three plan workloads are traced again here: every Store method on 20k tasks (test_query_plans), the
chart queries on every range and filter (test_charts), and the memory and search methods
(test_memory_query_plans). Each distinct statement they ran, and each statement inside a trigger, is put
through EXPLAIN QUERY PLAN with and without ANALYZE statistics, and the indexes named by any plan line are
collected. Every index made by CREATE INDEX must be among them, except:

- a UNIQUE index (or the ones SQLite makes for UNIQUE and PRIMARY KEY): it enforces a rule, read or not;
- the indexes listed in NOT_IN_A_PLAN, each with the reason the workloads cannot show its reader.

The vector backends other than sqlite-vec (tests/store/test_vector_backends.py) run their statements on
connections of their own: they read ``embeddings`` by model (embeddings_model) and the index events
(events_entity_recent), both of which the memory workload's plans already use.

The second half: a database made at the schema version before the index migration opens with the index
set a new database has, its rows in the new indexes.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import sqlean

from swarmdeck.store import open_store
from swarmdeck.store.charts import Window
from swarmdeck.store.sqlite import schema

import test_charts
import test_memory_query_plans as memory_plans
from support import EPOCH, FakeClock
from test_query_plans import _checked, _plan, _trigger_statements, analyzed_copy, traced  # noqa: F401 (traced: a fixture)

#: Indexes no traced statement's plan names, kept on purpose: {name: why}. Each must exist and be unused,
#: so that the list cannot go stale. When a screen needs an index for a statement the workloads miss, add
#: that statement to a workload rather than a line here.
NOT_IN_A_PLAN: dict[str, str] = {}

_NAMED = re.compile(r"USING (?:COVERING )?INDEX (\w+)")  # not "AUTOMATIC" ones: SQLite makes those per query


def _explained(db: Path, statements: list[str]) -> dict[str, set[str]]:
    """{index: the statements whose plan names it}, without and with ANALYZE (on a copy)."""
    copy = analyzed_copy(db, db.with_name(db.stem + "-analyzed.db"))
    used: dict[str, set[str]] = {}
    for path in (db, copy):
        conn = memory_plans._vec_connection(path)  # vec0 tables need the extension to be explained
        try:
            for sql in [*statements, *_trigger_statements(path, tables=None)]:
                for line in _plan(conn, sql):
                    for name in _NAMED.findall(line):
                        used.setdefault(name, set()).add(sql)
        finally:
            conn.close()
    return used


def _indexes(db: Path) -> dict[str, tuple[str, bool]]:
    """Every index of the schema: {name: (table, enforces a rule)}."""
    conn = sqlean.connect(str(db))
    try:
        out = {}
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for _, name, unique, origin, _ in conn.execute(f"PRAGMA index_list('{table}')").fetchall():
                out[name] = (table, bool(unique) or origin != "c")
        return out
    finally:
        conn.close()


async def _memory_statements(db: Path) -> list[str]:
    seen, _ = await memory_plans.traced_memory_workload(db, FakeClock())
    return [s for s in dict.fromkeys(seen) if _checked(s)]


async def _chart_statements(db: Path) -> list[str]:
    clock = FakeClock()
    store = await open_store(db, create=True, clock=clock)
    try:
        return await test_charts.traced_chart_statements(store, clock)
    finally:
        await store.close()


@pytest.fixture(scope="module")
def plans(traced, tmp_path_factory) -> tuple[dict[str, set[str]], dict[str, tuple[str, bool]]]:
    """The indexes the three workloads' plans name, and every index of the schema."""
    store_db, store_statements, _ = traced
    folder = tmp_path_factory.mktemp("index-use")
    memory_db, chart_db = folder / "memory.db", folder / "charts.db"
    used: dict[str, set[str]] = {}
    for db, statements in ((store_db, store_statements),
                           (memory_db, asyncio.run(_memory_statements(memory_db))),
                           (chart_db, asyncio.run(_chart_statements(chart_db)))):
        assert statements, f"nothing traced on {db.name}"
        for name, by in _explained(db, statements).items():
            used.setdefault(name, set()).update(by)
    indexes = {}
    for db in (store_db, memory_db, chart_db):
        indexes.update(_indexes(db))
    return used, indexes


def test_every_index_is_named_by_some_plan(plans) -> None:
    used, indexes = plans
    unused = sorted(f"{name} (on {table})" for name, (table, rule) in indexes.items()
                    if not rule and name not in used and name not in NOT_IN_A_PLAN)
    assert not unused, (
        "indexes no statement's plan uses (write cost for nothing): drop them in a migration, or add the "
        f"statement that needs one to a workload: {unused}"
    )


def test_the_exceptions_are_real_and_still_unused(plans) -> None:
    used, indexes = plans
    for name, why in NOT_IN_A_PLAN.items():
        assert why.strip(), f"{name}: say why it is kept"
        assert name in indexes, f"{name} is listed in NOT_IN_A_PLAN but is not in the schema"
        assert name not in used, f"{name} is used by a plan now: take it off NOT_IN_A_PLAN"


def test_the_plans_cover_the_hot_tables(plans) -> None:
    """The check above means something only if the workloads reached every indexed table."""
    used, indexes = plans
    tables_read = {indexes[name][0] for name in used if name in indexes}
    indexed = {table for table, rule in indexes.values() if not rule}
    assert indexed <= tables_read
    assert {"tasks", "events", "agents", "memory_entries", "search_items"} <= tables_read


# -- upgrading a database of the previous version --------------------------------------------------------

_LEANER = next(i for i, (name, _) in enumerate(schema.MIGRATIONS) if name.startswith("indexes:"))


def _index_sql(db: Path) -> dict[str, str]:
    conn = sqlean.connect(str(db))
    try:
        return dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
    finally:
        conn.close()


async def test_a_database_of_the_previous_version_gets_the_new_index_set(db_path, tmp_path, clock, monkeypatch):
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:_LEANER])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", _LEANER)
    # Made by that version's schema, written as that version's store wrote it (the code of today
    # reads columns added since, so the rows go in by hand: a finished task, a running one, a waiting one).
    old = await open_store(db_path, create=True, clock=clock)
    try:
        assert await old.schema_version() == _LEANER
    finally:
        await old.close()
    monkeypatch.undo()
    conn = sqlean.connect(str(db_path), isolation_level=None)
    try:
        t0 = EPOCH
        conn.execute("INSERT INTO agents (name, agent_type, registered_at, last_heartbeat) VALUES ('a1', 'impl', ?, ?)",
                     (t0, t0))
        insert = ("INSERT INTO tasks (description, source, agent_type, status, assigned_agent, created_at, updated_at, "
                  "started_at, finished_at, lease_expires_at) VALUES (?, 'human', 'impl', ?, ?, ?, ?, ?, ?, ?)")
        done = conn.execute(insert, ("finished before the upgrade", "completed", "a1", t0, t0 + 30, t0, t0 + 30,
                                     None)).lastrowid
        waiting = conn.execute(insert, ("waiting since before the upgrade", "running", "a1", t0, t0 + 30, t0 + 30,
                                        None, t0 + 30 + 3600)).lastrowid
        later = conn.execute(insert, ("still waiting", "ready", None, t0 + 35, t0 + 35, None, None, None)).lastrowid
    finally:
        conn.close()
    clock.advance(35)
    before = _index_sql(db_path)
    assert {"tasks_created", "tasks_agent_finished", "tasks_updated", "tasks_parent"} <= before.keys()

    clock.advance(60)
    store = await open_store(db_path, clock=clock)
    try:
        assert await store.schema_version() == schema.SCHEMA_VERSION > _LEANER
        # The rows written before are in the new indexes: each of these reads through one of them.
        assert [t.id for t in await store.list_tasks(assigned_agent="a1")] == [waiting, done]
        assert [t.id for t in await store.list_tasks(status="running", assigned_agent="a1")] == [waiting]
        assert (await store.queue_status()).oldest_pending.timestamp() == pytest.approx(EPOCH + 35)
        durations = await store.chart_durations(Window(EPOCH, 3600, 1))
        assert [(a.agent, a.completed, a.median_s) for a in durations.agents] == [("a1", 1, 30.0)]
        assert await store.agent_task_counts() == {"a1": {"completed": 1}}
        await store.complete_task(waiting, agent="a1")
        assert (await store.claim_task(agent="a1")).id == later
        names = [r[0] for r in await store._all("SELECT name FROM schema_migrations ORDER BY version")]
        assert names == [name for name, _ in schema.MIGRATIONS]
    finally:
        await store.close()
    conn = sqlean.connect(str(db_path))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    # The same indexes, defined the same way, as a database made new.
    new = await open_store(tmp_path / "new.db", create=True, clock=clock)
    await new.close()
    assert _index_sql(db_path) == _index_sql(tmp_path / "new.db")
    assert not {"tasks_created", "tasks_agent_finished", "tasks_updated", "tasks_parent", "sessions_agent",
                "search_items_pending"} & _index_sql(db_path).keys()


def test_the_oldest_waiting_task_is_read_from_tasks_waiting_with_the_status_bound(traced) -> None:
    """queue_status binds the status: SQLite matches a bound value against the partial index's ORs (an
    IN list in the index's WHERE would not match), so each probe reads a few entries, not every task."""
    db = traced[0]
    conn = sqlean.connect(str(db), isolation_level=None)
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    try:
        sql = "SELECT min(created_at) FROM tasks WHERE status = ?"
        for status in ("pending", "blocked", "ready"):
            plan = [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", (status,))]
            assert plan == ["SEARCH tasks USING COVERING INDEX tasks_waiting (status=?)"], plan
            conn.set_progress_handler(tick, 1)
            steps[0] = 0
            conn.execute(sql, (status,)).fetchone()
            conn.set_progress_handler(None, 0)
            assert steps[0] < 100, f"{status}: {steps[0]} VM steps"
    finally:
        conn.close()
