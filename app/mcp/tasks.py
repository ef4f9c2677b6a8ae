"""Task tools: enqueue, read, claim, complete, fail, cancel and plan the shared queue."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from swarmdeck.app.output import jsonable
from swarmdeck.store import lessons, rules
from swarmdeck.store import search as search_rules
from swarmdeck.store.domain.tasks import DEBUGGING_TYPE
from swarmdeck.store.inputs import TaskSpec

from .params import AgentName, Assignee, MilestoneRef, Source, TaskId, TaskStatusName, default_of, field_of, whole
from .server import DESTRUCTIVE, READ, WRITE, Tools


def spec(name: str) -> Any:
    """A TaskSpec field as task_enqueue's parameter: the store's own type, limits and description."""
    return field_of(TaskSpec, name)


def default(name: str) -> Any:
    return default_of(TaskSpec, name)


def context_out(context: lessons.Context) -> dict[str, Any]:
    """A claim's lessons for the model: each record's fields, and its relevance as 0-100 with a label."""
    out: dict[str, Any] = {"lessons": [], "mode": context.mode}
    for lesson in context.lessons:
        item = jsonable(lesson)
        item["relevance"] = None if lesson.relevance is None else round(lesson.relevance * 100)
        item["relevance_label"] = search_rules.relevance_label(lesson.relevance) or None
        out["lessons"].append(item)
    if context.note:
        out["note"] = context.note
    return out


def register(t: Tools) -> None:
    store, actor, tool = t.store, t.actor, t.tool

    def task_out(task: Any) -> dict[str, Any]:
        return jsonable(task)

    @tool(WRITE)
    async def task_enqueue(
        description: spec("description"),
        source: Annotated[Source, Field(description=TaskSpec.model_fields["source"].description)],
        agent_type: spec("agent_type") = default("agent_type"),
        base_priority: spec("base_priority") = default("base_priority"),
        prerequisites: spec("prerequisites") = default("prerequisites"),
        parent_task_id: spec("parent_task_id") = None,
        deadline: spec("deadline") = None,
        estimated_duration_seconds: spec("estimated_duration_seconds") = None,
        session_id: spec("session_id") = None,
        input_data: Annotated[dict[str, Any] | None, Field(
            description="Any JSON object the worker needs.")] = None,
        summary: spec("summary") = None,
        milestone: spec("milestone") = None,
        max_retries: spec("max_retries") = default("max_retries"),
        timeout_seconds: spec("timeout_seconds") = default("timeout_seconds"),
    ) -> dict[str, Any]:
        """Add a task to the shared queue.

        It is ready at once, or blocked until every prerequisite completes (and its milestone's gate
        is open). A prerequisite that would form a cycle, or one that is cancelled, is refused.
        Returns task_id, status (ready or blocked), calculated_priority (0-100, abathur's five-factor
        score), dependency_depth, blocked_reason and the full task.
        """
        task = await store.enqueue_task(
            description=description, source=source, agent_type=agent_type, base_priority=base_priority,
            prerequisites=prerequisites, deadline=deadline,
            estimated_duration_seconds=estimated_duration_seconds, milestone=milestone,
            parent_task_id=parent_task_id, session_id=session_id, input_data=input_data, summary=summary,
            max_retries=max_retries, timeout_seconds=timeout_seconds, actor=actor,
        )
        return {
            "task_id": task.id, "status": task.status.value, "calculated_priority": task.priority,
            "dependency_depth": task.dependency_depth, "submitted_at": task.created_at.isoformat(),
            "blocked_reason": task.blocked_reason, "task": task_out(task),
        }

    @tool(READ)
    async def task_get(task_id: TaskId) -> dict[str, Any]:
        """One task with every field: status, priority, prerequisites, assigned agent, result or error."""
        return task_out(await store.get_task(task_id))

    @tool(READ)
    async def task_list(
        status: TaskStatusName | None = None,
        source: Source | None = None,
        agent_type: str | None = None,
        assigned_agent: Annotated[str | None, Field(description="Only tasks assigned to this agent.")] = None,
        milestone: Annotated[int | str | None, Field(
            description="Only tasks of this milestone: its id, name or label (e.g. M3).")] = None,
        held_by_failure: Annotated[bool, Field(
            description="Only tasks waiting on a task that failed for good.")] = False,
        archived: Annotated[bool, Field(
            description="Only the finished tasks the retention policy archived (left out otherwise).")] = False,
        limit: whole(1, 500) = 50,
    ) -> dict[str, Any]:
        """List tasks matching every filter given: by priority when filtered by status, else newest first.
        Finished tasks archived by the retention policy are left out unless ``archived`` is true.

        Returns {tasks: [...], count}.
        """
        milestone_id = None if milestone is None else (await store.get_milestone(milestone)).id
        tasks = await store.list_tasks(status=status, source=source, agent_type=agent_type,
                                       assigned_agent=assigned_agent, milestone_id=milestone_id,
                                       held_by_failure=held_by_failure, archived=archived, limit=limit)
        return {"tasks": [task_out(t) for t in tasks], "count": len(tasks)}

    @tool(READ)
    async def task_queue_status() -> dict[str, Any]:
        """Queue health: total_tasks, status_counts, avg_priority (unfinished tasks), oldest_pending,
        held_by_failure (blocked tasks waiting on a task that failed for good: a human retries or
        cancels it), whether the swarm is paused (claims are refused while it is), and project_complete
        (every milestone's gate has passed: the project is done)."""
        q = await store.queue_status()
        out: dict[str, Any] = {
            "total_tasks": q.total, "status_counts": dict(q.counts), "avg_priority": q.average_priority,
            "oldest_pending": jsonable(q.oldest_pending), "swarm_paused": q.paused,
            "held_by_failure": q.held_by_failure,
            "project_complete": await rules.project_complete(store),
        }
        if q.paused:
            out["pause_reason"] = (await store.swarm_state()).reason
        return out

    @tool(DESTRUCTIVE)
    async def task_cancel(
        task_id: TaskId,
        reason: Annotated[str | None, Field(description="Why; shown to humans.")] = None,
        dry_run: Annotated[bool, Field(description="Only report what would be cancelled.")] = False,
    ) -> dict[str, Any]:
        """Cancel a task and every unfinished task that transitively depends on it (completed tasks are
        never touched). Returns cancelled_task_id, cascaded_task_ids, total_cancelled."""
        r = await store.cancel_task(task_id, dry_run=dry_run, reason=reason, actor=actor)
        return {"cancelled_task_id": r.cancelled_task_id, "cascaded_task_ids": list(r.cascaded_task_ids),
                "total_cancelled": r.total_cancelled, "dry_run": r.dry_run}

    @tool(READ)
    async def task_execution_plan(
        task_ids: Annotated[list[TaskId], Field(min_length=1, description="The tasks to plan.")],
    ) -> dict[str, Any]:
        """Order tasks into batches: each batch's tasks can run in parallel once the earlier batches are
        done (prerequisites outside the set count as met; a milestone's tasks come after those of the
        milestones whose gates open it). Returns batches, total_batches, max_parallelism, and
        critical_path (task ids, first to last: the longest chain by estimate) with critical_seconds."""
        p = await store.execution_plan(task_ids)
        return {"batches": [list(b) for b in p.batches], "total_batches": p.total_batches,
                "max_parallelism": p.max_parallelism, "critical_path": list(p.critical_path),
                "critical_seconds": p.critical_seconds}

    @tool(WRITE)
    async def task_claim(
        agent: AgentName,
        agent_type: Annotated[str | None, Field(description="Only claim tasks for this agent type.")] = None,
        context: Annotated[bool, Field(
            description="Also return the past failures and decisions most relevant to the task.")] = True,
        context_namespace_prefix: Annotated[str, Field(
            description="Only lessons under this namespace (project:a is project:a and project:a/...).")] = "",
        context_milestone: Annotated[MilestoneRef | None, Field(
            description="Only lessons logged for this milestone: its id, name or label (e.g. M3).")] = None,
        context_limit: whole(0, lessons.MAX_LIMIT) = lessons.DEFAULT_LIMIT,
    ) -> dict[str, Any]:
        """Atomically take the highest-priority ready task; no other agent can get the same one.

        Returns {claimed: true, task, context} or {claimed: false, task: null} when nothing is ready
        (wait and try again). context.lessons are the past failures and decisions most relevant to the
        task (read them before you start: each has its record's fields, e.g. why_failed and lesson),
        ranked by meaning and keywords, or keywords alone (context.mode). Register first with
        agent_register. While a human has paused the swarm, claims fail with swarm_paused: back off
        and retry later.
        """
        milestone_id = None if context_milestone is None else (await store.get_milestone(context_milestone)).id
        claim = await lessons.claim_with_lessons(
            store, agent=agent, agent_type=agent_type, context=context, embedder=t.embedder,
            namespace_prefix=context_namespace_prefix, milestone_id=milestone_id, limit=context_limit)
        out: dict[str, Any] = {"claimed": claim.task is not None,
                               "task": None if claim.task is None else task_out(claim.task)}
        if claim.context is not None:
            out["context"] = context_out(claim.context)
        return out

    @tool(WRITE)
    async def task_handoff(
        task_id: TaskId,
        agent: Assignee,
        note: Annotated[str, Field(
            min_length=1, description="What the debugging agent needs to know: the error, what you tried, "
                                      "where you stopped.")],
        to_agent_type: Annotated[str, Field(
            min_length=1, description="The agent type of the debugging task.")] = DEBUGGING_TYPE,
    ) -> dict[str, Any]:
        """Hand your running task off when you hit an error you cannot fix (seed 000's error escalation):
        a new debugging task (your note as its description, your task as its parent) is enqueued, and
        your task waits on it; when it completes, your task is ready again for your agent type (claim it
        again). Returns {task, debug_task}."""
        e = await store.escalate_task(task_id, note=note, to_type=to_agent_type, agent=agent, actor=agent)
        return {"task": task_out(e.task), "debug_task": task_out(e.debug_task)}

    @tool(WRITE)
    async def task_complete(
        task_id: TaskId,
        agent: Assignee,
        result: Annotated[Any, Field(
            description="Any JSON: what was produced (files, figures, links).")] = None,
    ) -> dict[str, Any]:
        """Mark your running task completed; tasks that were waiting only for it become ready.
        Returns the task."""
        return task_out(await store.complete_task(task_id, agent=agent, result=result, actor=agent))

    @tool(WRITE)
    async def task_fail(
        task_id: TaskId,
        agent: Assignee,
        error: Annotated[str, Field(min_length=1, description="Why it failed, for whoever retries it.")],
        retry: Annotated[bool, Field(description="false fails it for good even if retries remain.")] = True,
    ) -> dict[str, Any]:
        """Report your running task failed. It goes back to ready while retries remain (unless retry is
        false), else it is failed. Returns the task and will_retry."""
        task = await store.fail_task(task_id, error=error, agent=agent, retry=retry, actor=agent)
        return {**task_out(task), "will_retry": task.status.value == "ready"}
