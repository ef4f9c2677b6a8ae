"""Every connection a store opens is closed, whatever interrupts opening or closing it.

Each aiosqlite connection runs on a thread of its own that is not a daemon: one left running keeps the
process from exiting (it waits at interpreter shutdown, forever). Opening and closing are cancelled
here at each of their suspension points in turn, once or at every one after it (a worker cancelled
as the app exits, then again by ``asyncio.run`` as it tears the loop down), and after each run no
connection thread of the test may be left.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

import pytest

from swarmdeck.store import open_store

STORE_BACKENDS = ("sqlite", "postgres")

#: More suspension points than opening or closing a store has (the drive stops at the last one).
MAX_STEPS = 60


def connection_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.endswith("(_connection_worker_thread)")}


async def drive(coro: Coroutine[Any, Any, Any], *, cancel_at: int, again: bool) -> tuple[int, Any]:
    """Run ``coro`` as an asyncio task would, step by step, but cancel it at its ``cancel_at``-th
    suspension (and, with ``again``, at every later one). Returns (suspensions, result or exception)."""
    steps, send, throw = 0, None, None
    while True:
        try:
            awaited = coro.throw(throw) if throw is not None else coro.send(send)
        except StopIteration as done:
            return steps, done.value
        except BaseException as exc:  # noqa: BLE001 - the outcome, whatever it is
            return steps, exc
        steps += 1
        send = throw = None
        if steps == cancel_at or (again and steps > cancel_at):
            if isinstance(awaited, asyncio.Future):
                awaited.cancel()  # what Task.cancel does to the future its coroutine waits on
            throw = asyncio.CancelledError()
        elif isinstance(awaited, asyncio.Future):
            await asyncio.wait({awaited})  # not `await awaited`: the coroutine already waits on it
            try:
                send = awaited.result()
            except BaseException as exc:  # noqa: BLE001 - handed back to the coroutine
                throw = exc
        else:
            await asyncio.sleep(0)  # a bare yield (asyncio.sleep(0))


async def ended(threads: set[threading.Thread]) -> list[threading.Thread]:
    """The threads still alive after each had a few seconds to end."""
    for t in threads:
        await asyncio.to_thread(t.join, 5)
    return [t for t in threads if t.is_alive()]


async def busy_store(path):
    """A store with a checkpoint connection open and commits since its last checkpoint, so that
    closing it has every step: a checkpoint, then three connections to close."""
    store = await open_store(path, create=True)
    for i in range(150):  # past the first checkpoint (after 1 to 100 commits), then some more
        await store.register_agent(f"a{i}", agent_type="coder")
    if store._checkpoint is not None:
        await store._checkpoint
    assert store._checkpointer is not None
    return store


@pytest.mark.parametrize("again", [False, True], ids=["cancelled-once", "cancelled-again-and-again"])
async def test_a_cancelled_open_leaves_no_connection_open(tmp_path, again: bool) -> None:
    db = tmp_path / "swarm.db"
    store = await open_store(db, create=True)  # the file exists: opening it again migrates nothing
    await store.close()
    total = None
    for cancel_at in range(1, MAX_STEPS):
        before = connection_threads()
        steps, outcome = await drive(open_store(db), cancel_at=cancel_at, again=again)
        if not isinstance(outcome, BaseException):  # opened before the cancel came: it is ours to close
            total = steps
            await outcome.close()
        left = await ended(connection_threads() - before)
        assert not left, f"cancelled at suspension {cancel_at} of opening, {len(left)} connection(s) stayed open"
        if total is not None:
            break
    assert total is not None and total > 5, "the drive never let opening finish"


@pytest.mark.parametrize("again", [False, True], ids=["cancelled-once", "cancelled-again-and-again"])
async def test_a_cancelled_close_still_closes_every_connection(tmp_path, again: bool) -> None:
    for cancel_at in range(1, MAX_STEPS):
        before = connection_threads()
        store = await busy_store(tmp_path / f"swarm{cancel_at}.db")
        steps, outcome = await drive(store.close(), cancel_at=cancel_at, again=again)
        left = await ended(connection_threads() - before)
        assert not left, f"cancelled at suspension {cancel_at} of closing, {len(left)} connection(s) stayed open"
        if steps < cancel_at:  # closing finished before that suspension: every point has been tried
            assert outcome is None
            break
    else:
        pytest.fail("closing never finished within the drive")


async def test_no_checkpoint_opens_a_connection_once_the_store_is_closing(tmp_path) -> None:
    """A write that commits while the store closes may start a checkpoint; it opens nothing."""
    before = connection_threads()
    store = await open_store(tmp_path / "swarm.db", create=True)
    await store.register_agent("a1", agent_type="coder")
    closing = asyncio.ensure_future(store.close())
    await asyncio.sleep(0)  # closing has begun
    late = asyncio.ensure_future(store._checkpoint_wal())  # what the write's commit would start
    await asyncio.gather(closing, late)
    assert not await ended(connection_threads() - before)


async def test_closing_interrupts_a_read_left_running(tmp_path) -> None:
    """A read whose caller was cancelled keeps its connection busy; closing does not wait for it."""
    before = connection_threads()
    store = await open_store(tmp_path / "swarm.db", create=True)
    # Seconds of counting (bounded, so that a store that waits for it still ends, if late).
    long_read = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1e8) SELECT count(*) FROM c"
    reading = asyncio.ensure_future(store._all(long_read))
    await asyncio.sleep(0.05)
    reading.cancel()
    await asyncio.wait_for(store.close(), timeout=5)
    assert not await ended(connection_threads() - before)
