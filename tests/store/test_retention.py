"""Retention (store/retention.py): seed 003's policy archives agent logs and pipeline states past 90 days and
expired docs cache entries; a dry run changes nothing; the archive leaves the ranked search and stays
searchable by its words; events, finished tasks and every other record stay."""

from __future__ import annotations

import pytest

from swarmdeck.store.errors import InvalidArgument
from swarmdeck.store.events import EventKind

STORE_BACKENDS = ("sqlite", "postgres")
DAY = 86400.0


async def seed(store, clock):
    """An old agent log, pipeline state, docs cache entry and failure; then, 100 days on, a fresh log and
    a docs cache entry that expires in a year."""
    old = {
        "agent_log": await store.log_record("agent_log", {"agent_name": "builder", "phase": "building",
                                                          "action": "compile zanzibar"}),
        "pipeline_state": await store.log_record("pipeline_state", {"pipeline_id": "feat-1",
                                                                    "feature_request": "zanzibar auth",
                                                                    "status": "complete"}),
        "docs_cache": await store.log_record("docs_cache", {"library": "fastapi", "version": "0.115.0"}),
        "failure": await store.log_record("failure", {"feature": "zanzibar", "approach": "a", "why_failed": "b",
                                                      "lesson": "c"}),
    }
    clock.advance(100 * DAY)
    fresh = await store.log_record("agent_log", {"agent_name": "builder", "phase": "building",
                                                 "action": "compile zanzibar"})
    kept_doc = await store.log_record("docs_cache", {"library": "httpx", "version": "0.28",
                                                     "expires_at": clock() + 365 * DAY})
    return old, fresh, kept_doc


def counts(report):
    return {g.kind: g.count for g in report.archived}


async def test_a_dry_run_says_what_goes_and_changes_nothing(store, clock):
    old, fresh, _ = await seed(store, clock)
    head = (await store.events(limit=1))[0].id
    report = await store.prune(dry_run=True, actor="ops")
    assert not report.applied
    assert counts(report) == {"agent_log": 1, "pipeline_state": 1, "docs_cache": 1}
    log = next(g for g in report.archived if g.kind == "agent_log")
    assert log.oldest == log.newest == old["agent_log"].created_at
    assert (await store.events(limit=1))[0].id == head
    assert all(r.archived_at is None for r in await store.list_records())
    assert len(await store.list_records()) == 6


async def test_prune_archives_out_of_search_and_the_archive_stays_searchable(store, clock):
    old, fresh, kept_doc = await seed(store, clock)
    report = await store.prune(dry_run=False, actor="ops")
    assert report.applied and report.total == 3
    listed = {r.id for r in await store.list_records()}
    assert listed == {old["failure"].id, fresh.id, kept_doc.id}
    archived = await store.get_record(old["agent_log"].id)
    assert archived.archived_at is not None
    hits = await store.search("zanzibar", mode="keyword")
    assert {(h.kind, h.ref_id) for h in hits} == {("failure", old["failure"].id), ("agent_log", fresh.id)}
    found = await store.search_archive("ZANZIBAR")
    assert [r.id for r in found] == [old["pipeline_state"].id, old["agent_log"].id]
    assert [r.id for r in await store.search_archive("zanzibar", kinds=["agent_log"])] == [old["agent_log"].id]
    assert await store.search_archive("fastapi", namespace_prefix="elsewhere") == []
    event = (await store.events(limit=1))[0]
    assert event.kind == EventKind.RECORDS_ARCHIVED.value and event.actor == "ops"
    assert event.payload["counts"] == {"agent_log": 1, "pipeline_state": 1, "docs_cache": 1}
    again = await store.prune(dry_run=False, actor="ops")
    assert again.total == 0
    assert (await store.events(limit=1))[0].id == event.id  # nothing archived: nothing written


async def test_older_than_replaces_the_ninety_days_and_events_and_tasks_are_kept(store, clock):
    await seed(store, clock)
    task = await store.enqueue_task(description="done long ago", agent_type="builder")
    clock.advance(10 * DAY)
    report = await store.prune(dry_run=True, older_than=5 * DAY)
    assert counts(report) == {"agent_log": 2, "pipeline_state": 1, "docs_cache": 1}
    kept = {k.what: k.count for k in report.kept}
    assert kept["events"] > 0 and kept["finished tasks"] == 0
    assert task.id  # tasks are never archived, finished or not
    assert report.older_than_s == 5 * DAY and report.age == "5 days"


@pytest.mark.parametrize("bad", [0, -1, "90", True, float("nan")])
async def test_a_bad_age_is_refused(store, bad):
    with pytest.raises(InvalidArgument, match="older_than"):
        await store.prune(older_than=bad)


async def test_a_bad_archive_search_is_refused(store):
    with pytest.raises(InvalidArgument, match="unknown record kind"):
        await store.search_archive("x", kinds=["memory"])
    with pytest.raises(InvalidArgument, match="limit"):
        await store.search_archive("x", limit=0)


async def test_a_failed_prune_leaves_nothing_half_done(store, clock, monkeypatch):
    from swarmdeck.store.search_index import SearchIndex

    await seed(store, clock)
    head = (await store.events(limit=1))[0].id
    real, calls = SearchIndex.drop_item, []

    def fail_on_the_second(self, tx, kind, ref_id):
        calls.append(ref_id)
        if len(calls) == 2:
            raise RuntimeError("disk gone")
        real(self, tx, kind, ref_id)

    monkeypatch.setattr(SearchIndex, "drop_item", fail_on_the_second)
    with pytest.raises(RuntimeError, match="disk gone"):
        await store.prune(dry_run=False)
    monkeypatch.undo()
    assert all(r.archived_at is None for r in await store.list_records(limit=500))
    assert len(await store.list_records()) == 6
    assert {h.kind for h in await store.search("zanzibar", mode="keyword")} == {"agent_log", "pipeline_state",
                                                                                "failure"}
    assert (await store.events(limit=1))[0].id == head
    assert (await store.prune(dry_run=False)).total == 3
