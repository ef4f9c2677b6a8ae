"""The PostgreSQL event log's and charts' reads walk their indexes at scale: on 200,000 sealed events the
log's pages (by entity, entity and id, actor or kind, newest first, before an event) and the feed read
an index range in chain order (``seq``), with no sort and no table scan; on 50,000 tasks finished over
nearly three years no chart of the last hour scans a big table (test_charts.py checks SQLite's plans).
The "all" range is left out here: it reads the whole history by definition, and PostgreSQL rightly
reads a whole table in one pass rather than through an index."""

from __future__ import annotations

import re
from contextlib import contextmanager

from store_support import raw
from support import EPOCH
from test_charts import populate

STORE_BACKENDS = ("postgres",)

EVENTS = 200_000
TASKS = 50_000
#: Kinds in a realistic mix: heartbeats and claims common, gate decisions rare.
KINDS = ("agent.heartbeat", "agent.heartbeat", "agent.heartbeat", "task.claimed", "task.completed",
         "task.enqueued", "task.ready", "task.failed", "task.retried", "agent.updated") * 10
KINDS += ("gate.decided",)


@contextmanager
def recorded(store):
    """Every read the store makes meanwhile, as (sql, params)."""
    db, seen = store.db, []
    one, all_ = db._one, db._all

    async def record_one(sql, params=()):
        seen.append((sql, tuple(params)))
        return await one(sql, params)

    async def record_all(sql, params=()):
        seen.append((sql, tuple(params)))
        return await all_(sql, params)

    db._one, db._all = record_one, record_all
    try:
        yield seen
    finally:
        del db._one, db._all


async def plan(store, sql: str, params: tuple) -> str:
    return "\n".join(r[0] for r in await store._all(f"EXPLAIN {sql}", params))


async def _sealed_events(store) -> None:
    """EVENTS events, already sealed (inserted sealed around the trigger that refuses it: a seal of
    200,000 would only take longer); 70% of tasks, a quarter of agents; 100 actors; KINDS."""
    kinds = "ARRAY[" + ", ".join(f"'{k}'" for k in KINDS) + "]"

    def insert(tx):
        tx.run("ALTER TABLE events DISABLE TRIGGER events_born_unsealed")
        tx.run(
            "INSERT INTO events (ts, actor, kind, entity, entity_id, payload, seq, hash) "
            f"SELECT %s + i * 0.5, 'a' || mod(i, 100), ({kinds})[1 + mod(i, {len(KINDS)})], "
            "CASE WHEN mod(i, 20) < 14 THEN 'task' WHEN mod(i, 20) < 19 THEN 'agent' ELSE 'milestone' END, "
            "CASE WHEN mod(i, 20) < 14 THEN (mod(i, 20000))::text "
            "WHEN mod(i, 20) < 19 THEN 'a' || mod(i, 100) ELSE (mod(i, 10))::text END, "
            "'{\"agent\":\"a' || mod(i, 100) || '\"}', s.last + i, md5(i::text) "
            "FROM generate_series(1, %s) AS i, (SELECT coalesce(max(seq), 0) AS last FROM events) AS s",
            (EPOCH - EVENTS, EVENTS))
        tx.run("ALTER TABLE events ENABLE TRIGGER events_born_unsealed")
        tx.run("ANALYZE events")

    await store._write("test", insert)


#: An entity's events, an actor's and a rare kind's are found by their own index; where a fifth or a
#: tenth of the log matches, walking the chain itself back (events_seq) finds a page as soon: either is
#: a range in chain order, never a sort.
READS = [
    ({"entity": "task", "entity_id": 1233}, {"events_entity"}),
    ({"entity": "agent", "entity_id": "a16", "before_id": 150_000}, {"events_entity"}),
    ({"entity": "milestone"}, {"events_entity_recent", "events_seq"}),
    ({"actor": "a7"}, {"events_actor"}),
    ({"actor": "a7", "before_id": 100_000}, {"events_actor"}),
    ({"kind": "gate.decided"}, {"events_kind"}),
    ({"kind": "task.failed", "before_id": 100_000}, {"events_kind", "events_seq"}),
]


async def test_the_event_log_and_the_feed_read_a_range_of_an_index_in_chain_order(store):
    await _sealed_events(store)
    for read, indexes in READS:
        with recorded(store) as seen:
            events = await store.events(**read, limit=100)
        assert events and all(a.id > b.id for a, b in zip(events, events[1:])), read  # newest first
        for event in events:  # and only what was asked for
            assert all(str(getattr(event, k)) == str(v) for k, v in read.items() if k != "before_id"), read
            assert event.id < read.get("before_id", EVENTS + 1), read
        (sql, params), = [(s, p) for s, p in seen if "FROM events" in s]
        shown = await plan(store, sql, params)
        used = re.findall(r"Index Scan Backward using (\w+) on events", shown)
        assert len(used) == 1 and used[0] in indexes, (read, shown)
        assert "Sort" not in shown and "Seq Scan" not in shown, (read, shown)

    with recorded(store) as seen:
        assert len(await store.changes_since(EVENTS - 500, limit=1000)) == 500
        assert await store.latest_event_id() == EVENTS
    for sql, params in seen:
        shown = await plan(store, sql, params)
        assert "using events_seq on events" in shown, shown
        assert "Sort" not in shown and "Seq Scan" not in shown, shown


#: The tables that grow with a swarm's work (reports and decisions grow by a few per milestone).
_BIG = ("tasks", "events", "queue_samples")


async def test_no_chart_query_scans_a_big_table(store, clock, pg_store_url):
    await populate(store, clock)
    m1 = (await store.get_milestone("M1")).id
    await _sealed_events(store)

    def more(tx):
        tx.run(  # TASKS finished, one every 30 minutes: an eighth failed, a third on M1
            "INSERT INTO tasks (description, source, agent_type, status, milestone_id, assigned_agent, "
            "estimated_duration_seconds, created_at, updated_at, started_at, finished_at) "
            "SELECT 't', 'human', CASE WHEN mod(i, 2) = 0 THEN 'impl' ELSE 'test' END, "
            "CASE WHEN mod(i, 8) = 0 THEN 'failed' ELSE 'completed' END, "
            "CASE WHEN mod(i, 3) = 0 THEN %s END, "
            "'a' || mod(i, 100), 60, %s - i * 1800, %s - i * 1800, %s - i * 1800, %s - i * 1800 + mod(i, 90) "
            "FROM generate_series(1, %s) AS i", (m1, *(clock.now,) * 4, TASKS))
        tx.run("INSERT INTO queue_samples (slot, ts, pending, blocked, ready, running) "
               "SELECT floor(%s / 10)::bigint - i, %s - i * 10, 0, 1, 2, 3 FROM generate_series(1, %s) AS i "
               "ON CONFLICT (slot) DO NOTHING", (clock.now, clock.now, TASKS))

    await store._write("test", more)
    with raw(pg_store_url) as conn:  # what autovacuum keeps on a live database: visibility, statistics
        conn.execute("VACUUM ANALYZE")
    with recorded(store) as seen:
        for key in ("15m", "1h"):
            await store.charts(key)
            await store.charts(key, milestone_id=m1, agent_type="impl")
        await store.chart_filters()
    statements = list({(sql, repr(params)): (sql, params) for sql, params in seen}.values())
    assert len(statements) >= 12
    for sql, params in statements:
        shown = await plan(store, sql, params)
        scans = re.findall(rf"Seq Scan on ({'|'.join(_BIG)})\b", shown)
        assert not scans, f"{' '.join(sql.split())}\n{shown}"
