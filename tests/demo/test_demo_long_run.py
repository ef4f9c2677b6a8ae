"""The demo keeps working: through the whole project when a reviewer decides its gates, and, while a gate
waits on a person, with nothing left undone that is not behind that gate.

`swarmdeck demo --seed 7 --speed 5` looked stalled a minute in: M2-M4's 28 tasks blocked, none ready,
`performance-validator` silent while holding a task. What it was: M1's validation report awaiting the
person's decision (by design), while the silent agent's task had already gone back to the queue by the
store's lease rule and been finished by another agent. These runs pin both down, and that every seed
reaches the end of the project when its gates are decided.

The fake clock moves half a second per step, as tests/demo/test_demo.py does; nothing sleeps.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from swarmdeck.app.demo import Swarm, seed
from swarmdeck.app.demo.project import ORCHESTRATOR
from swarmdeck.store import Decision, MilestoneStatus, TaskStatus

from signing_support import close, decide, key

TICK = 0.5
REVIEWER = "alice"
#: Steps without any task or gate event, while no gate waits on a person, that count as a stall: the
#: lease timeout (30 s of store time) plus the reap interval, with room to spare.
STALL_STEPS = 100


def kind(task) -> str | None:
    return task.input_data.get("kind") if isinstance(task.input_data, dict) else None


async def awaiting_person(store) -> list[str]:
    """The milestones whose gate waits on the reviewer: a report in review, or an open condition whose
    work is done (closing it is the reviewer's act)."""
    return [ms.name for ms in await store.list_milestones()
            if ms.status in (MilestoneStatus.REVIEW, MilestoneStatus.CONDITIONAL)]


class Reviewer:
    """The person at the dashboard, deciding each report as it proposes (at most two REVISE rounds per
    milestone), and closing a condition once the task that meets it is done."""

    def __init__(self, store) -> None:
        self.store = store
        self.revised: Counter = Counter()
        self.decided: list[tuple[str, str]] = []

    async def act(self) -> None:
        for ms in await self.store.list_milestones():
            if ms.status is MilestoneStatus.REVIEW:
                report = await self.store.get_report(ms.id)
                proposed = report.proposed_decision
                # Approving, the person ticks the box that accepts what the report leaves not met.
                accept = [c.text for c in (await self.store.gate_status(ms.id)).criteria.unsettled]
                if proposed is Decision.REVISE and self.revised[ms.id] < 2:
                    self.revised[ms.id] += 1
                    await decide(self.store, ms.id, decision=Decision.REVISE, rationale="fix what missed",
                                 reviewer=REVIEWER)
                elif proposed is Decision.CONDITIONAL:
                    await decide(self.store, ms.id, decision=Decision.CONDITIONAL, rationale="ship, then fix",
                                 reviewer=REVIEWER, conditions=["Raise unit test coverage above 92%"],
                                 accept_unmet=accept)
                else:
                    await decide(self.store, ms.id, decision=Decision.APPROVE, rationale="criteria met",
                                 reviewer=REVIEWER, accept_unmet=accept)
                self.decided.append((ms.name, proposed.value))
            elif ms.status is MilestoneStatus.CONDITIONAL:
                gate = await self.store.gate_status(ms.id)
                tasks = await self.store.list_tasks(milestone_id=ms.id, limit=100_000)
                for c in gate.conditions:
                    met = any(kind(t) == "condition" and t.input_data.get("condition_id") == c.id
                              and t.status is TaskStatus.COMPLETED for t in tasks)
                    if c.status.value == "open" and met:
                        await close(self.store, c.id, closed_by=REVIEWER, note="condition met")


async def progress_since(store, event_id: int) -> tuple[int, bool]:
    """The newest event id, and whether any task or gate moved since ``event_id``."""
    events = await store.changes_since(event_id, limit=100_000)
    moved = any(e.kind.startswith(("task.", "gate.", "milestone.")) for e in events)
    return (events[-1].id if events else event_id), moved


async def test_the_reported_stall_is_m1_awaiting_its_reviewer_and_the_silent_agents_task_was_requeued(
        store, clock):
    """The bug report's run (seed 7, speed 5): once nothing moves, M1's report awaits the person, the
    tasks still blocked are all behind a closed gate, and the task the silent agent held went back to the
    queue by the store's rules and was finished by another agent while it was away."""
    await seed(store, now=clock.now, history=False, reviewer=REVIEWER, reviewer_key=key(REVIEWER))
    swarm = Swarm(store, rng=random.Random(7), speed=5)
    last, quiet = await store.latest_event_id(), 0
    held: dict[str, set[int]] = {}
    for _ in range(600):
        clock.advance(TICK)
        await swarm.step()
        for agent in await store.list_agents():
            if agent.stale and agent.current_task_id is not None:
                held.setdefault(agent.name, set()).add(agent.current_task_id)
        last, moved = await progress_since(store, last)
        quiet = 0 if moved else quiet + 1
        if quiet >= STALL_STEPS:
            break
    else:
        pytest.fail("the swarm never came to rest: M1 should be waiting on its reviewer by now")

    m1, *later = await store.list_milestones()
    assert m1.status is MilestoneStatus.REVIEW, "nothing moves, yet no gate waits on a person"
    tasks = await store.list_tasks(limit=100_000)
    unfinished = [t for t in tasks if not t.status.finished]
    assert unfinished and all(t.status is TaskStatus.BLOCKED for t in unfinished)
    assert {t.milestone_id for t in unfinished} <= {m.id for m in later}
    assert all(m.status is MilestoneStatus.LOCKED for m in later)
    assert all("is not open yet" in t.blocked_reason for t in unfinished)
    # What waits is said where a person looks: the orchestrator's blocker, and the gate itself.
    orch = await store.get_agent(ORCHESTRATOR)
    assert orch.blockers == (f"waiting for gate review of {m1.name}",)
    assert (await store.gate_status(m1.id)).report is not None

    # The agent that went silent held a task; the store took it back (its lease ran out) and another
    # agent finished it. No agent is left holding anything.
    assert held, "no agent went silent while holding a task"
    for agent, task_ids in held.items():
        for task_id in task_ids:
            task = await store.get_task(task_id)
            assert task.status is TaskStatus.COMPLETED
            retried = [e for e in await store.events(entity="task", entity_id=task_id, limit=100)
                       if e.kind == "task.retried" and e.payload.get("agent") == agent]
            assert retried and ("timed out" in retried[0].payload["error"]
                                or "went silent" in retried[0].payload["error"])
            assert task.assigned_agent != agent
    assert not [a.name for a in await store.list_agents() if a.current_task_id is not None]


@pytest.mark.parametrize(("rng_seed", "speed"), [(7, 5.0), (7, 20.0), (0, 1.0), (3, 20.0)])
async def test_the_swarm_works_the_whole_project_when_a_reviewer_decides_its_gates(store, clock, rng_seed, speed):
    """Run to the end of the project with a reviewer deciding every gate: it gets there, within a bounded
    number of steps, and no stretch without progress is ever one where no gate waits on a person."""
    await seed(store, now=clock.now, history=False, reviewer=REVIEWER, reviewer_key=key(REVIEWER))
    swarm = Swarm(store, rng=random.Random(rng_seed), speed=speed)
    reviewer = Reviewer(store)
    last, quiet = await store.latest_event_id(), 0
    for steps in range(1, 3001):
        clock.advance(TICK)
        await swarm.step()
        await reviewer.act()
        milestones = await store.list_milestones()
        if all(m.status is MilestoneStatus.APPROVED for m in milestones):
            break
        last, moved = await progress_since(store, last)
        quiet = 0 if moved else quiet + 1
        if quiet >= STALL_STEPS and not await awaiting_person(store):
            stuck = [(t.id, t.status.value, t.description, t.blocked_reason)
                     for t in await store.list_tasks(limit=100_000) if not t.status.finished]
            pytest.fail(f"stalled at step {steps} with no gate waiting on a person: "
                        f"{[(m.name, m.status.value) for m in milestones]}; unfinished {stuck[:8]}; "
                        f"errors {list(swarm.errors)[-5:]}")
    else:
        pytest.fail(f"project not done in {steps} steps: {[(m.name, m.status.value) for m in milestones]}")

    assert len({name for name, _ in reviewer.decided}) == 4
    tasks = await store.list_tasks(limit=100_000)
    assert not [t.id for t in tasks if not t.status.finished and t.status is not TaskStatus.CANCELLED]
    assert not [a.name for a in await store.list_agents() if a.current_task_id is not None]
    done = [e.payload["action"] for e in await store.events(actor=ORCHESTRATOR, limit=1000)
            if e.kind == "agent.action"]
    assert "project complete" in done


async def test_the_swarm_runs_thirty_minutes_at_speed_20_without_stalling(store, clock):
    """Thirty minutes of store time at the top speed, gates decided as they come: the project ends
    (in far less), and the swarm goes on ticking afterwards without errors or new work appearing."""
    await seed(store, now=clock.now, history=False, reviewer=REVIEWER, reviewer_key=key(REVIEWER))
    swarm = Swarm(store, rng=random.Random(7), speed=20)
    reviewer = Reviewer(store)
    done_at = None
    for steps in range(1, int(30 * 60 / TICK) + 1):
        clock.advance(TICK)
        await swarm.step()
        if done_at is None:
            await reviewer.act()
            if all(m.status is MilestoneStatus.APPROVED for m in await store.list_milestones()):
                done_at = steps
                after = await store.latest_event_id()
    assert done_at is not None and done_at < 1000
    since = Counter(e.kind for e in await store.changes_since(after, limit=1_000_000))
    assert set(since) <= {"agent.heartbeat", "agent.action"}, since
    assert not list(swarm.errors)
