"""The claim path at the speed of its SQL: what one claim and one completion issue, the queue sampled
once a second rather than in every write, the writer's busy timeout set once, and a writer waiting
for a frozen holder of the host lock that never keeps its process alive."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest
import sqlean

from swarmdeck.store import TaskStatus, open_store
from swarmdeck.store.errors import Busy, InvalidTransition, PermissionDenied

from support import wait_for


def _shape(sql: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"'[^']*'|\b\d+(\.\d+)?\b", "?", sql)).strip()


async def _traced(store, call) -> list[str]:
    seen: list[str] = []
    store._writer.raw.set_trace_callback(seen.append)
    try:
        await call()
    finally:
        store._writer.raw.set_trace_callback(None)
    # A statement is traced again for each trigger it fires (with its own text): count it once.
    shapes = [_shape(s) for s in seen]
    return [s for i, s in enumerate(shapes) if i == 0 or s != shapes[i - 1]]


async def test_a_claim_and_a_completion_issue_only_what_they_write(agents):
    """A claim: the pause flag (with the newest event, the gates' mark and the agent), the claim
    itself (RETURNING the row), the agent's status and the event. A completion: the update (RETURNING
    the row, whether anything waits on it, the newest event), the agent and the event. No task is read
    again, no prerequisites of a task without any, no release query when nothing waits on it."""
    store = agents
    for i in range(3):
        await store.enqueue_task(description=f"t{i}")
    first = await store.claim_task(agent="a1")
    await store.complete_task(first.id, agent="a1")  # the queue sample of this second is taken

    claimed: list = []

    async def claim():
        claimed.append(await store.claim_task(agent="a1"))

    claim_sql = await _traced(store, claim)
    complete_sql = await _traced(store, lambda: store.complete_task(claimed[0].id, agent="a1"))
    assert [s.split(" ")[0] for s in claim_sql] == ["BEGIN", "SELECT", "UPDATE", "UPDATE", "INSERT", "COMMIT"]
    assert [s.split(" ")[0] for s in complete_sql] == ["BEGIN", "UPDATE", "UPDATE", "INSERT", "COMMIT"]
    assert "FROM agents" in claim_sql[1] and "FROM events" in claim_sql[1]
    assert "RETURNING *" in claim_sql[2] and "RETURNING *" in complete_sql[1]
    assert not any("busy_timeout" in s or "queue_samples" in s for s in claim_sql + complete_sql)
    # and what they return is the task as a read finds it
    done = await store.get_task(claimed[0].id)
    assert claimed[0].status is TaskStatus.RUNNING and done.status is TaskStatus.COMPLETED
    assert (claimed[0].id, claimed[0].assigned_agent, claimed[0].started_at) == (done.id, done.assigned_agent, done.started_at)


async def test_what_a_claim_and_a_completion_return_is_what_get_task_reads(agents):
    """Built from the rows the UPDATEs returned, prerequisites included (read only for a task that
    has some), they equal the task as read afterwards, field for field."""
    store = agents
    a = await store.enqueue_task(description="a", input_data={"k": [1, 2]})
    b = await store.enqueue_task(description="b", prerequisites=[a.id])
    got = await store.claim_task(agent="a1")
    assert got == await store.get_task(a.id)
    done = await store.complete_task(a.id, agent="a1", result={"ok": True})
    assert done == await store.get_task(a.id)
    assert (await store.get_task(b.id)).status is TaskStatus.READY  # released: something waited on a
    got = await store.claim_task(agent="a1")
    assert got.prerequisites == (a.id,) and got == await store.get_task(b.id)
    done = await store.complete_task(b.id, agent="a1")
    assert done.prerequisites == (a.id,) and done == await store.get_task(b.id)


async def test_a_refused_completion_changes_nothing(agents):
    """The update comes first; the owner check after it refuses, and the whole transaction (update
    included) rolls back. A task that is not running is refused with the reason, also unchanged."""
    store = agents
    t = await store.enqueue_task(description="t")
    await store.claim_task(agent="a1")
    mark = await store.latest_event_id()
    with pytest.raises(PermissionDenied, match=f"task {t.id} is assigned to a1, not a2"):
        await store.complete_task(t.id, agent="a2")
    assert (await store.get_task(t.id)).status is TaskStatus.RUNNING
    assert (await store.get_agent("a1")).current_task_id == t.id
    assert await store.changes_since(mark) == []
    u = await store.enqueue_task(description="u")
    with pytest.raises(InvalidTransition, match=f"{u.id} is ready; only running tasks can be completed"):
        await store.complete_task(u.id, agent="a1")
    assert (await store.get_task(u.id)).status is TaskStatus.READY


def _sample(db_path) -> tuple | None:
    conn = sqlean.connect(str(db_path))
    try:
        return conn.execute("SELECT ready, running FROM queue_samples ORDER BY slot DESC LIMIT 1").fetchone()
    finally:
        conn.close()


async def test_the_queue_is_sampled_once_a_second_and_the_rest_follows(db_path, clock):
    """The first change samples in its own transaction; changes within the next second do not, and
    a timer, the queue chart or the close samples them (the chart and the file agree at once)."""
    from swarmdeck.store.charts import Window

    store = await open_store(db_path, create=True, clock=clock)
    try:
        await store.enqueue_task(description="first")
        assert _sample(db_path) == (1, 0)
        for i in range(4):
            await store.enqueue_task(description=f"t{i}")
        assert _sample(db_path) == (1, 0)  # not in every write
        chart = await store.chart_queue_depth(Window(clock.now - 60, 60, 2), now=clock.now + 120)
        assert chart.ready[-1] == 5 and _sample(db_path) == (5, 0)  # the chart took this store's last second
        await store.register_agent("a1", agent_type="coder")
        await store.claim_task(agent="a1")
        assert _sample(db_path) == (5, 0)
        await wait_for(lambda: _sample(db_path) == (4, 1), "the timer's sample", tries=300)
        await store.claim_task(agent="a1")
        clock.advance(5)
        await store.claim_task(agent="a1")  # a second later: sampled in its own transaction
        assert _sample(db_path) == (2, 3)
        clock.advance(0.5)
        await store.claim_task(agent="a1")
    finally:
        await store.close()
    assert _sample(db_path) == (1, 4)  # the close took the last change


FROZEN = """
import fcntl, os, signal, sys

STORE_BACKENDS = ("sqlite", "postgres")
fd = os.open(sys.argv[1] + "-writers", os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("holding", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"""

WRITER = textwrap.dedent("""
    import asyncio, sys, time
    from swarmdeck.store import open_store
    from swarmdeck.store.errors import Busy

    async def main():
        store = await open_store(sys.argv[1])
        store.busy_timeout_ms = 300
        try:
            await store.heartbeat("a1")
        except Busy:
            print("busy", flush=True)
        finally:
            await store.close()

    asyncio.run(main())
""")


def test_a_process_whose_write_gave_up_on_a_frozen_holder_still_exits(db_path):
    """Its writer's thread still waits in flock(2) for the frozen process when the store closes; that
    wait neither blocks the close nor keeps the process alive."""
    import asyncio

    async def seed():
        store = await open_store(db_path, create=True)
        await store.register_agent("a1", agent_type="coder")
        await store.close()

    asyncio.run(seed())
    frozen = subprocess.Popen([sys.executable, "-c", FROZEN, str(db_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert frozen.stdout.readline() == "holding\n"
        done = subprocess.run([sys.executable, "-c", WRITER, str(db_path)], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout == "busy\n"
    finally:
        frozen.kill()
        frozen.wait()


async def test_the_writer_busy_timeout_is_set_once(agents, db_path):
    """Writes that run on the loop and writes that queue on the writer's thread (here behind an
    outside writer of SQLite's lock) never set the busy timeout again: the writer's is 0 for good."""
    store = agents
    seen: list[str] = []
    store._writer.raw.set_trace_callback(seen.append)
    other = sqlean.connect(str(db_path), isolation_level=None)
    try:
        await store.heartbeat("a1")
        other.execute("BEGIN IMMEDIATE")
        store.busy_timeout_ms = 50
        with pytest.raises(Busy):
            await store.heartbeat("a1")
        other.execute("ROLLBACK")
        await store.enqueue_task(description="on the thread")
        await store.heartbeat("a1")
    finally:
        store._writer.raw.set_trace_callback(None)
        other.close()
    assert seen and not [s for s in seen if "busy_timeout" in s]
    assert store._writer.raw.execute("PRAGMA busy_timeout").fetchone()[0] == 0


async def test_a_new_database_has_small_pages_and_an_old_one_keeps_its_own(tmp_path):
    """New databases are made with 2 KiB pages (a commit appends fewer bytes to the WAL); a database
    made with SQLite's default 4 KiB keeps them (the pragma is a no-op on a written file) and works."""
    new = tmp_path / "new.db"
    store = await open_store(new, create=True)
    await store.close()
    assert sqlean.connect(str(new)).execute("PRAGMA page_size").fetchone()[0] == 2048

    old = tmp_path / "old.db"
    conn = sqlean.connect(str(old))
    conn.execute("PRAGMA page_size = 4096")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    store = await open_store(old, create=True)
    try:
        await store.register_agent("a1", agent_type="coder")
        await store.enqueue_task(description="t")
        assert (await store.claim_task(agent="a1")).description == "t"
    finally:
        await store.close()
    assert sqlean.connect(str(old)).execute("PRAGMA page_size").fetchone()[0] == 4096


async def test_each_slot_keeps_the_counts_its_last_change_left(db_path, clock):
    """A change left due in one 10 s slot is written into that slot by the first write of the next
    (before that write's own changes): every slot's sample is the queue after its last change."""
    store = await open_store(db_path, create=True, clock=clock)
    try:
        await store.enqueue_task(description="first")  # sampled: 1 ready
        for i in range(3):
            await store.enqueue_task(description=f"t{i}")  # due: 4 ready
        slot = int(clock.now // 10)
        clock.advance(10)
        await store.enqueue_task(description="next slot")
        conn = sqlean.connect(str(db_path))
        try:
            rows = dict(conn.execute("SELECT slot, ready FROM queue_samples").fetchall())
        finally:
            conn.close()
        assert rows == {slot: 4, slot + 1: 5}
    finally:
        await store.close()
