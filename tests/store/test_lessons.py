"""A claim with its lessons (store/lessons.py), the Python API the CLI and the MCP server call: the
claim commits first, the lookup is filtered by namespace and milestone, and a bad limit claims nothing."""

from __future__ import annotations

import pytest

from swarmdeck.store import lessons
from swarmdeck.store.embed import HashEmbedder
from swarmdeck.store.errors import InvalidArgument

STORE_BACKENDS = ("sqlite", "postgres")


async def seeded(store) -> tuple[int, int]:
    await store.register_agent("w1", agent_type="impl")
    m1 = (await store.add_milestone("M1 Foundation")).id
    await store.log_record("failure", {"feature": "claim loop", "approach": "poll every 10 ms",
                                       "why_failed": "database locked", "lesson": "back off"},
                           namespace="project:a", milestone_id=m1)
    await store.log_record("decision", {"decision": "claim loop waits on the change feed", "rationale": "x"},
                           namespace="project:a")
    await store.log_record("failure", {"feature": "claim loop", "approach": "threads", "why_failed": "locked",
                                       "lesson": "async"}, namespace="project:b")
    await store.log_record("pattern", {"name": "claim loop", "description": "a pattern, not a lesson"})
    await store.add_memory("project:a", "claim", "claim loop notes", memory_type="semantic", created_by="w1")
    task = await store.enqueue_task(description="Rewrite the claim loop", agent_type="impl", actor="t")
    return m1, task.id


async def test_a_claim_brings_failures_and_decisions_filtered_by_namespace_and_milestone(store):
    m1, task_id = await seeded(store)
    claim = await lessons.claim_with_lessons(store, agent="w1", namespace_prefix="project:a")
    assert claim.task.id == task_id and claim.task.status == "running"
    assert (await store.get_task(task_id)).assigned_agent == "w1"
    assert {(lesson.kind, lesson.namespace) for lesson in claim.context.lessons} == {
        ("failure", "project:a"), ("decision", "project:a")}
    assert claim.context.mode == "keyword" and claim.context.note is None
    task = await store.get_task(task_id)
    only_m1 = await lessons.lessons_for(store, task, milestone_id=m1)
    assert [(lesson.kind, lesson.milestone_id) for lesson in only_m1.lessons] == [("failure", m1)]
    assert only_m1.lessons[0].fields["lesson"] == "back off"
    everywhere = await lessons.lessons_for(store, task, limit=10)
    assert len(everywhere.lessons) == 3  # no pattern, no memory
    assert (await lessons.lessons_for(store, task, limit=0)).lessons == []


async def test_without_context_or_without_a_task_nothing_is_looked_up(store):
    await seeded(store)
    assert (await lessons.claim_with_lessons(store, agent="w1", context=False)).context is None
    assert await lessons.claim_with_lessons(store, agent="w1") == lessons.Claim(None)


async def test_a_bad_limit_is_refused_before_the_claim(store):
    _, task_id = await seeded(store)
    for bad in (-1, lessons.MAX_LIMIT + 1, True, 2.5):
        with pytest.raises(InvalidArgument, match="number of lessons"):
            await lessons.claim_with_lessons(store, agent="w1", limit=bad)
    assert (await store.get_task(task_id)).status == "ready"


async def test_an_embedder_without_vectors_falls_back_to_keywords_and_says_so(store):
    await seeded(store)
    claim = await lessons.claim_with_lessons(store, agent="w1", embedder=HashEmbedder())
    assert claim.context.mode == "keyword" and "keyword results only" in claim.context.note
    assert claim.context.lessons
