"""Dependency-graph rules: cycle refusal, execution plans (also split at the milestone gates), cascades.
Pure functions.

Edges map a task to its prerequisites: ``{task: {prerequisite, ...}}``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter

from .models import ExecutionPlan, Milestone, MilestoneStatus, Task

Edges = Mapping[int, Iterable[int]]


def find_path(edges: Edges, start: int, goal: int) -> list[int] | None:
    """A prerequisite path from ``start`` down to ``goal`` (inclusive), or None."""
    parents: dict[int, int | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while (prev := parents[path[-1]]) is not None:
                path.append(prev)
            return path[::-1]
        for nxt in edges.get(node, ()):
            if nxt not in parents:
                parents[nxt] = node
                queue.append(nxt)
    return None


def cycle_if_added(edges: Edges, task: int, prerequisite: int) -> list[int] | None:
    """The cycle that making ``task`` depend on ``prerequisite`` would close, or None.

    The returned list starts and ends with ``task``: task -> prerequisite -> ... -> task.
    """
    if task == prerequisite:
        return [task, task]
    path = find_path(edges, prerequisite, task)
    return None if path is None else [task, *path]


def dependency_depth(prerequisite_depths: Iterable[int]) -> int:
    """0 with no prerequisites, else one more than the deepest prerequisite."""
    return max((d + 1 for d in prerequisite_depths), default=0)


def execution_plan(tasks: Iterable[int], edges: Edges) -> list[list[int]]:
    """Topological batches: every task runs after all its prerequisites within ``tasks``, each as early
    as it can (stdlib ``graphlib``, a batch being everything ready once the batch before it is done).

    Prerequisites outside ``tasks`` are taken as already satisfied. Batches are sorted
    so that the plan is deterministic. Raises ValueError on a cycle, naming its tasks.
    """
    members = set(tasks)
    sorter = TopologicalSorter({t: [p for p in edges.get(t, ()) if p in members and p != t] for t in members})
    try:
        sorter.prepare()
    except CycleError as e:
        raise ValueError(f"tasks {sorted(set(e.args[1]))} form a dependency cycle") from None
    batches: list[list[int]] = []
    while sorter.is_active():
        batch = sorted(sorter.get_ready())
        batches.append(batch)
        sorter.done(*batch)
    return batches


def transitive_dependents(dependents: Edges, root: int) -> list[int]:
    """Every task reachable from ``root`` through dependent edges, in BFS order."""
    seen = {root}
    order: list[int] = []
    queue = deque([root])
    while queue:
        for nxt in dependents.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                order.append(nxt)
                queue.append(nxt)
    return order


@dataclass(frozen=True)
class GatedPlan:
    """A plan split at the gates: what can run now, and what waits (for each locked milestone) until the
    gate before it opens. A task waits when its milestone is locked or a prerequisite waits."""

    now: list[list[int]]
    waiting: list[tuple[Milestone | None, list[list[int]]]]  # (the locked milestone, its batches)

    @property
    def waiting_count(self) -> int:
        return sum(len(batch) for _, batches in self.waiting for batch in batches)


def gated_plan(plan: ExecutionPlan, tasks: dict[int, Task], milestones: dict[int, Milestone]) -> GatedPlan:
    planned = [task_id for batch in plan.batches for task_id in batch]
    edges = {i: [p for p in tasks[i].prerequisites] for i in planned if i in tasks}

    def locked(task_id: int) -> Milestone | None:
        task = tasks.get(task_id)
        milestone = milestones.get(task.milestone_id) if task and task.milestone_id else None
        shut = milestone is not None and (milestone.status is MilestoneStatus.LOCKED or not milestone.in_plan)
        return milestone if shut else None

    # Batches are in dependency order, so a task's prerequisites are decided before it is.
    waits_for: dict[int, Milestone] = {}
    for task_id in planned:
        gate = locked(task_id)
        if gate is None:
            held = [waits_for[p] for p in edges.get(task_id, ()) if p in waits_for]
            gate = max(held, key=lambda m: m.position) if held else None
        if gate is not None:
            waits_for[task_id] = gate
    now = execution_plan([i for i in planned if i not in waits_for], edges)
    by_gate: dict[int, list[int]] = {}
    for task_id, gate in waits_for.items():
        by_gate.setdefault(gate.id, []).append(task_id)
    order = sorted(by_gate, key=lambda mid: milestones[mid].position)
    waiting = [(milestones[mid], execution_plan(by_gate[mid], edges)) for mid in order]
    return GatedPlan(now, waiting)


# -- plans of milestones: prerequisites, gates and the critical path -------------------------------


def milestone_prerequisites(
        milestones: Iterable[tuple[int, Iterable[int] | None]]) -> dict[int, tuple[int, ...]]:
    """Each milestone's prerequisites, from the milestones in order as (id, explicit prerequisites or
    None): a milestone without explicit ones follows the one before it (the first follows none)."""
    result: dict[int, tuple[int, ...]] = {}
    previous: int | None = None
    for mid, explicit in milestones:
        if explicit is not None:
            result[mid] = tuple(explicit)
        else:
            result[mid] = () if previous is None else (previous,)
        previous = mid
    return result


def milestone_cycle(prerequisites: Mapping[int, Iterable[int]]) -> list[int] | None:
    """A cycle among milestone prerequisites (its ids, first repeated at the end), or None."""
    sorter = TopologicalSorter({m: [p for p in ps if p in prerequisites] for m, ps in prerequisites.items()})
    try:
        sorter.prepare()
    except CycleError as e:
        return list(e.args[1])
    return None


def closed_milestones(prerequisites: Mapping[int, Iterable[int]], passed: Iterable[int],
                      out_of_plan: Iterable[int]) -> frozenset[int]:
    """The milestones whose tasks are not handed out: cut or deferred, or with a prerequisite that
    has not passed, is itself closed, is unknown, or lies on a cycle."""
    passed, out = set(passed), set(out_of_plan)
    closed: dict[int, bool] = {}
    visiting: set[int] = set()

    def is_closed(m: int) -> bool:
        if m in closed:
            return closed[m]
        if m in visiting or m not in prerequisites:  # a cycle, or an unknown milestone: never open
            return True
        visiting.add(m)
        shut = m in out or any(p not in passed or is_closed(p) for p in prerequisites[m])
        visiting.discard(m)
        closed[m] = shut
        return shut

    return frozenset(m for m in prerequisites if is_closed(m))


def critical_path(tasks: Iterable[int], edges: Edges,
                  estimates: Mapping[int, float | None]) -> tuple[list[int], float]:
    """The longest chain of ``tasks`` through ``edges`` by estimate (seconds; a task without one counts
    0, and between equal totals the chain of more tasks is longer), first to last, and its total: what
    cannot slip without the whole plan slipping."""
    batches = execution_plan(tasks, edges)
    members = {t for b in batches for t in b}
    best: dict[int, tuple[float, int, int | None]] = {}  # (seconds, tasks, the task before)
    for batch in batches:
        for t in batch:
            before = max(((best[p][0], best[p][1], -p) for p in edges.get(t, ()) if p in members and p != t),
                         default=None)
            seconds, count = (before[0], before[1]) if before else (0.0, 0)
            best[t] = (seconds + float(estimates.get(t) or 0), count + 1, -before[2] if before else None)
    if not best:
        return [], 0.0
    end = max(best, key=lambda t: (best[t][0], best[t][1], -t))
    path = [end]
    while (prev := best[path[-1]][2]) is not None:
        path.append(prev)
    return path[::-1], best[end][0]


def gate_edges(task_milestones: Mapping[int, int | None],
               prerequisites: Mapping[int, Iterable[int]]) -> dict[int, set[int]]:
    """Edges the milestone gates add: a task of a milestone waits for every given task of the
    milestones it depends on (transitively), since they open it."""
    by_milestone: dict[int, list[int]] = {}
    for t, m in task_milestones.items():
        if m is not None:
            by_milestone.setdefault(m, []).append(t)
    edges: dict[int, set[int]] = {}
    for t, m in task_milestones.items():
        if m is None:
            continue
        seen: set[int] = set()
        stack = list(prerequisites.get(m, ()))
        while stack:
            p = stack.pop()
            if p in seen or p == m:
                continue
            seen.add(p)
            stack.extend(prerequisites.get(p, ()))
        for p in seen:
            edges.setdefault(t, set()).update(by_milestone.get(p, ()))
    return edges


def gated_execution_plan(ids: Iterable[int], edges: Mapping[int, Iterable[int]],
                         task_milestones: Mapping[int, int | None], estimates: Mapping[int, float | None],
                         milestones: Iterable[tuple[int, Iterable[int] | None]]) -> ExecutionPlan:
    """The execution plan of ``ids``: a task of a milestone runs after the given tasks of every
    milestone whose gate opens it; with the critical path by estimate. ValueError on a cycle."""
    prerequisites = milestone_prerequisites(milestones)
    combined: dict[int, set[int]] = {t: set(edges.get(t, ())) for t in ids}
    for t, extra in gate_edges(task_milestones, prerequisites).items():
        combined.setdefault(t, set()).update(extra)
    batches = execution_plan(ids, combined)
    path, seconds = critical_path(ids, combined, estimates)
    return ExecutionPlan(batches=tuple(tuple(b) for b in batches), total_batches=len(batches),
                         max_parallelism=max(len(b) for b in batches), critical_path=tuple(path),
                         critical_seconds=seconds)
