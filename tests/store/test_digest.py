"""Seed 002's status report (store/digest.py): progress per milestone, blockers with ages, failures and
decisions since the last digest, which is remembered in the database."""

from __future__ import annotations

from signing_support import decide
from store_support import submit

from swarmdeck.store import digest
from swarmdeck.store.living_docs import md_line

STORE_BACKENDS = ("sqlite", "postgres")

HOUR = 3600.0


async def test_progress_blockers_failures_and_decisions(gated, clock):
    store = gated
    t1 = await store.enqueue_task(description="schema", milestone="M1")
    t2 = await store.enqueue_task(description="migrations", milestone="M1", max_retries=0)
    await store.enqueue_task(description="later", milestone="M2")
    claimed = await store.claim_task(agent="a1")
    await store.complete_task(claimed.id, agent="a1")
    claimed = await store.claim_task(agent="a2")
    await store.fail_task(claimed.id, agent="a2", error="disk full\nand more", retry=False)
    await store.update_agent("a1", blockers=["waiting on credentials"])
    clock.advance(30 * HOUR)
    await store.log_record("failure", {"feature": "chat", "approach": "websocket", "why_failed": "dropped",
                                       "lesson": "use a broker"}, agent="a2")
    await store.log_record("decision", {"decision": "SQLite first", "rationale": "one file"}, agent="a1")
    await store.log_record("pattern", {"name": "outbox", "description": "events with state"})  # neither
    await submit(store, "M1")
    await decide(store, "M1", reviewer="alice", decision="APPROVE", rationale="good")

    d = await digest.build(store)
    assert (d.after_event, d.previous) == (0, None)
    m1, m2 = d.milestones
    assert (m1.name, m1.done, m1.total, m1.failed) == ("M1", 1, 2, 1) and m1.percent == 50.0
    assert (m2.name, m2.total) == ("M2", 1)
    assert [(b.agent, b.blocker, b.age_s) for b in d.blockers] == [("a1", "waiting on credentials", 30 * HOUR)]
    assert [(f.source, f.by) for f in d.failures] == [("task", "a2"), ("record", "a2")]
    assert d.failures[0].summary in (f"{t1.description}: disk full and more", f"{t2.description}: disk full and more")
    assert d.failures[1].summary == "chat: dropped; lesson: use a broker"
    assert [(i.source, i.summary) for i in d.decisions] == [
        ("record", "SQLite first (because one file)"), ("gate", "APPROVE on M1 (now approved)")]
    text = digest.render(d)
    assert "blocked 1d **(over 24h)**: waiting on credentials" in text
    assert "## Failures (2)" in text and "## Decisions (2)" in text and "1/2 tasks done (50%)" in text


async def test_the_next_digest_starts_where_the_last_one_ended(gated, clock):
    store = gated
    await store.log_record("decision", {"decision": "first", "rationale": "r"})
    first = await digest.build(store)
    await digest.remember(store, first, by="lead")
    assert await digest.last_digest(store) == (first.through_event, (await digest.last_digest(store))[1])

    clock.advance(HOUR)
    await store.log_record("decision", {"decision": "second", "rationale": "r"})
    second = await digest.build(store)
    assert [i.summary for i in second.decisions] == ["second (because r)"]
    assert second.after_event == first.through_event and second.previous is not None
    assert "since the last digest" in digest.render(second)
    await digest.remember(store, second, by="lead")  # an update of the same entry
    assert (await digest.last_digest(store))[0] == second.through_event
    assert (await digest.build(store)).decisions == ()

    clock.advance(HOUR)
    everything = await digest.build(store, since=clock.now - 2 * HOUR)
    assert [i.summary for i in everything.decisions] == ["first (because r)", "second (because r)"]
    assert [i.summary for i in (await digest.build(store, since=clock.now - HOUR / 2)).decisions] == []


async def test_agent_text_is_escaped_in_the_markdown_rendering(gated):
    store = gated
    await store.log_record("decision", {"decision": "[x](http://evil) <b>", "rationale": "r"}, agent="a1")
    d = await digest.build(store)
    assert "[x](http://evil) <b>" in digest.render(d)
    written = digest.render(d, md_line)
    assert "\\[x\\](`http://evil`) \\<b\\>" in written and "<b>" not in written


async def test_a_deleted_mark_starts_over_and_comes_back(gated):
    store = gated
    first = await digest.build(store)
    await digest.remember(store, first, by="lead")
    await store.delete_memory(digest.DIGEST_NAMESPACE, digest.DIGEST_KEY, deleted_by="lead")
    assert await digest.last_digest(store) == (0, None)
    again = await digest.build(store)
    await digest.remember(store, again, by="lead")
    assert (await digest.last_digest(store))[0] == again.through_event
