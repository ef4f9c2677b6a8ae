"""What only the PostgreSQL store's gates and reviewers need: a name is never both an agent's and a
reviewer's even when the two registrations run at once (on SQLite every write is serialised, so they
cannot); the gates' guard, cached, is computed again when a decision commits after one with a larger
id (ids are not committed in order here); and a passed gate releases the next milestone's waiting
tasks through the unit of work; the gates' writes run one at a time, so two approvals at once both
count; and a claim under way holds them off, so no task is handed out after an escalation committed."""

from __future__ import annotations

import asyncio
import threading

import pytest

from swarmdeck.store import MilestoneStatus, open_store, signing
from swarmdeck.store.errors import PermissionDenied, SwarmPaused
from swarmdeck.store.postgres import base
from swarmdeck.store.postgres.uow import PgUnit

from signing_support import decide, key, signer
from store_support import raw, submit

#: How long the first of two writes waits for the second (it comes within milliseconds).
MEET_S = 10.0


def second_write_waiting(url: str) -> bool:
    """Whether a transaction on this database waits for an advisory lock (the gates' lock)."""
    with raw(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()[0] > 0


def meet_before_writing(monkeypatch, url: str, methods=("upsert_agent", "insert_reviewer")) -> None:
    """Two writes at once, in the worst order: the first to reach its write (one of ``methods`` of
    the unit, after every check of its rule) waits for the second to reach its own write too, or to
    wait for the gates' lock; only then does it write. Without a lock, both checked before either
    wrote: the interleaving a race needs. A retry (after a serialisation failure, on the same store's
    writer thread) goes straight on."""
    arrived = threading.Event()
    first: list[int] = []
    mutex = threading.Lock()

    def meeting(original):
        def method(self, *args, **kwargs):
            me = threading.get_ident()
            with mutex:
                is_first = not first
                if is_first:
                    first.append(me)
                elif me != first[0]:
                    arrived.set()
            if is_first:
                deadline = MEET_S
                while not arrived.wait(0.002) and not second_write_waiting(url):
                    deadline -= 0.002
                    assert deadline > 0, "the second write never came"
            return original(self, *args, **kwargs)
        return method

    for name in methods:
        monkeypatch.setattr(PgUnit, name, meeting(getattr(PgUnit, name)))


async def at_once(url: str, clock, *acts) -> list[object]:
    """Each act (a function of a store) run by a store of its own (a connection each), all at once:
    what each returned or raised."""
    seats = [await open_store(url, clock=clock) for _ in acts]
    try:
        return await asyncio.gather(*(act(seat) for act, seat in zip(acts, seats)), return_exceptions=True)
    finally:
        for seat in seats:
            await seat.close()


async def register_both_at_once(url: str, clock) -> list[object]:
    """An agent and a reviewer registered under one name at once."""
    return await at_once(url, clock, lambda s: s.register_agent("x", agent_type="coder"),
                         lambda s: s.add_reviewer("x", by="alice", public_key=key("x")))


#: Alice's and Bob's approvals of M1, each by a store of its own.
APPROVALS = (lambda s: decide(s, "M1", decision="APPROVE", rationale="fine", reviewer="alice"),
             lambda s: decide(s, "M1", decision="APPROVE", rationale="agreed", reviewer="bob"))


async def test_two_approvals_of_a_two_approval_gate_at_once_pass_it(pg, pg_store_url, clock, monkeypatch):
    """Each approval counts the other (the gates' writes run one at a time), so the gate passes and
    opens the next milestone, as on SQLite."""
    store = pg
    await store.add_reviewer("bob", by="alice", public_key=key("bob"))
    await store.register_agent("bot", agent_type="validator")
    await store.add_milestone("M1", required_approvals=2)
    await store.add_milestone("M2")
    await submit(store, "M1")
    meet_before_writing(monkeypatch, pg_store_url, ("insert_decision",))
    outcomes = await at_once(pg_store_url, clock, *APPROVALS)
    assert not any(isinstance(o, BaseException) for o in outcomes), outcomes
    gate = await store.gate_status("M1")
    assert gate.approvals == ("alice", "bob") and gate.verified_passed
    assert gate.milestone.status is MilestoneStatus.APPROVED
    assert (await store.get_milestone("M2")).status is MilestoneStatus.OPEN


async def test_without_the_gates_lock_two_approvals_at_once_would_leave_the_gate_in_review(
        pg, pg_store_url, clock, monkeypatch):
    """What the test above would catch: with the lock taken away, each approval counts one."""
    monkeypatch.setattr(PgUnit, "lock_gates", lambda self: None)
    store = pg
    await store.add_reviewer("bob", by="alice", public_key=key("bob"))
    await store.register_agent("bot", agent_type="validator")
    await store.add_milestone("M1", required_approvals=2)
    await store.add_milestone("M2")
    await submit(store, "M1")
    meet_before_writing(monkeypatch, pg_store_url, ("insert_decision",))
    await at_once(pg_store_url, clock, *APPROVALS)
    gate = await store.gate_status("M1")
    assert gate.approvals == ("alice", "bob") and gate.milestone.status is MilestoneStatus.REVIEW
    assert (await store.get_milestone("M2")).status is MilestoneStatus.LOCKED


@pytest.fixture
async def pg(pg_store_url, clock):
    store = await open_store(pg_store_url, create=True, clock=clock)
    try:
        await store.add_reviewer("alice", by="alice", public_key=key("alice"))
        yield store
    finally:
        await store.close()


def holders(url: str) -> tuple[int, int]:
    with raw(url) as conn:
        agents = conn.execute("SELECT count(*) FROM agents WHERE name = 'x'").fetchone()[0]
        reviewers = conn.execute("SELECT count(*) FROM reviewers WHERE name = 'x'").fetchone()[0]
    return agents, reviewers


async def test_an_agent_and_a_reviewer_registered_at_once_never_share_a_name(pg, pg_store_url, clock,
                                                                             monkeypatch):
    meet_before_writing(monkeypatch, pg_store_url)
    outcomes = await register_both_at_once(pg_store_url, clock)
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    # One registration holds the name; the other ran again on what it committed and met the rule.
    assert len(refused) == 1 and isinstance(refused[0], PermissionDenied), outcomes
    assert "an agent can never be a reviewer" in str(refused[0]) \
        or "a reviewer can never be an agent" in str(refused[0])
    assert sorted(holders(pg_store_url)) == [0, 1]
    # The events say the same: only the registration that holds the name is in the feed.
    kinds = {e.kind for e in await pg.events(entity_id="x", entity="agent")} \
        | {e.kind for e in await pg.events(entity_id="x", entity="reviewer")}
    assert len(kinds) == 1


async def test_at_read_committed_the_same_two_registrations_would_share_a_name(pg, pg_store_url, clock,
                                                                               monkeypatch):
    """What the test above would catch: with the registrations at READ COMMITTED (SERIALIZABLE
    turned off here), both checks pass and both write."""
    transaction = base.Database._transaction
    monkeypatch.setattr(base.Database, "_transaction",
                        lambda self, writer, actor, body, args, serializable:
                        transaction(self, writer, actor, body, args, False))
    meet_before_writing(monkeypatch, pg_store_url)
    outcomes = await register_both_at_once(pg_store_url, clock)
    assert not any(isinstance(o, BaseException) for o in outcomes), outcomes
    assert holders(pg_store_url) == (1, 1)


async def test_one_reviewer_added_twice_at_once_is_told_they_are_registered(pg, pg_store_url, clock,
                                                                            monkeypatch):
    """The second add runs again on what the first committed and meets the rule, in SQLite's words
    (not the unique index's)."""
    meet_before_writing(monkeypatch, pg_store_url)
    add = lambda s: s.add_reviewer("x", by="alice", public_key=key("x"))  # noqa: E731
    outcomes = await at_once(pg_store_url, clock, add, add)
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(refused) == 1 and str(refused[0]) == "x is already a registered reviewer", outcomes
    assert holders(pg_store_url) == (0, 1)


async def test_a_passed_gate_releases_the_next_milestones_waiting_tasks(pg, pg_store_url):
    """open_next on PostgreSQL: M2's blocked task with nothing left to wait for becomes ready, one
    still waiting on an unfinished task stays blocked (tasks written directly: the tasks area is not
    on this backend yet)."""
    store = pg
    await store.register_agent("bot", agent_type="validator")
    await store.add_milestone("M1")
    await store.add_milestone("M2")
    with raw(pg_store_url) as conn:
        def task(description, status, milestone):
            return conn.execute(
                "INSERT INTO tasks (description, source, status, milestone_id, created_at, updated_at) "
                "VALUES (?, 'human', ?, ?, 0, 0) RETURNING id",
                (description, status, milestone)).fetchone()[0]
        free = task("free", "blocked", 2)
        first = task("first", "pending", 1)
        waiting = task("waiting", "blocked", 2)
        conn.execute("INSERT INTO task_dependencies (task_id, prerequisite_id) VALUES (?, ?)",
                     (waiting, first))
    await submit(store, "M1")
    await decide(store, "M1", decision="APPROVE", rationale="all met", reviewer="alice")
    assert (await store.get_milestone("M2")).status is MilestoneStatus.OPEN
    with raw(pg_store_url) as conn:
        statuses = dict(conn.execute("SELECT id, status FROM tasks").fetchall())
    assert statuses == {free: "ready", first: "pending", waiting: "blocked"}
    assert [e.entity_id for e in await store.events(kind="task.ready")] == [str(free)]


async def test_a_decision_committed_after_a_larger_id_renews_the_cached_guard(pg, pg_store_url):
    """A signed approval inserted (id n) and committed only after a row with id n + 1 was committed and
    the guard cached: the cache is not kept, and the approval opens M2 to claims."""
    store = pg
    await store.register_agent("bot", agent_type="validator")
    await store.add_milestone("M1")
    await store.add_milestone("M2")
    report = await submit(store, "M1")
    approval = signer("alice").sign(signing.decision_message(
        milestone_id=1, report_hash=report.content_hash, decision="APPROVE", rationale="all met",
        conditions=(), reviewer="alice"))
    insert = ("INSERT INTO gate_decisions (milestone_id, report_id, report_hash, decision, rationale, "
              "reviewer, decided_at, signature) VALUES (1, ?, ?, ?, ?, 'alice', 0, ?) RETURNING id")
    with raw(pg_store_url) as late, raw(pg_store_url) as early:
        late.execute("BEGIN")
        first = late.execute(insert, (report.id, report.content_hash, "APPROVE", "all met", approval))
        first = first.fetchone()[0]
        second = early.execute(insert, (report.id, report.content_hash, "REVISE", "forged", b"\x00" * 64))
        second = second.fetchone()[0]
        assert second > first
        gate = await store.gate_status("M2")  # the guard, cached with the newest id committed: second
        assert not gate.claims_open
        late.execute("COMMIT")
    gate = await store.gate_status("M1")
    assert [d.verified for d in gate.decisions] == [True, False] and gate.verified_passed
    assert (await store.gate_status("M2")).claims_open


async def test_a_read_only_seat_shows_the_gates_and_decides_nothing(pg, pg_store_url, clock):
    store = pg
    await store.register_agent("bot", agent_type="validator")
    await store.add_milestone("M1")
    await submit(store, "M1")
    await decide(store, "M1", decision="ESCALATE", rationale="stop", reviewer="alice")
    seat = await open_store(pg_store_url, read_only=True, clock=clock)
    try:
        gate = await seat.gate_status("M1")
        assert [d.verified for d in gate.decisions] == [True] and gate.milestone.status.value == "escalated"
        assert (await seat.swarm_state()).paused
        assert [r.name for r in await seat.list_reviewers()] == ["alice"]
        with pytest.raises(PermissionDenied):
            await decide(seat, "M1", decision="APPROVE", rationale="ok", reviewer="alice")
    finally:
        await seat.close()
    assert len((await store.gate_status("M1")).decisions) == 1


async def claim_across_an_escalation(store, url: str, clock, monkeypatch) -> tuple[object, bool]:
    """A claim that has read the pause flag and the guard (it is about to hand out a task) meets an
    escalation of M1 made by another store: the claim goes on only once the escalation has committed
    or waits for the gates' lock. What the claim returned, and whether the escalation had committed
    by then."""
    await store.register_agent("bot", agent_type="validator")
    await store.register_agent("a1", agent_type="coder")
    await store.add_milestone("M1")
    await store.enqueue_task(description="work", milestone="M1")
    await submit(store, "M1")
    escalated = threading.Event()
    about_to_claim = threading.Event()
    went_on_after_escalation: list[bool] = []
    original = PgUnit.claim_next

    def claim_next(self, *args, **kwargs):
        about_to_claim.set()
        deadline = MEET_S
        while not escalated.wait(0.002) and not second_write_waiting(url):
            deadline -= 0.002
            assert deadline > 0, "the escalation neither committed nor waited"
        went_on_after_escalation.append(escalated.is_set())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PgUnit, "claim_next", claim_next)
    claimer = await open_store(url, clock=clock)
    reviewer = await open_store(url, clock=clock)
    try:
        claim = asyncio.ensure_future(claimer.claim_task(agent="a1"))
        assert await asyncio.get_running_loop().run_in_executor(None, about_to_claim.wait, MEET_S)

        async def escalate():
            await decide(reviewer, "M1", decision="ESCALATE", rationale="security review", reviewer="alice")
            escalated.set()

        outcomes = await asyncio.gather(claim, escalate(), return_exceptions=True)
    finally:
        await claimer.close()
        await reviewer.close()
    assert not isinstance(outcomes[1], BaseException), outcomes
    assert (await store.swarm_state()).paused
    return outcomes[0], went_on_after_escalation[0]


async def test_an_escalation_waits_for_a_claim_under_way_and_a_claim_never_hands_out_after_it(
        pg, pg_store_url, clock, monkeypatch):
    """A claim holds the gates' lock shared from before it reads the guard to its commit: the
    escalation waits for it, so the task it hands out was handed out before the swarm was paused,
    and the next claim is refused."""
    claimed, after = await claim_across_an_escalation(pg, pg_store_url, clock, monkeypatch)
    assert not after and claimed is not None and claimed.assigned_agent == "a1"
    await pg.enqueue_task(description="more", milestone="M1")
    with pytest.raises(SwarmPaused):
        await pg.claim_task(agent="a1")


async def test_without_the_shared_gates_lock_a_claim_would_hand_out_a_task_after_an_escalation(
        pg, pg_store_url, clock, monkeypatch):
    """What the test above would catch: without the shared lock the escalation commits while the
    claim is under way, and the claim, on the guard it read before, still hands out the task."""
    monkeypatch.setattr(PgUnit, "share_gates", lambda self: None)
    claimed, after = await claim_across_an_escalation(pg, pg_store_url, clock, monkeypatch)
    assert after and claimed is not None and claimed.assigned_agent == "a1"
