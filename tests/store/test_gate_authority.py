"""Who may act on a gate: identities compared in one canonical form, reviewers registered and never
agents, reports submitted by agents, and every human act recorded with who, when and why."""

from __future__ import annotations

import re

import pytest

from swarmdeck.app.cli._base import message as cli_message
from swarmdeck.store import MilestoneStatus
from swarmdeck.store.errors import InvalidArgument, InvalidTransition, NotFound, PermissionDenied

from store_support import (
    DATABASE_ERRORS,
    INTEGRITY_ERRORS,
    on_postgres,
    raw,
    row_counts,
    state,
    submit,
)

STORE_BACKENDS = ("sqlite", "postgres")
from signing_support import close, decide, key, resume


@pytest.fixture
async def desk(store):
    """Agents builder-1 and a2, reviewers alice and bob, a 2-of-2 milestone M1 and a locked M2."""
    await store.register_agent("builder-1", agent_type="coder")
    await store.register_agent("a2", agent_type="coder")
    await store.add_reviewer("alice", by="alice", public_key=key("alice"))
    await store.add_reviewer("bob", by="alice", public_key=key("bob"))
    await store.add_milestone("M1", required_approvals=2)
    await store.add_milestone("M2")
    return store


async def unchanged(store, where, action, error, match):
    """``action`` is refused with ``error`` and leaves every row and the change feed as they were.
    ``match`` is searched in the refusal as the CLI says it (the store's message, then the CLI's hint)."""
    before, counts = await state(store), row_counts(where)
    with pytest.raises(error) as info:
        await action
    assert re.search(match, cli_message(info.value)), cli_message(info.value)
    assert await state(store) == before and row_counts(where) == counts


# -- one identity, one spelling ------------------------------------------------------------------


class TestCanonicalIdentities:
    async def test_a_submitter_cannot_approve_its_own_gate_under_another_spelling(self, desk, where):
        store = desk
        await submit(store, "M1", by="builder-1")
        for spelling in ("builder-1 ", "Builder-1", "BUILDER-1", "builder\u200b-1", "\u202ebuilder-1",
                         "ｂｕｉｌｄｅｒ-1"):
            await unchanged(store, where, decide(store, "M1", decision="APPROVE", rationale="mine",
                                                              reviewer=spelling),
                            PermissionDenied, "builder-1 submitted this report and cannot decide it")
        assert (await store.get_milestone("M1")).status is MilestoneStatus.REVIEW

    async def test_a_zero_width_variant_is_not_a_second_approver(self, desk, where):
        store = desk
        await submit(store, "M1", by="builder-1")
        await decide(store, "M1", decision="APPROVE", rationale="good", reviewer="alice")
        for spelling in ("al\u200bice", "Alice", " alice", "al\u00adice", "alice\ufeff", "al\u2060ice"):
            await unchanged(store, where, decide(store, "M1", decision="APPROVE", rationale="again",
                                                              reviewer=spelling),
                            PermissionDenied, "alice has already approved this report version")
        gate = await store.gate_status("M1")
        assert gate.approvals == ("alice",) and gate.milestone.status is MilestoneStatus.REVIEW
        await decide(store, "M1", decision="APPROVE", rationale="agreed", reviewer="Bob ")
        gate = await store.gate_status("M1")
        assert gate.approvals == ("alice", "bob") and gate.milestone.status is MilestoneStatus.APPROVED
        assert gate.decisions[-1].reviewer == "bob"  # stored in its canonical form

    @pytest.mark.parametrize("rationale", ["\u200b", " \u200b\u200d ", "\u2060\ufeff", "\u00ad", "\u202e\u202c",
                                           "\u2800", "\x1b"])
    async def test_an_invisible_rationale_is_no_rationale(self, desk, where, rationale):
        store = desk
        await submit(store, "M1", by="builder-1")
        await unchanged(store, where, decide(store, "M1", decision="REVISE", rationale=rationale,
                                                          reviewer="alice"),
                        InvalidArgument, "a rationale is required")

    async def test_an_invisible_condition_is_no_condition(self, desk, where):
        store = desk
        await submit(store, "M1", by="builder-1")
        await unchanged(store, where, decide(store, "M1", decision="CONDITIONAL", rationale="ok",
                                                          reviewer="alice", conditions=["\u200b", " "]),
                        InvalidArgument, "needs at least one condition")

    @pytest.mark.parametrize("name, why", [
        ("", "is empty"), ("  \u200b ", "is empty"), ("\u202e\u2066", "is empty"),
        ("bad\x1bname", "control character"), ("new\nline", "control character"), ("x" * 201, "limit 200"),
        ("private\ue000", "private-use"),
    ])
    async def test_names_that_cannot_be_compared_are_refused(self, desk, where, name, why):
        store = desk
        before = row_counts(where)
        with pytest.raises(InvalidArgument) as info:
            await store.register_agent(name, agent_type="coder")
        assert why in str(info.value) or (why == "is empty" and "an agent needs a name" in str(info.value))
        with pytest.raises(InvalidArgument, match=why):
            await store.add_reviewer(name, by="alice")
        assert row_counts(where) == before
        assert [a.name for a in await store.list_agents()] == ["a2", "builder-1"]

    async def test_surrounding_whitespace_is_stripped_and_inner_spaces_folded(self, desk):
        store = desk
        agent = await store.register_agent("\tNew\u00a0\u3000 Agent\n", agent_type="coder")
        assert agent.name == "new agent"

    async def test_agents_are_one_identity_under_every_spelling(self, desk):
        store = desk
        again = await store.register_agent("  Builder-1", agent_type="tester")
        assert again.name == "builder-1" and again.agent_type == "tester"
        assert [a.name for a in await store.list_agents()] == ["a2", "builder-1"]
        assert (await store.heartbeat("BUILDER\u200b-1", completion=10)).completion == 10
        assert (await store.get_agent("Builder-1 ")).name == "builder-1"
        task = await store.enqueue_task(description="t")
        claimed = await store.claim_task(agent="Builder-1")
        assert claimed.id == task.id and claimed.assigned_agent == "builder-1"
        with pytest.raises(PermissionDenied, match="assigned to builder-1, not a2"):
            await store.complete_task(task.id, agent="A2")
        done = await store.complete_task(task.id, agent="builder\u200b-1 ")
        assert done.status.value == "completed"
        assert [t.id for t in await store.list_tasks(assigned_agent="Builder-1")] == [task.id]
        assert {e.actor for e in await store.events(actor="BUILDER-1")} == {"builder-1"}
        with pytest.raises(NotFound, match="is not registered"):
            await store.get_agent("bad\x1bname")


# -- reviewers are registered people, never agents ---------------------------------------------------


class TestReviewers:
    async def test_add_list_remove_keeps_history(self, desk, clock):
        store = desk
        assert [r.name for r in await store.list_reviewers()] == ["alice", "bob"]
        carol = await store.add_reviewer("  Carol", by="Alice")
        assert (carol.name, carol.added_by, carol.active, carol.public_key) == ("carol", "alice", True, None)
        with pytest.raises(InvalidArgument, match="carol is already a registered reviewer"):
            await store.add_reviewer("carol", by="alice")
        clock.advance(10)
        removed = await store.remove_reviewer("CAROL", by="bob")
        assert (removed.active, removed.removed_by, removed.removed_at.timestamp()) == (False, "bob", clock.now)
        assert [r.name for r in await store.list_reviewers()] == ["alice", "bob"]
        assert [(r.name, r.active) for r in await store.list_reviewers(include_removed=True)] == [
            ("alice", True), ("bob", True), ("carol", False)]
        assert (await store.get_reviewer("carol")).active is False
        with pytest.raises(InvalidArgument, match="carol is not an active reviewer"):
            await store.remove_reviewer("carol", by="bob")
        back = await store.add_reviewer("carol", by="bob")
        assert back.active and back.id == carol.id and back.added_by == "bob"
        kinds = [(e.kind, e.actor, e.entity_id) for e in await store.events(entity="reviewer")]
        assert kinds == [("reviewer.added", "bob", "carol"), ("reviewer.removed", "bob", "carol"),
                         ("reviewer.added", "alice", "carol"), ("reviewer.added", "alice", "bob"),
                         ("reviewer.added", "alice", "alice")]
        with pytest.raises(NotFound, match="'dave' is not a registered reviewer"):
            await store.get_reviewer("dave")

    async def test_reviewers_are_added_and_removed_by_reviewers(self, desk, where):
        store = desk
        await unchanged(store, where, store.add_reviewer("mallory", by="mallory"), PermissionDenied,
                        "only a registered reviewer can add a reviewer; mallory is not one")
        await unchanged(store, where, store.add_reviewer("mallory", by="builder-1"), PermissionDenied,
                        "builder-1 is a registered agent")
        await unchanged(store, where, store.remove_reviewer("alice", by="builder-1"), PermissionDenied,
                        "builder-1 is a registered agent")

    async def test_the_first_reviewer_registers_without_one(self, store):
        await store.register_agent("a1", agent_type="coder")
        with pytest.raises(PermissionDenied, match="a1 is a registered agent"):
            await store.add_reviewer("erin", by="a1")
        first = await store.add_reviewer("erin", by="erin")
        assert first.added_by == "erin"

    async def test_a_reviewer_name_is_never_an_agent_name(self, desk, where):
        store = desk
        for name in ("builder-1", "Builder-1 ", "a\u200b2"):
            await unchanged(store, where, store.add_reviewer(name, by="alice"), PermissionDenied,
                            "is a registered agent; a reviewer can never be an agent")
        for name in ("alice", "ALICE", "b\u200bob"):
            await unchanged(store, where, store.register_agent(name, agent_type="coder"), PermissionDenied,
                            "is a registered reviewer; an agent can never be a reviewer")
        await store.remove_reviewer("bob", by="alice")
        await unchanged(store, where, store.register_agent("bob", agent_type="coder"), PermissionDenied,
                        "bob is a registered reviewer")

    async def test_reviewers_are_never_deleted_and_keys_are_32_bytes_set_once(self, desk, where):
        store = desk
        await store.add_reviewer("carol", by="alice")  # registered without a key
        with raw(where) as conn:
            with pytest.raises(DATABASE_ERRORS, match="reviewers are never deleted"):
                conn.execute("DELETE FROM reviewers WHERE name = 'alice'")
            with pytest.raises(INTEGRITY_ERRORS):
                conn.execute("UPDATE reviewers SET public_key = ? WHERE name = 'carol'", (b"\x00\x11",))
            conn.execute("UPDATE reviewers SET public_key = ? WHERE name = 'carol'", (bytes(32),))
            with pytest.raises(INTEGRITY_ERRORS, match="signing key never changes"):
                conn.execute("UPDATE reviewers SET public_key = ? WHERE name = 'alice'", (bytes(32),))
        assert (await store.get_reviewer("carol")).public_key == bytes(32)
        assert (await store.get_reviewer("alice")).public_key == key("alice")


# -- the acts of a reviewer -----------------------------------------------------------------------------


class TestHumanActs:
    async def test_only_a_registered_reviewer_decides(self, desk, where):
        store = desk
        await submit(store, "M1", by="builder-1")
        approve = lambda who: decide(store, "M1", decision="APPROVE", rationale="fine", reviewer=who)  # noqa: E731
        await unchanged(store, where, approve("a2"), PermissionDenied,
                        "a2 is a registered agent; agents never decide a gate")
        await unchanged(store, where, approve("mallory"), PermissionDenied,
                        "mallory is not a registered reviewer, so cannot decide a gate.*swarmdeck reviewer add")
        await store.remove_reviewer("bob", by="alice")
        await unchanged(store, where, approve("bob"), PermissionDenied, "bob is no longer a reviewer")

    async def test_reports_are_submitted_by_registered_agents(self, desk, where):
        store = desk
        # A report "by alice" would lock alice out of deciding it.
        await unchanged(store, where, submit(store, "M1", by="alice"), PermissionDenied,
                        "alice is a reviewer; reports are submitted by agents")
        await unchanged(store, where, submit(store, "M1", by="Alice\u200b"), PermissionDenied,
                        "alice is a reviewer")
        await unchanged(store, where, submit(store, "M1", by="ghost"), PermissionDenied,
                        "ghost is not a registered agent")
        report = await submit(store, "M1", by="Builder-1 ")
        assert report.submitted_by == "builder-1"

    async def test_an_agent_cannot_close_its_gates_conditions(self, desk, where, clock):
        store = desk
        await submit(store, "M1", by="builder-1")
        await decide(store, "M1", decision="CONDITIONAL", rationale="ok", reviewer="alice",
                                conditions=["add docs", "fix flake"])
        await decide(store, "M1", decision="APPROVE", rationale="ok", reviewer="bob")
        first, second = (await store.gate_status("M1")).conditions
        for who in ("builder-1", "Builder-1"):
            await unchanged(store, where, close(store, first.id, closed_by=who, note="done"),
                            PermissionDenied, "builder-1 submitted this report")
        await unchanged(store, where, close(store, first.id, closed_by="a2", note="done"),
                        PermissionDenied, "a2 is a registered agent; agents never close a condition")
        await unchanged(store, where, close(store, first.id, closed_by="mallory", note="done"),
                        PermissionDenied, "mallory is not a registered reviewer")
        for note in (None, "", " \u200b "):
            await unchanged(store, where, close(store, first.id, closed_by="alice", note=note),
                            InvalidArgument, "a note on closing the condition must say something")
        clock.advance(5)
        closed = await close(store, first.id, closed_by="Alice", note="  docs merged ")
        assert (closed.closed_by, closed.note, closed.closed_at.timestamp()) == ("alice", "docs merged", clock.now)
        [event] = [e for e in await store.events(kind="gate.condition_closed")]
        assert (event.actor, event.payload["closed_by"], event.payload["note"]) == ("alice", "alice", "docs merged")
        assert (await store.get_milestone("M1")).status is MilestoneStatus.CONDITIONAL
        await close(store, second.id, closed_by="bob", note="flake fixed")
        assert (await store.get_milestone("M1")).status is MilestoneStatus.APPROVED

    async def test_only_a_reviewer_resumes_and_says_why(self, desk, where, clock):
        store = desk
        await submit(store, "M1", by="builder-1")
        escalation = await decide(store, "M1", decision="ESCALATE", rationale="security", reviewer="alice")
        await unchanged(store, where, resume(store, by="Builder-1", note="fine"), PermissionDenied,
                        "builder-1 submitted this report")
        await unchanged(store, where, resume(store, by="a2", note="fine"), PermissionDenied,
                        "a2 is a registered agent; agents never resume the swarm")
        await unchanged(store, where, resume(store, by="mallory", note="fine"), PermissionDenied,
                        "mallory is not a registered reviewer")
        for note in (None, "  ", "\u200b"):
            await unchanged(store, where, resume(store, by="bob", note=note), InvalidArgument,
                            "the reason for resuming must say something")
        assert (await store.swarm_state()).paused

        clock.advance(30)
        resumed = await resume(store, by="BOB", note=" host booked ")
        assert not resumed.paused
        gate = await store.gate_status("M1")
        [resumption] = gate.resumptions
        assert (resumption.resumed_by, resumption.reason, resumption.decision_id, resumption.milestone_id) == (
            "bob", "host booked", escalation.id, gate.milestone.id)
        assert resumption.resumed_at.timestamp() == clock.now
        review = [e for e in await store.events(kind="milestone.review")][0]
        assert (review.actor, review.payload["resumed_by"], review.payload["reason"]) == (
            "bob", "bob", "host booked")
        with raw(where) as conn:
            with pytest.raises(DATABASE_ERRORS, match="append-only"):
                conn.execute("UPDATE gate_resumptions SET reason = 'forged'")
            with pytest.raises(DATABASE_ERRORS, match="append-only"):
                conn.execute("DELETE FROM gate_resumptions")
            # SQLite's REPLACE; PostgreSQL's upsert (an UPDATE, refused by the update trigger).
            replace = ("INSERT INTO gate_resumptions (id, milestone_id, resumed_by, reason, resumed_at) "
                       "VALUES (?, 1, 'mallory', 'forged', 0) "
                       "ON CONFLICT (id) DO UPDATE SET reason = 'forged'"
                       if on_postgres(where) else
                       "REPLACE INTO gate_resumptions (id, milestone_id, resumed_by, reason, resumed_at) "
                       "VALUES (?, 1, 'mallory', 'forged', 0)")
            with pytest.raises(DATABASE_ERRORS, match="append-only"):
                conn.execute(replace, (resumption.id,))

    async def test_dry_runs_refuse_as_the_act_would_and_write_nothing(self, desk, where):
        store = desk
        await submit(store, "M1", by="builder-1")
        before, counts = await state(store), row_counts(where)
        assert await decide(store, "M1", decision="APPROVE", rationale="ok", reviewer="alice",
                                       dry_run=True) is None
        with pytest.raises(PermissionDenied, match="builder-1 submitted this report"):
            await decide(store, "M1", decision="APPROVE", rationale="ok", reviewer="Builder-1", dry_run=True)
        with pytest.raises(InvalidArgument, match="a rationale is required"):
            await decide(store, "M1", decision="APPROVE", rationale="\u200b", reviewer="alice", dry_run=True)
        assert await store.add_reviewer("carol", by="alice", dry_run=True) is None
        assert (await store.remove_reviewer("bob", by="alice", dry_run=True)).active
        with pytest.raises(InvalidTransition, match="the swarm is not paused"):
            await resume(store, by="alice", dry_run=True)
        assert await state(store) == before and row_counts(where) == counts
        assert [r.name for r in await store.list_reviewers()] == ["alice", "bob"]

        await decide(store, "M1", decision="CONDITIONAL", rationale="ok", reviewer="alice", conditions=["c"])
        [condition] = (await store.gate_status("M1")).conditions
        before = await state(store)
        shown = await close(store, condition.id, closed_by="bob", dry_run=True)  # the note comes later
        assert (shown.id, shown.text, shown.status.value) == (condition.id, "c", "open")
        with pytest.raises(PermissionDenied, match="a2 is a registered agent"):
            await close(store, condition.id, closed_by="a2", dry_run=True)
        with pytest.raises(InvalidArgument, match="must say something"):
            await close(store, condition.id, closed_by="bob", note=" ", dry_run=True)
        assert await state(store) == before
        assert (await store.gate_status("M1")).conditions == (condition,)

    async def test_check_reviewer_says_what_deciding_would(self, desk):
        store = desk
        await submit(store, "M1", by="builder-1")
        assert (await store.check_reviewer("Alice", milestone="M1")).name == "alice"
        with pytest.raises(PermissionDenied, match="builder-1 submitted this report and cannot decide it"):
            await store.check_reviewer("builder-1", milestone="M1")
        with pytest.raises(PermissionDenied, match="a2 is a registered agent"):
            await store.check_reviewer("a2")
        with pytest.raises(PermissionDenied) as info:
            await store.check_reviewer("zed")
        assert "swarmdeck reviewer add zed" in cli_message(info.value)
        with pytest.raises(PermissionDenied, match="is not a registered reviewer"):
            await store.check_reviewer("bad\x1b")


async def test_existing_identities_are_made_canonical_by_the_migration(db_path, clock, monkeypatch):
    """A database written before identities were canonical: its agents keep working under their names."""
    from swarmdeck.store import open_store
    from swarmdeck.store.sqlite import schema

    store = await open_store(db_path, create=True, clock=clock)
    await store.close()
    with raw(db_path) as conn:
        # Back to the schema before this migration, with names as an older swarmdeck stored them.
        conn.execute("BEGIN")
        # What the later migrations added goes too: they run again on top of this one.
        conn.execute("DROP INDEX gate_conditions_decision")
        conn.execute("DROP TRIGGER gate_conditions_closed_once")
        conn.execute("DROP TRIGGER milestones_gate_fixed")
        conn.execute("ALTER TABLE gate_decisions DROP COLUMN signature")
        conn.execute("ALTER TABLE gate_conditions DROP COLUMN close_signature")
        conn.execute("DROP TABLE gate_resumptions")
        conn.execute("DROP TABLE reviewers")
        version = [i for i, (name, _) in enumerate(schema.MIGRATIONS, start=1) if name.startswith("identity")][0]
        conn.execute("DELETE FROM schema_migrations WHERE version >= ?", (version,))
        conn.execute(f"PRAGMA user_version = {version - 1}")
        conn.execute("INSERT INTO agents (name, agent_type, registered_at) VALUES ('Builder-1 ', 'coder', 0)")
        conn.execute("INSERT INTO tasks (description, source, status, assigned_agent, created_at, updated_at) "
                     "VALUES ('t', 'human', 'running', 'Builder-1 ', 0, 0)")
        conn.execute("UPDATE swarm_state SET paused_by = 'Alice'")
        conn.execute("COMMIT")
    # Only this migration runs again: the ones after it are in the file already.
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:version])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", version)
    store = await open_store(db_path, clock=clock)
    try:
        assert [a.name for a in await store.list_agents()] == ["builder-1"]
        assert (await store.get_task(1)).assigned_agent == "builder-1"
        assert (await store.swarm_state()).paused_by == "alice"
        assert (await store.complete_task(1, agent="Builder-1")).status.value == "completed"
    finally:
        await store.close()
