"""Copying a SQLite swarm into PostgreSQL (store/postgres/copy.py): a swarm built through the store's
own API is copied and every table validates; a target with data is refused; an interrupted copy
resumes without duplicates; a row changed on the target is named by the validation."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from store import audit
from store.postgres import copy as pg_copy
from store.postgres.sealing import verify_events
from swarmdeck.store import open_store

from signing_support import decide
from store_support import people, raw, submit


MODEL = "tiny-test"


async def build_swarm(path, clock) -> None:
    """Tasks with dependencies, agents, a milestone with a report and a signed decision, a session,
    memories with two versions, a learning record, a document, and the events all of that wrote."""
    store = await open_store(path, create=True, clock=clock)
    try:
        await store.register_agent("a1", agent_type="coder")
        await store.register_agent("a2", agent_type="coder")
        await people(store)
        await store.add_milestone("M1", objective="foundations", hour_budget=40)
        first = await store.enqueue_task(description="lay the schema", agent_type="coder", milestone="M1")
        second = await store.enqueue_task(description="write the copy", agent_type="coder",
                                          prerequisites=[first.id])
        await store.enqueue_task(description="validate it", agent_type="coder",
                                 prerequisites=[first.id, second.id])
        task = await store.claim_task(agent="a1")
        await store.complete_task(task.id, agent="a1",
                                  result={"notes": "done", "files": ["a.py"], "ratio": 0.5})
        await submit(store, "M1")
        await decide(store, "M1", decision="APPROVE", rationale="solid", reviewer="alice")
        session = await store.create_session(agent="a2")
        await store.append_session_event(session.id, kind="note", payload={"said": "hello [bold]"})
        await store.add_memory("project:x", "style", {"quote": "single", "width": 110},
                               memory_type="semantic", created_by="a1", metadata={"b": 1, "a": 2})
        await store.update_memory("project:x", "style", {"quote": "double", "width": 110}, updated_by="a2")
        await store.add_memory("project:x", "plain", "just text", memory_type="semantic", created_by="a1")
        await store.log_record("decision", {"decision": "keep SSE", "rationale": "proxies",
                                            "alternatives": ["long polling"]}, agent="a1")
        await store.index_document("project:x", "docs/readme.md", "# Title\n\nSome text about copies.\n")
        pending = await store.pending_embeddings(MODEL, limit=10)
        await store.store_embeddings(MODEL, 4, [(i, [0.25, -1.0, 3.5, n], t)
                                                for n, (i, t) in enumerate(pending[:-1])])
        await store.record_embedding_failure(MODEL, [pending[-1][0]], "the model was down")
    finally:
        await store.close()


@pytest.fixture
async def swarm(tmp_path, clock):
    path = tmp_path / "swarm.db"
    await build_swarm(path, clock)
    return path


def _tables_with_rows(report) -> set[str]:
    return {t.table for t in report.tables if t.source_rows}


def test_a_swarm_copies_whole_and_every_table_matches(swarm, pg_database):
    seen: list[tuple[str, int, int]] = []
    report = pg_copy.copy_database(swarm, pg_database, batch=2, progress=lambda *a: seen.append(a))

    assert report.ok, "\n".join(report.lines())
    assert {"tasks", "task_dependencies", "agents", "milestones", "validation_reports", "report_criteria",
            "report_metrics", "report_issues", "report_recommendations", "gate_decisions", "reviewers",
            "sessions", "session_events", "events", "memory_entries", "learning_records", "documents",
            "document_chunks", "search_items", "swarm_state", "embeddings", "vector_indexes",
            "embedding_failures"} <= _tables_with_rows(report)
    by_table = {t.table: t for t in report.tables}
    for t in report.tables:
        assert t.source_rows == t.target_rows and t.source_checksum == t.target_checksum
    assert by_table["task_dependencies"].source_rows == 3
    assert by_table["memory_entries"].source_rows == 3  # two versions of one memory, one of another
    # Parents first: a table's rows are copied after those it refers to.
    order = [t.table for t in report.tables]
    assert order.index("tasks") < order.index("task_dependencies")
    assert order.index("validation_reports") < order.index("gate_decisions") < order.index("gate_conditions")
    # The progress callback saw every table's rows, in batches of two, ending at the total.
    events_seen = [(done, total) for table, done, total in seen if table == "events"]
    assert events_seen[-1][0] == events_seen[-1][1] == by_table["events"].source_rows
    assert len(events_seen) > 2

    with psycopg.connect(pg_database, autocommit=True) as conn:
        # Ids are kept, the sequences continue after them, the progress table is gone.
        assert conn.execute("SELECT to_regclass(%s)", (pg_copy.PROGRESS,)).fetchone()[0] is None
        next_id = conn.execute("SELECT nextval(pg_get_serial_sequence('milestones', 'id'))").fetchone()[0]
        with raw(swarm) as src:
            assert next_id == src.execute("SELECT max(id) FROM milestones").fetchone()[0] + 1
            events = src.execute("SELECT count(*) FROM events").fetchone()[0]
        # The event log is sealed on PostgreSQL and verifies; with SQLite's dense ids, it is the same chain.
        result = verify_events(conn)
        assert result.ok and result.checked == events
        assert report.target_head == report.source_head
        # Each model's vectors: as bytes in embeddings, and in its pgvector table when the server has it.
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
            table = conn.execute("SELECT table_name FROM vector_indexes WHERE model = %s",
                                 (MODEL,)).fetchone()[0]
            vectors = conn.execute(f"SELECT embedding::text FROM {table} ORDER BY item_id").fetchall()
            assert len(vectors) == by_table["embeddings"].source_rows
            assert vectors[0] == ("[0.25,-1,3.5,0]",)
            assert by_table[table].ok and by_table[table].source_rows == len(vectors)  # validated too
        # JSON columns arrive as jsonb, equal as values.
        assert conn.execute("SELECT result_data->>'notes' FROM tasks WHERE id = 1").fetchone()[0] == "done"


def test_a_target_with_swarmdeck_data_is_refused_unless_forced(swarm, pg_database):
    assert pg_copy.copy_database(swarm, pg_database).ok
    with pytest.raises(pg_copy.CopyRefused, match="already holds swarmdeck data"):
        pg_copy.copy_database(swarm, pg_database)
    # Forced: the rows already there are kept, nothing is doubled, and it still matches.
    report = pg_copy.copy_database(swarm, pg_database, force=True)
    assert report.ok
    assert {t: n for t, n in report.copied.items() if n} == {"swarm_state": 1}  # its one row, replaced


def test_a_broken_chain_is_refused_naming_the_event(swarm, pg_database):
    with raw(swarm) as conn:
        conn.execute("DROP TRIGGER IF EXISTS events_no_update")
        conn.execute("UPDATE events SET actor = 'mallory' WHERE id = 3")
    with pytest.raises(pg_copy.CopyRefused, match="AUDIT TRAIL BROKEN at event 3"):
        pg_copy.copy_database(swarm, pg_database)
    with psycopg.connect(pg_database, autocommit=True) as conn:  # refused before the target was touched
        assert conn.execute("SELECT to_regclass('events')").fetchone()[0] is None
    forced = pg_copy.copy_database(swarm, pg_database, force=True)
    assert forced.ok and not forced.chain.ok and forced.chain.broken_at == 3
    assert forced.target_head != forced.source_head  # PostgreSQL sealed a chain of its own


class Interrupt(Exception):
    pass


def test_an_interrupted_copy_resumes_and_ends_identical(swarm, pg_database):
    calls = 0

    def stop_after_some(table: str, done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if table == "events" and done >= 6:
            raise Interrupt

    with pytest.raises(Interrupt):
        pg_copy.copy_database(swarm, pg_database, batch=3, progress=stop_after_some)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        assert conn.execute(f"SELECT rows_done FROM {pg_copy.PROGRESS} WHERE table_name = 'events'"
                            ).fetchone()[0] == 6
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 6
        src = pg_copy.open_source(swarm)
        try:
            order = [t.name for t in pg_copy.plan(src, conn)]
        finally:
            src.close()
        done = dict(conn.execute(f"SELECT table_name, done FROM {pg_copy.PROGRESS} WHERE table_name <> %s",
                                 (pg_copy.SOURCE_ROW,)).fetchall())
        # Tables are copied one after the other: those before the events are done, none after begun.
        assert done == {**{t: True for t in order[:order.index("events")]}, "events": False}

    report = pg_copy.copy_database(swarm, pg_database, batch=3)
    assert report.resumed and report.ok, "\n".join(report.lines())
    assert report.copied["agents"] == 0  # finished before the interruption: not copied again
    assert report.copied["tasks"] == 3
    with raw(swarm) as src:
        events = src.execute("SELECT count(*) FROM events").fetchone()[0]
    assert report.copied["events"] == events - 6
    with psycopg.connect(pg_database, autocommit=True) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone() == (events, events)
        assert verify_events(conn).ok


def test_a_changed_row_on_the_target_is_named(swarm, pg_database):
    assert pg_copy.copy_database(swarm, pg_database).ok
    with psycopg.connect(pg_database, autocommit=True) as dst:
        dst.execute("UPDATE tasks SET description = 'tampered' WHERE id = 2")
        dst.execute("UPDATE memory_entries SET metadata = '{\"a\": 2, \"b\": 1}'::jsonb WHERE id = 1")
        src = pg_copy.open_source(swarm)
        try:
            checks = {c.table: c for c in pg_copy.validate(src, dst)}
        finally:
            src.close()
    bad = [c for c in checks.values() if not c.ok]
    assert [c.table for c in bad] == ["tasks"]
    assert bad[0].first_difference == 2 and "description" in bad[0].detail
    assert bad[0].source_rows == bad[0].target_rows and bad[0].source_checksum != bad[0].target_checksum
    assert checks["memory_entries"].ok  # the same JSON in another key order is the same value


def test_a_copy_in_progress_continues_only_from_the_swarm_it_began_with(swarm, tmp_path, clock,
                                                                        pg_database):
    def stop(table: str, done: int, total: int) -> None:
        if table == "events" and done:
            raise Interrupt

    with pytest.raises(Interrupt):
        pg_copy.copy_database(swarm, pg_database, batch=2, progress=stop)
    other = tmp_path / "other.db"
    clock.advance(3600)  # another swarm, begun at another time: its first event differs
    asyncio.run(build_swarm(other, clock))
    with pytest.raises(pg_copy.CopyRefused, match="began from another swarm"):
        pg_copy.copy_database(other, pg_database)
    assert pg_copy.copy_database(swarm, pg_database).ok


def test_a_source_at_another_schema_version_is_refused(swarm, pg_database):
    with raw(swarm) as conn:
        conn.execute("DELETE FROM schema_migrations "
                     "WHERE version = (SELECT max(version) FROM schema_migrations)")
    with pytest.raises(pg_copy.CopyRefused, match="open it once with this swarmdeck"):
        pg_copy.copy_database(swarm, pg_database)


def test_a_table_or_column_with_no_place_on_postgresql_is_refused_not_dropped(swarm, pg_database):
    with raw(swarm) as conn:
        conn.execute("ALTER TABLE agents ADD COLUMN nickname TEXT")
    with pytest.raises(pg_copy.CopyRefused, match="no place for these columns of agents: nickname"):
        pg_copy.copy_database(swarm, pg_database)
    with raw(swarm) as conn:
        conn.execute("CREATE TABLE extra (id INTEGER PRIMARY KEY)")
    with pytest.raises(pg_copy.CopyRefused, match="has no place for: extra"):
        pg_copy.copy_database(swarm, pg_database)


def test_a_changed_vector_on_the_target_is_named(swarm, pg_database):
    report = pg_copy.copy_database(swarm, pg_database)
    with psycopg.connect(pg_database, autocommit=True) as dst:
        if not dst.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
            pytest.skip("the server has no pgvector")
        table, = dst.execute("SELECT table_name FROM vector_indexes").fetchone()
        item = dst.execute(f"SELECT max(item_id) FROM {table}").fetchone()[0]
        dst.execute(f"UPDATE {table} SET embedding = '[9,9,9,9]' WHERE item_id = %s", (item,))
        src = pg_copy.open_source(swarm)
        try:
            checks = pg_copy.check_vectors(src, dst)
        finally:
            src.close()
    assert report.ok
    assert [(c.table, c.first_difference, c.detail) for c in checks if not c.ok] == [
        (table, item, "differs in embedding")]


def test_a_value_postgresql_cannot_hold_names_its_row_and_the_copy_continues_once_fixed(swarm,
                                                                                       pg_database):
    with raw(swarm) as conn:
        conn.execute("UPDATE tasks SET description = 'nul' || char(0) || 'here' WHERE id = 2")
    culprit = r"copying tasks failed at key 2 \(its description holds a NUL"
    with pytest.raises(pg_copy.CopyFailed, match=culprit):
        pg_copy.copy_database(swarm, pg_database, batch=1)
    with raw(swarm) as conn:
        conn.execute("UPDATE tasks SET description = 'fixed' WHERE id = 2")
    report = pg_copy.copy_database(swarm, pg_database, batch=1)
    assert report.resumed and report.ok and report.copied["tasks"] == 2  # task 1 was in before


def test_json_that_jsonb_refuses_names_its_row(swarm, pg_database):
    with raw(swarm) as conn:
        conn.execute("UPDATE sessions SET state = '{\"said\": \"a\\u0000b\"}'")
        session = conn.execute("SELECT id FROM sessions").fetchone()[0]
    culprit = f"copying sessions failed at key '{session}' .its state holds a .u0000, which jsonb refuses"
    with pytest.raises(pg_copy.CopyFailed, match=culprit):
        pg_copy.copy_database(swarm, pg_database)


def test_the_copy_lock_is_no_other_lock_of_the_database():
    """Advisory locks share one key space per database: a copy holding the gates' key would hold off
    every gate write and claim on its target, and any of those would make the copy refuse to start."""
    from store.postgres import schema, tasks

    keys = [schema.MIGRATE_LOCK, schema.SEAL_LOCK, schema.GATES_LOCK, tasks.DEPENDENCY_LOCK, pg_copy.COPY_LOCK]
    assert len(set(keys)) == len(keys)
