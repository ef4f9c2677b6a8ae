"""The change feed's contract (store/events.py) against what the store writes: a realistic run through every
operation that writes an event, after which each event's kind is an ``EventKind``, its payload parses into
its kind's class with every key that class declares always present and no key it does not declare, and
every ``EventKind`` was written (so the enum and the emitters cannot drift apart). On both backends; a
backend without the memory area yet (sessions, memory, records, documents, the search index) is held to
every kind but that area's."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timezone

import pytest
from memory_support import SEED_FAILURE, item_id
from store_support import people, submit

from swarmdeck.store.embed import HashEmbedder
from swarmdeck.store.events import (
    CHARTED,
    HOLDING,
    NOT_GIVEN,
    PAYLOADS,
    AgentChange,
    Entity,
    EventKind,
    NoDetail,
    TaskCancelled,
    TaskCompleted,
    TaskRetried,
    UnknownPayload,
    payload_of,
)
from swarmdeck.store.indexer import Indexer
from swarmdeck.store.models import AgentStatus, Decision, Event, MilestoneStatus, TaskStatus

from signing_support import close, decide, key, resume

STORE_BACKENDS = ("sqlite", "postgres")

#: What the memory area's writes are about.
MEMORY_ENTITIES = {Entity.SESSION, Entity.MEMORY, Entity.RECORD, Entity.DOCUMENT, Entity.INDEX}


def has_memory(store) -> bool:
    """Whether the store's backend has the memory area (sessions, memory, records, search) yet."""
    return hasattr(store, "add_memory")


async def every_operation(store) -> None:
    """Agents, reviewers, tasks through their whole life, gates, the swarm, sessions, memory, records,
    documents and the search index: each write the store has that appends to the feed."""
    # agents and reviewers
    await store.register_agent("a1", agent_type="coder", colour="red", model="m")
    await store.register_agent("a2", agent_type="coder")
    await people(store)  # the agent "bot" and the reviewers alice, bob, carol, lead
    await store.heartbeat("a1", completion=50, status="working")
    await store.update_agent("a2", status="blocked", blockers=["waiting on review"], current_task_id=None)
    await store.log_action("a1", phase="build", action="compile", duration_ms=12.5, success=False,
                           error_message="linker")
    await store.add_reviewer("dave", by="alice")
    await store.set_reviewer_key("dave", public_key=key("dave"))
    await store.remove_reviewer("dave", by="alice")

    # milestones: M1 open, M2 locked until M1's gate passes
    await store.add_milestone("M1", objective="foundations", hour_budget=40)
    await store.add_milestone("M2", objective="features")
    # E1: a command run as evidence for its one acceptance criterion (M3 is added with the plan, below)
    await store.add_milestone("E1", acceptance_criteria=["tests pass"])
    await store.add_evidence("E1", criterion=1, command="pytest -q", exit_code=0, output_sha256="0" * 64,
                             recorded_by="a1")

    # tasks: dependencies, priorities, claims, a failure retried by itself, one for good that holds what
    # waits on it, the operator's retry that releases them, completion, a cancel that cascades, a cancel of
    # a running task
    t1 = (await store.enqueue_task(description="build", agent_type="coder", milestone="M1")).id
    t2 = (await store.enqueue_task(description="test", agent_type="coder", prerequisites=[t1])).id
    t3 = (await store.enqueue_task(description="docs", agent_type="coder")).id
    await store.add_dependency(t3, t1)  # t3 was ready: it becomes blocked, and t1 more urgent
    await store.set_base_priority(t1, 9)
    assert (await store.claim_task(agent="a1")).id == t1
    await store.fail_task(t1, agent="a1", error="flaky")  # retries remain: back in the queue
    assert (await store.claim_task(agent="a1")).id == t1
    await store.fail_task(t1, agent="a1", error="broken", retry=False)  # for good: holds t2 and t3
    await store.retry_task(t2)  # a held task: its failure upstream is retried instead
    assert (await store.claim_task(agent="a2")).id == t1
    await store.complete_task(t1, agent="a2")
    t4 = (await store.enqueue_task(description="spike", agent_type="coder")).id
    await store.enqueue_task(description="after spike", agent_type="coder", prerequisites=[t4])
    await store.cancel_task(t4, reason="not needed")
    t6 = (await store.enqueue_task(description="abandoned", agent_type="ops")).id
    assert (await store.claim_task(agent="a1", agent_type="ops")).id == t6
    await store.cancel_task(t6, reason="superseded")  # a running task: its agent is named, and idle again
    t7 = (await store.enqueue_task(description="stuck", agent_type="ops")).id
    assert (await store.claim_task(agent="a1", agent_type="ops")).id == t7
    await store.escalate_task(t7, agent="a1", note="ImportError", to_type="debugger")  # waits on a new task

    # gates: a conditional approval opens M2, closing its condition approves M1; an escalation of M2
    # pauses the swarm until a reviewer resumes it
    await submit(store, "M1")
    await decide(store, "M1", reviewer="alice", decision="CONDITIONAL", rationale="fine but",
                 conditions=["write the docs"])
    condition = (await store.gate_status("M1")).conditions[0]
    await close(store, condition.id, closed_by="bob", note="written")
    await submit(store, "M2")
    await decide(store, "M2", reviewer="alice", decision="ESCALATE", rationale="needs a person")
    await resume(store, by="bob", note="looked at it")

    # the plan: a milestone cut, another deferred with its task, then reinstated
    await store.add_milestone("M3", objective="extras", after=["M1"])
    await store.replan_milestone("M3", state="cut", by="carol", reason="timeline slipped")
    await store.add_milestone("M4", objective="later")
    await store.enqueue_task(description="later work", agent_type="coder", milestone="M4")
    await store.replan_milestone("M4", state="deferred", by="carol", reason="after the release")
    await store.replan_milestone("M4", state="active", by="carol", reason="room again")

    if not has_memory(store):
        return

    # sessions through every status
    session = await store.create_session(agent="a1")
    await store.set_session_status(session.id, "active", actor="a1")
    await store.append_session_event(session.id, kind="note", payload={"text": "hello"}, actor="a1")
    await store.set_session_state(session.id, {"step": 2}, actor="a1")
    await store.set_session_status(session.id, "paused", actor="a1")
    await store.set_session_status(session.id, "active", actor="a1")
    await store.set_session_status(session.id, "terminated", actor="a1")
    await store.set_session_status(session.id, "archived", actor="a1")

    # memory, records, documents, and the search index that follows them
    embedder = HashEmbedder()
    entry = await store.add_memory("ns", "k", "kestrel nests", memory_type="semantic", created_by="a1")
    await Indexer(store, embedder).drain()
    await store.update_memory("ns", "k", "osprey nests", updated_by="a1")  # its vector goes
    await store.record_embedding_failure(embedder.model, [await item_id(store, "memory", entry.id)], "down")
    await store.delete_memory("ns", "k", deleted_by="a1")
    await store.restore_memory("ns", "k", restored_by="a1")
    await store.log_record("failure", SEED_FAILURE, agent="a1")
    await store.index_document("docs", "guide.md", "# Guide\n\nHow to build.", actor="a1")
    # retention: an expired docs cache entry archived
    await store.log_record("docs_cache", {"library": "fastapi", "version": "0.1", "expires_at": 1}, agent="a1")
    await store.prune(dry_run=False, actor="ops")


@pytest.fixture
async def feed(store):
    await every_operation(store)
    return await store.changes_since(0, limit=100_000)


def _as_stored(value):
    """A parsed value as the JSON it came from (tuples were lists, enums their values)."""
    return list(value) if isinstance(value, tuple) else value


class TestTheContract:
    async def test_every_event_written_is_declared_with_its_keys(self, feed):
        for event in feed:
            kind = event.kind_enum
            assert kind is not None, f"{event.kind!r} is written but not an EventKind"
            assert event.entity == kind.entity, event
            cls = PAYLOADS[kind]
            payload = event.typed()
            assert type(payload) is cls, (event.kind, payload)
            raw = event.payload
            missing = set(cls.always_keys()) - set(raw)
            assert not missing, f"{event.kind} lacks {sorted(missing)}: {raw}"
            undeclared = set(raw) - set(cls.declared_keys())
            assert not undeclared, f"{event.kind} writes {sorted(undeclared)}: not in {cls.__name__}"
            # each stored value reads back as itself (typed: an enum member equals its string)
            by_key = {f.metadata.get("key", f.name): f.name for f in fields(cls)}
            for stored_key, value in raw.items():
                assert _as_stored(getattr(payload, by_key[stored_key])) == value, (event.kind, stored_key)

    async def test_every_kind_declared_is_written(self, store, feed):
        written = {e.kind for e in feed}
        declared = {k for k in EventKind if has_memory(store) or k.entity not in MEMORY_ENTITIES}
        assert declared - written == set(), "declared kinds the store never wrote"
        assert written <= set(declared)

    async def test_what_the_typed_payloads_say(self, feed):
        by_kind: dict[str, list[Event]] = {}
        for e in feed:
            by_kind.setdefault(e.kind, []).append(e)
        retried = [payload_of(e) for e in by_kind[EventKind.TASK_RETRIED]]
        assert [(p.agent, p.error, p.manual) for p in retried] == [("a1", "flaky", False), (None, None, True)]
        assert retried[1].for_task is not None  # retried to release the task it held
        completed = payload_of(by_kind[EventKind.TASK_COMPLETED][0])
        assert isinstance(completed, TaskCompleted)
        assert (completed.agent, completed.milestone_id) == ("a2", 1)
        enqueued = payload_of(by_kind[EventKind.TASK_ENQUEUED][1])
        assert enqueued.status is TaskStatus.BLOCKED and enqueued.prerequisites == (1,)
        decided = [payload_of(e) for e in by_kind[EventKind.GATE_DECIDED]]
        assert [(d.decision, d.status) for d in decided] == [
            (Decision.CONDITIONAL, MilestoneStatus.CONDITIONAL),
            (Decision.ESCALATE, MilestoneStatus.ESCALATED),
        ]
        cancelled = [payload_of(e) for e in by_kind[EventKind.TASK_CANCELLED]]
        assert all(isinstance(p, TaskCancelled) for p in cancelled)
        assert [(p.reason, p.cascade_from is not None, p.agent) for p in cancelled] == [
            ("not needed", False, None), ("not needed", True, None), ("superseded", False, "a1")]
        heartbeat = payload_of(by_kind[EventKind.AGENT_HEARTBEAT][0])
        assert isinstance(heartbeat, AgentChange)
        assert heartbeat.changes() == {"status": AgentStatus.WORKING, "completion": 50.0}
        assert heartbeat.blockers is NOT_GIVEN
        updated = payload_of(by_kind[EventKind.AGENT_UPDATED][0])
        assert updated.changes() == {"status": "blocked", "current_task_id": None,
                                     "blockers": ["waiting on review"]}


class TestReading:
    def _event(self, kind: str, payload: dict, entity: str = "task") -> Event:
        return Event(1, datetime(2026, 1, 1, tzinfo=timezone.utc), "a1", kind, entity, "1", payload)

    def test_an_old_row_without_newer_keys_reads_with_defaults(self):
        payload = self._event("task.retried", {"retry": 1}).typed()
        assert isinstance(payload, TaskRetried)
        assert (payload.retry, payload.agent, payload.manual, payload.for_task) == (1, None, False, None)
        assert isinstance(self._event("task.ready", {"later": 1}).typed(), NoDetail)

    def test_a_value_not_in_its_enum_is_kept_as_written(self):
        payload = self._event("gate.decided", {"decision": "MAYBE"}, "milestone").typed()
        assert payload.decision == "MAYBE"

    def test_a_kind_not_declared_keeps_its_payload_whole(self):
        event = self._event("plugin.did_something", {"x": 1}, "plugin")
        assert event.kind_enum is None
        assert event.typed() == UnknownPayload({"x": 1})

    def test_kinds_compare_equal_to_the_stored_strings(self):
        assert EventKind.TASK_CLAIMED == "task.claimed"
        assert self._event("task.claimed", {}).kind_enum is EventKind.TASK_CLAIMED
        assert EventKind.GATE_DECIDED.entity is Entity.MILESTONE

    def test_the_sets_of_kinds(self):
        assert EventKind.AGENT_HEARTBEAT not in CHARTED and EventKind.MEMORY_ADDED not in CHARTED
        assert {EventKind.TASK_CLAIMED, EventKind.GATE_DECIDED, EventKind.MILESTONE_OPENED} <= CHARTED
        assert HOLDING == {EventKind.TASK_HELD, EventKind.TASK_UNHELD, EventKind.TASK_CANCELLED}
        assert "task.held" in HOLDING and "gate.decided" in CHARTED  # a stored kind (a str) finds its member
