"""The PostgreSQL store's foundation: opening (migrating, or refusing), the write path's deadline and
errors, and a change feed that never skips an event committed out of id order. What both backends
must do alike runs on both (``STORE_BACKENDS``); what only PostgreSQL has runs there."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from swarmdeck.store import open_store
from swarmdeck.store.errors import (
    Busy,
    DatabaseMissing,
    InvalidArgument,
    PermissionDenied,
    SchemaOutdated,
    StorageError,
)
from swarmdeck.store.postgres import PostgresStore, migrate, schema
from swarmdeck.store.postgres.base import where

from store_support import state

STORE_BACKENDS = ("sqlite", "postgres")


# -- both backends: the same refusals for the same causes -------------------------------------------

async def test_the_append_only_event_log_refuses_a_delete_in_the_same_words(store):
    await store.register_agent("a1", agent_type="coder")
    before = await state(store)
    with pytest.raises(InvalidArgument) as refused:
        await store._write("a1", lambda tx: tx.run("DELETE FROM events"))
    assert str(refused.value) == "refused by the database: events are append-only: they cannot be deleted"
    assert await state(store) == before


async def test_a_check_constraint_is_refused_by_the_database(store):
    await store.register_agent("a1", agent_type="coder")
    before = await state(store)
    with pytest.raises(InvalidArgument, match="^refused by the database: .*(check|CHECK) constraint"):
        await store._write("a1", lambda tx: tx.run("UPDATE agents SET completion = 101"))
    assert await state(store) == before


async def test_a_unique_violation_is_refused_by_the_database_and_nothing_is_written(store):
    await store.register_agent("a1", agent_type="coder")
    before = await state(store)
    sql = "INSERT INTO agents (name, agent_type, registered_at) VALUES ('a1', 'x', 0)"

    def body(tx):
        tx.event("agent.registered", "agent", "a1")  # written first, rolled back with the rest
        tx.run(sql)

    with pytest.raises(InvalidArgument, match="^refused by the database: "):
        await store._write("a1", body)
    assert await state(store) == before


# -- PostgreSQL only: opening ---------------------------------------------------------------------

async def test_open_migrates_an_empty_database_only_when_it_creates(pg_database, clock):
    with pytest.raises(DatabaseMissing, match="is empty, not a swarmdeck database"):
        await open_store(pg_database, clock=clock)
    with pytest.raises(DatabaseMissing, match="is empty"):  # a read-only seat never makes one, even asked to
        await open_store(pg_database, create=True, read_only=True, clock=clock)
    with psycopg.connect(pg_database) as conn:  # a database behind this code's schema
        migrate.migrate(conn)
        conn.execute("DELETE FROM schema_migrations WHERE version = %s", (schema.SCHEMA_VERSION,))
        conn.commit()
    with pytest.raises(SchemaOutdated):  # a read-only seat never migrates it either
        await open_store(pg_database, read_only=True, clock=clock)
    with psycopg.connect(pg_database) as conn:
        recorded = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
        assert recorded == schema.SCHEMA_VERSION - 1
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
        conn.commit()
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0
    store = await open_store(pg_database.replace("postgresql://", "postgres://", 1), create=True, clock=clock)
    try:
        assert isinstance(store, PostgresStore)
        assert await store.schema_version() == schema.SCHEMA_VERSION
        await store.register_agent("a1", agent_type="coder")
    finally:
        await store.close()
    seat = await open_store(pg_database, read_only=True, clock=clock)  # current now: it opens
    try:
        assert [a.name for a in await seat.list_agents()] == ["a1"]
        with pytest.raises(PermissionDenied, match="read-only"):
            await seat.heartbeat("a1")
    finally:
        await seat.close()


async def test_a_database_the_server_lacks_or_a_server_not_there(pg_url, clock):
    from pg_support import with_database

    with pytest.raises(DatabaseMissing, match="no database .*swarmdeck_nowhere on that server"):
        await open_store(with_database(pg_url, "swarmdeck_nowhere"), create=True, clock=clock)
    with pytest.raises(StorageError, match="cannot connect to postgresql://"):
        await open_store("postgresql://nobody@/x?host=/nonexistent-socket-folder", create=True, clock=clock)


def test_messages_name_the_database_without_its_password():
    assert where("postgresql://me:secret@db.example:6543/swarm?sslmode=require") == (
        "postgresql://me@db.example:6543/swarm")


# -- PostgreSQL only: the write path ----------------------------------------------------------------

@pytest.fixture
async def pg(pg_store_url, clock):
    store = await open_store(pg_store_url, create=True, clock=clock)
    try:
        yield store
    finally:
        await store.close()


async def test_a_write_that_waits_for_a_lock_past_its_deadline_is_busy_and_writes_nothing(pg, pg_store_url):
    await pg.register_agent("a1", agent_type="coder")
    before = await state(pg)
    pg.busy_timeout_ms = 200
    with psycopg.connect(pg_store_url) as other:
        other.execute("SELECT 1 FROM agents WHERE name = 'a1' FOR UPDATE")  # held until rollback
        # The first waits for the row lock and times out; the second waits behind it on the writer's
        # thread, and its deadline passes before it begins: it never runs.
        results = await asyncio.gather(pg.heartbeat("a1", completion=10), pg.heartbeat("a1", completion=20),
                                       return_exceptions=True)
        assert [type(r) for r in results] == [Busy, Busy], results
        assert "locked by other writers for 200 ms" in str(results[0])
        other.rollback()
    assert await state(pg) == before
    assert (await pg.heartbeat("a1", completion=30)).completion == 30.0


async def test_a_write_cancelled_before_it_began_never_runs(pg, pg_store_url):
    await pg.register_agent("a1", agent_type="coder")
    cursor = await pg.latest_event_id()
    with psycopg.connect(pg_store_url) as other:
        other.execute("SELECT 1 FROM agents WHERE name = 'a1' FOR UPDATE")
        first = asyncio.ensure_future(pg.heartbeat("a1", completion=10))  # waits for the row lock
        second = asyncio.ensure_future(pg.heartbeat("a1", completion=20))  # queued behind it
        await asyncio.sleep(0)  # both handed to the writer's thread
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        other.rollback()
    assert (await asyncio.wait_for(first, timeout=10)).completion == 10.0
    assert (await pg.get_agent("a1")).completion == 10.0
    assert [e.payload["completion"] for e in await pg.changes_since(cursor)] == [10.0]


async def test_connections_lost_to_a_server_restart_are_made_again(pg, pg_store_url):
    await pg.register_agent("a1", agent_type="coder")
    await pg.list_agents()  # the reader's connection is made by the first read
    with psycopg.connect(pg_store_url, autocommit=True) as admin:
        killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
    assert killed == 2  # the store's writer and reader
    assert (await pg.get_agent("a1")).name == "a1"  # a read is read again on a new connection
    # The write finds its connection gone at BEGIN, before it sent anything: it runs on a new one.
    assert (await pg.heartbeat("a1", completion=6)).completion == 6.0
    assert (await pg.get_agent("a1")).completion == 6.0
    assert [e.kind for e in await pg.events(entity="agent", entity_id="a1")] == [
        "agent.heartbeat", "agent.registered"]


async def test_a_write_body_must_be_a_plain_function(pg):
    async def body(tx):
        return None

    with pytest.raises(TypeError, match="plain function over Tx"):
        await pg._write("a1", body)


# -- PostgreSQL only: the change feed ---------------------------------------------------------------

async def test_the_feed_never_skips_an_event_committed_after_a_later_id(pg, pg_store_url):
    await pg.register_agent("a1", agent_type="coder")
    cursor = await pg.latest_event_id()
    with psycopg.connect(pg_store_url) as slow:
        # A writer that took its event id first, and commits last.
        (slow_id,) = slow.execute(
            "INSERT INTO events (ts, actor, kind, entity, entity_id, payload) "
            "VALUES (0, 'a1', 'agent.action', 'agent', 'a1', '{\"slow\":true}') RETURNING id").fetchone()
        await pg.log_action("a1", phase="build", action="fast")
        fast = await pg.changes_since(cursor)
        assert [e.payload.get("action") for e in fast] == ["fast"]
        cursor = fast[-1].id
        slow.commit()
    with psycopg.connect(pg_store_url) as conn:  # the fast event's id is the larger one
        assert conn.execute("SELECT max(id) FROM events WHERE seq IS NOT NULL").fetchone()[0] > slow_id
    await pg.heartbeat("a1")  # seals after its commit: the slow event too, after the fast one
    later = await pg.changes_since(cursor)
    assert [e.payload.get("slow", e.kind) for e in later] == [True, "agent.heartbeat"]
    assert [e.id for e in later] == [cursor + 1, cursor + 2]  # the feed's ids: the chain's places
    assert await pg.latest_event_id() == cursor + 2
    assert [e.id for e in await pg.events(entity="agent", entity_id="a1", limit=3)] == [
        cursor + 2, cursor + 1, cursor]


async def test_a_seal_skipped_for_another_sealer_is_made_before_the_feed_is_read(pg, pg_store_url):
    await pg.register_agent("a1", agent_type="coder")
    cursor = await pg.latest_event_id()
    with psycopg.connect(pg_store_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (schema.SEAL_LOCK,))  # another sealer at work
        await pg.log_action("a1", phase="build", action="while sealing was busy")  # returns unsealed
        assert other.execute("SELECT count(*) FROM events WHERE seq IS NULL").fetchone()[0] == 1
        reading = asyncio.ensure_future(pg.changes_since(cursor))
        done, _ = await asyncio.wait([reading], timeout=0.2)
        assert not done  # it waits for the seal this store owes, which waits for the lock
        other.execute("SELECT pg_advisory_unlock(%s)", (schema.SEAL_LOCK,))
        [event] = await asyncio.wait_for(reading, timeout=10)
    assert event.id == cursor + 1 and event.payload["action"] == "while sealing was busy"


async def test_writes_never_wait_for_another_sealer_and_its_seal_is_enough(pg, pg_store_url):
    """A store's writes go on while another sealer holds the seal's lock; when that sealer seals this
    store's events, the store's feed reads them with the lock still held (nobody queues on it)."""
    from swarmdeck.store.postgres import sealing

    await pg.register_agent("a1", agent_type="coder")
    cursor = await pg.latest_event_id()
    with psycopg.connect(pg_store_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (schema.SEAL_LOCK,))  # another sealer at work
        for n in range(3):  # each returns at its commit: none waits behind the lock
            await asyncio.wait_for(pg.log_action("a1", phase="build", action=f"write {n}"), timeout=5)
        assert other.execute("SELECT count(*) FROM events WHERE seq IS NULL").fetchone()[0] == 3
        reading = asyncio.ensure_future(pg.changes_since(cursor))
        done, _ = await asyncio.wait([reading], timeout=0.1)
        assert not done  # nobody sealed them yet
        assert sealing.seal_events(other) == 3  # the other sealer (its lock is its own) seals them
        events = await asyncio.wait_for(reading, timeout=5)  # the lock is still held
        other.execute("SELECT pg_advisory_unlock(%s)", (schema.SEAL_LOCK,))
    assert [e.payload["action"] for e in events] == ["write 0", "write 1", "write 2"]


async def test_a_dashboard_seals_what_a_writer_that_died_after_its_commit_left_unsealed(pg, pg_store_url):
    """A writer killed between its commit and its seal leaves events no store owes a seal: a store waiting
    for changes (a dashboard) seals those it found unsealed at its previous wait, so they reach the feed
    without waiting for another write anywhere."""
    await pg.register_agent("a1", agent_type="coder")
    cursor = await pg.latest_event_id()
    with psycopg.connect(pg_store_url) as died:  # committed, and never sealed: its process is gone
        died.execute("INSERT INTO events (ts, actor, kind, entity, entity_id, payload) "
                     "VALUES (0, 'a1', 'agent.action', 'agent', 'a1', '{\"orphan\":true}')")
    dashboard = await open_store(pg_store_url)
    try:
        for _ in range(3):  # its poller's waits (a short timeout here: nothing else writes)
            await dashboard.wait_for_changes(cursor, 0.05)
        [event] = await dashboard.changes_since(cursor)
    finally:
        await dashboard.close()
    assert event.payload == {"orphan": True} and event.id == cursor + 1


async def test_a_seal_notifies_listeners_after_it_commits(pg, pg_store_url):
    await pg.register_agent("a1", agent_type="coder")
    with psycopg.connect(pg_store_url, autocommit=True) as listener:
        listener.execute("LISTEN swarmdeck_events")
        await pg.heartbeat("a1")
        seq = await pg.latest_event_id()
        woken = next(listener.notifies(timeout=10, stop_after=1))
    assert woken.channel == "swarmdeck_events" and int(woken.payload) == seq


async def test_a_dashboard_following_two_writers_misses_no_event_and_sees_none_twice(pg_store_url, clock):
    """Two stores (two agents' processes) write at once; a third (another machine's dashboard) follows
    the feed meanwhile. Every event arrives once, in the feed's order, ids 1, 2, 3 ... with no gap."""
    a, b, dashboard = [await open_store(pg_store_url, clock=clock) for _ in range(3)]
    try:
        await a.register_agent("a1", agent_type="coder")
        await b.register_agent("b1", agent_type="coder")
        await a.latest_event_id(), await b.latest_event_id()  # both registrations sealed
        start = cursor = await dashboard.latest_event_id()
        seen = []
        writing = True

        async def follow() -> None:
            nonlocal cursor
            while True:
                last_round = not writing
                batch = await dashboard.changes_since(cursor)
                seen.extend(batch)
                cursor = batch[-1].id if batch else cursor
                if last_round and not batch:
                    return
                await asyncio.sleep(0)

        follower = asyncio.ensure_future(follow())
        await asyncio.gather(*(s.heartbeat(name, completion=i % 100)
                               for i in range(100) for s, name in ((a, "a1"), (b, "b1"))))
        await a.latest_event_id(), await b.latest_event_id()  # each writer's seals made
        writing = False
        await asyncio.wait_for(follower, timeout=30)
        assert [e.id for e in seen] == list(range(start + 1, start + 201))
        assert sorted(e.entity_id for e in seen) == ["a1"] * 100 + ["b1"] * 100
    finally:
        for s in (a, b, dashboard):
            await s.close()


# -- PostgreSQL only: queue samples, counted once a second between all stores ---------------------

async def test_a_second_store_does_not_count_the_queue_again_within_the_second(pg, pg_store_url, clock):
    """Counting reads the tasks, so the first store to sample a slot in a second does it for every
    store; another store's change in that second is left due and sampled later, unless a store
    samples after it."""
    other = await open_store(pg_store_url, clock=clock)
    try:
        async def latest() -> int:
            rows = await pg._all("SELECT ready FROM queue_samples ORDER BY slot DESC LIMIT 1")
            return rows[0][0]

        await pg.enqueue_task(description="first")  # sampled: 1 ready
        assert await latest() == 1
        clock.advance(0.5)
        await other.enqueue_task(description="second")  # another store, within the second: not counted
        assert await latest() == 1
        clock.advance(0.1)
        await other.close()  # what it left due is sampled as it closes (or by its timer)
        assert await latest() == 2
        clock.advance(1.0)
        await pg.enqueue_task(description="third")  # a second later: counted again
        assert await latest() == 3
    finally:
        await other.close()


async def test_a_write_never_waits_for_another_store_sampling_the_queue(pg, pg_store_url, clock):
    """Another store's transaction that is sampling the queue holds the slot's row until it commits.
    A write that would sample too goes on without it (left due, sampled once that one is done): it
    does not queue for the row behind that transaction. (Every store that looked in the same moment
    used to count and then queue there, one commit after another: at 100 agents, writes stalled for
    up to 2 s once a second.)"""
    pg.busy_timeout_ms = 2000
    slot = int(clock() // 10)
    with psycopg.connect(pg_store_url) as other:  # another store's write, mid-sample
        other.execute("SELECT pg_try_advisory_xact_lock(%s)", (schema.QUEUE_SAMPLE_LOCK,))
        other.execute("INSERT INTO queue_samples (slot, ts, pending, blocked, ready, running) "
                      "VALUES (%s, 0, 0, 0, 0, 0)", (slot,))
        task = await asyncio.wait_for(pg.enqueue_task(description="not held up"), timeout=1.5)
        assert task.status == "ready"
        other.rollback()
    clock.advance(1.0)
    await pg.close()  # what it left due is sampled as it closes
    with psycopg.connect(pg_store_url) as conn:
        assert conn.execute("SELECT ready FROM queue_samples WHERE slot = %s", (slot,)).fetchone() == (1,)
