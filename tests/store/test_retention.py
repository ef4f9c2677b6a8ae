"""Retention (store/retention.py): seed 003's policy archives agent logs and pipeline states past 90 days and
expired docs cache entries; a dry run changes nothing; the archive leaves the ranked search and stays
searchable by its words; events, finished tasks and every other record stay."""

from __future__ import annotations

import pytest

from swarmdeck.store import TaskStatus
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


# -- finished tasks ----------------------------------------------------------------------------------------


async def finished_tasks(store, clock):
    """A task done, one cancelled, one failed for good and one done that a live task waits on, all 100
    days ago; a task done yesterday; the live one, still ready."""
    from store_support import claim

    await store.register_agent("a1", agent_type="builder")
    done = await store.enqueue_task(description="zanzibar auth built", agent_type="builder")
    failed = await store.enqueue_task(description="flaky probe", agent_type="builder", max_retries=0)
    needed = await store.enqueue_task(description="schema migrated", agent_type="builder")
    cancelled = await store.enqueue_task(description="dropped idea", agent_type="builder")
    for task_id in (done.id, failed.id, needed.id):
        await claim(store, "a1", task_id)
        if task_id == failed.id:
            await store.fail_task(task_id, error="timeout", agent="a1", retry=False)
        else:
            await store.complete_task(task_id, agent="a1")
    await store.cancel_task(cancelled.id, reason="not needed")
    live = await store.enqueue_task(description="uses the schema", agent_type="other", prerequisites=[needed.id],
                                    base_priority=1)
    await store.add_memory("notes", "zanzibar-auth", "how zanzibar auth was built", memory_type="episodic",
                           created_by="a1", task_id=done.id)
    clock.advance(100 * DAY)
    recent = await store.enqueue_task(description="recent work", agent_type="builder")
    await claim(store, "a1", recent.id)
    await store.complete_task(recent.id, agent="a1")
    return {"done": done.id, "failed": failed.id, "needed": needed.id, "cancelled": cancelled.id,
            "live": live.id, "recent": recent.id}


async def test_finished_tasks_past_the_age_are_archived_hidden_and_still_read(store, clock):
    ids = await finished_tasks(store, clock)
    head = (await store.events(limit=1))[0].id
    charted = await store.charts("all")
    report = await store.prune(dry_run=False, actor="ops")
    assert await store.charts("all") == charted  # the charts summarise the whole history, archive included
    assert report.tasks.count == 3 and report.tasks_age == "90 days"
    kept = {k.what: k.count for k in report.kept}
    assert kept["finished tasks"] == 1  # `needed`: the live task waits on it
    archived = {ids["done"], ids["failed"], ids["cancelled"]}
    listed = {t.id for t in await store.list_tasks(limit=1000)}
    assert listed == {ids["needed"], ids["live"], ids["recent"]}
    assert {t.id for t in await store.list_tasks(archived=True)} == archived
    assert {t.id for t in await store.list_tasks(archived=None)} == set(ids.values())
    assert {t.id for t in await store.list_tasks(status="completed", archived=True)} == {ids["done"]}
    assert ids["done"] not in {t.id for t in await store.list_tasks(status="completed")}
    shown = await store.get_task(ids["done"])  # by id, whatever
    assert shown.archived_at is not None and shown.status is TaskStatus.COMPLETED
    assert (await store.get_task(ids["needed"])).archived_at is None
    # Still found by search: what points to it is untouched.
    hits = await store.search("zanzibar", mode="keyword")
    assert any(h.task_id == ids["done"] for h in hits)
    # The history is still summarised whole: the queue counts every task.
    assert (await store.queue_status()).total == 6
    # One event, after the head, saying how many.
    events = [e for e in await store.events(limit=10) if e.id > head]
    assert [e.kind for e in events] == [EventKind.RECORDS_ARCHIVED.value]
    assert events[0].payload["tasks"] == 3
    # Claims never see them (they are finished), and the live task is the one handed out.
    got = await store.claim_task(agent="a1", agent_type="other")
    assert got is not None and got.id == ids["live"]


async def test_a_live_dependent_blocks_the_archive_until_it_finishes(store, clock):
    ids = await finished_tasks(store, clock)
    await store.prune(dry_run=False)
    assert (await store.get_task(ids["needed"])).archived_at is None
    await store.cancel_task(ids["live"], reason="done with it")
    clock.advance(100 * DAY)
    report = await store.prune(dry_run=False)
    assert report.tasks.count == 3  # needed, live and recent
    assert (await store.get_task(ids["needed"])).archived_at is not None


async def test_a_retried_archived_task_is_live_again(store, clock):
    ids = await finished_tasks(store, clock)
    await store.prune(dry_run=False)
    retried = await store.retry_task(ids["failed"])
    assert retried.archived_at is None and not retried.status.finished
    assert ids["failed"] in {t.id for t in await store.list_tasks()}


async def test_a_dry_run_counts_the_tasks_and_changes_nothing(store, clock):
    from store_support import state

    ids = await finished_tasks(store, clock)
    before = await state(store)
    report = await store.prune(dry_run=True, tasks_older_than=200 * DAY)
    assert not report.applied and report.tasks.count == 0
    report = await store.prune(dry_run=True)
    assert report.tasks.count == 3
    assert report.tasks.oldest is not None and report.tasks.oldest <= report.tasks.newest
    kept = {k.what: k for k in report.kept}
    assert kept["events"].count > 0 and "kept whole" in kept["events"].why
    assert await state(store) == before
    assert all(t.archived_at is None for t in await store.list_tasks(archived=None, limit=1000))
    assert await store.list_tasks(archived=True) == []
    assert ids


@pytest.mark.parametrize("bad", [0, -5, "90", True, float("nan"), float("inf")])
async def test_a_bad_task_age_is_refused_and_nothing_written(store, clock, bad):
    await finished_tasks(store, clock)
    head = (await store.events(limit=1))[0].id
    with pytest.raises(InvalidArgument, match="tasks_older_than"):
        await store.prune(dry_run=False, tasks_older_than=bad)
    assert (await store.events(limit=1))[0].id == head
    assert await store.list_tasks(archived=True) == []
