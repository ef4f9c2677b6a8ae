"""The performance charts' aggregations, on rows written through the store at known times.

Every expected value below is worked out by hand from the timeline in the test (bucket edges,
empty buckets, nearest-rank percentiles, filters), then EXPLAIN QUERY PLAN shows each chart query
reads through an index on a populated database.
"""

from __future__ import annotations

import math
import re

import pytest
import sqlean

from swarmdeck.store import open_store
from swarmdeck.store.charts import (
    QUEUE_SLOT,
    GateLatency,
    GateWait,
    MilestoneGates,
    Spread,
    Window,
    burn_down,
    fill,
    percentile,
    spread,
    window_for,
)
from swarmdeck.store.errors import InvalidArgument

from store_support import people
from signing_support import decide
from support import EPOCH  # where the FakeClock starts


STORE_BACKENDS = ("sqlite", "postgres")

MIN = 60.0


async def run(store, clock, *, agent: str, agent_type: str, start: float, end: float, outcome: str = "completed",
              milestone: str | None = None, estimate: int | None = None) -> int:
    """One task enqueued and claimed at ``start`` (seconds after EPOCH), finished at ``end``."""
    clock.now = EPOCH + start
    task = await store.enqueue_task(description=f"{agent} at {start}", agent_type=agent_type, milestone=milestone,
                                    estimated_duration_seconds=estimate)
    claimed = await store.claim_task(agent=agent, agent_type=agent_type)
    assert claimed is not None and claimed.id == task.id
    clock.now = EPOCH + end
    if outcome == "completed":
        await store.complete_task(task.id, agent=agent)
    elif outcome == "failed":
        await store.fail_task(task.id, agent=agent, error="broken", retry=False)
    elif outcome == "retried":  # a failed attempt, retried by the store; then nobody wants it
        await store.fail_task(task.id, agent=agent, error="flaky", retry=True)
        clock.now += 10
        await store.cancel_task(task.id, reason="dropped")
    return task.id


@pytest.fixture
async def swarm(store, clock):
    """The timeline every aggregation test reads (seconds after EPOCH; the window is 5 x 60 s):

    A  a1 impl  M1 est 60   0 -> 60      completed (on the edge of buckets 0 and 1: bucket 1)
    B  a1 impl  M1 est 60   60 -> 119.5  completed (bucket 1)
    C  a1 impl  M1          120 -> 150   failed    (bucket 2)
    D  a2 test     est 100  100 -> 299.9 completed (bucket 4)
    E  a2 test     est 100  0 -> 300     completed (at the window's end: outside it)
    F  a2 test              10 -> 30     failed attempt (retried), then cancelled at 40
    G  a2 test     est 10   -100 days    completed (outside the window and the 90 days)
    H     impl  M1          created 200  still ready
    """
    await store.register_agent("a1", agent_type="impl")
    await store.register_agent("a2", agent_type="test")
    await store.add_milestone("M1", hour_budget=10)
    await run(store, clock, agent="a2", agent_type="test", start=-100 * 86400, end=-100 * 86400 + 50, estimate=10)
    await run(store, clock, agent="a1", agent_type="impl", start=0, end=60, milestone="M1", estimate=60)
    await run(store, clock, agent="a1", agent_type="impl", start=60, end=119.5, milestone="M1", estimate=60)
    await run(store, clock, agent="a1", agent_type="impl", start=120, end=150, outcome="failed", milestone="M1")
    await run(store, clock, agent="a2", agent_type="test", start=100, end=299.9, estimate=100)
    await run(store, clock, agent="a2", agent_type="test", start=0, end=300, estimate=100)
    await run(store, clock, agent="a2", agent_type="test", start=10, end=30, outcome="retried")
    clock.now = EPOCH + 200
    await store.enqueue_task(description="H", agent_type="impl", milestone="M1")
    clock.now = EPOCH + 400
    return store


W = Window(EPOCH, 60.0, 5)


# -- pure helpers --------------------------------------------------------------------------------


def test_windows_are_aligned_to_their_bucket_width_and_end_with_now():
    now = EPOCH + 1000.5  # 16 min 40.5 s past a round hour
    w = window_for("15m", now)
    assert (w.width, w.count) == (30.0, 30)
    assert w.start == EPOCH + 990 - 29 * 30 and w.end == EPOCH + 1020  # the last bucket holds now
    assert w.bucket(now) == 29 and w.bucket(w.start) == 0 and w.bucket(w.end) is None
    assert w.bucket(w.start + 30) == 1  # an edge belongs to the bucket it starts
    assert window_for("1h", now) == Window(EPOCH + 960 - 29 * 120, 120.0, 30)
    assert window_for("24h", now).count == 24 and window_for("7d", now).width == 6 * 3600
    # "all": the smallest listed width that keeps the history under 40 buckets, from the first event
    all_ = window_for("all", now, first=now - 5 * 3600)
    assert all_.width == 600 and all_.start <= now - 5 * 3600 and all_.bucket(now) == all_.count - 1
    assert all_.count == math.floor(now / 600) - math.floor((now - 5 * 3600) / 600) + 1
    assert window_for("all", now).count == 1  # nothing yet: one bucket, now
    assert all(w.width % QUEUE_SLOT == 0 for w in (window_for(k, now, now - 86400 * 30) for k in
                                                     ("15m", "1h", "24h", "7d", "all")))
    with pytest.raises(ValueError):
        window_for("2h", now)


def test_fill_lays_sparse_rows_over_every_bucket():
    assert fill(W, [(1, 2), (4, 1), (7, 9), (-1, 3)]) == (0, 2, 0, 0, 1)


def test_nearest_rank_percentiles():
    assert percentile([], 50) is None
    assert percentile([7.0], 95) == 7.0
    assert percentile([1, 2, 3, 4], 50) == 2  # ceil(0.5 * 4) = 2nd
    assert percentile(list(range(1, 21)), 95) == 19  # ceil(0.95 * 20) = 19th
    assert percentile(list(range(1, 21)), 50) == 10
    assert percentile(list(range(1, 11)), 95) == 10  # ceil(9.5) = 10th
    assert percentile([1, 5, 5, 5, 9], 50) == 5


def test_burn_down_walks_back_from_the_count_now():
    # created (1, 1, 1, 1, 0) and finished (0, 2, 1, 0, 0), one unfinished now
    assert burn_down(1, [1, 1, 1, 1, 0], [0, 2, 1, 0, 0]) == (1, 0, 0, 1, 1)
    assert burn_down(0, [0, 0], [0, 0]) == (0, 0)


def test_gate_latency_medians_per_reviewer():
    g = GateLatency((GateWait("M1", 1, "bob", "REVISE", 100), GateWait("M1", 2, "alice", "APPROVE", 30),
                     GateWait("M2", 1, "bob", "APPROVE", 500), GateWait("M3", 1, "bob", "APPROVE", 200)), ())
    assert g.by_reviewer() == {"alice": 30, "bob": 200}


def test_spread_counts_and_takes_nearest_rank_percentiles_and_the_longest():
    assert spread("x", [30, 10, 20, 40]) == Spread("x", 4, 20, 40, 40)
    assert spread("x", []) == Spread("x", 0, None, None, None)


def test_gate_latency_per_milestone_decided_and_waiting_now():
    g = GateLatency((GateWait("M1", 1, "bob", "REVISE", 100), GateWait("M1", 2, "alice", "APPROVE", 30),
                     GateWait("M2", 1, "bob", "APPROVE", 500)),
                    (GateWait("M3", 1, None, None, 90), GateWait("M1", 3, None, None, 20)))
    assert g.by_milestone() == (
        MilestoneGates("M1", Spread("M1", 2, 30, 100, 100), 20),  # decided twice, a third version waits
        MilestoneGates("M2", Spread("M2", 1, 500, 500, 500), None),
        MilestoneGates("M3", Spread("M3", 0, None, None, None), 90),  # nothing decided yet: only waiting
    )
    assert GateLatency((), ()).by_milestone() == ()


# -- the store's aggregations ------------------------------------------------------------------------


async def test_throughput_counts_each_finish_in_its_bucket(swarm):
    t = await swarm.chart_throughput(W)
    assert t.completed == (0, 2, 0, 0, 1)  # A on the 60 s edge goes to bucket 1; E at the end is out
    assert t.failed == (0, 0, 1, 0, 0)  # F's attempt was retried, and F was cancelled: neither counts
    assert not t.empty


async def test_throughput_filters_apply_before_counting(swarm):
    m1 = (await swarm.get_milestone("M1")).id
    by_milestone = await swarm.chart_throughput(W, milestone_id=m1)
    assert (by_milestone.completed, by_milestone.failed) == ((0, 2, 0, 0, 0), (0, 0, 1, 0, 0))
    by_type = await swarm.chart_throughput(W, agent_type="test")
    assert (by_type.completed, by_type.failed) == ((0, 0, 0, 0, 1), (0, 0, 0, 0, 0))
    both = await swarm.chart_throughput(W, milestone_id=m1, agent_type="test")
    assert both.empty


async def test_durations_rank_agents_by_mean_with_percentiles_and_success(swarm):
    d = await swarm.chart_durations(W)
    assert [a.agent for a in d.agents] == ["a2", "a1"] and d.total_agents == 2  # slowest mean first
    a2, a1 = d.agents
    assert (a1.completed, a1.median_s, a1.p95_s) == (2, 59.5, 60.0)  # [59.5, 60]: 1st and 2nd
    assert a1.failed_attempts == 1 and a1.success_rate == pytest.approx(2 / 3)  # C failed
    assert (a2.completed, a2.median_s, a2.p95_s) == (1, pytest.approx(199.9), pytest.approx(199.9))
    assert a2.failed_attempts == 1 and a2.success_rate == 0.5  # F's retried attempt counts against a2
    # the same completed tasks per task type: impl A 60 and B 59.5, test D 199.9 (E ends outside)
    assert d.by_type == (Spread("impl", 2, 59.5, 60.0, 60.0), Spread("test", 1, pytest.approx(199.9),
                                                                      pytest.approx(199.9), pytest.approx(199.9)))


async def test_duration_percentiles_match_the_hand_computed_ranks(store, clock):
    await store.register_agent("p", agent_type="x")
    # 20 tasks taking 1..20 s, finished in a shuffled order
    for i, seconds in enumerate((7, 3, 20, 1, 15, 9, 11, 2, 19, 5, 13, 4, 17, 6, 8, 10, 12, 14, 16, 18)):
        await run(store, clock, agent="p", agent_type="x", start=i * 100, end=i * 100 + seconds)
    d = await store.chart_durations(Window(EPOCH, 3600, 1))
    (p,) = d.agents
    assert (p.completed, p.median_s, p.p95_s) == (20, 10, 19)
    assert p.failed_attempts == 0 and p.success_rate == 1.0
    # a window holding only the first 10 tasks: 7 3 20 1 15 9 11 2 19 5 -> sorted 1 2 3 5 7 9 11 15 19 20
    d = await store.chart_durations(Window(EPOCH, 1000, 1))
    assert (d.agents[0].completed, d.agents[0].median_s, d.agents[0].p95_s) == (10, 7, 20)
    assert d.by_type == (Spread("x", 10, 7, 20, 20),)


async def test_durations_filters_and_limit(swarm):
    m1 = (await swarm.get_milestone("M1")).id
    d = await swarm.chart_durations(W, milestone_id=m1)
    assert [(a.agent, a.completed, a.failed_attempts) for a in d.agents] == [("a1", 2, 1)]
    assert [t.name for t in d.by_type] == ["impl"]
    d = await swarm.chart_durations(W, agent_type="test")
    assert [(a.agent, a.completed, a.failed_attempts) for a in d.agents] == [("a2", 1, 1)]
    assert [(t.name, t.count) for t in d.by_type] == [("test", 1)]
    d = await swarm.chart_durations(W, limit=1)
    assert [a.agent for a in d.agents] == ["a2"] and d.total_agents == 2
    assert [t.name for t in d.by_type] == ["impl", "test"]  # every type, whatever the agents' limit
    assert (await swarm.chart_durations(Window(EPOCH + 1000, 60, 3))).empty


async def test_estimates_points_in_the_window_and_the_90_day_factor(swarm, clock):
    e = await swarm.chart_estimates(W, now=EPOCH + 400)
    assert e.points == ((60.0, 60.0), (60.0, 59.5), (100.0, pytest.approx(199.9)))  # A, B, D: oldest first
    # A 1.0, B 59.5/60, D 199.9/100, E 300/100 (out of the window, inside the 90 days); G is older
    assert e.factor_tasks == 4
    assert e.correction_factor == pytest.approx((1.0 + 59.5 / 60 + 1.999 + 3.0) / 4)
    limited = await swarm.chart_estimates(W, points=2, now=EPOCH + 400)
    assert limited.points == ((60.0, 59.5), (100.0, pytest.approx(199.9)))  # the most recent two
    by_type = await swarm.chart_estimates(W, agent_type="impl", now=EPOCH + 400)
    assert by_type.points == ((60.0, 60.0), (60.0, 59.5)) and by_type.factor_tasks == 2


async def test_burndown_remaining_tasks_and_hours_against_budget(swarm):
    b = await swarm.chart_burndown(W)
    (m1,) = b.milestones
    assert (m1.name, m1.hour_budget) == ("M1", 10)
    assert m1.hours_spent == pytest.approx((60 + 59.5 + 30) / 3600)
    # just before 60: A open; by 120 A and B done and C not yet made; C made and failed by 180; H from 200
    assert m1.remaining == (1, 0, 0, 1, 1)
    assert (await swarm.chart_burndown(W, agent_type="test")).milestones == ()  # M1 has no test tasks
    impl = await swarm.chart_burndown(W, agent_type="impl")
    assert impl.milestones[0].remaining == (1, 0, 0, 1, 1)
    # three points per bucket (every 20 s): C's half minute shows; H arrives at 200
    fine = await swarm.chart_burndown(W, resolution=3)
    assert fine.window == Window(EPOCH, 20.0, 15)
    assert fine.milestones[0].remaining == (1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1)
    with pytest.raises(InvalidArgument):
        await swarm.chart_burndown(W, resolution=0)


async def test_an_empty_agent_type_filters_to_nothing_on_every_chart(swarm):
    """An empty type is a filter like any other (no task has it), not "no filter" and not a binding error."""
    assert (await swarm.chart_burndown(W, agent_type="")).milestones == ()
    assert sum((await swarm.chart_throughput(W, agent_type="")).completed) == 0


async def test_queue_depth_reads_the_sample_at_each_bucket_end(store, clock):
    await store.register_agent("q", agent_type="x")
    clock.now = EPOCH
    x = await store.enqueue_task(description="X", agent_type="x")  # ready 1
    clock.now = EPOCH + 15
    await store.enqueue_task(description="Y", agent_type="x", prerequisites=[x.id])  # blocked 1
    clock.now = EPOCH + 25
    await store.claim_task(agent="q")  # ready 0, running 1
    clock.now = EPOCH + 70
    await store.complete_task(x.id, agent="q")  # Y ready; nothing running or blocked
    q = await store.chart_queue_depth(Window(EPOCH - 60, 30, 6), now=EPOCH + 100)
    # bucket ends: EPOCH-30, EPOCH (before the first change), +30, +60, +90, and the bucket of now
    assert q.ready == (None, None, 0, 0, 1, 1)
    assert q.running == (None, None, 1, 1, 0, 0)
    assert q.blocked == (None, None, 1, 1, 0, 0)
    assert not q.empty


async def test_gate_latency_decided_in_the_window_and_awaiting_now(store, clock):
    await people(store, submitter="validator")
    await store.add_milestone("M1")
    await store.add_milestone("M2")
    await store.add_milestone("M3")
    clock.now = EPOCH - 5000  # a decision before the window
    await store.submit_report("M1", submitted_by="validator")
    clock.now = EPOCH - 4000
    await decide(store, "M1", decision="REVISE", rationale="not yet", reviewer="bob")
    clock.now = EPOCH
    await store.submit_report("M1", submitted_by="validator")
    clock.now = EPOCH + 600
    await decide(store, "M1", decision="APPROVE", rationale="fine", reviewer="alice")
    clock.now = EPOCH + 700
    await store.submit_report("M2", submitted_by="validator")
    window = Window(EPOCH, 300, 4)
    g = await store.chart_gate_latency(window, now=EPOCH + 1000)
    assert g.decided == (GateWait("M1", 2, "alice", "APPROVE", 600.0),)
    assert g.awaiting == (GateWait("M2", 1, None, None, 300.0),)
    m2 = (await store.get_milestone("M2")).id
    only_m2 = await store.chart_gate_latency(window, milestone_id=m2, now=EPOCH + 1000)
    assert (only_m2.decided, len(only_m2.awaiting)) == ((), 1)
    earlier = await store.chart_gate_latency(Window(EPOCH - 6000, 1000, 7), now=EPOCH + 1000)
    assert [(d.reviewer, d.seconds) for d in earlier.decided] == [("bob", 1000.0), ("alice", 600.0)]


async def test_an_empty_store_has_empty_charts_and_no_errors(store, clock):
    charts = await store.charts("1h")
    assert charts.throughput.empty and charts.queue.empty and charts.durations.empty
    assert charts.estimates.empty and charts.burndown.empty and charts.gates.empty
    assert charts.window == window_for("1h", clock.now)
    assert await store.chart_filters() == type(await store.chart_filters())((), ())
    with pytest.raises(InvalidArgument):
        await store.charts("forever")


async def test_charts_bundle_applies_range_and_filters(swarm, clock):
    m1 = (await swarm.get_milestone("M1")).id
    charts = await swarm.charts("15m", milestone_id=m1, agent_type="impl", now=EPOCH + 400)
    assert (charts.range_key, charts.milestone_id, charts.agent_type) == ("15m", m1, "impl")
    assert sum(charts.throughput.completed) == 2 and sum(charts.throughput.failed) == 1
    assert [a.agent for a in charts.durations.agents] == ["a1"]
    filters = await swarm.chart_filters()
    assert filters.milestones == ((m1, "M1"),) and filters.agent_types == ("impl", "test")


async def test_the_whole_history_starts_at_the_first_event_written(swarm):
    """"all" begins at the first event in the log (the agents' registration, at EPOCH), not at the
    earliest time an event carries: G, run with the clock 100 days back, is before the window."""
    first = (await swarm.changes_since(0, limit=1))[0]
    assert first.kind == "agent.registered" and first.ts.timestamp() == EPOCH
    charts = await swarm.charts("all", now=EPOCH + 400)
    assert charts.window == window_for("all", EPOCH + 400, EPOCH)
    assert (sum(charts.throughput.completed), sum(charts.throughput.failed)) == (4, 1)  # A B D E, and C


async def test_write_latencies_are_recorded_per_commit_from_this_store_on(store, where, clock):
    assert await store.write_latencies() == ()
    await store.register_agent("w", agent_type="x")
    await store.heartbeat("w")
    first = await store.write_latencies()
    assert len(first) == 2 and all(ms > 0 for ms in first)
    other = await open_store(where, clock=clock)  # a second store on the database sees only later writes
    try:
        assert await other.write_latencies() == ()
        await store.heartbeat("w")
        assert len(await other.write_latencies()) == 1 and len(await store.write_latencies()) == 3
    finally:
        await other.close()


# -- every chart query reads through an index --------------------------------------------------------

_BIG = ("tasks", "events", "queue_samples", "gate_decisions", "validation_reports")


async def populate(store, clock) -> None:
    """60 runs of two agents on one milestone (a quarter failed, a quarter retried), and a report."""
    await store.register_agent("a1", agent_type="impl")
    await store.register_agent("a2", agent_type="test")
    await store.register_agent("validator", agent_type="validation")
    await store.add_milestone("M1", hour_budget=10)
    for i in range(60):
        agent, kind = ("a1", "impl") if i % 2 else ("a2", "test")
        outcome = ("completed", "completed", "failed", "retried")[i % 4]
        await run(store, clock, agent=agent, agent_type=kind, start=i * 50, end=i * 50 + 40 + i,
                  outcome=outcome, milestone="M1" if i % 3 else None, estimate=60)
    await store.submit_report("M1", submitted_by="validator")


async def every_chart(store) -> None:
    """Every chart on every range and both filters, and the filters."""
    m1 = (await store.get_milestone("M1")).id
    for key in ("15m", "1h", "all"):
        await store.charts(key)
        await store.charts(key, milestone_id=m1, agent_type="impl")
    await store.chart_filters()


async def traced_chart_statements(store, clock) -> list[str]:
    """Populate a SQLite ``store`` and return the distinct statements every chart ran, on every range
    and both filters, bound values expanded."""
    await populate(store, clock)
    statements: list[str] = []
    await store._reader.set_trace_callback(statements.append)
    await every_chart(store)
    await store._reader.set_trace_callback(None)
    return list(dict.fromkeys(s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))))


async def test_every_chart_query_uses_an_index(db_path, clock):
    """EXPLAIN QUERY PLAN of each statement the charts ran, on a populated database (with and
    without ANALYZE): no table but milestones (a handful of rows by nature) is scanned. SQLite's
    plans (its trace of the statements, its planner); PostgreSQL's are in test_pg_read_plans.py."""
    async with await open_store(db_path, create=True, clock=clock) as store:  # a SQLite file, always
        chart_sql = await traced_chart_statements(store, clock)
    assert len(chart_sql) >= 12
    conn = sqlean.connect(str(db_path))
    try:
        for analyzed in (False, True):
            if analyzed:
                conn.execute("ANALYZE")
            for sql in chart_sql:
                plan = [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
                scans = [p for p in plan if re.match(rf"SCAN ({'|'.join(_BIG)})\b", p)]
                assert not scans, f"{' '.join(sql.split())}\n{plan}"
                touched = [p for p in plan if re.search(rf"\b({'|'.join(_BIG)})\b", p)]
                if "(SELECT min(id) FROM events)" in sql:  # the rowid's own minimum: one descent
                    touched.remove("SEARCH events")
                assert all(re.search(r"USING (COVERING )?INDEX|INTEGER PRIMARY KEY", p) for p in touched), plan
    finally:
        conn.close()
