"""Several PostgreSQL stores claiming from one queue at once: each store has its own writer connection
and thread, so their claim statements really overlap on the server (``FOR UPDATE SKIP LOCKED``). What
is checked is the store's promise, not timing: every ready task goes to exactly one agent, never one
whose prerequisites have not completed, and each agent's claims come in priority order."""

from __future__ import annotations

import asyncio
from collections import Counter

from swarmdeck.store import TaskStatus, open_store
from swarmdeck.store.errors import CycleError, InvalidArgument

from support import wait_for

STORES = 6
TASKS = 120


async def _open_stores(url: str, n: int) -> list:
    stores = []
    try:
        for i in range(n):
            store = await open_store(url)
            await store.register_agent(f"w{i}", agent_type="coder")
            stores.append(store)
    except BaseException:
        for s in stores:
            await s.close()
        raise
    return stores


async def _feed(store, kind: str, at_least: int) -> Counter:
    """The tasks named by events of ``kind`` in the feed, once at least ``at_least`` are there: other
    stores' events reach it when their writers have sealed them, just after their commits."""
    seen: Counter = Counter()

    async def enough() -> bool:
        nonlocal seen
        seen = Counter(e.entity_id for e in await store.events(kind=kind, limit=10_000))
        return sum(seen.values()) >= at_least

    await wait_for(enough, f"{at_least} {kind} events in the feed", tries=500)
    return seen


async def test_stores_claiming_from_one_queue_never_claim_a_task_twice(pg_store_url):
    async with await open_store(pg_store_url, create=True) as setup:
        ids = [(await setup.enqueue_task(description=f"t{i}", base_priority=(i * 7) % 11)).id
               for i in range(TASKS)]
    stores = await _open_stores(pg_store_url, STORES)
    start = asyncio.Event()

    async def worker(i: int, store) -> list:
        got = []
        await start.wait()
        while True:
            task = await store.claim_task(agent=f"w{i}")
            if task is None:
                return got
            assert task.status is TaskStatus.RUNNING and task.assigned_agent == f"w{i}"
            got.append(task)

    try:
        runs = [asyncio.ensure_future(worker(i, s)) for i, s in enumerate(stores)]
        start.set()
        claimed = await asyncio.wait_for(asyncio.gather(*runs), timeout=120)
        ids_claimed = Counter(t.id for got in claimed for t in got)
        assert [i for i, n in ids_claimed.items() if n > 1] == []  # no task handed out twice
        assert sorted(ids_claimed) == sorted(ids)  # and none left behind
        assert sum(1 for got in claimed if got) > 1  # the stores really shared the queue
        for got in claimed:  # each agent took the best task left each time
            priorities = [t.priority for t in got]
            assert priorities == sorted(priorities, reverse=True)
        # What the database says agrees: each task running, held by the agent that was told it got it.
        check = stores[0]
        owner = {t.id: f"w{i}" for i, got in enumerate(claimed) for t in got}
        tasks = await check.list_tasks(limit=100_000)
        assert {t.id: (t.status, t.assigned_agent) for t in tasks} == {
            i: (TaskStatus.RUNNING, owner[i]) for i in ids}
        claims = await _feed(check, "task.claimed", len(ids))
        assert claims == Counter({str(i): 1 for i in ids})
    finally:
        for s in stores:
            await s.close()


async def test_stores_working_through_chains_never_claim_before_the_prerequisites_complete(pg_store_url):
    """Chains of tasks, each waiting on the one before: workers claim and complete concurrently, and a
    task is only ever handed out once everything it waits on has completed."""
    chains, length = 8, 6
    async with await open_store(pg_store_url, create=True) as setup:
        prerequisites: dict[int, tuple[int, ...]] = {}
        for c in range(chains):
            before: list[int] = []
            for k in range(length):
                t = await setup.enqueue_task(description=f"c{c}.{k}", prerequisites=before[-1:])
                prerequisites[t.id] = t.prerequisites
                before.append(t.id)
    stores = await _open_stores(pg_store_url, STORES)
    completed: set[int] = set()
    violations: list[tuple[int, int, str]] = []

    async def worker(i: int, store) -> int:
        done = 0
        idle = 0
        while len(completed) < chains * length:
            task = await store.claim_task(agent=f"w{i}")
            if task is None:  # the heads of the chains are all running: wait for one to complete
                idle += 1
                assert idle < 5_000, "no task became ready for 10 s"
                await asyncio.sleep(0.002)
                continue
            # Its prerequisites' completions committed before it became ready: any read sees them.
            for p in prerequisites[task.id]:
                status = (await store.get_task(p)).status
                if status is not TaskStatus.COMPLETED:
                    violations.append((task.id, p, status.value))
            await store.complete_task(task.id, agent=f"w{i}")
            completed.add(task.id)
            done += 1
        return done

    try:
        runs = asyncio.gather(*(worker(i, s) for i, s in enumerate(stores)))
        done = await asyncio.wait_for(runs, timeout=120)
        assert violations == []
        assert sum(done) == chains * length and len(completed) == chains * length
        status = await stores[0].queue_status()
        assert status.counts["completed"] == chains * length and status.total == chains * length
    finally:
        for s in stores:
            await s.close()


async def test_a_task_waiting_on_two_prerequisites_completed_at_once_becomes_ready(pg_store_url):
    """Two stores complete a task's two prerequisites at the same moment: each completion sees the other
    still running when it looks, unless one waits for the other; the task must not stay blocked."""
    pairs = 40
    stores = await _open_stores(pg_store_url, 2)
    try:
        a_store, b_store = stores
        waiting = []
        for i in range(pairs):
            a = await a_store.enqueue_task(description=f"a{i}", agent_type="a")
            b = await a_store.enqueue_task(description=f"b{i}", agent_type="b")
            waiting.append((a.id, b.id, (await a_store.enqueue_task(description=f"d{i}",
                                                                      prerequisites=[a.id, b.id])).id))
        for a, b, _ in waiting:
            assert (await a_store.claim_task(agent="w0", agent_type="a")).id == a
            assert (await b_store.claim_task(agent="w1", agent_type="b")).id == b
        for a, b, d in waiting:
            await asyncio.gather(a_store.complete_task(a, agent="w0"), b_store.complete_task(b, agent="w1"))
        statuses = {t.id: t.status for t in await a_store.tasks_by_ids([d for _, _, d in waiting])}
        assert [d for d, s in statuses.items() if s is not TaskStatus.READY] == []
    finally:
        for s in stores:
            await s.close()


async def test_a_task_enqueued_while_its_prerequisite_completes_is_not_left_blocked(pg_store_url):
    """One store enqueues a task on a prerequisite another store is completing at that moment: either
    the new task sees the completion, or the completion sees the new task; never neither."""
    rounds = 40
    stores = await _open_stores(pg_store_url, 2)
    try:
        maker, worker = stores
        made = []
        for i in range(rounds):
            p = await maker.enqueue_task(description=f"p{i}")
            assert (await worker.claim_task(agent="w1")).id == p.id
            _, t = await asyncio.gather(worker.complete_task(p.id, agent="w1"),
                                        maker.enqueue_task(description=f"t{i}", prerequisites=[p.id]))
            made.append(t.id)
            assert (await maker.claim_task(agent="w0")).id == t.id  # ready: claimed at once
            await maker.complete_task(t.id, agent="w0")
        assert len(made) == rounds
    finally:
        for s in stores:
            await s.close()


async def test_a_task_enqueued_while_its_prerequisite_is_cancelled_is_cancelled_or_refused(pg_store_url):
    """One store cancels a task while another enqueues a task on something that waits on it: the new
    task is refused (its prerequisite is cancelled) or cancelled in the cascade; never left waiting on
    a cancelled task."""
    rounds = 40
    stores = await _open_stores(pg_store_url, 2)
    try:
        canceller, maker = stores
        for i in range(rounds):
            root = await canceller.enqueue_task(description=f"root{i}")
            child = await canceller.enqueue_task(description=f"child{i}", prerequisites=[root.id])
            enqueue = maker.enqueue_task(description=f"new{i}", prerequisites=[child.id])
            outcome = await asyncio.gather(canceller.cancel_task(root.id), enqueue, return_exceptions=True)
            made = outcome[1]
            if isinstance(made, BaseException):
                assert isinstance(made, InvalidArgument) and "cancelled" in str(made), made
            else:
                assert (await maker.get_task(made.id)).status is TaskStatus.CANCELLED
                assert made.id in outcome[0].cascaded_task_ids
    finally:
        for s in stores:
            await s.close()


async def test_stores_reaping_at_once_retry_each_expired_task_once(pg_store_url, clock):
    """Every claim reaps now and then, so many stores reap at the same moment: each task whose lease ran
    out is retried once, by one of them."""
    n = 30
    stores = []
    try:
        for i in range(3):
            stores.append(await open_store(pg_store_url, clock=clock))
        await stores[0].register_agent("w0", agent_type="coder")
        ids = [(await stores[0].enqueue_task(description=f"t{i}", timeout_seconds=1)).id for i in range(n)]
        for _ in ids:
            assert await stores[0].claim_task(agent="w0") is not None
        clock.advance(10)
        reaped = await asyncio.gather(*(s.reap_timeouts() for s in stores))
        by = Counter(t.id for got in reaped for t in got)
        assert by == Counter({i: 1 for i in ids})  # each reaped by exactly one store
        tasks = await stores[0].tasks_by_ids(ids)
        assert {(t.status, t.retry_count) for t in tasks} == {(TaskStatus.READY, 1)}
        retried = await _feed(stores[0], "task.retried", n)
        assert retried == Counter({str(i): 1 for i in ids})
    finally:
        for s in stores:
            await s.close()


async def test_two_dependencies_added_at_once_never_close_a_cycle(pg_store_url):
    """Each of two new dependencies is fine alone and together they close a cycle (b -> a -> d -> c -> b):
    added at the same moment by two stores, at most one of them is made."""
    rounds = 30
    stores = await _open_stores(pg_store_url, 2)
    try:
        one, other = stores
        for i in range(rounds):
            a, b, c, d = [(await one.enqueue_task(description=f"{x}{i}")).id for x in "abcd"]
            await one.add_dependency(c, b)  # c waits on b
            await one.add_dependency(a, d)  # a waits on d
            outcome = await asyncio.gather(one.add_dependency(b, a), other.add_dependency(d, c),
                                           return_exceptions=True)
            made = [o for o in outcome if not isinstance(o, BaseException)]
            refused = [o for o in outcome if isinstance(o, BaseException)]
            assert len(made) == 1, outcome
            assert isinstance(refused[0], CycleError), refused  # the second to come sees the first
    finally:
        for s in stores:
            await s.close()


async def test_a_task_enqueued_while_a_failure_upstream_holds_is_held_too(pg_store_url):
    """One store fails a task for good while another enqueues a task on something waiting on it: the new
    task says it is held by that failure, whichever came first."""
    rounds = 30
    stores = await _open_stores(pg_store_url, 2)
    try:
        failer, maker = stores
        for i in range(rounds):
            f = await failer.enqueue_task(description=f"f{i}", max_retries=0)
            d = await failer.enqueue_task(description=f"d{i}", prerequisites=[f.id])
            assert (await failer.claim_task(agent="w0")).id == f.id
            _, t = await asyncio.gather(failer.fail_task(f.id, agent="w0", error="broke"),
                                        maker.enqueue_task(description=f"t{i}", prerequisites=[d.id]))
            assert [(x.id, x.held_by) for x in await maker.tasks_by_ids([d.id, t.id])] == [
                (d.id, f.id), (t.id, f.id)]
    finally:
        for s in stores:
            await s.close()


async def test_a_task_enqueued_while_the_failure_holding_it_is_retried_is_not_left_held(pg_store_url):
    """One store retries a failed task while another enqueues a task on something it holds: afterwards
    nothing is held by a task that is no longer failed."""
    rounds = 30
    stores = await _open_stores(pg_store_url, 2)
    try:
        retrier, maker = stores
        for i in range(rounds):
            f = await retrier.enqueue_task(description=f"f{i}", max_retries=0)
            d = await retrier.enqueue_task(description=f"d{i}", prerequisites=[f.id])
            assert (await retrier.claim_task(agent="w0")).id == f.id
            await retrier.fail_task(f.id, agent="w0", error="broke")
            _, t = await asyncio.gather(retrier.retry_task(f.id),
                                        maker.enqueue_task(description=f"t{i}", prerequisites=[d.id]))
            assert [(x.id, x.held_by) for x in await maker.tasks_by_ids([d.id, t.id])] == [
                (d.id, None), (t.id, None)]
            await retrier.cancel_task(f.id)  # out of the next round's way
    finally:
        for s in stores:
            await s.close()
