"""Replay is right: a live run of random operations records, after each one, what the store showed (read
through the store's API from the live tables, never from the events), keyed by its newest event id; a
replay opened on the same database then shows the very same at every recorded point it seeks or steps
to, field by field. Also: writes refused, steps by kind, seeks by time, and the cache extended."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from swarmdeck.store import open_store
from swarmdeck.store.errors import PermissionDenied, StoreError
from swarmdeck.store.replay import Step, open_replay
from swarmdeck.store.replay.engine import cache_path, export_replay

from signing_support import close, decide, register, resume

STORE_BACKENDS = ("sqlite", "postgres")

AGENTS = ("ada", "bo", "cy")
#: The operations of a live run, and how often each is tried.
WEIGHTS = (("enqueue", 8), ("claim", 8), ("complete", 6), ("fail", 3), ("escalate", 1), ("retry", 2),
           ("heartbeat", 3), ("update", 2), ("cancel", 1), ("priority", 2), ("report", 2), ("decide", 2),
           ("resume", 1), ("close", 1), ("replan", 1), ("memory", 4), ("action", 2), ("register", 1))
OPS = tuple(op for op, _ in WEIGHTS)
TYPES = ("general", "testing")


def _ts(value: datetime | None) -> float | None:
    return None if value is None else round(value.timestamp(), 6)


async def project(store: Any) -> dict[str, Any]:
    """What a person sees, through the store's API."""
    tasks = await store.list_tasks(limit=10_000)
    agents = await store.list_agents()
    milestones = await store.list_milestones()
    queue = await store.queue_status()
    state = await store.swarm_state()
    gates = {}
    for m in milestones:
        report = await store.get_report(m.id)
        decision = await store.latest_decision(m.id)
        status = await store.gate_status(m.id)
        gates[m.id] = (None if report is None else (report.version, report.content_hash),
                       None if decision is None else (decision.id, decision.decision, decision.reviewer),
                       tuple((c.id, c.text, c.status) for c in status.conditions))
    memories = await store.list_memories(include_deleted=True, limit=1000)
    return {
        "latest": await store.latest_event_id(),
        "events": tuple(e.id for e in await store.events(limit=20)),
        "tasks": {t.id: (t.status, t.assigned_agent, t.priority, t.base_priority, t.retry_count, t.held_by,
                         t.error_message, _ts(t.started_at), _ts(t.finished_at), t.prerequisites, t.result_data)
                  for t in tasks},
        "queue": (queue.counts, queue.total, queue.average_priority, queue.oldest_pending, queue.paused,
                  queue.held_by_failure),
        "agents": {a.name: (a.agent_type, a.status, a.current_task_id, a.completion, a.blockers, a.next_milestone,
                            _ts(a.last_heartbeat), a.stale, a.heartbeat_age_seconds) for a in agents},
        "milestones": {m.id: (m.name, m.status, m.plan_state, round(m.hours_spent, 9)) for m in milestones},
        "gates": gates,
        "paused": (state.paused, state.reason),
        "memory": sorted((e.namespace, e.key, e.version, e.value, e.deleted_at is not None) for e in memories),
        # The memory screen's list (nothing typed): the search items as they stood, newest first (the
        # item ids are the cache's own, so not compared), and how many there were.
        "recent": [(h.kind, h.ref_id, h.namespace, h.title, h.snippet, h.memory_type, h.agent, h.task_id,
                    _ts(h.created_at)) for h in await store.recent(limit=100)],
        "index": (await store.index_status(None)).entries,
        "reviewers": sorted((r.name, r.removed_at is not None) for r in await store.list_reviewers()),
    }


def differences(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """Each part of the projection that differs, down to the row."""
    found = []
    for part in want:
        if got.get(part) == want[part]:
            continue
        if isinstance(want[part], dict) and isinstance(got.get(part), dict):
            for key in sorted(set(want[part]) | set(got[part]), key=str):
                if got[part].get(key) != want[part].get(key):
                    found.append(f"{part}[{key}]: replay {got[part].get(key)!r} != live {want[part].get(key)!r}")
        else:
            found.append(f"{part}: replay {got.get(part)!r} != live {want[part]!r}")
    return found


async def live_run(store: Any, clock: Any, steps: int, seed: int) -> dict[int, dict[str, Any]]:
    rng = random.Random(seed)
    seen: dict[int, dict[str, Any]] = {}
    await register(store, "rita")
    await store.add_milestone("M1", acceptance_criteria=["works"])
    await store.add_milestone("M2")
    for name in AGENTS:
        await store.register_agent(name, agent_type=rng.choice(TYPES), stale_after_seconds=40)
    memory_keys: list[str] = []
    refused: list[str] = []
    seen[await store.latest_event_id()] = await project(store)
    for _ in range(steps):
        clock.advance(rng.choice((1, 3, 7, 20, 45)))
        tasks = await store.list_tasks(limit=10_000)
        by_status: dict[str, list[Any]] = {}
        for t in tasks:
            by_status.setdefault(t.status.value, []).append(t)
        agent = rng.choice(AGENTS)
        op = rng.choices(OPS, weights=[w for _, w in WEIGHTS])[0]
        try:
            if op == "enqueue":
                open_ids = [t.id for t in tasks if t.status.value not in ("cancelled", "failed")]
                prereqs = rng.sample(open_ids, k=min(len(open_ids), rng.choice((0, 0, 1, 2))))
                await store.enqueue_task(description=f"task {len(tasks) + 1}", agent_type=rng.choice(TYPES),
                                         base_priority=rng.randint(0, 10), prerequisites=prereqs,
                                         milestone=rng.choice((None, "M1", "M2")), max_retries=rng.choice((0, 1)))
            elif op == "claim":
                await store.claim_task(agent=agent)
            elif op in ("complete", "fail", "escalate") and by_status.get("running"):
                task = rng.choice(by_status["running"])
                who = rng.choice((task.assigned_agent, None))
                if op == "complete":
                    await store.complete_task(task.id, agent=who, result={"n": task.id},
                                              hours=rng.choice((None, 0.5)))
                elif op == "fail":
                    await store.fail_task(task.id, error=f"broke {task.id}", agent=who, retry=rng.random() < 0.5)
                else:
                    await store.escalate_task(task.id, note="help", agent=who)
            elif op == "retry" and by_status.get("failed"):
                await store.retry_task(rng.choice(by_status["failed"]).id)
            elif op == "heartbeat":
                await store.heartbeat(agent, **rng.choice(({}, {"completion": 40.0}, {"blockers": ["disk"]},
                                                           {"status": "blocked"}, {"next_milestone": "M2"})))
            elif op == "update":
                await store.update_agent(agent, completion=float(rng.randint(0, 100)),
                                         blockers=rng.choice(([], ["net"], ["net", "disk"])))
            elif op == "cancel" and (by_status.get("ready") or by_status.get("running")):
                await store.cancel_task(rng.choice(by_status.get("running", []) + by_status.get("ready", [])).id, reason=rng.choice((None, "not needed")))
            elif op == "priority" and by_status.get("ready"):
                await store.set_base_priority(rng.choice(by_status["ready"]).id, rng.randint(0, 10))
            elif op == "report":
                await store.submit_report(rng.choice(("M1", "M1", "M2")), submitted_by=agent, summary="done",
                                          criteria=[{"name": "works", "status": "met", "evidence": "ran"}])
            elif op == "decide":
                decision = rng.choice(("APPROVE", "REVISE", "CONDITIONAL", "ESCALATE"))
                await decide(store, rng.choice(("M1", "M1", "M2")), reviewer="rita", decision=decision,
                             rationale="looked", conditions=("fix docs",) if decision == "CONDITIONAL" else ())
            elif op == "close":
                gate = await store.gate_status("M1")
                for condition in gate.conditions:
                    if condition.status == "open":
                        await close(store, condition.id, closed_by="rita", note="fixed")
            elif op == "resume":
                await resume(store, by="rita", note="go on")
            elif op == "replan":
                await store.replan_milestone("M2", state=rng.choice(("deferred", "active")), by="rita",
                                             reason="scope")
            elif op == "memory":
                choice = rng.random()
                if choice < 0.4 or not memory_keys:
                    key = f"k{len(memory_keys)}"
                    await store.add_memory("notes", key, {"v": 1}, memory_type="semantic", created_by=agent)
                    memory_keys.append(key)
                    if len(memory_keys) % 3 == 0:  # a record too, searchable with the memories
                        await store.log_record("decision", {"decision": f"use {key}", "rationale": "simpler"},
                                               agent=agent)
                elif choice < 0.7:
                    await store.update_memory("notes", rng.choice(memory_keys), {"v": rng.randint(2, 9)},
                                              updated_by=agent)
                elif choice < 0.85:
                    await store.delete_memory("notes", rng.choice(memory_keys), deleted_by=agent)
                else:
                    await store.restore_memory("notes", rng.choice(memory_keys), restored_by=agent)
            elif op == "action":
                await store.log_action(agent, phase="implement", action="edit")
            elif op == "register":
                await store.register_agent(agent, agent_type=rng.choice(TYPES), stale_after_seconds=40)
        except StoreError as exc:
            refused.append(f"{op}: {type(exc).__name__} {str(exc)[:80]}")  # refused: nothing written, the state recorded below is the one before
        if rng.random() < 0.1:
            await store.reap_timeouts()
        latest = await store.latest_event_id()
        if latest not in seen:  # (an operation refused wrote nothing: the clock moved on since that event)
            seen[latest] = await project(store)
    live_run.refused = refused  # type: ignore[attr-defined]
    return seen


async def test_replay_matches_the_live_run_at_every_point(store, clock, db_path, store_backend, tmp_path):
    seen = await live_run(store, clock, steps=140, seed=18)
    live_charts = {key: await store.charts(key) for key in ("1h", "all")}
    source = store_url = getattr(store, "url", None) or db_path
    if store_backend == "postgres":
        source = tmp_path / "pg.replay"
        await export_replay(store_url, source)
    replay = await open_replay(source)
    try:
        assert replay.point.event_id == max(seen)
        points = sorted(seen)
        rng = random.Random(7)
        for event_id in rng.sample(points, k=min(60, len(points))) + points[-3:]:
            point = await replay.seek(event_id)
            assert point.event_id == event_id
            assert differences(await project(replay.store), seen[event_id]) == [], f"at event {event_id}"
        # The charts as they stood (at the newest point: a queue sample's slot shows its last value, so
        # inside a slot the queue-depth chart may run ahead of the live one by up to 10 s).
        await replay.seek(points[-1])
        assert {key: await replay.store.charts(key) for key in ("1h", "all")} == live_charts
        # Keyword search in a replay: the words in the items as they stood (no FTS index is replayed).
        for event_id in (points[len(points) // 3], points[-1]):
            await replay.seek(event_id)
            held = sorted((m[1], m[3]["v"]) for m in seen[event_id]["memory"] if not m[4])
            hits = await replay.store.search("k", mode="keyword", kinds=["memory"], limit=100)
            assert sorted((h.title, json.loads(h.snippet)["v"]) for h in hits) == held
            records = [r for r in seen[event_id]["recent"] if r[0] == "decision"]
            hits = await replay.store.search("simpler", mode="keyword", limit=100)
            assert [(h.kind, h.ref_id) for h in hits] == [(r[0], r[1]) for r in records]
        assert held and records  # (at the newest point, some of each)
        # Stepping back and forth one event at a time lands on the recorded points too.
        await replay.seek(points[len(points) // 2])
        for forward in (True, False):
            for _ in range(25):
                point = await replay.step(forward=forward)
                if point.event_id in seen:
                    assert differences(await project(replay.store), seen[point.event_id]) == []
    finally:
        await replay.close()


async def test_replay_refuses_writes_and_steps_by_kind(store, clock, db_path):
    seen = await live_run(store, clock, steps=80, seed=3)
    # A PostgreSQL database is replayed directly here (through a cache of its own, dropped at close).
    replay = await open_replay(getattr(store, "url", None) or db_path, at=min(seen))
    try:
        with pytest.raises(PermissionDenied):
            await replay.store.enqueue_task(description="no")
        with pytest.raises(PermissionDenied):
            await replay.store.heartbeat("ada")
        assert replay.store.clock() == replay.point.ts.timestamp()
        for by, kind in ((Step.FAILURE, "task.failed"), (Step.DECISION, "gate.decided"),
                         (Step.REPORT, "gate.report_submitted")):
            await replay.seek(replay.point.first_id)
            moved = await replay.step(by)
            if moved.event_id != replay.point.first_id:
                assert moved.kind == kind
                await replay.seek(replay.point.last_id)
                back = await replay.step(by, forward=False)
                assert back.kind == kind and back.event_id >= moved.event_id
        # A stale step lands where some agent had gone stale at that event's time, and was not before.
        await replay.seek(replay.point.first_id)
        moved = await replay.step(Step.STALE)
        if moved.event_id != replay.point.first_id:
            assert any(a.stale for a in await replay.store.list_agents())
        # By time: the last event at or before it.
        middle = sorted(seen)[len(seen) // 2]
        at = (await replay.seek(middle)).ts
        assert (await replay.seek(at)).ts == at
        assert (await replay.seek(datetime(1990, 1, 1, tzinfo=UTC))).event_id == replay.point.first_id
        assert (await replay.seek(10**9)).event_id == replay.point.last_id
        assert all(e.id <= replay.point.event_id for e in await replay.store.events(limit=50))
    finally:
        await replay.close()


async def test_the_cache_is_extended_by_later_events(db_path, clock):
    store = await open_store(db_path, create=True, clock=clock)
    try:
        await store.register_agent("ada", agent_type="general")
        task = await store.enqueue_task(description="first")
        replay = await open_replay(db_path)
        await replay.close()
        assert cache_path(db_path).exists()
        await store.claim_task(agent="ada")
        live = await store.get_task(task.id)
        replay = await open_replay(db_path)
        try:
            assert replay.point.event_id == await store.latest_event_id()
            assert (await replay.store.get_task(task.id)).status == live.status
        finally:
            await replay.close()
    finally:
        await store.close()


async def test_opening_a_replay_reads_its_source_over_one_connection(db, clock, monkeypatch):
    """A later replay (its cache there: checked to be of the same history, then extended) reads the
    source over one connection, not one for the check and another for the extension: a server's is a
    login each, paid each time a dashboard enters replay."""
    import psycopg

    from swarmdeck.store.replay.source import Source

    async def enqueue(description: str) -> int:
        store = await open_store(db, clock=clock)
        try:
            await store.enqueue_task(description=description)
            return await store.latest_event_id()
        finally:
            await store.close()

    await enqueue("first")
    await (await open_replay(db)).close()  # the cache made
    newest = await enqueue("second")

    sources: list[Any] = []
    logins: list[str] = []
    source_init, connect = Source.__init__, psycopg.connect

    def counted_source(self, *args, **kwargs):
        sources.append(args)
        source_init(self, *args, **kwargs)

    def counted_login(conninfo="", *args, **kwargs):
        if conninfo == db:  # the source's server (the stores here are closed)
            logins.append(conninfo)
        return connect(conninfo, *args, **kwargs)

    monkeypatch.setattr(Source, "__init__", counted_source)
    monkeypatch.setattr(psycopg, "connect", counted_login)
    replay = await open_replay(db)
    try:
        assert replay.point.event_id == newest  # extended by the new event
    finally:
        await replay.close()
    assert len(sources) == 1, sources
    assert len(logins) == (1 if isinstance(db, str) else 0), logins


@pytest.fixture
def cache_builds(monkeypatch) -> list:
    """The caches built anew (not extended) during the test, by the path each was built at."""
    from swarmdeck.store.replay import engine

    built: list = []
    new_cache = engine._new_cache

    async def counted(path):
        built.append(path)
        await new_cache(path)

    monkeypatch.setattr(engine, "_new_cache", counted)
    return built


async def test_a_cache_of_another_history_is_built_again(db_path, clock):
    """A database made anew where another was (deleted, or restored from a backup) keeps the path, and so
    the cache's name: its replay shows its own history, not the cache's (which a new database, with fewer
    events, looked like it had only to extend)."""
    store = await open_store(db_path, create=True, clock=clock)
    try:
        for n in range(5):
            await store.enqueue_task(description=f"old {n}")
    finally:
        await store.close()
    await (await open_replay(db_path)).close()
    for suffix in ("", "-wal", "-shm"):
        db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
    store = await open_store(db_path, create=True, clock=clock)
    try:
        await store.enqueue_task(description="new")
        await store.enqueue_task(description="newer")  # as many events as an old one, or more: same ids
    finally:
        await store.close()
    replay = await open_replay(db_path)
    try:
        assert sorted(t.description for t in await replay.store.list_tasks()) == ["new", "newer"]
    finally:
        await replay.close()


async def test_a_servers_history_is_kept_and_extended_and_a_database_made_anew_gets_its_own(
        pg_url, clock, cache_builds, user_cache):
    """A PostgreSQL database's replay cache is kept in the user's cache folder: the next replay from this
    machine reads only the events since (entering replay from a dashboard again costs no rebuild), and a
    database dropped and made again under the same name gets a cache of its own history."""
    import pg_support
    from swarmdeck.store.replay import engine

    name = "swarmdeck_replay_kept"

    async def swarm(*descriptions: str) -> str:
        url = pg_support.create_database(pg_url, name)
        store = await open_store(url, create=True, clock=clock)
        try:
            for description in descriptions:
                await store.enqueue_task(description=description)
        finally:
            await store.close()
        return url

    async def replayed(url: str) -> list[str]:
        replay = await open_replay(url)
        try:
            return sorted(t.description for t in await replay.store.list_tasks())
        finally:
            await replay.close()

    url = await swarm("old 1", "old 2", "old 3")
    try:
        assert await replayed(url) == ["old 1", "old 2", "old 3"]
        store = await open_store(url, clock=clock)
        try:
            await store.enqueue_task(description="old 4")
        finally:
            await store.close()
        assert await replayed(url) == ["old 1", "old 2", "old 3", "old 4"]
        assert len(cache_builds) == 1  # extended, not built again
        cache = engine.server_cache_path(url)
        assert cache.is_file() and cache.is_relative_to(user_cache / "swarmdeck" / "replay")
    finally:
        pg_support.drop_database(pg_url, name)
    clock.advance(60)  # made a minute later: its events are not the old ones
    url = await swarm("new", "newer", "newest", "last", "after")  # as many events as the old one had, and more
    try:
        assert await replayed(url) == ["after", "last", "new", "newer", "newest"]
        assert len(cache_builds) == 2
    finally:
        pg_support.drop_database(pg_url, name)


async def test_a_read_only_seat_writes_nothing_beside_the_database_and_keeps_its_cache_for_next_time(
        tmp_path, clock, monkeypatch, cache_builds):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    folder, elsewhere = tmp_path / "swarm", tmp_path / "elsewhere"
    db, namesake = folder / "swarm.db", elsewhere / "swarm.db"
    for path in (db, namesake):
        store = await open_store(path, create=True, clock=clock)
        try:
            await store.enqueue_task(description=f"first of {path.parent.name}")
        finally:
            await store.close()

    def listing() -> list[tuple[str, int, int]]:
        return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir())

    before = listing()
    replay = await open_replay(db, read_only=True)
    try:
        assert [t.description for t in await replay.store.list_tasks()] == ["first of swarm"]
    finally:
        await replay.close()
    assert listing() == before
    cache = cache_path(db, read_only=True)
    assert cache.is_file() and cache.is_relative_to(tmp_path / "user-cache" / "swarmdeck" / "replay")
    assert cache_path(namesake, read_only=True) != cache  # two databases never share one
    assert cache_path(db) == folder / "swarm.db.replay-cache"  # a writable seat's stays beside it

    store = await open_store(db, clock=clock)
    try:
        await store.enqueue_task(description="second")
    finally:
        await store.close()
    before = listing()
    replay = await open_replay(db, read_only=True)  # the same cache, extended by the new event
    try:
        assert len(await replay.store.list_tasks()) == 2
    finally:
        await replay.close()
    assert listing() == before and cache_builds == [cache.with_name(cache.name + ".building")]


async def test_a_cache_of_the_earlier_format_is_built_again_with_the_memory_index(db_path, clock):
    import sqlean

    store = await open_store(db_path, create=True, clock=clock)
    try:
        await store.add_memory("notes", "k", "kept", memory_type="semantic", created_by="ada")
        await (await open_replay(db_path)).close()
        conn = sqlean.connect(str(cache_path(db_path)))  # as format 1 left it: no search items
        conn.execute("UPDATE rp_meta SET value = 'swarmdeck-replay-1' WHERE key = 'format'")
        conn.execute("DROP VIEW search_items")
        conn.commit()
        conn.close()
        replay = await open_replay(db_path)
        try:
            assert [h.title for h in await replay.store.recent()] == ["k"]
        finally:
            await replay.close()
    finally:
        await store.close()


async def test_two_replays_of_one_database_keep_their_own_points(db_path, clock, tmp_path):
    store = await open_store(db_path, create=True, clock=clock)
    try:
        for n in range(4):
            clock.advance(5)
            await store.enqueue_task(description=f"task {n}")
    finally:
        await store.close()
    # Opened at once with no cache yet: the builds take turns, and the second finds the cache made.
    first, second = await asyncio.gather(open_replay(db_path, at=1), open_replay(db_path))
    try:
        assert len(await first.store.list_tasks()) == 1
        assert len(await second.store.list_tasks()) == 4
        assert first.store.clock() < second.store.clock()
    finally:
        await first.close()
        await second.close()
    # A replay file in a folder no one may write to opens all the same.
    target = tmp_path / "ro" / "history.replay"
    target.parent.mkdir()
    await export_replay(db_path, target)
    target.parent.chmod(0o555)
    target.chmod(0o444)
    try:
        replay = await open_replay(target, at=2)
        try:
            assert [t.description for t in await replay.store.list_tasks()] == ["task 1", "task 0"]
        finally:
            await replay.close()
    finally:
        target.parent.chmod(0o755)
