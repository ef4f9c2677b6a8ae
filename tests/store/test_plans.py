"""Plans as graphs, on both backends: milestone prerequisites (parallel phases), schedule and money,
cutting, deferring and reinstating a milestone with its tasks, and execution plans that wait at the
gates and name the critical path."""

from __future__ import annotations

from datetime import date

import pytest

from swarmdeck.store import MilestoneStatus, PlanState, TaskStatus, gates, plans
from swarmdeck.store.errors import InvalidArgument, InvalidTransition, NotFound, PermissionDenied
from swarmdeck.store.events import EventKind

from store_support import DATABASE_ERRORS, people, raw, submit
from signing_support import decide

STORE_BACKENDS = ("sqlite", "postgres")


async def claim(store, agent: str):
    return await store.claim_task(agent=agent)


async def approve(store, name: str) -> None:
    await submit(store, name)
    await decide(store, name, decision="APPROVE", rationale="ok", reviewer="alice")


@pytest.fixture
async def phases(agents):
    """Seed 004's first phases: 1, then 2; 3 after 2; 4 after 1 and 2 (2 and 4's line is parallel to 3)."""
    store = agents
    await people(store)
    await store.add_milestone("P1")
    await store.add_milestone("P2")  # no prerequisites given: follows P1, as every milestone did
    await store.add_milestone("P3", after=["P2"])
    await store.add_milestone("P4", after=["P1", "P2"])
    await store.add_milestone("P5", after=["P4"])
    return store


def statuses(milestones) -> dict[str, str]:
    return {m.name: m.status.value for m in milestones}


class TestPrerequisites:
    async def test_a_milestone_opens_when_all_its_gates_passed_and_parallel_ones_open_together(self, phases):
        store = phases
        ms = {m.name: m for m in await store.list_milestones()}
        assert ms["P2"].prerequisites is None and ms["P4"].prerequisites == (ms["P1"].id, ms["P2"].id)
        assert statuses(ms.values()) == {"P1": "open", "P2": "locked", "P3": "locked", "P4": "locked",
                                         "P5": "locked"}
        t3 = await store.enqueue_task(description="redis", milestone="P3")
        t4 = await store.enqueue_task(description="api", milestone="P4")
        assert t3.status is TaskStatus.BLOCKED and t4.status is TaskStatus.BLOCKED
        assert gates.standing(await store.gate_status("P4")) == "Locked: it opens when the gates of P1, P2 pass."
        await approve(store, "P1")
        # what the reviewer of P2 is told: approving opens both, and every task they hold
        p2 = await store.gate_status("P2")
        assert (p2.next_milestone, p2.next_tasks, p2.unblocks, p2.following) == ("P3, P4", 2, 2, "P3, P4")
        assert statuses(await store.list_milestones())["P4"] == "locked"  # P2 has not passed yet
        await approve(store, "P2")
        # P3 and P4 open together: two phases in parallel
        assert statuses(await store.list_milestones()) == {
            "P1": "approved", "P2": "approved", "P3": "open", "P4": "open", "P5": "locked"}
        assert {(await store.get_task(t)).status for t in (t3.id, t4.id)} == {TaskStatus.READY}
        claimed = {(await claim(store, "a1")).id, (await claim(store, "a2")).id}
        assert claimed == {t3.id, t4.id}
        p3 = await store.gate_status("P3")
        assert p3.claims_open and not (await store.gate_status("P5")).claims_open

    async def test_no_prerequisites_keeps_the_line(self, gated):
        store = gated
        m3 = await store.add_milestone("M3")
        assert m3.prerequisites is None and m3.status is MilestoneStatus.LOCKED
        await approve(store, "M1")
        assert statuses(await store.list_milestones()) == {"M1": "approved", "M2": "open", "M3": "locked"}

    async def test_after_passed_gates_opens_at_once_and_an_empty_list_means_none(self, gated):
        store = gated
        await approve(store, "M1")
        assert (await store.add_milestone("Side", after=["M1"])).status is MilestoneStatus.OPEN
        assert (await store.add_milestone("Free", after=[])).status is MilestoneStatus.OPEN
        assert (await store.add_milestone("Late", after=["M2"])).status is MilestoneStatus.LOCKED

    async def test_unknown_milestones_and_bad_fields_are_refused_and_nothing_is_written(self, gated):
        store = gated
        with pytest.raises(NotFound, match="milestone 'M9' does not exist"):
            await store.add_milestone("M3", after=["M1", "M9"])
        with pytest.raises(NotFound):  # itself: it does not exist yet, so it can close no cycle
            await store.add_milestone("M3", after=["M3"])
        with pytest.raises(InvalidArgument, match="after must be a list"):
            await store.add_milestone("M3", after="M1")
        with pytest.raises(InvalidArgument, match="starts_on must be a date"):
            await store.add_milestone("M3", starts_on="next tuesday")
        with pytest.raises(InvalidArgument, match="money_budget"):
            await store.add_milestone("M3", money_budget=-1)
        with pytest.raises(InvalidArgument, match="hour_rate"):
            await store.add_milestone("M3", hour_rate=float("nan"))
        assert [m.name for m in await store.list_milestones()] == ["M1", "M2"]

    async def test_prerequisites_are_fixed_in_the_database(self, phases, where):
        store = phases
        with raw(where) as conn:
            with pytest.raises(DATABASE_ERRORS, match="prerequisites are fixed"):
                conn.execute("UPDATE milestones SET prerequisites = NULL WHERE name = 'P4'")

    def test_a_cycle_or_an_unknown_prerequisite_opens_nothing(self):
        from swarmdeck.store import graph

        prerequisites = {1: (2,), 2: (1,), 3: (), 4: (9,), 5: (3,)}
        assert graph.milestone_cycle(prerequisites) is not None
        assert graph.closed_milestones(prerequisites, passed={1, 2, 3, 9}, out_of_plan=()) == {1, 2, 4}
        assert graph.closed_milestones(prerequisites, passed={1, 2, 3, 9}, out_of_plan={3}) == {1, 2, 3, 4, 5}


class TestScheduleAndMoney:
    async def test_start_date_money_budget_and_rate(self, gated):
        store = gated
        m = await store.add_milestone("M3", planned_weeks="1-2", starts_on="2026-12-01", hour_budget=100,
                                      money_budget=76336, hour_rate=120)
        assert (m.starts_on, m.money_budget, m.hour_rate, m.cost_spent) == ("2026-12-01", 76336, 120, 0)
        assert plans.money(m) == "$0 of $76,336 (0%)"
        s = plans.schedule(m, {"completed": 1, "ready": 3}, date(2026, 12, 7))
        assert (s.starts, s.ends) == (date(2026, 12, 1), date(2026, 12, 14))
        # a week of two gone (half), a quarter of the work done: 3.5 days behind
        assert s.variance_days == pytest.approx(-3.5) and "4 d behind" in s.words()
        assert plans.schedule(m, {}, date(2026, 11, 1)).variance_days is None  # not started

    async def test_hours_booked_cost_money(self, gated):
        store = gated
        await store.add_milestone("M3", money_budget=1000, hour_rate=50, after=[])
        task = await store.enqueue_task(description="work", milestone="M3")
        got = await claim(store, "a1")
        assert got.id == task.id
        await store.complete_task(task.id, agent="a1")
        m = await store.get_milestone("M3")
        assert m.cost_spent == pytest.approx(m.hours_spent * 50)


class TestCutDeferReinstate:
    async def test_cut_holds_its_tasks_and_what_depends_on_it(self, phases):
        store = phases
        await approve(store, "P1")
        await approve(store, "P2")
        work = await store.enqueue_task(description="api", milestone="P4")
        later = await store.enqueue_task(description="workers", milestone="P5")
        cut = await store.replan_milestone("P4", state="cut", by="carol", reason="timeline slipped")
        assert cut.plan_state is PlanState.CUT and not cut.in_plan
        held = await store.get_task(work.id)
        assert held.status is TaskStatus.BLOCKED and "milestone 'P4' is cut" in held.blocked_reason
        assert await claim(store, "a1") is None  # nothing of P4 is handed out
        with pytest.raises(InvalidTransition, match="reports can be submitted once it is reinstated"):
            await submit(store, "P4")
        assert not (await store.gate_status("P4")).claims_open
        # P5 depends on the cut P4: it never opens, and nothing of it is handed out
        assert not (await store.gate_status("P5")).claims_open
        assert (await store.get_task(later.id)).status is TaskStatus.BLOCKED
        events = await store.events(kind=EventKind.MILESTONE_CUT)
        assert [(e.actor, e.payload["by"], e.payload["reason"], e.payload["tasks"]) for e in events] == [
            ("carol", "carol", "timeline slipped", 1)]

        assert gates.standing(await store.gate_status("P4")).startswith("Cut by a person: its tasks are held")
        assert (await store.gate_status("P2")).next_milestone is None  # approving P2 would open nothing more

        back = await store.replan_milestone("P4", state="active", by="carol", reason="room again")
        assert back.in_plan and (await store.get_task(work.id)).status is TaskStatus.READY
        assert (await claim(store, "a1")).id == work.id

    async def test_a_deferred_milestone_that_was_locked_opens_when_reinstated_if_its_gates_passed(self, phases):
        store = phases
        await store.replan_milestone("P3", state="deferred", by="carol", reason="later")
        task = await store.enqueue_task(description="redis", milestone="P3")
        assert task.status is TaskStatus.BLOCKED
        await approve(store, "P1")
        await approve(store, "P2")
        assert statuses(await store.list_milestones())["P3"] == "locked"  # deferred: the gate opened nothing
        await store.replan_milestone("P3", state="active", by="carol", reason="now")
        assert statuses(await store.list_milestones())["P3"] == "open"
        assert (await store.get_task(task.id)).status is TaskStatus.READY

    async def test_only_a_registered_reviewer_replans_and_says_why(self, phases):
        store = phases
        with pytest.raises(PermissionDenied, match="agents never cut"):
            await store.replan_milestone("P3", state="cut", by="a1", reason="I would rather not")
        with pytest.raises(PermissionDenied, match="not a registered reviewer"):
            await store.replan_milestone("P3", state="cut", by="mallory", reason="x")
        with pytest.raises(InvalidArgument, match="reason"):
            await store.replan_milestone("P3", state="cut", by="carol", reason="  ")
        with pytest.raises(InvalidArgument, match="state must be one of"):
            await store.replan_milestone("P3", state="dropped", by="carol", reason="x")
        with pytest.raises(InvalidTransition, match="already in the plan"):
            await store.replan_milestone("P3", state="active", by="carol", reason="x")
        await approve(store, "P1")
        with pytest.raises(InvalidTransition, match="passed its gate"):
            await store.replan_milestone("P1", state="cut", by="carol", reason="x")
        assert all(m.in_plan for m in await store.list_milestones())

    async def test_dry_run_changes_nothing(self, phases):
        store = phases
        m = await store.replan_milestone("P3", state="cut", by="carol", reason="x", dry_run=True)
        assert m.in_plan and (await store.get_milestone("P3")).in_plan


class TestExecutionPlan:
    async def test_the_plan_waits_at_the_gates_and_names_the_critical_path(self, phases):
        store = phases
        a = await store.enqueue_task(description="schema", milestone="P1", estimated_duration_seconds=3600)
        b = await store.enqueue_task(description="memory", milestone="P2", estimated_duration_seconds=600)
        c = await store.enqueue_task(description="redis", milestone="P3", estimated_duration_seconds=7200)
        d = await store.enqueue_task(description="api", milestone="P4", estimated_duration_seconds=1800)
        free = await store.enqueue_task(description="docs", estimated_duration_seconds=60)
        plan = await store.execution_plan([a.id, b.id, c.id, d.id, free.id])
        # P2 follows P1; P3 and P4 wait for P2 (P4 for P1 too) and run side by side
        assert plan.batches == ((a.id, free.id), (b.id,), (c.id, d.id))
        assert plan.max_parallelism == 2
        assert plan.critical_path == (a.id, b.id, c.id) and plan.critical_seconds == 3600 + 600 + 7200


class TestAnotherSeat:
    async def test_a_cut_made_elsewhere_closes_claims_here_at_once(self, phases, where, clock):
        """The gate guard is cached per store object: each act changes what its mark reads."""
        from swarmdeck.store import open_store

        store = phases
        task = await store.enqueue_task(description="schema", milestone="P1")
        other = await open_store(where, clock=clock)
        try:
            assert (await store.gate_status("P1")).claims_open  # the guard is now cached here
            await other.replan_milestone("P1", state="deferred", by="carol", reason="waiting on a vendor")
            assert await store.claim_task(agent="a1") is None
            await other.replan_milestone("P1", state="active", by="carol", reason="the vendor answered")
            assert (await store.claim_task(agent="a1")).id == task.id
        finally:
            await other.close()

    async def test_the_guard_hands_out_nothing_of_a_milestone_out_of_the_plan(self, phases, where):
        """Tasks left ready (a row written around swarmdeck) are still not handed out: claims ask the
        gate guard, not the task's status."""
        store = phases
        task = await store.enqueue_task(description="schema", milestone="P1")
        assert (await store.gate_status("P1")).claims_open
        with raw(where) as conn:
            conn.execute("UPDATE milestones SET plan_state = 'cut', plan_version = plan_version + 1 "
                         "WHERE name = 'P1'")
        assert (await store.get_task(task.id)).status is TaskStatus.READY
        assert await store.claim_task(agent="a1") is None
