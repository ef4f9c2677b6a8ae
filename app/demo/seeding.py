"""A fresh store for `swarmdeck demo`: seed 000's project, and the hours of work before it.

``seed(store)`` fills a fresh store with seed 000's project (four milestones, eight agents, the
week-by-week task lists) and, optionally, a few hours of past activity, so the change feed and the
charts have a history from the first frame; ``swarm.Swarm`` then works the project from there.
``backfill`` writes that past through the public ``Store`` methods, on a second store over the
same file with a clock it moves through the past. The plan's estimates are on the demo's
compressed scale (one planned hour is half a second). No Textual import here: the CLI seeds the
store before the dashboard opens.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from swarmdeck.store import AgentStatus, Store, TaskSource, TaskStatus, open_store, signing
from swarmdeck.store.errors import InvalidArgument
from swarmdeck.store.signing import Signer

from .project import (
    AGENTS,
    DEBUG,
    ERRORS,
    HISTORY_WORK,
    MEMORIES,
    MILESTONES,
    NAMESPACE,
    ORCHESTRATOR,
    PHASES,
    RECORDS,
    SECONDS_PER_HOUR,
    STALE_AFTER_SECONDS,
    TASK_TIMEOUT_SECONDS,
    task_kind,
)

log = logging.getLogger(__name__)


#: The demo reviewer's passphrase: no secret, so the demo can unlock their key without asking.
DEMO_PASSPHRASE = "swarmdeck-demo"


def demo_key_folder(db_path: Path) -> Path:
    """Where the demo keeps its reviewer's signing key: a folder beside its database, never the
    person's own key folder."""
    return db_path.with_name(db_path.name + "-keys")


def demo_signer(reviewer: str, db_path: Path) -> Signer:
    """The demo reviewer's signing key, made (or, beside a database used before, unlocked) with the
    demo's fixed passphrase: the demo signs its reviewer's acts without ceremony."""
    folder = demo_key_folder(db_path)
    if signing.has_key(reviewer, folder=folder):
        return signing.load_key(reviewer, DEMO_PASSPHRASE, folder=folder)
    return signing.create_key(reviewer, DEMO_PASSPHRASE, folder=folder)


def _demo_seconds(hours: float) -> int:
    return max(1, round(hours * SECONDS_PER_HOUR))


async def seed(store: Store, *, now: float | None = None, history: bool = True,
               reviewer: str | None = None, reviewer_key: bytes | None = None,
               store_options: Mapping[str, Any] | None = None) -> None:
    """Fill a fresh store with seed 000's project: milestones, agents, tasks (and some history).

    M1 opens with its first tasks ready; the tasks of M2-M4 wait for their gates. ``reviewer`` is
    registered as the swarm's first reviewer, with ``reviewer_key`` (the public half of the key
    that signs their acts), so the person at the demo's dashboard can decide. ``store_options``:
    what the history's own store is opened with (the settings' vector options, from the CLI).
    """
    if now is None:
        now = _clock_of(store)()
    if history:
        await backfill(store, now=now, store_options=store_options)
    for name, model, colour in AGENTS:
        await store.register_agent(name, agent_type=name, colour=colour, model=model,
                                   stale_after_seconds=STALE_AFTER_SECONDS, actor="demo")
    if reviewer is not None:
        await store.add_reviewer(reviewer, by=reviewer, public_key=reviewer_key)
    milestones = []
    for plan in MILESTONES:
        milestones.append(await store.add_milestone(
            plan.name, objective=plan.objective, planned_weeks=plan.weeks, hour_budget=plan.hours,
            deliverables=plan.deliverables, acceptance_criteria=[c for c, _, _ in plan.criteria],
            actor=ORCHESTRATOR,
        ))
    for plan, ms in zip(MILESTONES, milestones):
        ids: dict[str, int] = {}
        for pt in plan.tasks:
            task = await store.enqueue_task(
                description=pt.description,
                source=TaskSource.AGENT_PLANNER,
                agent_type=pt.agent_type,
                base_priority=pt.priority,
                prerequisites=[ids[k] for k in pt.after],
                deadline=None if pt.due is None else now + pt.due,
                estimated_duration_seconds=_demo_seconds(pt.hours),
                milestone=ms.id,
                input_data={"kind": "plan", "key": pt.key, "hours": pt.hours},
                timeout_seconds=TASK_TIMEOUT_SECONDS,
                actor=ORCHESTRATOR,
            )
            ids[pt.key] = task.id
    for suffix, key, value, memory_type, agent in MEMORIES:
        await store.add_memory(f"{NAMESPACE}/{suffix}", key, value, memory_type=memory_type, created_by=agent)
    for kind, fields, agent in RECORDS:
        await store.log_record(kind, fields, namespace=NAMESPACE, agent=agent)
    first = milestones[0].name
    for name, _, _ in AGENTS:
        await store.heartbeat(name, status=AgentStatus.IDLE, current_task_id=None, completion=0,
                              blockers=[], next_milestone=first)


def _clock_of(store: Store):
    # The protocol has no clock call; the SQLite store keeps the one it was opened with.
    return getattr(store, "clock", time.time)


class _ManualClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def backfill(store: Store, *, hours: float = 6, now: float | None = None,
                   rng: random.Random | None = None, store_options: Mapping[str, Any] | None = None) -> int:
    """Write a few hours of past work (the seed's documentation phases) into the change feed.

    The store stamps events with its own clock, so this opens a second store on the same file
    with a clock it moves through the past. Returns the number of tasks written (0 when the
    store is not a file this process can reopen). All of it is finished before ``now``.
    """
    if (await store.queue_status()).total:
        # Agents in the past would claim the project's tasks too: the past must come first.
        raise InvalidArgument("backfill writes the swarm's past; run it on an empty store, before seeding")
    # A server's database is reopened by its URL (``path`` shows it without the credentials).
    path = getattr(store, "url", None) or getattr(store, "path", None)
    if path is None:
        log.info("backfill skipped: %r has no database path to reopen with a past clock", store)
        return 0
    rng = rng or random.Random(7)
    if now is None:
        now = _clock_of(store)()
    start, last_batch = now - hours * 3600.0, now - 90 * 60.0
    clock = _ManualClock(start)
    past = await open_store(path, clock=clock, **(store_options or {}))
    try:
        return await _simulate_history(past, clock, rng, start, last_batch, now - 30.0)
    finally:
        await past.close()


async def _simulate_history(store: Store, clock: _ManualClock, rng: random.Random, start: float,
                            last_batch: float, end: float) -> int:
    """A small discrete-event run: planner batches arrive, agents claim, work, finish or fail."""
    for name, model, colour in AGENTS:
        # The simulated past records no heartbeats between claim and finish: no task is taken away.
        await store.register_agent(name, agent_type=name, colour=colour, model=model,
                                   stale_after_seconds=STALE_AFTER_SECONDS, requeue_after_seconds=4 * 3600,
                                   actor="demo")
    workers = [name for name, _, _ in AGENTS]
    free_at = {name: start + rng.uniform(0, 300) for name in workers}
    running: dict[str, tuple[int, float, float, str]] = {}  # agent -> task, started, ends, outcome
    dependents: dict[int, int] = {}
    next_batch = start + rng.uniform(60, 300)
    written = unfinished = 0
    t = start

    while True:
        clock.now = max(clock.now, min(t, end))
        for name in sorted(workers, key=lambda n: (free_at[n], n)):
            if name in running or free_at[name] > t or unfinished <= len(running):
                continue
            task = await store.claim_task(agent=name, agent_type=name)
            if task is None and name != ORCHESTRATOR and rng.random() < 0.6:
                task = await store.claim_task(agent=name)
            if task is None:
                free_at[name] = t + rng.uniform(60, 180)
                continue
            estimate = task.estimated_duration_seconds or 600
            duration = estimate * math.exp(rng.gauss(0.1, 0.35))
            roll = rng.random()
            outcome = ("fail_final" if roll < 0.015 and not dependents.get(task.id)
                       else "fail" if roll < 0.10 else "complete")
            if outcome != "complete":
                duration *= rng.uniform(0.3, 0.9)
            running[name] = (task.id, clock.now, clock.now + duration, outcome)
        options = [r[2] for r in running.values()]
        if next_batch <= last_batch:
            options.append(next_batch)
        if unfinished > len(running):
            options += [free_at[n] for n in workers if n not in running]
        if not options:
            break
        t = max(t, min(options))
        if t >= end:
            break
        clock.now = max(clock.now, t)
        if next_batch <= t and next_batch <= last_batch:
            added = await _history_batch(store, rng, dependents, clock.now)
            written, unfinished = written + added, unfinished + added
            next_batch = t + rng.uniform(10 * 60, 18 * 60)
            continue
        for name in sorted(n for n, r in running.items() if r[2] <= t):
            task_id, started, _, outcome = running.pop(name)
            phase, took = PHASES[name], (clock.now - started) * 1000
            if outcome == "complete":
                await store.complete_task(task_id, agent=name, result={"summary": "documented and checked in"})
                await store.log_action(name, phase=phase, action=f"complete #{task_id}", duration_ms=took)
                unfinished -= 1
            else:
                error = rng.choice(ERRORS.get(name, ERRORS[DEBUG]))
                task = await store.fail_task(task_id, error=error, agent=name, retry=outcome == "fail")
                await store.log_action(name, phase=phase, action=f"fail #{task_id}", duration_ms=took,
                                       success=False, error_message=error)
                unfinished -= task.status is TaskStatus.FAILED
            free_at[name] = t + rng.uniform(5, 90)
    # Whatever the past left unfinished was dropped when the implementation plan replaced it.
    clock.now = end
    for task in await store.list_tasks(status=["ready", "blocked", "running"], limit=100_000):
        current = await store.get_task(task.id)
        if task_kind(current) == "history" and not current.status.finished:
            await store.cancel_task(task.id, reason="superseded by the implementation plan",
                                    actor=ORCHESTRATOR)
    return written


async def _history_batch(store: Store, rng: random.Random, dependents: dict[int, int], now: float) -> int:
    """The orchestrator plans a batch of documentation work, some of it chained."""
    batch: list[int] = []
    for _ in range(rng.randint(7, 13)):
        role = rng.choices([n for n, _, _ in AGENTS], weights=[1, 4, 4, 3, 3, 3, 3, 1])[0]
        template, fills = rng.choice(HISTORY_WORK[role])
        minutes = rng.choice((3, 5, 8, 10, 12, 15, 20))
        prereqs = [rng.choice(batch)] if batch and rng.random() < 0.3 else []
        source = rng.choices(list(TaskSource), weights=[1, 2, 6, 2])[0]
        task = await store.enqueue_task(
            description=template.format(rng.choice(fills)),
            source=source,
            agent_type=role,
            base_priority=rng.randint(2, 9),
            prerequisites=prereqs,
            deadline=now + rng.uniform(1, 3) * 3600 if rng.random() < 0.25 else None,
            estimated_duration_seconds=minutes * 60,
            input_data={"kind": "history"},
            timeout_seconds=4 * 3600,
            actor=ORCHESTRATOR,
        )
        for p in prereqs:
            dependents[p] = dependents.get(p, 0) + 1
        batch.append(task.id)
    return len(batch)


__all__ = ["backfill", "seed"]
