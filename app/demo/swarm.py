"""The simulated swarm behind `swarmdeck demo`: the seeds' project, worked by eight fake agents.

``Swarm(store)`` drives the agents of a store filled by ``seeding.seed`` exactly as real ones
would: through the public ``Store`` methods only (heartbeats, claims, completions, failures,
follow-up tasks, action logs, validation reports), catching the store's refusals the way an agent
must. Humans decide the gates; the swarm reacts.

Time is the store's clock, never the wall clock, so a test that opens the store with a fake clock
and advances it between ``step()`` calls gets the same run every time for the same ``rng``.
The demo runs on a compressed scale: one planned hour of the seed's estimates is half a second.
No Textual import here: the TUI wires this in.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from swarmdeck.store import (
    Agent,
    AgentStatus,
    Decision,
    Milestone,
    MilestoneStatus,
    Store,
    Task,
    TaskSource,
    TaskStatus,
)
from swarmdeck.store.errors import StoreError, SwarmPaused
from swarmdeck.store.events import EventKind

from .project import (
    AGENTS,
    BLOCKERS,
    DEBUG,
    ERRORS,
    GENERIC_METRICS,
    IMPLEMENTERS,
    ORCHESTRATOR,
    PERF,
    PHASES,
    RECOMMEND,
    REVIEWER,
    ROSTER,
    SECONDS_PER_HOUR,
    STALE_AFTER_SECONDS,
    TASK_TIMEOUT_SECONDS,
    TEST,
    PlannedMetric,
    milestone_tag,
    next_milestone_name,
    owner_for,
    planned,
    task_data,
    task_kind,
)

log = logging.getLogger(__name__)


@dataclass
class _Work:
    task_id: int
    description: str
    started: float
    duration: float
    outcome: str  # "complete", "fail" (retried by the store) or "fail_final"
    fail_at: float  # fraction of the duration at which a failing task gives up
    blocker: tuple[float, float, str] | None  # (from, to) fraction of the duration, text


@dataclass
class _Sim:
    """What one simulated agent remembers between ticks (a real agent's working memory)."""

    name: str
    agent_type: str
    work: _Work | None = None
    status: str = AgentStatus.IDLE
    blockers: tuple[str, ...] = ()
    completion: float = 0.0


class Swarm:
    """Eight simulated agents working the store through its public API, one tick at a time.

    ``step()`` is deterministic for a given ``rng`` and store state (the store's clock included);
    ``run()`` ticks until ``stop`` is set. Store refusals (paused swarm, races with other
    claimers) are handled the way an agent would handle them and never end the loop.
    """

    #: Chance per tick that an idle agent with nothing of its own type takes any ready task.
    FALLBACK = 0.3
    FAIL = 0.12
    FAIL_FINAL = 0.03
    BLOCKER = 0.15
    REVIEW_FOLLOW_UP = 0.5
    CHANGES_REQUESTED = 0.3
    #: Seconds (at speed 1) from the first tick to the first agent going silent, the silence
    #: itself (long enough to go stale and lose its task lease), and the gap to the next one.
    SILENCE_AFTER = 20.0
    SILENCE_FOR = 45.0
    SILENCE_EVERY = 150.0
    VALIDATION_SECONDS = 2.0

    def __init__(self, store: Store, *, rng: random.Random | None = None, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError("speed must be positive")
        self.store = store
        self.rng = rng or random.Random()
        self.speed = speed
        self.ticks = 0
        #: Recent store refusals the agents handled (races, pauses), newest last.
        self.errors: deque[str] = deque(maxlen=100)
        self._sims: dict[str, _Sim] = {}
        self._start: float | None = None
        self._silence: tuple[str, float, float] | None = None  # agent, from, until
        self._validating: dict[int, tuple[int, float]] = {}  # milestone -> (round, since)
        self._last_gate_event = 0
        self._handled_decisions: set[int] = set()
        self._current: int | None = None
        self._done_logged = False
        self._reviewed: set[int] = set()
        self._pending_restart: tuple[_Sim, float] | None = None

    # -- the loop ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, interval: float = 0.5) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a demo must keep going; record what went wrong
                self.errors.append(f"tick {self.ticks}: {type(exc).__name__}: {exc}")
                log.exception("demo swarm tick failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except asyncio.TimeoutError:
                pass

    async def step(self) -> None:
        """One tick of the whole swarm: the orchestrator, then every worker."""
        self.ticks += 1
        agents = {a.name: a for a in await self.store.list_agents() if a.name in ROSTER}
        if len(agents) < len(ROSTER):
            await self._register_missing(agents)
            agents = {a.name: a for a in await self.store.list_agents() if a.name in ROSTER}
        now = _store_now(agents.values())
        if self._start is None:
            self._start = now
        for name, agent in agents.items():
            self._sims.setdefault(name, _Sim(name, agent.agent_type))
        milestones = await self.store.list_milestones()
        current = next((m for m in milestones if not m.status.passed), None)
        silent = self._silent_agent(now, agents)
        await self._guard(self._orchestrate(now, milestones, current))
        workers = sorted(n for n in agents if n != ORCHESTRATOR and n != silent)
        for name in workers:
            await self._guard(self._advance(self._sims[name], agents[name], now, current))
        idle = [n for n in workers if self._sims[n].work is None]
        for name in idle:  # everyone looks at their own queue first
            await self._guard(self._claim(self._sims[name], now, own=True))
        for name in idle:  # then, now and then, anything that is waiting
            sim = self._sims[name]
            if sim.work is None and sim.status != AgentStatus.BLOCKED:
                chance = self.FALLBACK * (2 if sim.agent_type == DEBUG else 1)
                if self.rng.random() < chance:
                    await self._guard(self._claim(sim, now, own=False))
        for name in workers:
            sim = self._sims[name]
            await self._guard(self.store.heartbeat(
                name, status=sim.status, current_task_id=sim.work.task_id if sim.work else None,
                completion=round(sim.completion, 1), blockers=list(sim.blockers),
                next_milestone=current.name if current else None,
            ))

    async def _guard(self, coro) -> Any:
        """Run one agent action; a refusal from the store is recorded, not raised."""
        try:
            return await coro
        except StoreError as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return None

    async def _register_missing(self, agents: dict[str, Agent]) -> None:
        for name, model, colour in AGENTS:
            if name not in agents:
                await self._guard(self.store.register_agent(
                    name, agent_type=name, colour=colour, model=model,
                    stale_after_seconds=STALE_AFTER_SECONDS,
                ))

    # -- one agent going quiet ----------------------------------------------------------------

    def _silent_agent(self, now: float, agents: dict[str, Agent]) -> str | None:
        """The agent that currently sends nothing at all (so it goes stale and loses its lease)."""
        assert self._start is not None
        if self._silence is None:
            first = self._start + self.SILENCE_AFTER / self.speed
            self._silence = (self._pick_silent(agents), first, first + self.SILENCE_FOR)
        name, since, until = self._silence
        if now < since:
            return None
        if now < until:
            return name
        # Back from the silence: a restarted agent has lost its working memory.
        self._silence = (self._pick_silent(agents, not_=name), now + self.SILENCE_EVERY / self.speed,
                         now + self.SILENCE_EVERY / self.speed + self.SILENCE_FOR)
        sim = self._sims.get(name)
        if sim is not None:
            self._pending_restart = (sim, until - since)
        return None

    def _pick_silent(self, agents: dict[str, Agent], not_: str | None = None) -> str:
        choices = sorted(n for n in agents if n not in (ORCHESTRATOR, not_))
        return self.rng.choice(choices) if choices else ORCHESTRATOR

    async def _restart(self, sim: _Sim, agent: Agent, silent_for: float) -> None:
        """The agent comes back: give up whatever the store still thinks it holds, start afresh."""
        sim.work, sim.status, sim.blockers, sim.completion = None, AgentStatus.IDLE, (), 0.0
        if agent.current_task_id is not None:
            task = await self.store.get_task(agent.current_task_id)
            if task.status is TaskStatus.RUNNING and task.assigned_agent == sim.name:
                await self._guard(self.store.fail_task(
                    task.id, agent=sim.name, retry=True,
                    error=f"{sim.name} restarted after {silent_for:.0f} s without a session; work lost",
                ))
        await self.store.log_action(sim.name, phase="lifecycle", action="reconnect",
                                    duration_ms=silent_for * 1000, success=False,
                                    error_message=f"no heartbeat for {silent_for:.0f} s")

    # -- workers -----------------------------------------------------------------------------

    async def _advance(self, sim: _Sim, agent: Agent, now: float, current: Milestone | None) -> None:
        if self._pending_restart and self._pending_restart[0] is sim:
            _, silent_for = self._pending_restart
            self._pending_restart = None
            await self._restart(sim, agent, silent_for)
            return
        if sim.work is None and agent.current_task_id is not None and agent.status is AgentStatus.WORKING:
            await self._adopt(sim, agent, now)
        work = sim.work
        if work is None:
            return
        frac = (now - work.started) / work.duration
        if work.outcome != "complete" and frac >= work.fail_at:
            await self._fail(sim, work, now)
        elif frac >= 1.0:
            await self._complete(sim, work, now)
        else:
            sim.completion = min(99.0, 100.0 * frac)
            if work.blocker and work.blocker[0] <= frac < work.blocker[1]:
                sim.status, sim.blockers = AgentStatus.BLOCKED, (work.blocker[2],)
            else:
                sim.status, sim.blockers = AgentStatus.WORKING, ()

    async def _adopt(self, sim: _Sim, agent: Agent, now: float) -> None:
        """The store says this agent holds a running task this process did not start: finish it."""
        task = await self.store.get_task(agent.current_task_id)
        if task.status is TaskStatus.RUNNING and task.assigned_agent == sim.name:
            sim.work = self._plan_work(task, now)

    def _plan_work(self, task: Task, now: float) -> _Work:
        estimate = float(task.estimated_duration_seconds or 4)
        hours = task_data(task).get("hours")
        if isinstance(hours, (int, float)):
            estimate = hours * SECONDS_PER_HOUR
        duration = min(9.0, max(1.5, estimate * math.exp(self.rng.gauss(0.05, 0.3)))) / self.speed
        duration = min(duration, 0.8 * task.timeout_seconds)  # never outlive the lease at low speeds
        roll = self.rng.random()
        outcome = "fail_final" if roll < self.FAIL_FINAL else "fail" if roll < self.FAIL else "complete"
        blocker = None
        if self.rng.random() < self.BLOCKER:
            begin = self.rng.uniform(0.2, 0.6)
            blocker = (begin, begin + 0.25, self.rng.choice(BLOCKERS.get(task.agent_type, BLOCKERS[DEBUG])))
        return _Work(task.id, task.description, now, duration, outcome, self.rng.uniform(0.3, 0.9), blocker)

    async def _claim(self, sim: _Sim, now: float, *, own: bool) -> None:
        try:
            task = await self.store.claim_task(agent=sim.name, agent_type=sim.agent_type if own else None)
        except SwarmPaused:
            state = await self.store.swarm_state()
            sim.status, sim.completion = AgentStatus.BLOCKED, 0.0
            sim.blockers = (f"swarm paused: {state.reason or 'a gate was escalated'}",)
            return
        if task is None:
            sim.status, sim.blockers, sim.completion = AgentStatus.IDLE, (), 0.0
            return
        sim.work = self._plan_work(task, now)
        sim.status, sim.blockers, sim.completion = AgentStatus.WORKING, (), 0.0
        await self._follow_up_on_claim(sim, task, now)

    async def _follow_up_on_claim(self, sim: _Sim, task: Task, now: float) -> None:
        """An implementer asks for a review of what it has just started (blocked until it lands)."""
        if (task_kind(task) != "plan" or task.agent_type not in IMPLEMENTERS or task.id in self._reviewed
                or self.rng.random() >= self.REVIEW_FOLLOW_UP):
            return
        self._reviewed.add(task.id)
        estimate = task.estimated_duration_seconds or 4
        await self.store.enqueue_task(
            description=f"Code review of #{task.id}: {task.description}",
            source=TaskSource.AGENT_IMPLEMENTATION,
            agent_type=REVIEWER,
            base_priority=6,
            prerequisites=[task.id],
            deadline=now + (3 * estimate + 20) / self.speed,
            estimated_duration_seconds=self.rng.choice((2, 3)),
            milestone=task.milestone_id,
            parent_task_id=task.id,
            input_data={"kind": "review", "of": task.id, "author": sim.name, "of_type": task.agent_type},
            timeout_seconds=TASK_TIMEOUT_SECONDS,
            actor=sim.name,
        )

    async def _complete(self, sim: _Sim, work: _Work, now: float) -> None:
        sim.work, sim.status, sim.blockers, sim.completion = None, AgentStatus.IDLE, (), 0.0
        task = await self.store.get_task(work.task_id)
        result = self._result(sim, task)
        # Demo time is compressed: book the plan's hours for planned work (as an agent tracking effort
        # would), and an hour for reviews, fixes and rework the plan did not foresee.
        planned = task.input_data.get("hours") if isinstance(task.input_data, dict) else None
        hours = float(planned) if isinstance(planned, (int, float)) else 1.0
        task = await self.store.complete_task(work.task_id, agent=sim.name, result=result, hours=hours)
        await self.store.log_action(sim.name, phase=PHASES.get(sim.agent_type, "work"),
                                    action=f"complete #{task.id}", duration_ms=(now - work.started) * 1000)
        kind = task_kind(task)
        if kind == "review":
            await self._maybe_request_changes(sim, task, now)
        elif kind == "diagnosis":
            await self._after_diagnosis(sim, task)
        elif kind == "condition":
            # Agents do the work a condition asks for; closing it is a reviewer's act (x on the gate).
            await self.store.log_action(sim.name, phase="gate",
                                        action=f"condition #{task_data(task)['condition_id']} met by task #{task.id}: "
                                               "a reviewer can close it")

    def _result(self, sim: _Sim, task: Task) -> dict[str, Any]:
        """What the agent reports back; gate checks carry the measurements the report quotes."""
        data, rng = task_data(task), self.rng
        result: dict[str, Any] = {"summary": f"done: {task.description}"[:200],
                                  "files_changed": rng.randint(1, 9)}
        if task_kind(task) == "gate_check" and data.get("check") == "benchmarks":
            plan = planned(data.get("milestone", ""))
            metrics = plan.metrics if plan else GENERIC_METRICS
            miss_rate = 0.6 if data.get("round", 1) == 1 else 0.1
            misses = set()
            if rng.random() < miss_rate:
                misses.add(rng.randrange(len(metrics)))
                if rng.random() < 0.25:
                    misses.add(rng.randrange(len(metrics)))
            result["metrics"] = [
                {"name": m.name, "value": _jitter(rng, m.miss if i in misses else m.good, m),
                 "target": m.target, "comparator": m.comparator, "unit": m.unit}
                for i, m in enumerate(metrics)
            ]
            result["summary"] = f"benchmarks run: {len(metrics) - len(misses)}/{len(metrics)} on target"
        elif task_kind(task) == "gate_check" and data.get("check") == "tests":
            total = rng.randint(180, 420)
            failed = 0 if rng.random() < 0.8 else rng.randint(1, 3)
            result.update(tests_passed=total - failed, tests_failed=failed)
            result["summary"] = f"{total - failed}/{total} tests passed"
        return result

    async def _maybe_request_changes(self, sim: _Sim, review: Task, now: float) -> None:
        if self.rng.random() >= self.CHANGES_REQUESTED:
            return
        data = task_data(review)
        comment = self.rng.choice((
            "missing type annotations on the public methods",
            "docstrings do not say what is raised",
            "a bare except swallows sqlite3.OperationalError",
            "the migration is not idempotent",
        ))
        await self.store.enqueue_task(
            description=f"Address review comments on #{data.get('of')}: {comment}",
            source=TaskSource.AGENT_IMPLEMENTATION,
            agent_type=data.get("of_type", DEBUG),
            base_priority=7,
            deadline=now + 30 / self.speed,
            estimated_duration_seconds=2,
            milestone=review.milestone_id,
            parent_task_id=review.id,
            input_data={"kind": "fix", "of": data.get("of")},
            timeout_seconds=TASK_TIMEOUT_SECONDS,
            actor=sim.name,
        )

    async def _fail(self, sim: _Sim, work: _Work, now: float) -> None:
        sim.work, sim.status, sim.blockers, sim.completion = None, AgentStatus.IDLE, (), 0.0
        error = self.rng.choice(ERRORS.get(sim.agent_type, ERRORS[DEBUG]))
        task = await self.store.fail_task(work.task_id, error=error, agent=sim.name,
                                          retry=work.outcome == "fail")
        await self.store.log_action(sim.name, phase=PHASES.get(sim.agent_type, "work"),
                                    action=f"fail #{task.id}", duration_ms=(now - work.started) * 1000,
                                    success=False, error_message=error)
        if task.status is TaskStatus.FAILED:
            # The seed's escalation protocol: hand the blocker to the debugging specialist.
            await self._escalate_failure(task, sim.name, now)

    async def _escalate_failure(self, task: Task, actor: str, now: float,
                                known: list[Task] | None = None) -> None:
        attempt = task.retry_count
        if known is not None and any(
            task_kind(t) == "diagnosis" and task_data(t).get("task") == task.id and task_data(t).get("attempt") == attempt
            for t in known
        ):
            return
        await self.store.enqueue_task(
            description=f"Diagnose failure of #{task.id} ({task.description}): {task.error_message}",
            source=TaskSource.AGENT_IMPLEMENTATION if actor != ORCHESTRATOR else TaskSource.AGENT_PLANNER,
            agent_type=DEBUG,
            base_priority=9,
            deadline=now + 20 / self.speed,
            estimated_duration_seconds=3,
            milestone=task.milestone_id,
            parent_task_id=task.id,
            input_data={"kind": "diagnosis", "task": task.id, "attempt": attempt},
            timeout_seconds=TASK_TIMEOUT_SECONDS,
            actor=actor,
        )

    async def _after_diagnosis(self, sim: _Sim, diagnosis: Task) -> None:
        """Fixed and handed back (retried), unless it is optional work nothing waits on.

        Conditions, gate checks and rework are always retried: leaving one failed would hold
        its gate forever.
        """
        original = await self.store.get_task(task_data(diagnosis)["task"])
        if original.status is not TaskStatus.FAILED:
            return
        waiting = [t for t in await self.store.tasks_by_ids(await self.store.dependents(original.id))
                   if not t.status.finished]
        optional = task_kind(original) in ("plan", "review", "fix", None)
        if waiting or not optional or self.rng.random() < 0.7:
            await self.store.retry_task(original.id, actor=sim.name)
            await self.store.log_action(sim.name, phase="debugging", action=f"retry #{original.id}")
        else:
            await self.store.log_action(sim.name, phase="debugging", action=f"won't fix #{original.id}",
                                        success=False, error_message=original.error_message)

    # -- the orchestrator ---------------------------------------------------------------------

    async def _orchestrate(self, now: float, milestones: list[Milestone], current: Milestone | None) -> None:
        status, completion, blockers = AgentStatus.IDLE, 0.0, []
        await self._guard(self._react_to_decisions(now))
        for ms in milestones:
            if ms.status is MilestoneStatus.CONDITIONAL:
                await self._guard(self._work_conditions(ms, now))
        if current is not None and current.id != self._current:
            self._current = current.id
            await self.store.log_action(ORCHESTRATOR, phase="coordination", action=f"kickoff {current.name}")
        if current is None:
            if milestones and not self._done_logged:
                self._done_logged = True
                await self.store.log_action(ORCHESTRATOR, phase="coordination", action="project complete")
        elif current.status is MilestoneStatus.ESCALATED:
            state = await self.store.swarm_state()
            status = AgentStatus.BLOCKED
            blockers = [f"swarm paused: {state.reason or 'the gate of ' + current.name + ' was escalated'}"]
        elif current.status is MilestoneStatus.REVIEW:
            status, completion = AgentStatus.BLOCKED, 100.0
            blockers = [f"waiting for gate review of {current.name}"]
        elif current.status is MilestoneStatus.OPEN:
            status, completion = AgentStatus.WORKING, await self._drive_milestone(current, now)
        await self.store.heartbeat(ORCHESTRATOR, status=status, current_task_id=None,
                                   completion=round(min(100.0, completion), 1), blockers=blockers,
                                   next_milestone=current.name if current else None)

    async def _drive_milestone(self, ms: Milestone, now: float) -> float:
        """Escalate failures, then gate checks, then the validation report. Returns progress %."""
        tasks = await self.store.list_tasks(milestone_id=ms.id, limit=100_000)
        for t in tasks:
            if t.status is TaskStatus.FAILED:
                await self._guard(self._escalate_failure(t, ORCHESTRATOR, now, known=tasks))
        report = await self.store.get_report(ms.id)
        round_ = (report.version if report else 0) + 1
        unfinished = [t for t in tasks if not t.status.finished]
        done = sum(t.status is TaskStatus.COMPLETED for t in tasks)
        progress = 100.0 * done / len(tasks) if tasks else 100.0
        if unfinished:
            return min(progress, 95.0)
        checks = [t for t in tasks if task_kind(t) == "gate_check" and task_data(t).get("round") == round_]
        if not checks:
            await self._enqueue_gate_checks(ms, round_, now, len(tasks))
            return 95.0
        since = self._validating.get(ms.id)
        if since is None or since[0] != round_:
            self._validating[ms.id] = (round_, now)
            return 96.0
        took = now - since[1]
        if took < self.VALIDATION_SECONDS / self.speed:
            return 96.0 + 3.0 * took / (self.VALIDATION_SECONDS / self.speed)
        report = await self.store.submit_report(ms.id, submitted_by=ORCHESTRATOR,
                                                **self._build_report(ms, tasks, round_))
        await self.store.log_action(ORCHESTRATOR, phase="validation",
                                    action=f"submit report v{report.version} of {ms.name}",
                                    duration_ms=took * 1000)
        return 100.0

    async def _enqueue_gate_checks(self, ms: Milestone, round_: int, now: float, n_tasks: int) -> None:
        tag = milestone_tag(ms.name)
        checks = (
            ("benchmarks", PERF, f"Gate check {tag} (round {round_}): run performance benchmarks against targets"),
            ("tests", TEST, f"Gate check {tag} (round {round_}): full test suite and coverage run"),
            ("review", REVIEWER, f"Gate check {tag} (round {round_}): review deliverables of {n_tasks} tasks"),
        )
        for check, agent_type, description in checks:
            await self.store.enqueue_task(
                description=description, source=TaskSource.AGENT_PLANNER, agent_type=agent_type,
                base_priority=9, deadline=now + 30 / self.speed, estimated_duration_seconds=3,
                milestone=ms.id,
                input_data={"kind": "gate_check", "check": check, "round": round_, "milestone": ms.name},
                timeout_seconds=TASK_TIMEOUT_SECONDS, actor=ORCHESTRATOR,
            )
        await self.store.log_action(ORCHESTRATOR, phase="validation",
                                    action=f"gate checks for {ms.name} (round {round_})")

    def _build_report(self, ms: Milestone, tasks: list[Task], round_: int) -> dict[str, Any]:
        """The seed's validation report: criteria + evidence, metrics, issues, recommendations."""
        plan = planned(ms.name)
        checks = {task_data(t).get("check"): t for t in tasks
                  if task_kind(t) == "gate_check" and task_data(t).get("round") == round_}
        bench = checks.get("benchmarks")
        metrics = list((bench.result_data or {}).get("metrics", [])) if bench and bench.result_data else []
        tests = checks.get("tests")
        if tests is not None and isinstance(tests.result_data, dict) and "tests_passed" in tests.result_data:
            passed, failed = tests.result_data["tests_passed"], tests.result_data["tests_failed"]
            metrics.append({"name": "Test pass rate", "value": round(100.0 * passed / (passed + failed), 1),
                            "target": 100, "comparator": ">=", "unit": "%"})
        completed = [t for t in tasks if t.status is TaskStatus.COMPLETED]
        first_pass = sum(t.retry_count == 0 for t in completed)
        if completed:
            metrics.append({"name": "First-pass task success", "value": round(100.0 * first_pass / len(completed), 1),
                            "target": 80, "comparator": ">=", "unit": "%"})
        missed = {m["name"]: m for m in metrics if not _holds(m)}

        by_key = {task_data(t).get("key"): t for t in tasks if task_kind(t) == "plan"}
        criteria = []
        spec = plan.criteria if plan else tuple((c, (), ()) for c in ms.acceptance_criteria)
        for text, keys, metric_names in spec:
            evidence_tasks = [by_key[k] for k in keys if k in by_key]
            not_done = [t for t in evidence_tasks if t.status is not TaskStatus.COMPLETED]
            misses = [missed[n] for n in metric_names if n in missed]
            parts = [f"#{t.id} {t.description} ({t.status}, {t.assigned_agent or '-'})" for t in evidence_tasks]
            parts += [f"{m['name']} {_fmt(m)}" for n in metric_names for m in metrics if m["name"] == n]
            status = "not_met" if (not_done or misses) else "met" if parts else "unknown"
            criteria.append({"name": text, "status": status, "evidence": "; ".join(parts) or "no evidence"})

        issues = []
        for m in missed.values():
            off = abs(m["value"] - m["target"]) / (abs(m["target"]) or 1)
            issues.append({"severity": "high" if off > 0.25 else "medium",
                           "description": f"{m['name']} {_fmt(m)}"})
        for t in tasks:
            if t.status is TaskStatus.FAILED:
                issues.append({"severity": "high",
                               "description": f"task #{t.id} {t.description} failed: {t.error_message}"})
        timed_out = [t for t in completed if t.error_message and "timed out" in t.error_message]
        for t in timed_out[:2]:
            issues.append({"severity": "medium", "description": f"task #{t.id} {t.error_message}; retried"})
        retried = [t for t in completed if t.retry_count and t not in timed_out]
        if retried:
            t = retried[0]
            issues.append({"severity": "low",
                           "description": f"{len(retried)} task(s) needed retries, e.g. #{t.id}: {t.error_message}"})

        recommendations = []
        for m in missed.values():
            recommendations.append(RECOMMEND.get(owner_for(m["name"]), "Investigate before the next gate")
                                   + f" ({m['name']})")
        if any(i["severity"] == "high" and "failed" in i["description"] for i in issues):
            recommendations.append("Keep python-debugging-specialist on the failed task until it passes")
        if timed_out:
            recommendations.append("Shorten heartbeat intervals; an agent went silent and lost its lease")
        nxt = next_milestone_name(ms.name)
        recommendations.append(f"Carry the current benchmark suite into {nxt}" if nxt
                               else "Archive the validation reports with the deliverables")

        severities = {i["severity"] for i in issues}
        proposed = (Decision.REVISE if severities & {"high", "critical"}
                    else Decision.CONDITIONAL if "medium" in severities
                    else Decision.APPROVE)
        met = sum(c["status"] == "met" for c in criteria)
        summary = (
            f"{ms.name} validation (round {round_}): {len(completed)}/{len(tasks)} tasks completed, "
            f"{len(retried) + len(timed_out)} retried; {met}/{len(criteria)} criteria met; "
            f"{len(metrics) - len(missed)}/{len(metrics)} metrics on target. Proposed: {proposed.value}."
        )
        # Seed 001's "Next Milestone Context": what the next phase's agents start from.
        high = sum(i["severity"] == "high" for i in issues)
        delivered = ", ".join(ms.deliverables) or "none listed"
        context = (f"{nxt} starts from {ms.name}'s deliverables ({delivered}); {len(missed)} metric(s) "
                   f"still off target, {high} high issue(s) open." if nxt else "")
        return {"summary": summary, "criteria": criteria, "metrics": metrics, "issues": issues,
                "recommendations": recommendations, "proposed_decision": proposed,
                "next_milestone_context": context}

    async def _react_to_decisions(self, now: float) -> None:
        """Notice new gate decisions (the change feed) and do what each asks of the swarm."""
        events = await self.store.events(kind=EventKind.GATE_DECIDED, limit=50)
        fresh = sorted((e for e in events if e.id > self._last_gate_event), key=lambda e: e.id)
        if not fresh:
            return
        self._last_gate_event = fresh[-1].id
        for ms_id in sorted({int(e.entity_id) for e in fresh if e.entity_id is not None}):
            # Read the gate afresh: a human may have decided since this tick began.
            gate = await self.store.gate_status(ms_id)
            ms = gate.milestone
            for d in gate.decisions:
                if d.id in self._handled_decisions:
                    continue
                if d.decision is Decision.REVISE and d.id == gate.decisions[-1].id \
                        and ms.status is MilestoneStatus.OPEN:
                    await self._rework(ms, d, gate.report, now)
                self._handled_decisions.add(d.id)
                await self.store.log_action(
                    ORCHESTRATOR, phase="gate",
                    action=f"{d.decision.value} on {ms.name} v{d.report_version} by {d.reviewer}",
                )

    async def _rework(self, ms: Milestone, decision, report, now: float) -> None:
        """REVISE: turn the report's issues (and the reviewer's rationale) into rework tasks."""
        tasks = await self.store.list_tasks(milestone_id=ms.id, limit=100_000)
        if any(task_data(t).get("decision_id") == decision.id for t in tasks):
            return  # already planned (by another swarm, or before a restart)
        items = [i.description for i in (report.issues if report else ())
                 if i.severity.value in ("critical", "high", "medium")][:4]
        items.append(f"reviewer asks: {decision.rationale}")
        tag, fixes = milestone_tag(ms.name), []
        for text in items:
            fix = await self.store.enqueue_task(
                description=f"Rework {tag} (v{decision.report_version} {decision.decision.value}): {text}",
                source=TaskSource.AGENT_PLANNER, agent_type=owner_for(text), base_priority=8,
                deadline=now + 60 / self.speed, estimated_duration_seconds=self.rng.choice((2, 3, 4)),
                milestone=ms.id, input_data={"kind": "rework", "decision_id": decision.id},
                timeout_seconds=TASK_TIMEOUT_SECONDS, actor=ORCHESTRATOR,
            )
            fixes.append(fix.id)
        await self.store.enqueue_task(
            description=f"Re-verify {tag} acceptance criteria after rework",
            source=TaskSource.AGENT_PLANNER, agent_type=TEST, base_priority=8, prerequisites=fixes,
            deadline=now + 90 / self.speed, estimated_duration_seconds=3, milestone=ms.id,
            input_data={"kind": "rework", "decision_id": decision.id, "verify": True},
            timeout_seconds=TASK_TIMEOUT_SECONDS, actor=ORCHESTRATOR,
        )
        await self.store.log_action(ORCHESTRATOR, phase="gate",
                                    action=f"planned {len(fixes) + 1} rework tasks for {ms.name}")

    async def _work_conditions(self, ms: Milestone, now: float) -> None:
        """CONDITIONAL: every open condition gets a task; the reviewer closes the condition once it is done."""
        gate = await self.store.gate_status(ms.id)
        open_ = [c for c in gate.conditions if c.status.value == "open"]
        if not open_:
            return
        tasks = await self.store.list_tasks(milestone_id=ms.id, limit=100_000)
        planned = {task_data(t).get("condition_id") for t in tasks if task_kind(t) == "condition"
                   and t.status is not TaskStatus.CANCELLED}
        for c in open_:
            if c.id in planned:
                continue
            await self.store.enqueue_task(
                description=f"Meet condition of {milestone_tag(ms.name)}: {c.text}",
                source=TaskSource.AGENT_PLANNER, agent_type=owner_for(c.text), base_priority=8,
                deadline=now + 60 / self.speed, estimated_duration_seconds=3, milestone=ms.id,
                input_data={"kind": "condition", "condition_id": c.id},
                timeout_seconds=TASK_TIMEOUT_SECONDS, actor=ORCHESTRATOR,
            )


def _jitter(rng: random.Random, value: float, m: PlannedMetric) -> float:
    """Measurements wobble, but never across their target: a miss stays a miss, a pass a pass."""
    if m.comparator == "==":
        return float(value)
    wobble = 0.3 * abs(value - m.target) * rng.uniform(-1, 1)
    if not m.unit or m.unit == "agents":  # counts stay whole
        return float(round(value + wobble))
    return round(value + wobble, 2)


def _holds(m: dict[str, Any]) -> bool:
    v, t = m["value"], m["target"]
    return {"<": v < t, "<=": v <= t, ">": v > t, ">=": v >= t, "==": v == t}[m["comparator"]]


def _fmt(m: dict[str, Any]) -> str:
    unit = f" {m['unit']}" if m.get("unit") else ""
    return f"{m['value']:g}{unit} (target {m['comparator']} {m['target']:g}{unit})"


def _store_now(agents) -> float:
    """The store's clock, read through heartbeat ages (the Store protocol has no clock call)."""
    readings = [a.last_heartbeat.timestamp() + a.heartbeat_age_seconds
                for a in agents if a.last_heartbeat is not None and a.heartbeat_age_seconds is not None]
    if not readings:
        return time.time()
    return max(readings)


__all__ = ["Swarm"]
