"""The rules the three faces share (store/rules.py, store/timeparse.py, gates.preview) and the store's
structured errors: each decided once, here, for the CLI, the MCP server and the dashboard."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from swarmdeck.store import Decision, MilestoneStatus, gates, rules, timeparse
from swarmdeck.store.embed import EmbedderError, HashEmbedder
from swarmdeck.store.errors import (
    DatabaseMissing,
    InvalidArgument,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    Remedy,
    SwarmPaused,
)
from swarmdeck.store.indexer import Indexer
from swarmdeck.store.models import SearchMode

from signing_support import decide
from store_support import submit

#: Runs on both backends (tests/conftest.py).
STORE_BACKENDS = ("sqlite", "postgres")

# -- search with a fallback ------------------------------------------------------------------------------


class Failing:
    def __init__(self, model: str = "hash:64", error: Exception | None = None) -> None:
        self.model = model
        self.error = error or EmbedderError("server at 127.0.0.1:9 refused the connection")

    async def embed_query(self, text: str):
        raise self.error


class WrongShape:
    model = "hash:64"

    async def embed_query(self, text: str):
        return await HashEmbedder(32).embed_query(text)


@pytest.fixture
async def remembered(store):
    await store.add_memory("ns", "ws", "the websocket gateway reconnects with backoff", memory_type="semantic",
                           created_by="a")
    await store.add_memory("ns", "db", "the database runs in WAL mode", memory_type="semantic", created_by="a")
    return store


async def test_keyword_mode_never_asks_the_embedder(remembered):
    answer = await rules.search(remembered, "websocket", mode="keyword", embedder=Failing())
    assert answer.mode is SearchMode.KEYWORD and not answer.fell_back and answer.reason is None
    assert len(answer.hits) == 1 and answer.hits[0].keyword_rank == 1


async def test_no_embedder_falls_back_and_says_why(remembered):
    answer = await rules.search(remembered, "websocket", embedder=None, unavailable="'openai' is not an embedder")
    assert (answer.requested, answer.mode, answer.fallback) == (
        SearchMode.HYBRID, SearchMode.KEYWORD, rules.Fallback.NO_EMBEDDER)
    assert answer.reason == "semantic search is off ('openai' is not an embedder)" and len(answer.hits) == 1
    bare = await rules.search(remembered, "websocket", embedder=None)
    assert bare.reason == "semantic search is off (no embedder)"


async def test_nothing_embedded_yet_falls_back(remembered):
    answer = await rules.search(remembered, "websocket", mode="semantic", embedder=HashEmbedder(64))
    assert answer.fallback is rules.Fallback.INDEX_EMPTY and answer.mode is SearchMode.KEYWORD
    assert answer.reason == "nothing is embedded with hash:64 yet" and len(answer.hits) == 1


async def test_an_empty_index_is_no_fallback(store):
    answer = await rules.search(store, "websocket", embedder=HashEmbedder(64))
    assert answer.hits == [] and not answer.fell_back


async def test_a_failing_or_nonsense_embedder_falls_back_with_its_error(remembered):
    await Indexer(remembered, HashEmbedder(64)).drain()
    working = await rules.search(remembered, "websocket", embedder=HashEmbedder(64))
    assert working.mode is SearchMode.HYBRID and not working.fell_back
    assert any(h.semantic_rank is not None for h in working.hits)
    failed = await rules.search(remembered, "websocket", embedder=Failing())
    assert failed.fallback is rules.Fallback.EMBEDDER_FAILED and "127.0.0.1:9" in failed.reason
    assert all(h.semantic_rank is None for h in failed.hits) and len(failed.hits) == 1
    crashed = await rules.search(remembered, "websocket", embedder=Failing(error=RuntimeError()))
    assert crashed.reason == "semantic search failed (RuntimeError)"
    shaped = await rules.search(remembered, "websocket", embedder=WrongShape())
    assert "shape (32,)" in shaped.reason and "64 dimensions" in shaped.reason


async def test_bad_filters_and_modes_are_refused_whatever_the_embedder(remembered):
    with pytest.raises(InvalidArgument, match="unknown kind"):
        await rules.search(remembered, "x", embedder=None, kinds=["nonsense"])
    with pytest.raises(InvalidArgument, match="mode must be hybrid, keyword or semantic"):
        await rules.search(remembered, "x", mode="fuzzy", embedder=None)


# -- current decisions, agent fields, ids ----------------------------------------------------------------


async def test_current_decisions_are_the_verified_ones_on_the_current_report(gated):
    store = gated
    await submit(store, "M1")
    await decide(store, "M1", decision="REVISE", rationale="again", reviewer="alice")
    assert rules.latest_decision(await store.gate_status("M1")).decision is Decision.REVISE
    await submit(store, "M1", summary="v2")
    gate = await store.gate_status("M1")
    assert rules.current_decisions(gate) == [] and rules.latest_decision(gate) is None
    await decide(store, "M1", decision="APPROVE", rationale="fine", reviewer="alice")
    gate = await store.gate_status("M1")
    assert [d.decision for d in rules.current_decisions(gate)] == [Decision.APPROVE]
    assert len(gate.decisions) == 2


def test_agent_fields_leave_out_what_is_not_given_and_clear_what_is_cleared():
    assert rules.agent_fields() == {}
    assert rules.agent_fields(status="working", current_task=3, completion=40.0, blockers=["ci"],
                              next_milestone="M2") == {
        "status": "working", "current_task_id": 3, "completion": 40.0, "blockers": ["ci"], "next_milestone": "M2"}
    assert rules.agent_fields(clear_task=True, clear_blockers=True, next_milestone="") == {
        "current_task_id": None, "blockers": [], "next_milestone": None}
    assert rules.agent_fields(blockers=[]) == {"blockers": []}
    with pytest.raises(InvalidArgument, match="not both"):
        rules.agent_fields(current_task=3, clear_task=True)
    with pytest.raises(InvalidArgument, match="not both"):
        rules.agent_fields(blockers=["x"], clear_blockers=True)


def test_ids_and_overflow():
    assert rules.check_id(1) == 1 and rules.check_id(rules.MAX_ID) == rules.MAX_ID
    assert rules.check_id(0, low=0) == 0
    for bad in (0, -1, rules.MAX_ID + 1, True, "3", 1.0):
        with pytest.raises(InvalidArgument, match="whole number from 1"):
            rules.check_id(bad, "task id")
    refused = rules.driver_refusal(OverflowError("Python int too large to convert to SQLite INTEGER"))
    assert isinstance(refused, InvalidArgument) and str(refused) == "a number given is too large for the database"
    assert rules.driver_refusal(ValueError()) is None


# -- times -------------------------------------------------------------------------------------------------


def test_durations_moments_and_the_past():
    assert [timeparse.duration(t) for t in ("90", "90s", "30m", "2h", "1d", "1w", " 1.5h ")] == [
        90, 90, 1800, 7200, 86400, 604800, 5400]
    with pytest.raises(ValueError, match="is not a duration"):
        timeparse.duration("soon")
    clock = lambda: 1_000_000.0  # noqa: E731
    assert timeparse.moment("+2h", clock=clock).timestamp() == 1_000_000 + 7200
    assert timeparse.moment("2026-12-01T17:00:00") == datetime(2026, 12, 1, 17, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="is not a time"):
        timeparse.moment("tomorrow")
    assert timeparse.past("-1d", clock=clock).timestamp() == timeparse.past("1d", clock=clock).timestamp() \
        == 1_000_000 - 86400
    assert timeparse.past("2026-01-01").tzinfo is timezone.utc


# -- what a decision will do ---------------------------------------------------------------------------------


async def test_preview_says_what_outcome_decides_and_what_check_decision_refuses(gated):
    store = gated
    await submit(store, "M1")
    gate = await store.gate_status("M1")
    approve = gates.preview(gate, Decision.APPROVE, reviewer="alice", rationale="ok")
    assert approve.refusal is None and approve.outcome.opens_next
    assert approve.sentence == "M1 is approved, and M2 opens: 0 tasks, 0 ready now."
    conditional = gates.preview(gate, Decision.CONDITIONAL, reviewer="alice", rationale="ok", conditions=["a", "b"])
    assert conditional.outcome.milestone_status is MilestoneStatus.CONDITIONAL
    assert conditional.sentence.endswith("; 2 condition(s) stay tracked until closed.")
    assert gates.preview(gate, Decision.REVISE, reviewer="alice", rationale="x").sentence.startswith(
        "M1 returns to work")
    escalate = gates.preview(gate, Decision.ESCALATE, reviewer="alice", rationale="x")
    assert escalate.outcome.pauses_swarm and escalate.sentence.startswith("The whole swarm pauses")
    # What refuses it: check_decision's own refusals, naming the field they concern.
    blank = gates.preview(gate, Decision.APPROVE, reviewer="alice", rationale=" ")
    assert isinstance(blank.refusal, InvalidArgument) and blank.refusal.fields["field"] == "rationale"
    empty = gates.preview(gate, Decision.CONDITIONAL, reviewer="alice", rationale="ok")
    assert "needs at least one condition" in str(empty.refusal) and empty.refusal.fields["field"] == "conditions"
    own = gates.preview(gate, Decision.APPROVE, reviewer="bot", rationale="ok")
    assert isinstance(own.refusal, PermissionDenied) and "cannot decide it" in str(own.refusal)
    # Two approvals needed: the first one records approval 1 of 2.
    await store.add_milestone("M3", required_approvals=2)
    locked = gates.preview(await store.gate_status("M3"), Decision.APPROVE, reviewer="alice", rationale="ok")
    assert isinstance(locked.refusal, InvalidTransition)
    assert locked.sentence == "Records approval 1 of 2; the gate stays in review until the rest approve."


# -- structured errors ---------------------------------------------------------------------------------------


def test_errors_carry_fields_and_a_remedy_and_no_face_advice():
    missing = NotFound(entity="agent", key="a1")
    assert str(missing) == "agent 'a1' is not registered" and missing.remedy is Remedy.REGISTER_AGENT
    assert (missing.entity, missing.key, missing.code) == ("agent", "a1", "not_found")
    assert NotFound("task 3 does not exist").remedy is None
    assert str(NotFound(entity="task", key=3)) == "task 3 does not exist"
    db = DatabaseMissing(path="/x/swarm.db")
    assert str(db) == "no swarmdeck database at /x/swarm.db" and db.remedy is Remedy.INIT_DATABASE
    assert str(DatabaseMissing(path="/x", empty=True)) == "/x is empty, not a swarmdeck database"
    paused = SwarmPaused(reason="escalated")
    assert str(paused) == "the swarm is paused (escalated)" and paused.remedy is Remedy.RESUME_SWARM
    assert "`swarmdeck" not in str(paused) + str(db) + str(missing)


async def test_no_store_message_carries_command_line_advice(store):
    for call in (store.get_agent("ghost"), store.heartbeat("ghost"), store.claim_task(agent="ghost"),
                 store.check_reviewer("zed")):
        with pytest.raises((NotFound, PermissionDenied)) as info:
            await call
        assert "`swarmdeck" not in str(info.value) and info.value.remedy is not None


async def test_a_missing_row_names_its_entity_and_key(store):
    for call, entity, key in ((store.get_task(99), "task", 99), (store.get_record(7), "learning_record", 7),
                              (store.get_session("s-9"), "session", "s-9")):
        with pytest.raises(NotFound) as info:
            await call
        assert (info.value.entity, info.value.key, info.value.fields["entity"]) == (entity, key, entity)
        assert info.value.remedy is None
