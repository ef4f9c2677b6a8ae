"""The MCP server: the swarm's coordination state as tools a model calls (`swarmdeck mcp`).

Tool names and parameters are the ones agents written for this swarm design already call (seed 001's
task tools, abathur's memory tools) plus what the dashboard adds: claiming, heartbeats, gate reports.
Every tool is one store call, so a refused call changes nothing. A bad call comes back as an MCP
tool error (``isError``) whose text says what was wrong: ``<code>: <message>``, the codes being the
store's (``not_found``, ``invalid_argument``, ``swarm_paused``...). Gate decisions are not a tool:
only a human decides a gate.

This module may import the store and ``app.output``; never Textual.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import reprlib
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import ToolAnnotations
from pydantic import BeforeValidator, Field, ValidationError
from typing_extensions import NotRequired, TypedDict

from swarmdeck.store import Store, open_store
from swarmdeck.store.errors import InvalidArgument, StoreError
from swarmdeck.store.indexer import Indexer
from swarmdeck.store.limits import MAX_LINE, MAX_NAME
from swarmdeck.store.models import SearchMode

from .output import jsonable

log = logging.getLogger(__name__)

#: The largest integer SQLite stores: a bigger id is refused as an argument, never an overflow.
MAX_ID = 2**63 - 1

INSTRUCTIONS = """\
swarmdeck coordinates a swarm of coding agents through one shared database; humans watch it on a
dashboard and decide milestone gates. A worker agent's loop: agent_register once; then repeatedly
task_claim (the highest-priority ready task for your agent_type, or claimed=false when there is
none: wait and try again), agent_heartbeat while you work (status, completion, blockers), then
task_complete with a result, or task_fail with the reason (it is retried while retries remain).
A planner uses task_enqueue with prerequisites, task_execution_plan and task_queue_status. Memory
tools keep what the swarm learns (memory_*, session_*, document_*). Errors read "<code>: <what is
wrong>"; swarm_paused means a human escalated a gate: claims resume when a human resumes the swarm.
You cannot decide gates: submit a report with gate_submit_report and poll gate_status."""


def _not_bool(value: Any) -> Any:
    # JSON true/false would otherwise pass as 1/0 for a number parameter.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


def whole(ge: int | None = None, le: int | None = None) -> Any:
    """A whole-number parameter. The bounds come before the validator, or the schema loses them."""
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_not_bool)]


def number(*, ge: float | None = None, gt: float | None = None, le: float | None = None) -> Any:
    return Annotated[float, Field(ge=ge, gt=gt, le=le), BeforeValidator(_not_bool)]


TaskId = whole(1, MAX_ID)
MilestoneRef = Annotated[int | str, Field(description="Milestone id (a number) or its exact name.")]
Source = Literal["human", "agent_requirements", "agent_planner", "agent_implementation"]
TaskStatusName = Literal["pending", "blocked", "ready", "running", "completed", "failed", "cancelled"]
AgentStatusName = Literal["idle", "working", "blocked", "failed", "offline"]
MemoryTypeName = Literal["semantic", "episodic", "procedural"]
DecisionName = Literal["APPROVE", "CONDITIONAL", "REVISE", "ESCALATE"]
AgentName = Annotated[str, Field(min_length=1, max_length=MAX_NAME, description="The agent's registered name.")]
Namespace = Annotated[str, Field(min_length=1, description="Hierarchical, e.g. project:abathur/agent:builder.")]


class CriterionIn(TypedDict):
    name: str
    status: Literal["met", "not_met", "unknown"]
    evidence: NotRequired[str]


class MetricIn(TypedDict):
    name: str
    value: float
    target: float
    comparator: Literal["<", "<=", ">", ">=", "=="]
    unit: NotRequired[str]


class IssueIn(TypedDict):
    severity: Literal["critical", "high", "medium", "low"]
    description: str


READ = ToolAnnotations(read_only_hint=True)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True)

_CLI_REGISTER_HINT = re.compile(r"run `swarmdeck agent register [^`]*`")


def _error_text(exc: StoreError) -> str:
    """A store error as the model should read it: its code, then the store's own message."""
    message = _CLI_REGISTER_HINT.sub("call agent_register first", str(exc))
    return f"{exc.code}: {message}"


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            parts.append(f"{where} is required")
            continue
        shown = reprlib.repr(err.get("input"))  # bounded in depth and length, whatever the input
        parts.append(f"{where}: {msg} (got {shown[:80]}{'…' if len(shown) > 80 else ''})")
    return "invalid_argument: " + "; ".join(parts)


class SwarmdeckMCP(MCPServer):
    """MCPServer whose tools refuse unknown parameters and explain bad ones in a sentence."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parameters: dict[str, set[str]] | None = None

    async def _known_parameters(self, name: str) -> set[str] | None:
        if self._parameters is None:
            self._parameters = {
                t.name: set((t.input_schema or {}).get("properties", {})) for t in await self.list_tools()
            }
        return self._parameters.get(name)

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        known = await self._known_parameters(name)
        if known is not None:
            unknown = sorted(set(arguments) - known)
            if unknown:
                accepted = ", ".join(sorted(known)) or "none"
                raise ToolError(
                    f"Error executing tool {name}: invalid_argument: unknown parameter(s) "
                    f"{', '.join(unknown)}; {name} takes: {accepted}"
                )
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, StoreError):
                raise ToolError(f"Error executing tool {name}: {_error_text(cause)}") from cause
            if isinstance(cause, OverflowError):
                raise ToolError(
                    f"Error executing tool {name}: invalid_argument: a number given is too large for the database"
                ) from cause
            if isinstance(cause, UnicodeEncodeError):  # "\udcff" in a JSON string: no text SQLite can hold
                raise ToolError(
                    f"Error executing tool {name}: invalid_argument: a parameter is not valid UTF-8 text"
                ) from cause
            raise
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                cause = exc.__cause__
                raise ToolError(f"Error executing tool {name}: {_validation_text(cause)}") from cause
            raise


class _EmbedFailed(Exception):
    """The query could not be embedded: the search falls back to keyword results."""


class _GuardedEmbedder:
    """The configured embedder, its failures told apart from the store's."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model = inner.model

    async def embed_query(self, text: str) -> Any:
        try:
            return await self.inner.embed_query(text)
        except Exception as exc:  # a model that will not load, a server that is down
            raise _EmbedFailed(str(exc) or type(exc).__name__) from exc


def _deadline(text: str | None) -> datetime | None:
    if text is None or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgument(
            f"deadline must be an ISO 8601 time with a timezone, e.g. 2026-01-31T17:00:00Z, not {text!r}"
        ) from None
    if moment.tzinfo is None:
        raise InvalidArgument(f"deadline {text!r} needs a timezone, e.g. 2026-01-31T17:00:00Z")
    return moment


def _package_version() -> str:
    try:
        return version("swarmdeck")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0"


def build_server(store: Store, *, actor: str, embedder: Any = None) -> SwarmdeckMCP:
    """The server's tools over an open store. ``actor`` is who enqueues and cancels (--actor)."""
    mcp = SwarmdeckMCP(
        "swarmdeck", instructions=INSTRUCTIONS, version=_package_version(), log_level="WARNING",
    )

    async def search(query: str, *, kinds: list[str], namespace_prefix: str | None, memory_type: str | None,
                     limit: int) -> tuple[list[Any], str, str | None]:
        """Hybrid search when the index can serve it, else keyword results and a note saying why."""
        params = dict(kinds=kinds, namespace_prefix=namespace_prefix or None, memory_type=memory_type,
                      limit=limit)
        if embedder is None:
            hits = await store.search(query, mode=SearchMode.KEYWORD, **params)
            return hits, "keyword", "semantic search is off (no embedder); keyword results only"
        status = await store.index_status(embedder.model)
        if not status.embedded:
            hits = await store.search(query, mode=SearchMode.KEYWORD, **params)
            return hits, "keyword", f"nothing is embedded with {embedder.model} yet; keyword results only"
        try:
            guarded = _GuardedEmbedder(embedder)
            hits = await store.search(query, mode=SearchMode.HYBRID, embedder=guarded, **params)
            return hits, "hybrid", None
        except _EmbedFailed as exc:
            hits = await store.search(query, mode=SearchMode.KEYWORD, **params)
            return hits, "keyword", f"semantic search failed ({exc}); keyword results only"

    def tool(annotations: ToolAnnotations):
        """Register a tool; its docstring, dedented, is the description the model reads."""

        def deco(fn):
            mcp.add_tool(fn, description=inspect.cleandoc(fn.__doc__ or ""), annotations=annotations)
            return fn

        return deco

    def task_out(task: Any) -> dict[str, Any]:
        return jsonable(task)

    # -- tasks ------------------------------------------------------------------------------------

    @tool(WRITE)
    async def task_enqueue(
        description: Annotated[str, Field(
            description="What to do, written for the agent that will claim it.")],
        source: Annotated[Source, Field(
            description="Who asks for it; weighs into priority (human highest).")],
        agent_type: Annotated[str, Field(
            description="The kind of agent that should do it; claims can filter on it.")] = "general",
        base_priority: Annotated[whole(0, 10), Field(description="0 (lowest) to 10 (highest).")] = 5,
        prerequisites: Annotated[list[TaskId], Field(description="Task ids that must complete first.")] = [],
        parent_task_id: Annotated[TaskId | None, Field(
            description="The task this one was split from.")] = None,
        deadline: Annotated[str | None, Field(
            description="ISO 8601 time with a timezone, e.g. 2026-01-31T17:00:00Z.")] = None,
        estimated_duration_seconds: Annotated[whole(1, 10**9) | None, Field(
            description="Expected duration.")] = None,
        session_id: Annotated[str | None, Field(description="Session whose memory gives context.")] = None,
        input_data: Annotated[dict[str, Any] | None, Field(
            description="Any JSON object the worker needs.")] = None,
        summary: Annotated[str | None, Field(max_length=MAX_LINE, description="One line for humans.")] = None,
        milestone: Annotated[int | str | None, Field(
            description="Milestone id or name; its tasks wait until its gate opens.")] = None,
        max_retries: whole(0, 1000) = 3,
        timeout_seconds: Annotated[whole(1, 10**9), Field(
            description="A running task past this is retried or failed.")] = 3600,
    ) -> dict[str, Any]:
        """Add a task to the shared queue.

        It is ready at once, or blocked until every prerequisite completes (and its milestone's gate
        is open). A prerequisite that would form a cycle, or one that is cancelled, is refused.
        Returns task_id, status (ready or blocked), calculated_priority (0-100, abathur's five-factor
        score), dependency_depth, blocked_reason and the full task.
        """
        task = await store.enqueue_task(
            description=description, source=source, agent_type=agent_type, base_priority=base_priority,
            prerequisites=prerequisites, deadline=_deadline(deadline),
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
        milestone: Annotated[int | str | None, Field(description="Milestone id or name.")] = None,
        held_by_failure: Annotated[bool, Field(
            description="Only tasks waiting on a task that failed for good.")] = False,
        limit: whole(1, 500) = 50,
    ) -> dict[str, Any]:
        """List tasks matching every filter given: by priority when filtered by status, else newest first.

        Returns {tasks: [...], count}.
        """
        milestone_id = None if milestone is None else (await store.get_milestone(milestone)).id
        tasks = await store.list_tasks(status=status, source=source, agent_type=agent_type,
                                       assigned_agent=assigned_agent, milestone_id=milestone_id,
                                       held_by_failure=held_by_failure, limit=limit)
        return {"tasks": [task_out(t) for t in tasks], "count": len(tasks)}

    @tool(READ)
    async def task_queue_status() -> dict[str, Any]:
        """Queue health: total_tasks, status_counts, avg_priority (unfinished tasks), oldest_pending,
        held_by_failure (blocked tasks waiting on a task that failed for good: a human retries or
        cancels it), and whether the swarm is paused (claims are refused while it is)."""
        q = await store.queue_status()
        out: dict[str, Any] = {
            "total_tasks": q.total, "status_counts": dict(q.counts), "avg_priority": q.average_priority,
            "oldest_pending": jsonable(q.oldest_pending), "swarm_paused": q.paused,
            "held_by_failure": q.held_by_failure,
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
        done (prerequisites outside the set count as met). Returns batches, total_batches, max_parallelism."""
        p = await store.execution_plan(task_ids)
        return {"batches": [list(b) for b in p.batches], "total_batches": p.total_batches,
                "max_parallelism": p.max_parallelism}

    @tool(WRITE)
    async def task_claim(
        agent: AgentName,
        agent_type: Annotated[str | None, Field(description="Only claim tasks for this agent type.")] = None,
    ) -> dict[str, Any]:
        """Atomically take the highest-priority ready task; no other agent can get the same one.

        Returns {claimed: true, task} or {claimed: false, task: null} when nothing is ready (wait and
        try again). Register first with agent_register. While a human has paused the swarm, claims
        fail with swarm_paused: back off and retry later.
        """
        task = await store.claim_task(agent=agent, agent_type=agent_type)
        return {"claimed": task is not None, "task": None if task is None else task_out(task)}

    @tool(WRITE)
    async def task_complete(
        task_id: TaskId,
        agent: Annotated[str, Field(
            min_length=1, description="You: refused unless the task is assigned to you.")],
        result: Annotated[Any, Field(
            description="Any JSON: what was produced (files, figures, links).")] = None,
    ) -> dict[str, Any]:
        """Mark your running task completed; tasks that were waiting only for it become ready.
        Returns the task."""
        return task_out(await store.complete_task(task_id, agent=agent, result=result, actor=agent))

    @tool(WRITE)
    async def task_fail(
        task_id: TaskId,
        agent: Annotated[str, Field(
            min_length=1, description="You: refused unless the task is assigned to you.")],
        error: Annotated[str, Field(min_length=1, description="Why it failed, for whoever retries it.")],
        retry: Annotated[bool, Field(description="false fails it for good even if retries remain.")] = True,
    ) -> dict[str, Any]:
        """Report your running task failed. It goes back to ready while retries remain (unless retry is
        false), else it is failed. Returns the task and will_retry."""
        task = await store.fail_task(task_id, error=error, agent=agent, retry=retry, actor=agent)
        return {**task_out(task), "will_retry": task.status.value == "ready"}

    # -- agents -------------------------------------------------------------------------------------

    @tool(WRITE)
    async def agent_register(
        name: AgentName,
        agent_type: Annotated[str, Field(
            min_length=1, description="Your role, e.g. implementation, testing.")],
        colour: Annotated[str | None, Field(description="How the dashboard colours you, e.g. green.")] = None,
        model: Annotated[str | None, Field(description="The model behind you, e.g. opus.")] = None,
        stale_after_seconds: Annotated[number(gt=0), Field(
            description="Heartbeat age after which you show as stale.")] = 60.0,
        requeue_after_seconds: Annotated[number(ge=0), Field(
            description="How long you may stay stale before the tasks you claimed go back to the "
                        "queue for others.")] = 300.0,
    ) -> dict[str, Any]:
        """Register yourself (or update your registration) so you can claim tasks and send heartbeats.
        Returns the agent."""
        agent = await store.register_agent(name, agent_type=agent_type, colour=colour, model=model,
                                           stale_after_seconds=stale_after_seconds,
                                           requeue_after_seconds=requeue_after_seconds, actor=name)
        return jsonable(agent)

    @tool(WRITE)
    async def agent_heartbeat(
        agent: AgentName,
        status: Annotated[AgentStatusName | None, Field(description="Omit to leave it as it is.")] = None,
        current_task: Annotated[TaskId | None, Field(
            description="Id of the task you are on (a number). Omit to leave it.")] = None,
        clear_current_task: Annotated[bool, Field(description="true: you are on no task now.")] = False,
        completion: Annotated[number(ge=0, le=100) | None, Field(
            description="Percent done of the current work.")] = None,
        blockers: Annotated[list[str] | None, Field(
            description="What blocks you; [] clears them. Omit to leave them.")] = None,
        next_milestone: Annotated[str | None, Field(
            description="What you reach next; \"\" clears it.")] = None,
    ) -> dict[str, Any]:
        """Tell the dashboard you are alive, with any status you report (fields you omit stay as they
        are). Send one every minute or so while working: an agent whose heartbeat is older than its
        stale_after_seconds shows as stale. Returns the agent."""
        if clear_current_task and current_task is not None:
            raise InvalidArgument("give current_task or clear_current_task, not both")
        fields: dict[str, Any] = {}
        if status is not None:
            fields["status"] = status
        if clear_current_task:
            fields["current_task_id"] = None
        elif current_task is not None:
            fields["current_task_id"] = current_task
        if completion is not None:
            fields["completion"] = completion
        if blockers is not None:
            fields["blockers"] = blockers
        if next_milestone is not None:
            fields["next_milestone"] = next_milestone or None
        return jsonable(await store.heartbeat(agent, actor=agent, **fields))

    @tool(WRITE)
    async def log_action(
        agent: AgentName,
        phase: Annotated[str, Field(
            min_length=1, description="Where you are, e.g. implement, test, review.")],
        action: Annotated[str, Field(min_length=1, description="What you did, in a few words.")],
        duration_ms: number(ge=0) | None = None,
        success: bool = True,
        error_message: str | None = None,
    ) -> dict[str, Any]:
        """Record one step you took, with its duration and outcome: it shows in your activity on the
        dashboard and in its charts."""
        await store.log_action(agent, phase=phase, action=action, duration_ms=duration_ms, success=success,
                               error_message=error_message)
        return {"logged": True}

    # -- milestones and gates -------------------------------------------------------------------------

    @tool(READ)
    async def milestone_list() -> dict[str, Any]:
        """Every milestone in order with its gate state (locked, open, review, approved, conditional,
        escalated), budget, hours spent and task counts per status."""
        progress = await store.milestone_progress()
        milestones = [{**jsonable(m), "task_counts": progress.get(m.id, {})}
                      for m in await store.list_milestones()]
        swarm = await store.swarm_state()
        return {"milestones": milestones, "swarm_paused": swarm.paused, "pause_reason": swarm.reason}

    @tool(WRITE)
    async def gate_submit_report(
        milestone: MilestoneRef,
        submitted_by: AgentName,
        summary: str = "",
        criteria: Annotated[list[CriterionIn], Field(
            description="Acceptance criteria with status and evidence.")] = [],
        metrics: Annotated[list[MetricIn], Field(description="Quality metrics against their targets.")] = [],
        issues: Annotated[list[IssueIn], Field(description="Issues found, with severity.")] = [],
        recommendations: list[str] = [],
        proposed_decision: Annotated[DecisionName | None, Field(
            description="What you recommend; a human decides.")] = None,
    ) -> dict[str, Any]:
        """Submit a new version of a milestone's validation report; its gate goes to review.

        A human (never the submitter) then decides APPROVE, CONDITIONAL, REVISE or ESCALATE; poll
        gate_status for the decision. Returns the report with its version and content_hash.
        """
        report = await store.submit_report(
            milestone, submitted_by=submitted_by, summary=summary, criteria=criteria, metrics=metrics,
            issues=issues, recommendations=recommendations, proposed_decision=proposed_decision,
        )
        return jsonable(report)

    @tool(READ)
    async def gate_status(milestone: MilestoneRef) -> dict[str, Any]:
        """A milestone's gate: its status, the latest report, every decision (append-only), open
        conditions, approvals so far, and how many tasks approving it would unblock.
        awaiting_decision is true while a human has yet to decide. Each decision, resume and closure
        says whether it is verified (signed by its reviewer's key); one that is not carries a warning,
        counts for nothing and opens nothing. latest_decision is the latest verified one."""
        s = await store.gate_status(milestone)
        current = [d for d in s.decisions if s.report is not None and d.report_id == s.report.id and d.verified]
        return {**jsonable(s), "awaiting_decision": s.milestone.status.value == "review",
                "latest_decision": jsonable(current[-1]) if current else None}

    # -- memory -----------------------------------------------------------------------------------------

    @tool(WRITE)
    async def memory_add(
        namespace: Namespace,
        key: Annotated[str, Field(min_length=1)],
        value: Annotated[Any, Field(description="Text or any JSON value.")],
        memory_type: Annotated[MemoryTypeName, Field(
            description="semantic (facts), episodic (what happened), procedural (how to).")],
        created_by: Annotated[str, Field(min_length=1, description="Your agent name or session id.")],
        task_id: Annotated[TaskId | None, Field(description="The task it came from.")] = None,
        metadata: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        """Remember something under namespace/key (version 1). Refused if the key exists: use
        memory_update, which keeps the history. Returns memory_id, version and the entry."""
        entry = await store.add_memory(namespace, key, value, memory_type=memory_type, created_by=created_by,
                                       session_id=session_id, task_id=task_id, metadata=metadata)
        return {"memory_id": entry.id, "status": "created", "version": entry.version, "entry": jsonable(entry)}

    @tool(READ)
    async def memory_get(
        namespace: Namespace,
        key: Annotated[str, Field(min_length=1)],
        version: Annotated[TaskId | None, Field(
            description="An earlier version; omit for the current one.")] = None,
    ) -> dict[str, Any]:
        """A memory's current version (or the version asked for), with its value and metadata."""
        return jsonable(await store.get_memory(namespace, key, version=version))

    @tool(READ)
    async def memory_search(
        namespace_prefix: Annotated[str, Field(
            description="project:a matches project:a and project:a/...; \"\" matches all.")] = "",
        memory_type: MemoryTypeName | None = None,
        limit: whole(1, 500) = 50,
        query: Annotated[str | None, Field(
            description="Words to rank by (keyword + semantic); omit to list newest first.")] = None,
    ) -> dict[str, Any]:
        """Find memories under a namespace prefix, optionally of one type. Without query: the newest
        first. With query: ranked by relevance, each with score and snippet. Filters apply before
        the limit. Returns {memories, count}."""
        if query is None or not query.strip():
            entries = await store.list_memories(namespace_prefix=namespace_prefix or None, memory_type=memory_type,
                                                limit=limit)
            return {"memories": [jsonable(e) for e in entries], "count": len(entries)}
        hits, mode, note = await search(query, kinds=["memory"], namespace_prefix=namespace_prefix,
                                        memory_type=memory_type, limit=limit)
        memories = []
        for h in hits:
            entry = await store.get_memory_by_id(h.ref_id)
            memories.append({**jsonable(entry), "score": h.score, "snippet": h.snippet})
        out: dict[str, Any] = {"memories": memories, "count": len(memories), "mode": mode}
        if note:
            out["note"] = note
        return out

    @tool(WRITE)
    async def memory_update(
        namespace: Namespace,
        key: Annotated[str, Field(min_length=1)],
        value: Annotated[Any, Field(description="The new text or JSON value.")],
        updated_by: Annotated[str, Field(min_length=1)],
        memory_type: MemoryTypeName | None = None,
        metadata: Annotated[dict[str, Any] | None, Field(
            description="Replaces the metadata; omit to keep it.")] = None,
        task_id: Annotated[TaskId | None, Field(
            description="Accepted for compatibility; not recorded.")] = None,
    ) -> dict[str, Any]:
        """Write a new version of a memory; the previous versions stay readable with memory_get(version)."""
        entry = await store.update_memory(namespace, key, value, updated_by=updated_by, memory_type=memory_type,
                                          metadata=metadata)
        return {"memory_id": entry.id, "status": "updated", "version": entry.version, "entry": jsonable(entry)}

    @tool(DESTRUCTIVE)
    async def memory_delete(
        namespace: Namespace,
        key: Annotated[str, Field(min_length=1)],
        deleted_by: Annotated[str | None, Field(
            description="Who deletes it (default: the server's actor).")] = None,
        task_id: Annotated[TaskId | None, Field(
            description="Accepted for compatibility; not recorded.")] = None,
    ) -> dict[str, Any]:
        """Soft-delete a memory: hidden from get and search, kept in its history (a human can restore it)."""
        entry = await store.delete_memory(namespace, key, deleted_by=deleted_by or actor)
        return {"deleted": True, "namespace": entry.namespace, "key": entry.key, "version": entry.version}

    @tool(WRITE)
    async def session_create(
        session_id: Annotated[str | None, Field(
            description="Your own id for it; omit to get a new one.")] = None,
        agent: Annotated[str | None, Field(description="The agent the session belongs to.")] = None,
        initial_state: dict[str, Any] | None = None,
        app_name: Annotated[str | None, Field(description="Kept in the state as app_name.")] = None,
        user_id: Annotated[str | None, Field(description="Used as the agent when agent is omitted.")] = None,
        project_id: Annotated[str | None, Field(description="Kept in the state as project_id.")] = None,
    ) -> dict[str, Any]:
        """Start a session: a state object and an event history for one agent's run. Returns it."""
        state = dict(initial_state or {})
        for name, given in (("app_name", app_name), ("project_id", project_id)):
            if given is not None:
                state.setdefault(name, given)
        session = await store.create_session(agent=agent or user_id, session_id=session_id, state=state,
                                             actor=agent or user_id or actor)
        return {**jsonable(session), "session_id": session.id}

    @tool(READ)
    async def session_get(
        session_id: Annotated[str, Field(min_length=1)],
        events_limit: Annotated[whole(0, 500), Field(description="How many recent events to include.")] = 20,
    ) -> dict[str, Any]:
        """A session: its status, state and most recent events (oldest first)."""
        session = await store.get_session(session_id)
        events = await store.session_events(session_id, limit=events_limit) if events_limit else []
        return {**jsonable(session), "events": jsonable(events)}

    @tool(WRITE)
    async def session_append_event(
        session_id: Annotated[str, Field(min_length=1)],
        event: Annotated[dict[str, Any], Field(description="The event; its event_type (or kind) names it.")],
        state_delta: Annotated[dict[str, Any] | None, Field(
            description="Keys to merge into the state, atomically with the event.")] = None,
    ) -> dict[str, Any]:
        """Append an event to a session's history (and merge state_delta into its state in the same
        write). A terminated session takes no more events."""
        kind = next((event[k] for k in ("event_type", "kind", "type")
                     if isinstance(event.get(k), str) and event[k].strip()), "event")
        appended = await store.append_session_event(session_id, kind=kind, payload=event, state_delta=state_delta,
                                                    actor=actor)
        return {"status": "event_appended", "event": jsonable(appended)}

    @tool(READ)
    async def session_get_state(
        session_id: Annotated[str, Field(min_length=1)],
        key: Annotated[str | None, Field(description="One key; omit for the whole state.")] = None,
    ) -> dict[str, Any]:
        """A session's state: one key's value ({value, present}) or the whole state object."""
        session = await store.get_session(session_id)
        if key is None:
            return {"session_id": session.id, "state": session.state}
        return {"session_id": session.id, "key": key, "present": key in session.state,
                "value": session.state.get(key)}

    @tool(WRITE)
    async def session_set_state(
        session_id: Annotated[str, Field(min_length=1)],
        key: Annotated[str, Field(min_length=1)],
        value: Annotated[Any, Field(description="Any JSON value.")],
    ) -> dict[str, Any]:
        """Set one key of a session's state (the other keys stay). Returns the whole state."""
        session = await store.set_session_state(session_id, {key: value}, merge=True, actor=actor)
        return {"status": "state_updated", "session_id": session.id, "state": session.state}

    @tool(WRITE)
    async def document_index(
        namespace: Namespace,
        file_path: Annotated[str, Field(
            min_length=1, description="The document's path, its identity in the namespace.")],
        content: Annotated[str, Field(description="The full text.")],
    ) -> dict[str, Any]:
        """Index a document's text in chunks so document_semantic_search finds it. Indexing the same
        path again replaces it; unchanged content is left as it is."""
        document = await store.index_document(namespace, file_path, content, actor=actor)
        return {**jsonable(document), "status": "indexed"}

    @tool(READ)
    async def document_semantic_search(
        query_text: Annotated[str, Field(
            min_length=1, description="What you are looking for, in plain words.")],
        namespace: Annotated[str | None, Field(
            description="Only this namespace and what lies under it.")] = None,
        limit: whole(1, 100) = 10,
    ) -> dict[str, Any]:
        """Search indexed documents by meaning and keywords, best first. Each result has file_path,
        namespace, score, a snippet and the matching chunk's text. mode says whether semantic
        ranking took part (note says why not)."""
        if not query_text.strip():
            raise InvalidArgument("query_text must not be blank")
        hits, mode, note = await search(query_text, kinds=["document"], namespace_prefix=namespace,
                                        memory_type=None, limit=limit)
        results = []
        for h in hits:
            path, _, chunk = h.title.rpartition(" #")
            results.append({
                "file_path": path or h.title, "chunk": int(chunk) if chunk.isdigit() else None,
                "namespace": h.namespace, "score": h.score, "snippet": h.snippet,
                "text": await store.search_item_body(h.item_id),
            })
        out: dict[str, Any] = {"results": results, "count": len(results), "mode": mode}
        if note:
            out["note"] = note
        return out

    return mcp


async def serve(db: Path, *, actor: str, embedder_spec: str | None = None, index: bool = True,
                warn=lambda message: None, read_only: bool = False) -> None:
    """Serve MCP over stdio on the database at ``db`` until the client closes the connection.

    With ``index`` the server also embeds new memories and documents in the background (what the
    dashboard's indexer does), so semantic search works without a dashboard open. ``read_only``
    serves a seat that reads and searches only: every write tool is refused (permission_denied).
    """
    store = await open_store(db, read_only=read_only)
    index = index and not read_only
    embedder = None
    try:
        from swarmdeck.store.embed import embedder_from_config

        try:
            embedder = embedder_from_config(embedder_spec)
        except StoreError as exc:
            warn(f"semantic search is off: {exc}")
        stop = asyncio.Event()
        indexer_task = None
        if embedder is not None and index:
            indexer_task = asyncio.create_task(Indexer(store, embedder).run(stop))
        try:
            await build_server(store, actor=actor, embedder=embedder).run_stdio_async()
        finally:
            stop.set()
            if indexer_task is not None:
                indexer_task.cancel()  # it may be embedding a batch: the store closes only once it ended
                await asyncio.gather(indexer_task, return_exceptions=True)
    finally:
        try:
            if embedder is not None:
                await embedder.aclose()
        finally:
            await store.close()


__all__ = ["INSTRUCTIONS", "SwarmdeckMCP", "build_server", "serve"]
