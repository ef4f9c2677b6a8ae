"""``wait_for_changes``: the change feed's wake-up. On PostgreSQL another store's write (another
process, another machine) wakes a waiting store through LISTEN/NOTIFY well before its timeout; on
SQLite a commit by any store on the file in this process does, and another process's write does not
(the wait runs out its timeout). Either way the feed itself (``changes_since``) has the event after it.
Also: how many connections a PostgreSQL store holds (the writer's always; the reader's from the first
read; the listener's from the first wait)."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from swarmdeck.store import open_store
from swarmdeck.store.postgres import listen

STORE_BACKENDS = ("sqlite", "postgres")

#: The waits' timeout: far above a wake-up (milliseconds), so a wait that returns well before it was woken.
TIMEOUT_S = 10.0


@pytest.fixture
async def other(store, where, clock):
    """A second store on the same database (on PostgreSQL: a connection set of its own, as another
    process's would be)."""
    s = await open_store(where, clock=clock)
    try:
        yield s
    finally:
        await s.close()


async def registered(other) -> None:
    """``a1`` registered by ``other``, and its event in the feed (on PostgreSQL: sealed, which happens
    after the write returns; ``latest_event_id`` waits for this store's own seal)."""
    await other.register_agent("a1", agent_type="coder")
    await other.latest_event_id()


async def _woken_by(waiter, writer, after: int) -> float:
    """Seconds ``waiter.wait_for_changes(after, TIMEOUT_S)`` took when ``writer`` writes once it waits."""
    began = time.monotonic()
    waiting = asyncio.ensure_future(waiter.wait_for_changes(after, TIMEOUT_S))
    await asyncio.sleep(0)  # the wait has begun (or, on PostgreSQL, is connecting: it reads max(seq) after LISTEN)
    await writer.heartbeat("a1")
    await asyncio.wait_for(waiting, TIMEOUT_S + 5)
    return time.monotonic() - began


async def test_another_stores_write_wakes_a_waiting_store_and_the_feed_has_it(store, other):
    await registered(other)
    cursor = await store.latest_event_id()
    took = await _woken_by(store, other, cursor)
    assert took < TIMEOUT_S / 4, took
    events = await store.changes_since(cursor)
    assert [e.kind for e in events] == ["agent.heartbeat"]
    cursor = events[-1].id
    # Again, on the listener's connection already open.
    took = await _woken_by(store, other, cursor)
    assert took < TIMEOUT_S / 4, took
    assert [e.kind for e in await store.changes_since(cursor)] == ["agent.heartbeat"]


async def test_with_nothing_written_a_wait_lasts_its_timeout(store):
    cursor = await store.latest_event_id()
    began = time.monotonic()
    await store.wait_for_changes(cursor, 0.3)
    assert 0.25 <= time.monotonic() - began < 5
    assert await store.changes_since(cursor) == []


async def test_a_cancelled_wait_leaves_the_next_one_working(store, other):
    await registered(other)
    cursor = await store.latest_event_id()
    waiting = asyncio.ensure_future(store.wait_for_changes(cursor, TIMEOUT_S))
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await _woken_by(store, other, cursor) < TIMEOUT_S / 4


async def test_a_closed_store_says_so(store, where, clock):
    s = await open_store(where, clock=clock)
    await s.close()
    with pytest.raises(Exception, match="closed"):
        await s.wait_for_changes(0, 0.1)


# -- PostgreSQL: what was sealed before the wait, a lost listener, the connections ------------------


async def test_postgres_a_wait_for_what_is_sealed_already_returns_at_once(store, other, store_backend):
    if store_backend != "postgres":
        return  # on SQLite a wait is a wake-up from this process's commits only (tested above)
    await other.register_agent("a1", agent_type="coder")
    await other.heartbeat("a1")
    await other.latest_event_id()  # its seal is made
    began = time.monotonic()
    await store.wait_for_changes(0, TIMEOUT_S)  # the listener reads max(seq) once it listens
    assert time.monotonic() - began < TIMEOUT_S / 4
    newest = await store.latest_event_id()
    began = time.monotonic()
    await store.wait_for_changes(newest - 1, TIMEOUT_S)  # heard of already, on the open connection
    assert time.monotonic() - began < 0.5


async def test_postgres_a_listener_whose_connection_is_lost_connects_again(store, other, where, store_backend):
    if store_backend != "postgres":
        return
    await registered(other)
    cursor = await store.latest_event_id()
    assert await _woken_by(store, other, cursor) < TIMEOUT_S / 4
    cursor = await store.latest_event_id()
    with psycopg.connect(where, autocommit=True) as admin:
        killed = admin.execute("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                               "WHERE application_name = %s AND datname = current_database()",
                               (listen.APPLICATION_NAME,)).fetchall()
    assert killed == [(True,)]
    # The wait that finds it lost sleeps out its timeout (a short one here); the next connects again
    # and is woken as before.
    await store.wait_for_changes(cursor, 0.2)
    assert await _woken_by(store, other, cursor) < TIMEOUT_S / 4
    assert store.db._listener.connections_made == 2


def _connections(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as admin:
        rows = admin.execute("SELECT application_name, count(*) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                             "GROUP BY 1").fetchall()
    return dict(rows)


async def test_postgres_connections_per_store(where, clock, store_backend, request):
    """An agent's store that only writes holds one connection; reading adds the reader's; waiting on
    the feed adds the listener's. So an agent process (writes, and reads of its own tasks) holds two;
    a dashboard (reads, and the poller's waits) three."""
    if store_backend != "postgres":
        return
    request.getfixturevalue("store")  # the fixture's own store is open too: counted apart by name below
    s = await open_store(where, clock=clock)
    try:
        before = _connections(where)
        await s.register_agent("solo", agent_type="coder")
        await s.heartbeat("solo")
        after_writes = _connections(where)
        assert after_writes.get("swarmdeck-reader", 0) == before.get("swarmdeck-reader", 0)
        await s.list_agents()
        after_read = _connections(where)
        assert after_read.get("swarmdeck-reader", 0) == before.get("swarmdeck-reader", 0) + 1
        await s.wait_for_changes(await s.latest_event_id(), 0.01)
        after_wait = _connections(where)
        assert after_wait.get(listen.APPLICATION_NAME, 0) == before.get(listen.APPLICATION_NAME, 0) + 1
    finally:
        await s.close()
    closed = _connections(where)
    for name in ("swarmdeck-writer", "swarmdeck-reader", listen.APPLICATION_NAME):
        assert closed.get(name, 0) <= before.get(name, 0), (name, closed, before)


# -- SQLite: this process's commits wake; the feed is read after ---------------------------------------


async def test_sqlite_a_commit_by_another_process_does_not_wake_a_wait(store, where, store_backend):
    """The documented difference: SQLite has no notification across processes; a poller falls back to
    its interval (the wait's timeout)."""
    if store_backend != "sqlite":
        return
    import sqlean

    cursor = await store.latest_event_id()
    began = time.monotonic()
    waiting = asyncio.ensure_future(store.wait_for_changes(cursor, 0.4))
    await asyncio.sleep(0)
    conn = sqlean.connect(str(where), isolation_level=None)  # outside the store: as another process
    try:
        conn.execute("UPDATE swarm_state SET reason = reason")
    finally:
        conn.close()
    await waiting
    assert time.monotonic() - began >= 0.35


async def test_postgres_an_idle_listener_is_closed_and_made_again(store, other, store_backend, monkeypatch):
    """A store that stops waiting (a paused dashboard) lets its listener go: one that reads no
    notifications holds back the server's notification queue."""
    if store_backend != "postgres":
        return
    monkeypatch.setattr(listen, "IDLE_CLOSE_S", 0.1)
    await registered(other)
    cursor = await store.latest_event_id()
    assert await _woken_by(store, other, cursor) < TIMEOUT_S / 4
    for _ in range(200):
        if not store.db._listener.connected:
            break
        await asyncio.sleep(0.01)
    assert not store.db._listener.connected
    cursor = await store.latest_event_id()
    assert await _woken_by(store, other, cursor) < TIMEOUT_S / 4
    assert store.db._listener.connections_made == 2
