"""Seed 003's named questions (store/insights.py): pure answers over records, and the readers over the
store's public reads."""

from __future__ import annotations

import statistics
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmdeck.store import insights
from swarmdeck.store.learning import DOCS_TTL_S
from swarmdeck.store.models import LearningRecord
from support import EPOCH

STORE_BACKENDS = ("sqlite", "postgres")

DAY = 86400.0
NOW = EPOCH + 200 * DAY


def rec(kind: str, fields: dict, *, at: float = NOW - DAY, id: int = 1) -> LearningRecord:
    return LearningRecord(id, kind, "swarm", f"{kind}: x", fields, "builder", None, None, None,
                          datetime.fromtimestamp(at, tz=timezone.utc))


class TestCorrectionFactor:
    def test_the_seeds_example(self):
        c = insights.correction_factor([rec("estimate", {"estimated_sessions": 3, "actual_sessions": 5})], now=NOW)
        assert round(c.factor, 2) == 1.67 and c.samples == 1 and c.overruns == 1

    def test_only_completed_estimates_within_the_window_count(self):
        records = [
            rec("estimate", {"estimated_sessions": 2, "actual_sessions": 4, "completed_at": NOW - 10 * DAY}, id=1),
            rec("estimate", {"estimated_sessions": 2, "actual_sessions": 2, "completed_at": NOW - 91 * DAY}, id=2),
            rec("estimate", {"estimated_sessions": 2}, id=3),  # not completed
            rec("estimate", {"estimated_sessions": 1, "actual_sessions": 3}, at=NOW - 100 * DAY, id=4),  # logged long ago
            rec("estimate", {"estimated_sessions": 0, "actual_sessions": 3}, id=5),  # written around the store
        ]
        c = insights.correction_factor(records, now=NOW)
        assert (c.factor, c.samples) == (2.0, 1)
        assert insights.correction_factor(records, now=NOW, days=120).samples == 3
        empty = insights.correction_factor([], now=NOW)
        assert (empty.factor, empty.samples, empty.median) == (None, 0, None)

    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.tuples(st.integers(1, 20), st.integers(0, 40), st.floats(0, 200)), max_size=30))
    def test_it_is_the_mean_of_actual_over_estimated_in_the_window(self, rows):
        records = [rec("estimate", {"estimated_sessions": e, "actual_sessions": a, "completed_at": NOW - d * DAY},
                       id=i) for i, (e, a, d) in enumerate(rows)]
        inside = [a / e for e, a, d in rows if NOW - d * DAY >= NOW - 90 * DAY]
        c = insights.correction_factor(records, now=NOW)
        assert c.samples == len(inside)
        assert c.factor == (pytest.approx(statistics.fmean(inside)) if inside else None)


class TestScopeCreep:
    def test_latest_state_per_pipeline_and_the_seeds_one_and_a_half(self):
        records = [
            rec("pipeline_state", {"pipeline_id": "p1", "feature_request": "auth", "status": "research",
                                   "planned_steps": 4, "completed_steps": 1}, id=1),
            rec("pipeline_state", {"pipeline_id": "p1", "feature_request": "auth", "status": "building",
                                   "planned_steps": 4, "completed_steps": 7}, id=2),
            rec("pipeline_state", {"pipeline_id": "p2", "feature_request": "chat", "status": "building",
                                   "state": {"decomposition": {"total_steps": 4}, "completed_steps": list("abcdef")}},
                id=3),
            rec("pipeline_state", {"pipeline_id": "p3", "feature_request": "x", "status": "impulse"}, id=4),
        ]
        rows = insights.scope_creep(records)
        assert [(r.pipeline_id, r.planned, r.actual, r.crept) for r in rows] == [
            ("p1", 4, 7, True), ("p2", 4, 6, False), ("p3", None, None, False)]
        assert rows[0].status == "building"
        assert [r.crept for r in insights.scope_creep(records, ratio=1.2)] == [True, True, False]


class TestStaleDocs:
    def test_expiry_is_expires_at_else_seven_days_after_the_fetch(self):
        records = [
            rec("docs_cache", {"library": "fastapi", "version": "1", "fetched_at": NOW - 8 * DAY}, id=1),
            rec("docs_cache", {"library": "textual", "version": "2", "fetched_at": NOW - 3 * DAY,
                               "expires_at": NOW - DAY}, id=2),
            rec("docs_cache", {"library": "httpx", "version": "3", "fetched_at": NOW - 6 * DAY}, id=3),
            rec("docs_cache", {"library": "sqlean", "version": "4"}, at=NOW - 9 * DAY, id=4),
        ]
        stale = insights.stale_docs(records, now=NOW)
        assert [d.library for d in stale] == ["sqlean", "fastapi", "textual"]  # oldest fetch first
        assert stale[1].expires_at.timestamp() == NOW - 8 * DAY + DOCS_TTL_S
        assert len(insights.docs_cache(records, now=NOW)) == 4

    def test_a_refetch_replaces_the_stale_entry(self):
        records = [rec("docs_cache", {"library": "fastapi", "version": "1", "fetched_at": NOW - 20 * DAY}, id=1),
                   rec("docs_cache", {"library": "fastapi", "version": "1", "fetched_at": NOW - DAY}, id=2)]
        assert insights.stale_docs(records, now=NOW) == []


class TestSlowAgents:
    def test_slowest_mean_first_untimed_last(self):
        samples = [insights.ActionSample("a", NOW, 100, True), insights.ActionSample("a", NOW, 300, False),
                   insights.ActionSample("b", NOW, 1000, True), insights.ActionSample("c", NOW, None, True)]
        rows = insights.slow_agents(samples)
        assert [(r.agent, r.mean_ms, r.failures, r.timed) for r in rows] == [
            ("b", 1000, 0, 1), ("a", 200, 1, 2), ("c", None, 0, 0)]


class TestComplexityTrend:
    def test_trend_over_the_last_five_snapshots(self):
        scores = [10, 11, 20, 22, 25, 30]
        records = [rec("complexity_snapshot", {"file_path": "a.py", "complexity_score": s,
                                               "snapshot_at": NOW - (10 - i) * DAY}, id=i)
                   for i, s in enumerate(scores)]
        records += [rec("complexity_snapshot", {"file_path": "b.py", "complexity_score": 5}, id=20),
                    rec("complexity_snapshot", {"file_path": "c.py", "lines": 10}, id=21)]  # no score
        rows = insights.complexity_trend(records)
        assert [(r.file_path, r.scores, r.growing) for r in rows] == [
            ("a.py", (11.0, 20.0, 22.0, 25.0, 30.0), True), ("b.py", (5.0,), False)]
        assert rows[0].trend == pytest.approx(30 / 11)
        assert insights.complexity_trend(records, last=2)[0].growing is False  # 30/25


# -- the readers, over a real store ------------------------------------------------------------------------


async def test_slow_agents_reads_logged_actions_and_agent_log_records(store, clock, monkeypatch):
    monkeypatch.setattr(insights, "EVENT_PAGE", 3)  # several pages
    await store.register_agent("builder", agent_type="coder")
    await store.register_agent("tester", agent_type="qa")
    await store.log_action("builder", phase="build", action="old", duration_ms=99_999)
    clock.advance(100 * DAY)
    for ms in (100, 200, 300, 400):
        await store.log_action("builder", phase="build", action="step", duration_ms=ms)
    await store.log_action("tester", phase="test", action="run", duration_ms=5000, success=False)
    await store.log_record("agent_log", {"agent_name": "why", "phase": "impulse", "action": "analyze",
                                         "duration_ms": 50})
    rows = await insights.read_slow_agents(store)
    assert [(r.agent, r.actions, r.mean_ms, r.failures) for r in rows] == [
        ("tester", 1, 5000, 1), ("builder", 4, 250, 0), ("why", 1, 50, 0)]
    every = await insights.read_slow_agents(store, days=None)
    assert next(r for r in every if r.agent == "builder").actions == 5


async def test_the_readers_answer_from_the_store(store, clock):
    await store.log_record("estimate", {"feature": "auth", "estimated_sessions": 2, "actual_sessions": 3})
    await store.log_record("docs_cache", {"library": "fastapi", "version": "0.115.0"})
    await store.log_record("pipeline_state", {"pipeline_id": "p", "feature_request": "f", "status": "s",
                                              "planned_steps": 2, "completed_steps": 4})
    for score in (10, 20):
        await store.log_record("complexity_snapshot", {"file_path": "x.py", "complexity_score": score})
        clock.advance(60)
    assert (await insights.read_correction(store)).factor == 1.5
    assert await insights.read_docs(store) == []
    clock.advance(8 * DAY)
    assert [d.library for d in await insights.read_docs(store)] == ["fastapi"]
    assert [p.crept for p in await insights.read_scope_creep(store)] == [True]
    assert [(f.file_path, f.trend) for f in await insights.read_complexity(store)] == [("x.py", 2.0)]


async def test_events_since_stops_at_the_event_id_and_the_time(store, clock, monkeypatch):
    monkeypatch.setattr(insights, "EVENT_PAGE", 2)
    await store.register_agent("a", agent_type="coder")
    ids = []
    for _ in range(5):
        await store.log_action("a", phase="p", action="x")
        ids.append(await store.latest_event_id())
        clock.advance(10)
    got = await insights.events_since(store, "agent.action", after_id=ids[1])
    assert [e.id for e in got] == ids[2:]
    got = await insights.events_since(store, "agent.action", since=clock.now - 25)
    assert [e.id for e in got] == ids[3:]
