"""The write path: each transaction run whole in one place, the host's write lock, and when claims reap."""

from __future__ import annotations

import asyncio
import shutil
import threading

import pytest
import sqlean

from swarmdeck.store import TaskStatus
from swarmdeck.store.errors import Busy, InvalidArgument
from swarmdeck.store.events import EventKind
from swarmdeck.store.sqlite import base


def spy_on_statements(monkeypatch) -> list[int]:
    """The thread each statement of a write transaction runs on, in order."""
    threads: list[int] = []
    for name in ("one", "all", "run", "event"):
        real = getattr(base.Tx, name)

        def spy(self, *args, _real=real, **kwargs):
            threads.append(threading.get_ident())
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(base.Tx, name, spy)
    return threads


def hot_write(store, write: str, task_id: int):
    return {
        "claim": lambda: store.claim_task(agent="a1"),
        "complete": lambda: store.complete_task(task_id, agent="a1"),
        "fail": lambda: store.fail_task(task_id, agent="a1", error="boom"),
        "heartbeat": lambda: store.heartbeat("a1", completion=50),
        "enqueue": lambda: store.enqueue_task(description="u", prerequisites=[task_id]),
        "register": lambda: store.register_agent("a3", agent_type="coder"),
    }[write]()


@pytest.mark.parametrize("write", ["claim", "complete", "fail", "heartbeat"])
async def test_quick_writes_run_whole_on_the_event_loop_when_nobody_else_writes(agents, monkeypatch, write):
    """No thread hand-off at all: BEGIN to COMMIT in one go, here."""
    store = agents
    task = await store.enqueue_task(description="t")
    if write in ("complete", "fail"):
        await store.claim_task(agent="a1")
    threads = spy_on_statements(monkeypatch)
    await hot_write(store, write, task.id)
    assert threads and set(threads) == {threading.get_ident()}
    assert not store._writer.in_transaction


@pytest.mark.parametrize("write", ["enqueue", "register"])
async def test_other_writes_run_whole_on_the_writer_thread(agents, monkeypatch, write):
    """Every statement, BEGIN to COMMIT, in one call on the connection's thread: the lock is never
    held across a hand-off to the event loop."""
    store = agents
    task = await store.enqueue_task(description="t")
    threads = spy_on_statements(monkeypatch)
    await hot_write(store, write, task.id)
    assert threads and set(threads) == {store._writer.ident} != {threading.get_ident()}


@pytest.mark.parametrize("write", ["heartbeat", "enqueue"])
async def test_writers_queue_on_the_host_lock(agents, db_path, monkeypatch, write):
    """While another writer on the host holds the lock, a write waits for it on the writer thread
    (never on the event loop) and lands, whole, once it is released."""
    store = agents
    task = await store.enqueue_task(description="t")
    mark = await store.latest_event_id()
    waiting = threading.Event()
    real_acquire = base.HostWriteLock.acquire

    def acquire(self):
        waiting.set()
        return real_acquire(self)

    monkeypatch.setattr(base.HostWriteLock, "acquire", acquire)
    other = base.HostWriteLock(db_path)  # another process's writer, as far as flock(2) can tell
    try:
        assert other.try_acquire()
        threads = spy_on_statements(monkeypatch)
        call = asyncio.create_task(hot_write(store, write, task.id))
        assert await asyncio.to_thread(waiting.wait, 10)
        assert not call.done() and threads == []
        assert await store.changes_since(mark) == []  # nothing of it has happened yet
    finally:
        other.release()
        other.close()
    await call
    assert threads and set(threads) == {store._writer.ident}
    assert len(await store.changes_since(mark)) >= 1


async def test_the_host_lock_is_a_file_beside_the_database(agents, db_path):
    store = agents
    lock = base.HostWriteLock(db_path)
    try:
        assert (db_path.parent / f"{db_path.name}-writers").exists()
        assert lock.try_acquire()
        assert not store._host_lock.try_acquire()  # flock(2) locks conflict between open files
        lock.release()
        assert store._host_lock.try_acquire()
        store._host_lock.release()
    finally:
        lock.close()


async def test_without_a_lock_file_writes_still_work(tmp_path):
    """A directory where the lock file cannot be made: SQLite's own locking alone."""
    lock = base.HostWriteLock(tmp_path / "missing-dir" / "swarm.db")
    assert lock.try_acquire() and lock.try_acquire()
    assert lock.acquire()
    lock.release()
    lock.close()


async def test_a_body_that_awaits_something_is_refused_and_rolled_back(agents):
    """Write bodies are plain functions over Tx: a coroutine function is refused before anything
    runs, and a body that hands back an awaitable anyway is rolled back."""
    store = agents
    mark = await store.latest_event_id()

    async def body(tx):
        tx.event(EventKind.AGENT_ACTION, "agent", "tester", {"action": "half"})
        await asyncio.sleep(0)  # a real suspension: not allowed inside _write

    with pytest.raises(TypeError, match="not a coroutine function"):
        await store._write("tester", body)
    assert await store.changes_since(mark) == []

    def sneaky(tx):
        tx.event(EventKind.AGENT_ACTION, "agent", "tester", {"action": "half"})
        return body(tx)  # a coroutine, returned rather than awaited

    with pytest.raises(TypeError, match="returned an awaitable"):
        await store._write("tester", sneaky)
    assert await store.changes_since(mark) == []
    assert not store._writer.in_transaction
    # The connection is usable afterwards.
    assert (await store.enqueue_task(description="after")).status is TaskStatus.READY


async def test_errors_inside_a_write_roll_back_and_map_to_store_errors(agents):
    store = agents
    mark = await store.latest_event_id()

    def violates(tx):
        tx.event(EventKind.AGENT_ACTION, "agent", "tester", {"action": "before"})
        tx.run("INSERT INTO task_dependencies (task_id, prerequisite_id) VALUES (999, 998)")

    with pytest.raises(InvalidArgument, match="refused by the database"):
        await store._write("tester", violates)
    assert await store.changes_since(mark) == []


@pytest.mark.parametrize("write", ["heartbeat", "register"])
async def test_a_database_locked_from_outside_swarmdeck_is_busy(agents, db_path, write):
    """A writer that does not take the host lock (the sqlite3 shell, say) holds SQLite's lock: the
    quick path does not wait for it on the event loop, and the writer thread gives up with Busy."""
    store = agents
    store.busy_timeout_ms = 0
    await store._writer.execute("PRAGMA busy_timeout = 0")
    call = {"heartbeat": lambda: store.heartbeat("a1"),
            "register": lambda: store.register_agent("a9", agent_type="coder")}[write]
    other = sqlean.connect(str(db_path), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(Busy, match="locked by other writers for 0 ms"):
            await call()
        assert not store._writer.in_transaction
        assert store._host_lock.try_acquire()  # released on the way out
        store._host_lock.release()
        other.execute("ROLLBACK")
    finally:
        other.close()
    await call()


async def test_a_cancelled_caller_leaves_no_transaction_open(agents):
    """Cancelled while its transaction is out on the writer thread: that transaction still ends
    whole there (committed or rolled back), and writes go on."""
    store = agents
    t = await store.enqueue_task(description="t")
    other = base.HostWriteLock(store.path)
    assert other.try_acquire()  # so the claim waits its turn on the writer thread
    call = asyncio.create_task(store.claim_task(agent="a1"))
    await asyncio.sleep(0)
    call.cancel()
    other.release()
    other.close()
    with pytest.raises(asyncio.CancelledError):
        await call
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


def events_in_the_database_file(db_path, tmp_path) -> int:
    """The newest event id in the database file itself, as if its WAL were lost."""
    copy = tmp_path / "main-file-only.db"
    shutil.copyfile(db_path, copy)
    conn = sqlean.connect(str(copy))
    try:
        return conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
    finally:
        conn.close()


async def test_commits_leave_checkpoints_to_the_writer_outside_the_locks(agents, db_path, tmp_path, monkeypatch):
    """COMMIT never checkpoints (no writer holds the host lock through fsyncs); every
    CHECKPOINT_EVERY commits the writer copies the WAL into the database in the background."""
    store = agents
    if store._checkpoint is not None:  # the fixture's writes may have started one (the first comes after 1 to 100)
        await store._checkpoint
    monkeypatch.setattr(base, "CHECKPOINT_EVERY", 4)
    await store._checkpoint_wal(store._writer)  # a known start: the file holds everything so far
    before = events_in_the_database_file(db_path, tmp_path)
    assert before == await store.latest_event_id()
    for _ in range(3):
        await store.heartbeat("a1")
    assert events_in_the_database_file(db_path, tmp_path) == before  # all of it still only in the WAL
    await store.heartbeat("a1")
    assert store._checkpoint is not None
    await store._checkpoint
    assert events_in_the_database_file(db_path, tmp_path) == await store.latest_event_id()
    assert store._commits == 0


def test_stores_opened_together_take_their_first_checkpoints_at_different_times(db_path):
    firsts = [base.Database(db_path)._next_checkpoint for _ in range(50)]
    assert all(1 <= n <= base.CHECKPOINT_EVERY for n in firsts)
    assert len(set(firsts)) > 10


async def test_writes_and_reads_never_wait_for_a_checkpoint(agents, monkeypatch):
    """Checkpoints run on a connection of their own: a long one (a slow fsync) holds up nothing."""
    store = agents
    monkeypatch.setattr(base, "CHECKPOINT_EVERY", 1)
    await store._checkpoint_wal(store._writer)  # a known start: the next commit checkpoints
    await store.heartbeat("a1")
    await store._checkpoint  # the checkpoint connection is open now
    release = threading.Event()
    fsync = asyncio.ensure_future(store._checkpointer.call(release.wait, 30))
    try:
        await asyncio.wait_for(store.heartbeat("a1"), 10)  # quick, and it starts another checkpoint
        assert not store._checkpoint.done()
        task = await asyncio.wait_for(store.enqueue_task(description="t"), 10)  # on the writer thread
        assert (await asyncio.wait_for(store.get_task(task.id), 10)).description == "t"
        assert not fsync.done() and not store._checkpoint.done()
    finally:
        release.set()
        await fsync
    await store._checkpoint


async def test_a_checkpoint_that_cannot_open_its_connection_loses_nothing(agents, monkeypatch):
    store = agents
    if store._checkpoint is not None:  # the fixture's writes started one (the first comes after 1 to 100)
        await store._checkpoint
    if store._checkpointer is not None:  # and it opened its connection: this test needs none open yet
        await store._checkpointer.close()
        store._checkpointer = None

    def refuse(path):
        def connect():
            raise sqlean.OperationalError("unable to open database file")
        return connect

    monkeypatch.setattr(base, "_connector", refuse)
    await store._checkpoint_wal()  # the WAL keeps everything for the next one
    assert store._checkpointer is None
    assert (await store.heartbeat("a1")).name == "a1"


async def test_closing_the_store_checkpoints_what_it_wrote(db_path, tmp_path, clock):
    from swarmdeck.store import open_store

    first = await open_store(db_path, create=True, clock=clock)
    keeps_the_wal = await open_store(db_path, clock=clock)  # so closing is not the last close
    try:
        await first.register_agent("short-lived", agent_type="coder")  # what one CLI command does
        latest = await first.latest_event_id()
        await first.close()
        assert events_in_the_database_file(db_path, tmp_path) == latest
    finally:
        await keeps_the_wal.close()


FROZEN_WRITER = """
import fcntl, os, signal, sys

STORE_BACKENDS = ("sqlite", "postgres")
fd = os.open(sys.argv[1] + "-writers", os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("holding", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)  # frozen while it holds the lock, as under a debugger
"""


@pytest.mark.parametrize("write", ["heartbeat", "enqueue"])
async def test_a_frozen_writer_holding_the_host_lock_makes_writes_busy_after_the_timeout(agents, db_path, write):
    """A stopped swarmdeck process that holds the host lock never lets go: a write gives up with Busy
    once its timeout has passed, changing nothing, and writes go on once the lock is free."""
    import subprocess
    import sys
    import time

    store = agents
    task = await store.enqueue_task(description="t")
    store.busy_timeout_ms = 300
    mark = await store.latest_event_id()
    frozen = subprocess.Popen([sys.executable, "-c", FROZEN_WRITER, str(db_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert frozen.stdout.readline() == "holding\n"
        started = time.monotonic()
        with pytest.raises(Busy, match="stayed locked by another swarmdeck writer for 300 ms"):
            await asyncio.wait_for(hot_write(store, write, task.id), 20)
        assert time.monotonic() - started < 5
        assert await store.changes_since(mark) == []
        # A second write finds the first one's wait still queued in flock(2), and gives up in time too.
        with pytest.raises(Busy):
            await asyncio.wait_for(hot_write(store, write, task.id), 20)
    finally:
        frozen.kill()
        frozen.wait()
    await asyncio.wait_for(hot_write(store, write, task.id), 20)
    assert len(await store.changes_since(mark)) >= 1


async def test_writers_queued_behind_an_outside_writer_all_give_up_after_one_timeout(agents, db_path):
    """Five stores (five processes, as far as both locks can tell) write while the sqlite3 shell holds
    SQLite's lock: each gives up one timeout after it started, not one timeout after the one before."""
    import time

    from swarmdeck.store import open_store

    stores = [await open_store(db_path) for _ in range(5)]
    other = sqlean.connect(str(db_path), isolation_level=None)
    try:
        for s in stores:
            s.busy_timeout_ms = 1000
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()

        async def register(s, i):
            with pytest.raises(Busy):
                await s.register_agent(f"w{i}", agent_type="coder")
            return time.monotonic() - started

        waited = await asyncio.wait_for(asyncio.gather(*(register(s, i) for i, s in enumerate(stores))), 30)
        other.execute("ROLLBACK")
        assert max(waited) < 2.5, waited  # one after another would be 1, 2, 3, 4 and 5 s
        assert [a.name for a in await agents.list_agents() if a.name.startswith("w")] == []
    finally:
        other.close()
        for s in stores:
            await s.close()


def test_no_private_api_of_aiosqlite_anywhere():
    """The store owns its writer (a connection and a thread): nothing in store/ or tests/ reaches into
    an aiosqlite object's private attributes."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    private = re.compile(r"\._(conn|thread|execute)\b")
    found = [f"{path.relative_to(root)}:{n}: {line.strip()}"
             for folder in ("store", "tests") for path in sorted((root / folder).rglob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if private.search(line) and "private = re.compile" not in line]
    assert found == []


async def test_a_write_cancelled_while_running_on_the_writer_thread_ends_whole_before_the_next(agents):
    """The writer's thread runs a transaction to its end even if its caller stops waiting; the write
    lock is held until then, so the next write never finds the connection inside a transaction."""
    store = agents
    started, release = threading.Event(), threading.Event()

    def slow(tx):
        tx.event(EventKind.AGENT_ACTION, "agent", "tester", {"action": "slow"})
        started.set()
        release.wait(30)

    call = asyncio.create_task(store._write("tester", slow))
    assert await asyncio.to_thread(started.wait, 10)
    call.cancel()
    nxt = asyncio.create_task(store.heartbeat("a1"))
    await asyncio.sleep(0)
    assert not nxt.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert (await nxt).name == "a1"
    assert [e.payload["action"] for e in await store.events(kind=EventKind.AGENT_ACTION)] == ["slow"]


async def test_only_the_kinds_the_feed_names_are_written(agents):
    """The change feed's contract (store/events.py) is enforced where events are written: a kind it
    does not name is refused, and the transaction writes nothing."""
    store = agents
    mark = await store.latest_event_id()

    def stray(tx):
        tx.run("UPDATE agents SET completion = 50 WHERE name = 'a1'")
        tx.event("task.teleported", "task", 1)

    with pytest.raises(ValueError, match="task.teleported"):
        await store._write("tester", stray)
    assert await store.changes_since(mark) == []
    assert (await store.get_agent("a1")).completion == 0
