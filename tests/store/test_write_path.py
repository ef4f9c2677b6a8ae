"""The write path: a transaction run whole on the writer connection's thread, and when claims reap."""

from __future__ import annotations

import asyncio
import threading

import pytest
import sqlean

from swarmdeck.store import TaskStatus
from swarmdeck.store.errors import Busy, InvalidArgument
from swarmdeck.store.sqlite import base


@pytest.fixture
async def agents(store):
    await store.register_agent("a1", agent_type="coder")
    await store.register_agent("a2", agent_type="coder")
    return store


@pytest.mark.parametrize("write", ["claim", "complete", "heartbeat", "enqueue", "register"])
async def test_hot_writes_run_whole_on_the_writer_thread(agents, monkeypatch, write):
    """Every statement of a hot write, BEGIN to COMMIT, runs in one call on the connection's thread,
    so the lock is never held across a hand-off to the event loop."""
    store = agents
    task = await store.enqueue_task(description="t")
    if write == "complete":
        await store.claim_task(agent="a1")
    threads: list[int] = []
    for name in ("one", "all", "run", "event"):
        real = getattr(base.Tx, name)

        async def spy(self, *args, _real=real, **kwargs):
            threads.append(threading.get_ident())
            return await _real(self, *args, **kwargs)

        monkeypatch.setattr(base.Tx, name, spy)
    calls = {
        "claim": lambda: store.claim_task(agent="a1"),
        "complete": lambda: store.complete_task(task.id, agent="a1"),
        "heartbeat": lambda: store.heartbeat("a1", completion=50),
        "enqueue": lambda: store.enqueue_task(description="u", prerequisites=[task.id]),
        "register": lambda: store.register_agent("a3", agent_type="coder"),
    }
    await calls[write]()
    assert threads and set(threads) == {store._writer._thread.ident} != {threading.get_ident()}


async def test_a_body_that_awaits_something_else_is_refused_and_rolled_back(agents):
    store = agents
    mark = await store.latest_event_id()

    async def body(tx):
        await tx.event("test.half", "test")
        await asyncio.sleep(0)  # a real suspension: not allowed inside _write

    with pytest.raises(RuntimeError, match="awaited something other than its own statements"):
        await store._write("tester", body)
    assert await store.changes_since(mark) == []
    assert not store._writer.in_transaction
    # The connection is usable afterwards.
    assert (await store.enqueue_task(description="after")).status is TaskStatus.READY


async def test_errors_inside_a_write_roll_back_and_map_to_store_errors(agents):
    store = agents
    mark = await store.latest_event_id()

    async def violates(tx):
        await tx.event("test.before", "test")
        await tx.run("INSERT INTO task_dependencies (task_id, prerequisite_id) VALUES (999, 998)")

    with pytest.raises(InvalidArgument, match="refused by the database"):
        await store._write("tester", violates)
    assert await store.changes_since(mark) == []


async def test_a_locked_database_is_busy(agents, db_path):
    store = agents
    await store._writer.execute("PRAGMA busy_timeout = 0")
    other = sqlean.connect(str(db_path), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(Busy, match="locked by other writers"):
            await store.heartbeat("a1")
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert (await store.heartbeat("a1")).name == "a1"


async def test_a_cancelled_caller_leaves_no_transaction_open(agents):
    store = agents
    t = await store.enqueue_task(description="t")
    call = asyncio.create_task(store.claim_task(agent="a1"))
    await asyncio.sleep(0)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    # Whatever the thread had done by then was committed or rolled back whole; writes go on.
    await store.heartbeat("a2")
    assert not store._writer.in_transaction
    task = await store.get_task(t.id)
    assert task.status in (TaskStatus.READY, TaskStatus.RUNNING)
    assert (task.assigned_agent is None) == (task.status is TaskStatus.READY)


async def test_claims_reap_every_few_seconds_and_whenever_nothing_is_ready(agents, clock):
    store = agents
    short = await store.enqueue_task(description="short lease", base_priority=10, timeout_seconds=1)
    other = await store.enqueue_task(description="other", base_priority=0)
    assert (await store.claim_task(agent="a1")).id == short.id  # this claim reaped (the first one)
    clock.advance(2)  # short's lease ran out, but the last reap was 2 s ago
    assert (await store.claim_task(agent="a2")).id == other.id
    assert (await store.get_task(short.id)).status is TaskStatus.RUNNING
    # Nothing is ready now: the claim reaps at once rather than answer "nothing" for up to 5 s.
    await store.complete_task(other.id, agent="a2")
    retried = await store.claim_task(agent="a2")
    assert retried.id == short.id and retried.retry_count == 1
    clock.advance(5)  # past the interval a claim reaps even with other work ready
    await store.enqueue_task(description="more", base_priority=10)
    got = await store.claim_task(agent="a1")
    assert got.id == short.id and got.retry_count == 2  # reaped, and first by id at equal priority
