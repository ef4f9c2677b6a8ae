"""`swarmdeck task ...`: the queue as agents and scripts use it."""

from __future__ import annotations

import json

import click
from swarmdeck.store import (
    CancelResult,
    ExecutionPlan,
    QueueStatus,
    Task,
    TaskSource,
    TaskStatus,
    learning,
    lessons,
)
from swarmdeck.store import rules
from swarmdeck.store import search as search_rules
from swarmdeck.store.domain.tasks import DEBUGGING_TYPE
from swarmdeck.store.models import STATUS_ALIASES, Escalation
from swarmdeck.store.priority import BASE_PRIORITY_DEFAULT, BASE_PRIORITY_MAX, BASE_PRIORITY_MIN

from ..output import ago, jsonable, plain, when
from ._base import Config, Store, leaf, milestone_ref_id, parse_json_arg, table
from ._parse import DURATION, ID, MOMENT

#: A base priority, within the store's range (store/priority.py).
BASE_PRIORITY = click.IntRange(BASE_PRIORITY_MIN, BASE_PRIORITY_MAX)


@click.group("task")
def task_group() -> None:
    """Enqueue, claim, complete, fail, cancel and inspect tasks."""


def render_task(t: Task) -> str:
    lines = [
        f"task {t.id}  [{t.status}]  priority {t.priority:.1f}",
        f"  description: {plain(t.description)}",
    ]
    if t.summary:
        lines.append(f"  summary: {plain(t.summary)}")
    lines += [
        f"  source: {t.source}  agent_type: {plain(t.agent_type)}  base_priority: {t.base_priority}",
        f"  prerequisites: {', '.join(map(str, t.prerequisites)) or '-'}  depth: {t.dependency_depth}",
    ]
    if t.blocked_reason:
        lines.append(f"  blocked: {plain(t.blocked_reason)}")
    if t.milestone_id is not None:
        lines.append(f"  milestone: {t.milestone_id}")
    if t.assigned_agent:
        lines.append(f"  agent: {plain(t.assigned_agent)}")
    lines.append(f"  retries: {t.retry_count}/{t.max_retries}  timeout: {t.timeout_seconds}s")
    if t.deadline:
        lines.append(f"  deadline: {when(t.deadline)}")
    if t.error_message:
        lines.append(f"  error: {plain(t.error_message)}")
    if t.result_data is not None:
        lines.append(f"  result: {plain(json.dumps(t.result_data, ensure_ascii=False))}")
    lines.append(f"  created: {when(t.created_at)}  updated: {when(t.updated_at)}")
    if t.archived_at is not None:
        lines.append(f"  archived: {when(t.archived_at)} (by the retention policy: `swarmdeck prune`)")
    return "\n".join(lines)


def render_tasks(tasks: list[Task]) -> str:
    if not tasks:
        return "no tasks match"
    return table(
        [[t.id, t.status if t.held_by is None else f"{t.status}, held by {t.held_by}", f"{t.priority:.1f}",
          t.agent_type, t.assigned_agent or "-", t.description[:60]] for t in tasks],
        ["id", "status", "priority", "type", "agent", "description"],
    )


@leaf(task_group, "enqueue", render_task)
@click.argument("description")
@click.option("--source", type=click.Choice([s.value for s in TaskSource]), default="human", show_default=True)
@click.option("--type", "agent_type", default="general", show_default=True, help="Agent type that should do it.")
@click.option("--priority", "base_priority", type=BASE_PRIORITY, default=BASE_PRIORITY_DEFAULT, show_default=True,
              help=f"Base priority, {BASE_PRIORITY_MIN} (lowest) to {BASE_PRIORITY_MAX} (highest).")
@click.option("--after", "prerequisites", type=ID, multiple=True, help="A prerequisite task id (repeatable).")
@click.option("--deadline", type=MOMENT, help="ISO time or +30m/+2h/+1d.")
@click.option("--estimate", "estimated_duration_seconds", type=DURATION, help="Expected duration: 90s, 30m, 2h.")
@click.option("--milestone", help="The milestone the task belongs to: its id, name or label (M3).")
@click.option("--parent", "parent_task_id", type=ID)
@click.option("--session", "session_id")
@click.option("--input", "input_data", help="JSON input data ('@file' or '-' for stdin).")
@click.option("--summary")
@click.option("--max-retries", type=click.IntRange(0, 1000), default=3, show_default=True)
@click.option("--timeout", "timeout_seconds", type=DURATION, default=3600, show_default=True)
async def enqueue(store: Store, cfg: Config, input_data: str | None, **fields) -> Task:
    """Add a task to the queue (ready at once, or blocked until its prerequisites complete)."""
    from swarmdeck.store.inputs import TaskSpec

    spec = TaskSpec.parse(input_data=parse_json_arg(input_data, "--input"), **fields)
    return await store.enqueue_task(actor=cfg.who(), **dict(spec))


class Claimed(dict):
    """`task claim`'s answer with its context: as JSON, the task's fields and ``context`` (the lessons)."""

    def __init__(self, task: Task, context: lessons.Context) -> None:
        super().__init__(jsonable(task), context=jsonable(context))
        self.task, self.context = task, context


def render_lesson(lesson: lessons.Lesson) -> list[str]:
    relevance = search_rules.relevance_text(lesson.relevance)
    lines = [f"  {plain(lesson.title)}  (record {lesson.record_id}, {plain(lesson.namespace)}, "
             f"{when(lesson.created_at)}" + (f", {relevance})" if relevance else ")")]
    for name in ("why_failed", "lesson", "rationale"):  # the title names the feature or the decision
        if name in lesson.fields:
            lines.append(f"    {name.replace('_', ' ')}: {plain(learning.shown(lesson.kind, name, lesson.fields[name]))}")
    return lines


def render_claim(result: Task | Claimed | None) -> str:
    if result is None:
        return "no ready task"
    if not isinstance(result, Claimed):
        return render_task(result)
    context = result.context
    lines = [render_task(result.task)]
    if not context.lessons:
        lines.append("no past failures or decisions match it")
    else:
        lines.append(f"past failures and decisions that may concern it ({context.mode}; `record get ID` for all):")
        for lesson in context.lessons:
            lines += render_lesson(lesson)
    if context.note:
        lines.append(f"note: {plain(context.note)}")
    return "\n".join(lines)


@leaf(task_group, "claim", render_claim)
@click.option("--agent", required=True, help="The claiming agent's registered name.")
@click.option("--type", "agent_type", help="Only claim tasks for this agent type.")
@click.option("--context/--no-context", default=True, show_default=True,
              help="Also show the past failures and decisions most relevant to the task (looked up after "
                   "the claim committed).")
@click.option("--context-namespace", "namespace_prefix", metavar="PREFIX",
              help="Only lessons under this namespace (whole segments: project:a is project:a and project:a/...).")
@click.option("--context-milestone", "milestone", metavar="MILESTONE",
              help="Only lessons logged for this milestone: id, name or label (M3).")
@click.option("--context-limit", "limit", type=click.IntRange(0, lessons.MAX_LIMIT), default=lessons.DEFAULT_LIMIT,
              show_default=True, help="How many lessons at most.")
@click.option("--embedder", "embedder_spec", metavar="SPEC",
              help="Rank lessons by meaning too: local, ollama[:MODEL][@URL] or hash[:DIM] (default: keywords "
                   "alone, which needs no model).")
async def claim(store: Store, cfg: Config, agent: str, agent_type: str | None, context: bool,
                namespace_prefix: str | None, milestone: str | None, limit: int,
                embedder_spec: str | None) -> Task | Claimed | None:
    """Atomically take the highest-priority ready task (prints 'no ready task' / null if none), with the
    past failures and decisions most relevant to it (--no-context: the task alone)."""
    milestone_id = await milestone_ref_id(store, milestone) if context else None
    embedder = None
    if context and embedder_spec is not None:
        from swarmdeck.store.embed import embedder_from_config

        embedder = embedder_from_config(embedder_spec)
    try:
        answer = await lessons.claim_with_lessons(store, agent=agent, agent_type=agent_type, context=context,
                                                  embedder=embedder, namespace_prefix=namespace_prefix,
                                                  milestone_id=milestone_id, limit=limit)
    finally:
        if embedder is not None:
            await embedder.aclose()
    if answer.task is None or answer.context is None:
        return answer.task
    return Claimed(answer.task, answer.context)


@leaf(task_group, "complete", render_task)
@click.argument("task_id", type=ID)
@click.option("--agent", help="Refuse unless the task is assigned to this agent.")
@click.option("--result", help="JSON result data ('@file' or '-' for stdin).")
@click.option("--hours", type=click.FloatRange(0), help="Effort to book on the milestone (default: the time it ran).")
async def complete(store: Store, cfg: Config, task_id: int, agent: str | None, result: str | None,
                   hours: float | None) -> Task:
    """Mark a running task completed; tasks waiting only on it become ready."""
    return await store.complete_task(
        task_id, agent=agent, result=parse_json_arg(result, "--result"), actor=cfg.who(agent), hours=hours
    )


@leaf(task_group, "fail", render_task)
@click.argument("task_id", type=ID)
@click.option("--error", required=True, help="Why it failed.")
@click.option("--agent", help="Refuse unless the task is assigned to this agent.")
@click.option("--no-retry", is_flag=True, help="Fail it for good even if retries remain.")
async def fail_(store: Store, cfg: Config, task_id: int, error: str, agent: str | None, no_retry: bool) -> Task:
    """Report a running task failed: it is retried while retries remain, else it fails."""
    return await store.fail_task(task_id, error=error, agent=agent, retry=not no_retry, actor=cfg.who(agent))


def render_escalation(e: Escalation) -> str:
    return "\n".join([
        f"task {e.task.id} waits on debugging task {e.debug_task.id} ({plain(e.debug_task.agent_type)}): it is "
        "ready again for its agent type once that completes",
        render_task(e.debug_task),
    ])


@leaf(task_group, "escalate", render_escalation)
@click.argument("task_id", type=ID)
@click.option("--note", required=True, help="What the debugging agent needs to know: the error, what was tried.")
@click.option("--to-type", "to_type", default=DEBUGGING_TYPE, show_default=True,
              help="The agent type of the debugging task.")
@click.option("--agent", help="Refuse unless the task is assigned to this agent (you).")
async def escalate(store: Store, cfg: Config, task_id: int, note: str, to_type: str, agent: str | None) -> Escalation:
    """Hand a running task off to a new debugging task (seed 000's error escalation).

    The task waits on it (blocked, unassigned) and is ready again for its agent type once the
    debugging task completes; the note is the debugging task's description."""
    return await store.escalate_task(task_id, note=note, to_type=to_type, agent=agent, actor=cfg.who(agent))


def render_cancel(r: CancelResult) -> str:
    verb = "would cancel" if r.dry_run else "cancelled"
    cascade = ", ".join(map(str, r.cascaded_task_ids)) or "none"
    return f"{verb} task {r.cancelled_task_id} and {len(r.cascaded_task_ids)} dependent(s): {cascade}"


@leaf(task_group, "cancel", render_cancel)
@click.argument("task_id", type=ID)
@click.option("--dry-run", is_flag=True, help="Only show what would be cancelled.")
@click.option("--reason")
async def cancel(store: Store, cfg: Config, task_id: int, dry_run: bool, reason: str | None) -> CancelResult:
    """Cancel a task and every unfinished task that depends on it (completed ones are never touched)."""
    return await store.cancel_task(task_id, dry_run=dry_run, reason=reason, actor=cfg.who())


@leaf(task_group, "retry", render_task)
@click.argument("task_id", type=ID)
async def retry(store: Store, cfg: Config, task_id: int) -> Task:
    """Put a failed task back in the queue; given a task held by failed ones, retry those."""
    return await store.retry_task(task_id, actor=cfg.who())


@leaf(task_group, "priority", render_task)
@click.argument("task_id", type=ID)
@click.argument("base_priority", type=BASE_PRIORITY)
async def set_priority(store: Store, cfg: Config, task_id: int, base_priority: int) -> Task:
    """Change a task's base priority (the higher, the sooner it runs); its score is recomputed."""
    return await store.set_base_priority(task_id, base_priority, actor=cfg.who())


@leaf(task_group, "depend", render_task)
@click.argument("task_id", type=ID)
@click.option("--on", "prerequisite_id", type=ID, required=True, help="The prerequisite task id.")
async def depend(store: Store, cfg: Config, task_id: int, prerequisite_id: int) -> Task:
    """Make a task wait for another (refused if it would form a cycle)."""
    return await store.add_dependency(task_id, prerequisite_id, actor=cfg.who())


@leaf(task_group, "get", render_task)
@click.argument("task_id", type=ID)
async def get(store: Store, cfg: Config, task_id: int) -> Task:
    """Show one task."""
    return await store.get_task(task_id)


@leaf(task_group, "list", render_tasks)
@click.option("--status", "status", multiple=True,
              type=click.Choice([*(s.value for s in TaskStatus), *STATUS_ALIASES[TaskStatus]]),
              help="Repeatable; in_progress (seed 001's todo word) is running.")
@click.option("--source", type=click.Choice([s.value for s in TaskSource]))
@click.option("--type", "agent_type")
@click.option("--milestone", help="Only tasks of this milestone: its id, name or label (M3).")
@click.option("--agent", "assigned_agent")
@click.option("--held", "held_by_failure", is_flag=True, help="Only tasks held by a task that failed for good.")
@click.option("--archived", is_flag=True,
              help="Only the finished tasks `swarmdeck prune` archived (left out otherwise).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
async def list_(store: Store, cfg: Config, status: tuple[str, ...], milestone: str | None,
                **filters) -> list[Task]:
    """List tasks (by priority when filtered by status, else newest first). The finished tasks the
    retention policy archived are left out unless --archived is given; `task get ID` shows any task."""
    milestone_id = await milestone_ref_id(store, milestone)
    return await store.list_tasks(status=list(status) or None, milestone_id=milestone_id, **filters)


def render_plan(p: ExecutionPlan) -> str:
    lines = [f"batch {i}: {', '.join(map(str, b))}" for i, b in enumerate(p.batches, start=1)]
    lines.append(f"{p.total_batches} batch(es), max parallelism {p.max_parallelism}")
    if len(p.critical_path) > 1 or p.critical_seconds:
        length = (f"{ago(p.critical_seconds)} by estimate" if p.critical_seconds
                  else "no estimates: the longest chain")
        lines.append(f"critical path: {' -> '.join(map(str, p.critical_path))} ({length})")
    return "\n".join(lines)


@leaf(task_group, "plan", render_plan)
@click.argument("task_ids", type=ID, nargs=-1, required=True)
async def plan(store: Store, cfg: Config, task_ids: tuple[int, ...]) -> ExecutionPlan:
    """Topological batches for the given tasks (a milestone's after those of the milestones whose
    gates open it), the maximum parallelism, and the critical path: the longest chain by estimate."""
    return await store.execution_plan(task_ids)


class Status(dict):
    """`task status`'s answer: as JSON, the queue's figures and ``project_complete``."""

    def __init__(self, queue: QueueStatus, project_complete: bool) -> None:
        super().__init__(jsonable(queue), project_complete=project_complete)
        self.queue, self.project_complete = queue, project_complete


def render_status(status: Status) -> str:
    q = status.queue
    counts = "  ".join(f"{k} {v}" for k, v in q.counts.items())
    avg = "-" if q.average_priority is None else f"{q.average_priority:.1f}"
    paused = "  [swarm PAUSED]" if q.paused else ""
    lines = [f"{q.total} tasks: {counts}", f"average priority {avg}  oldest waiting {when(q.oldest_pending)}{paused}"]
    if q.held_by_failure:
        lines.append(f"{q.held_by_failure} blocked by tasks that failed for good: see `swarmdeck task list --held`, "
                     "then retry or cancel the failures")
    if status.project_complete:
        from swarmdeck.store.gates import PROJECT_COMPLETE

        lines.append(f"{PROJECT_COMPLETE}: every milestone's gate has passed")
    return "\n".join(lines)


@leaf(task_group, "status", render_status)
async def status(store: Store, cfg: Config) -> Status:
    """Counts per status, average priority, the oldest waiting task, and PROJECT COMPLETE once every
    milestone's gate has passed."""
    return Status(await store.queue_status(), await rules.project_complete(store))


@leaf(task_group, "reap", lambda ts: f"{len(ts)} task(s) timed out or left by silent agents: retried or failed")
async def reap(store: Store, cfg: Config) -> list[Task]:
    """Retry or fail every running task past its timeout or whose agent went silent (claims do this too)."""
    return await store.reap_timeouts(actor=cfg.who())
