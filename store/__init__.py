"""swarmdeck's store: the coordination state every agent, script and screen shares.

``open_store(url)`` returns an object implementing the ``Store`` protocol, from the backend its URL
names: ``BACKENDS`` maps a scheme to "module:callable", imported on first use, so this module imports
no backend (a checked contract: see pyproject's import-linter section and tests/store/test_protocol.py).
A plain path, or a ``sqlite:`` URL, is the embedded SQLite store (store/sqlite/); any other scheme is
refused, never taken for a path. This package never imports Textual either.

How writes are shaped, for every backend. A write is a plain synchronous function over a transaction
object (``tx.one/all/run/many/event``), run to its end on one thread: nothing returns to the event
loop between BEGIN and COMMIT, so no other coroutine can interleave with a transaction while its lock
is held, and the event loop is never blocked by one (it runs on the store's own thread whenever it
might wait). SQLite runs it on a connection and a thread the store owns (store/sqlite/connection.py).
PostgreSQL (store/postgres/) runs the same synchronous, backend-neutral orchestration over psycopg's
synchronous connection on the store's own thread (measured against asyncpg in BENCHMARKS.md,
"PostgreSQL: the driver"). Why:
one shape of rules for every backend (the domain code is written once, as ordinary functions), no
await points inside a transaction (so no lock is held across a suspension, and no body can be
interleaved by accident), and the event loop never blocked.

What the store reads from the environment: nothing it is told. Every setting is a parameter, which
swarmdeck's faces always pass from their settings object (app/settings.py). For Python API users
only, a parameter left out falls back to its variable, here and nowhere else documented:

- ``open_store(vector_backend=None)``: $SWARMDECK_VECTOR_BACKEND, else sqlite-vec; ``vector_cache_mb=None``:
  $SWARMDECK_VECTOR_CACHE_MB, else 1024 (store/sqlite/vectors.py's ``open_index``). The CLI commands
  that use no vectors (``task claim``, ``agent heartbeat``...) build no settings, so the stores they
  open take these fallbacks too.
- ``embed.embedder_from_config(None)``: $SWARMDECK_EMBEDDER, else the local model.
- ``signing.key_path`` / ``has_key`` / ``load_key`` / ``create_key`` with no ``folder``: $SWARMDECK_KEYS,
  else $XDG_CONFIG_HOME/swarmdeck/keys, else ~/.config/swarmdeck/keys (``signing.key_dir``).
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import unquote

from .errors import InvalidArgument, StoreError

if TYPE_CHECKING:  # the protocol's annotations: built only when a caller asks for a name (__getattr__)
    from .audit import AuditHead, AuditProblem, AuditResult
    from .charts import (
        Burndown,
        ChartFilters,
        Charts,
        Durations,
        EstimateAccuracy,
        GateLatency,
        QueueDepth,
        Throughput,
        Window,
    )
    from .models import (
        UNSET,
        Agent,
        AgentStatus,
        CancelResult,
        Escalation,
        Condition,
        CriterionEvidence,
        Decision,
        Document,
        Event,
        ExecutionPlan,
        GateDecision,
        GateStatus,
        IndexStatus,
        LearningRecord,
        MemoryEntry,
        MemoryType,
        Milestone,
        MilestoneStatus,
        PlanState,
        PriorityBreakdown,
        QueueStatus,
        Resumption,
        Reviewer,
        SearchHit,
        SearchMode,
        Session,
        SessionEvent,
        SessionStatus,
        SwarmState,
        Task,
        TaskSource,
        TaskStatus,
        ValidationReport,
    )
    from .retention import Prune

#: The public names this package gives from its modules, each imported on first use: a call that
#: claims a task builds the models it uses, not the charts' or the audit trail's.
_LAZY: dict[str, str] = {
    **dict.fromkeys(("AuditHead", "AuditProblem", "AuditResult"), "audit"),
    **dict.fromkeys(("Burndown", "ChartFilters", "Charts", "Durations", "EstimateAccuracy", "GateLatency",
                     "QueueDepth", "Throughput", "Window"), "charts"),
    **dict.fromkeys((
        "UNSET", "Agent", "AgentStatus", "CancelResult", "Condition", "CriterionEvidence", "Decision",
        "Document", "Escalation", "Event", "ExecutionPlan", "GateDecision", "GateStatus", "IndexStatus",
        "LearningRecord", "MemoryEntry", "MemoryType", "Milestone", "MilestoneStatus", "PlanState",
        "PriorityBreakdown", "QueueStatus", "Resumption", "Reviewer", "SearchHit", "SearchMode", "Session",
        "SessionEvent", "SessionStatus", "SwarmState",
        "Task", "TaskSource", "TaskStatus", "ValidationReport"), "models"),
    "Prune": "retention",
}


@runtime_checkable
class Store(Protocol):
    """Every operation on the coordination state. A PostgreSQL store implements the same."""

    #: The clock every timestamp the store writes is read from (seconds since the epoch).
    clock: Callable[[], float]

    async def close(self) -> None: ...
    async def schema_version(self) -> int: ...

    # change feed
    async def latest_event_id(self) -> int: ...
    async def changes_since(self, event_id: int, *, limit: int = 1000) -> list[Event]: ...
    #: Returns as soon as events after ``after_id`` may exist (a wake-up, not a read: follow it with
    #: ``changes_since``), or when ``timeout`` seconds have passed.
    async def wait_for_changes(self, after_id: int, timeout: float) -> None: ...
    async def events(self, *, entity: str | None = None, entity_id: Any = None, actor: str | None = None,
                     kind: str | None = None, before_id: int | None = None, limit: int = 100) -> list[Event]: ...

    # the audit trail (the event log's hash chain)
    async def audit_head(self) -> AuditHead: ...
    async def verify_events(self, *, after_id: int = 0, after_hash: str | None = None,
                            head: tuple[int, str] | None = None, chunk: int = ...) -> AuditResult: ...

    # tasks
    async def enqueue_task(self, *, description: str, source: TaskSource | str = ..., agent_type: str = ...,
                           base_priority: int = ..., prerequisites: Iterable[int] = ...,
                           deadline: datetime | float | None = ..., estimated_duration_seconds: int | None = ...,
                           milestone: int | str | None = ..., parent_task_id: int | None = ...,
                           session_id: str | None = ..., input_data: Any = ..., summary: str | None = ...,
                           max_retries: int = ..., timeout_seconds: int = ..., actor: str = ...) -> Task: ...
    async def get_task(self, task_id: int) -> Task: ...
    async def list_tasks(self, *, status: TaskStatus | str | Sequence[TaskStatus | str] | None = None,
                         source: TaskSource | str | None = None, agent_type: str | None = None,
                         milestone_id: int | None = None, assigned_agent: str | None = None,
                         held_by_failure: bool = False, archived: bool | None = False,
                         limit: int = 100) -> list[Task]: ...
    async def tasks_by_ids(self, task_ids: Iterable[int]) -> list[Task]: ...
    async def dependents(self, task_id: int) -> list[int]: ...
    async def add_dependency(self, task_id: int, prerequisite_id: int, *, actor: str = ...) -> Task: ...
    async def claim_task(self, *, agent: str, agent_type: str | None = None) -> Task | None: ...
    async def complete_task(self, task_id: int, *, agent: str | None = None, result: Any = None,
                            actor: str | None = None, hours: float | None = None) -> Task: ...
    async def fail_task(self, task_id: int, *, error: str, agent: str | None = None, retry: bool = True,
                        actor: str | None = None) -> Task: ...
    async def escalate_task(self, task_id: int, *, note: str, to_type: str = ..., agent: str | None = None,
                            actor: str | None = None) -> Escalation: ...
    async def retry_task(self, task_id: int, *, actor: str = ...) -> Task: ...
    async def cancel_task(self, task_id: int, *, dry_run: bool = False, reason: str | None = None,
                          actor: str = ...) -> CancelResult: ...
    async def set_base_priority(self, task_id: int, base_priority: int, *, actor: str = ...) -> Task: ...
    async def priority_breakdown(self, task_id: int) -> PriorityBreakdown: ...
    async def refresh_priorities(self, *, actor: str = ...) -> list[int]: ...
    async def reap_timeouts(self, *, actor: str = ...) -> list[Task]: ...
    async def queue_status(self) -> QueueStatus: ...
    async def execution_plan(self, task_ids: Iterable[int]) -> ExecutionPlan: ...

    # agents
    async def register_agent(self, name: str, *, agent_type: str, colour: str | None = None,
                             model: str | None = None, stale_after_seconds: float = 60.0,
                             requeue_after_seconds: float = 300.0,
                             actor: str | None = None) -> Agent: ...
    async def heartbeat(self, name: str, **fields: Any) -> Agent: ...
    async def update_agent(self, name: str, *, status: AgentStatus | str = ..., current_task_id: int | None = ...,
                           completion: float = ..., blockers: Sequence[str] = ..., next_milestone: str | None = ...,
                           heartbeat: bool = False, actor: str | None = None, todos: Sequence[Any] | None = ...,
                           ) -> Agent: ...
    async def get_agent(self, name: str) -> Agent: ...
    async def list_agents(self) -> list[Agent]: ...
    async def agents_by_names(self, names: Sequence[str]) -> list[Agent]: ...
    async def agent_task_counts(self) -> dict[str, dict[str, int]]: ...
    async def log_action(self, agent: str, *, phase: str, action: str, duration_ms: float | None = None,
                         success: bool = True, error_message: str | None = None) -> None: ...

    # milestones and gates
    async def add_milestone(self, name: str, *, objective: str = "", planned_weeks: str | None = None,
                            hour_budget: float | None = None, deliverables: Sequence[str] = (),
                            acceptance_criteria: Sequence[str] = (), required_approvals: int = 1,
                            review_within_seconds: float | None = None,
                            after: Sequence[int | str] | None = None, starts_on: str | date | None = None,
                            money_budget: float | None = None, hour_rate: float | None = None,
                            actor: str = ...) -> Milestone: ...
    async def replan_milestone(self, milestone: int | str, *, state: PlanState | str, by: str, reason: str,
                               dry_run: bool = False) -> Milestone:
        """A registered reviewer cuts (``cut``), defers (``deferred``) or reinstates (``active``) a
        milestone, saying why: cut or deferred, its waiting tasks are held and nothing that depends on
        it opens; reinstated, it is back under its gates. Recorded as an event with who and why.
        ``dry_run``: every check, nothing changed."""
    async def list_milestones(self) -> list[Milestone]: ...
    async def get_milestone(self, ref: int | str) -> Milestone: ...
    async def submit_report(self, milestone: int | str, *, submitted_by: str, summary: str = "",
                            criteria: Iterable[Any] = (), metrics: Iterable[Any] = (),
                            issues: Iterable[Any] = (), recommendations: Iterable[str] = (),
                            proposed_decision: Decision | str | None = None,
                            next_milestone_context: str = "") -> ValidationReport: ...
    async def get_report(self, milestone: int | str, version: int | None = None) -> ValidationReport | None: ...
    async def decide_gate(self, milestone: int | str, *, decision: Decision | str, rationale: str,
                          reviewer: str, conditions: Sequence[str] = (),
                          report_hash: str | None = None, signature: bytes | None = None,
                          dry_run: bool = False, accept_unmet: Sequence[str] = ()) -> GateDecision | None: ...
    async def add_evidence(self, milestone: int | str, *, criterion: int, command: str, exit_code: int,
                           output_sha256: str, recorded_by: str, ran_at: Any = None) -> CriterionEvidence: ...
    async def close_condition(self, condition_id: int, *, closed_by: str, note: str | None = None,
                              signature: bytes | None = None, dry_run: bool = False) -> Condition: ...
    async def gate_status(self, milestone: int | str) -> GateStatus: ...
    async def gates_awaiting_review(self) -> int: ...
    async def milestone_progress(self) -> dict[int, dict[str, int]]: ...
    async def latest_decision(self, milestone: int | str, *, after_id: int = 0) -> GateDecision | None: ...
    async def swarm_state(self) -> SwarmState: ...
    async def resume_swarm(self, *, by: str, note: str | None = None, signature: bytes | None = None,
                           dry_run: bool = False) -> SwarmState: ...

    # reviewers: registered people, never agents (names in canonical form, store/identity.py), each
    # with the public half of the key that signs their acts (store/signing.py)
    async def add_reviewer(self, name: str, *, by: str, public_key: bytes | None = None,
                           dry_run: bool = False) -> Reviewer | None: ...
    async def set_reviewer_key(self, name: str, *, public_key: bytes, by: str | None = None,
                               dry_run: bool = False) -> Reviewer: ...
    async def remove_reviewer(self, name: str, *, by: str, dry_run: bool = False) -> Reviewer: ...
    async def list_reviewers(self, *, include_removed: bool = False) -> list[Reviewer]: ...
    async def get_reviewer(self, name: str) -> Reviewer: ...
    async def check_reviewer(self, name: str, *, milestone: int | str | None = None,
                             act: str = ...) -> Reviewer: ...

    # performance charts (store/charts.py): bucketed aggregates, filters applied in SQL
    async def chart_filters(self) -> ChartFilters: ...
    async def chart_window(self, range_key: str, *, now: float | None = None) -> Window: ...
    async def charts(self, range_key: str, *, milestone_id: int | None = None, agent_type: str | None = None,
                     now: float | None = None) -> Charts: ...
    async def chart_throughput(self, window: Window, *, milestone_id: int | None = None,
                               agent_type: str | None = None) -> Throughput: ...
    async def chart_queue_depth(self, window: Window, *, now: float | None = None) -> QueueDepth: ...
    async def chart_durations(self, window: Window, *, milestone_id: int | None = None,
                              agent_type: str | None = None, limit: int = 10) -> Durations: ...
    async def chart_estimates(self, window: Window, *, milestone_id: int | None = None, agent_type: str | None = None,
                              points: int = 300, now: float | None = None) -> EstimateAccuracy: ...
    async def chart_burndown(self, window: Window, *, milestone_id: int | None = None,
                             agent_type: str | None = None, lines: int = 4, resolution: int = 1) -> Burndown: ...
    async def chart_gate_latency(self, window: Window, *, milestone_id: int | None = None,
                                 now: float | None = None) -> GateLatency: ...
    async def write_latencies(self) -> tuple[float, ...]: ...

    # memory: sessions, versioned entries, learning records, documents, search and its index
    async def create_session(self, *, agent: str | None = None, session_id: str | None = None,
                             state: Mapping[str, Any] | None = None, actor: str | None = None) -> Session: ...
    async def get_session(self, session_id: str) -> Session: ...
    async def set_session_status(self, session_id: str, status: SessionStatus | str, *,
                                 actor: str = ...) -> Session: ...
    async def append_session_event(self, session_id: str, *, kind: str, payload: Mapping[str, Any] | None = None,
                                   **options: Any) -> SessionEvent: ...
    async def session_events(self, session_id: str, *, limit: int = 100) -> list[SessionEvent]: ...
    async def set_session_state(self, session_id: str, state: Mapping[str, Any], *, merge: bool = True,
                                actor: str = ...) -> Session: ...
    async def add_memory(self, namespace: str, key: str, value: Any, *, memory_type: MemoryType | str, created_by: str,
                         session_id: str | None = None, task_id: int | None = None,
                         metadata: Mapping[str, Any] | None = None) -> MemoryEntry: ...
    async def update_memory(self, namespace: str, key: str, value: Any, *, updated_by: str,
                            memory_type: MemoryType | str | None = None,
                            metadata: Mapping[str, Any] | None = None) -> MemoryEntry: ...
    async def delete_memory(self, namespace: str, key: str, *, deleted_by: str) -> MemoryEntry: ...
    async def restore_memory(self, namespace: str, key: str, *, restored_by: str) -> MemoryEntry: ...
    async def get_memory(self, namespace: str, key: str, *, version: int | None = None,
                         include_deleted: bool = False) -> MemoryEntry: ...
    async def get_memory_by_id(self, entry_id: int) -> MemoryEntry: ...
    async def memory_history(self, namespace: str, key: str) -> list[MemoryEntry]: ...
    async def list_memories(self, *, namespace_prefix: str | None = None, memory_type: MemoryType | str | None = None,
                            include_deleted: bool = False, limit: int = 100) -> list[MemoryEntry]: ...
    async def log_record(self, kind: str, fields: Mapping[str, Any], *, namespace: str = ..., agent: str | None = None,
                         task_id: int | None = None, milestone_id: int | None = None,
                         session_id: str | None = None) -> LearningRecord: ...
    async def get_record(self, record_id: int) -> LearningRecord: ...
    async def list_records(self, *, kind: str | None = None, limit: int = 100) -> list[LearningRecord]: ...
    async def prune(self, *, dry_run: bool = True, older_than: float | None = None,
                    tasks_older_than: float | None = None, actor: str = ...) -> Prune: ...
    async def search_archive(self, query: str, *, kinds: Sequence[str] = (), namespace_prefix: str | None = None,
                             limit: int = 20) -> list[LearningRecord]: ...
    async def index_document(self, namespace: str, path: str, content: str, *, actor: str = ...) -> Document: ...
    async def search(self, query: str, *, mode: SearchMode | str = ..., embedder: Any = None, namespace_prefix: str | None = None,
                     kinds: Sequence[str] = (), memory_type: MemoryType | str | None = None, agent: str | None = None,
                     since: float | None = None, until: float | None = None, limit: int = 20) -> list[SearchHit]: ...
    async def recent(self, *, namespace_prefix: str | None = None, kinds: Sequence[str] = (),
                     memory_type: MemoryType | str | None = None, agent: str | None = None,
                     since: float | None = None, until: float | None = None, limit: int = 20) -> list[SearchHit]: ...
    async def search_item_body(self, item_id: int) -> str: ...
    async def pending_embeddings(self, model: str, *, limit: int = 64, retry_after: float = 30.0) -> list[Any]: ...
    async def store_embeddings(self, model: str, dim: int, vectors_by_item: Sequence[Any]) -> int: ...
    async def record_embedding_failure(self, model: str, item_ids: Iterable[int], error: str) -> None: ...
    async def index_status(self, model: str | None) -> IndexStatus: ...


#: Store backends by URL scheme: "module:callable", imported on first use. The callable takes the URL
#: (a plain path included) and open_store's keyword arguments, and returns an open ``Store``.
BACKENDS: dict[str, str] = {
    "sqlite": "swarmdeck.store.sqlite:open_url",
    "postgresql": "swarmdeck.store.postgres:open_url",
    "postgres": "swarmdeck.store.postgres:open_url",
}

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def scheme_of(url: str | Path) -> str:
    """The backend a URL names: its scheme, or "sqlite" for a plain path (or ``sqlite:`` without //).
    An unknown scheme is an InvalidArgument naming the known ones."""
    if isinstance(url, Path):
        return "sqlite"
    found = _SCHEME.match(url)
    if found is None:
        return "sqlite"
    scheme = found.group(1).lower()
    if scheme not in BACKENDS:
        known = ", ".join(f"{name}://" for name in sorted(BACKENDS))
        raise InvalidArgument(f"unsupported database URL scheme {scheme!r}: known schemes are {known} "
                              "(or a plain path to a SQLite file), e.g. sqlite:///path/to/swarm.db")
    return scheme


#: What a backend's driver is installed with, by scheme, for the message when it is missing.
EXTRAS = {"postgresql": "postgres", "postgres": "postgres"}


def _backend(scheme: str) -> Callable[..., Any]:
    module, _, name = BACKENDS[scheme].partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        if scheme not in EXTRAS or exc.name is None or exc.name.startswith(__name__):
            raise
        from .errors import StorageError

        raise StorageError(f"{scheme}:// databases need the {exc.name} package, which is not installed: "
                           f"pip install 'swarmdeck[{EXTRAS[scheme]}]'") from None


def describe(url: str | Path) -> str:
    """The database as a person reads it in a title or a message: a SQLite file's path, or a server's
    URL without its password (nor its query string, which may carry one)."""
    if scheme_of(url) == "sqlite":
        return str(path_from_url(url))
    from urllib.parse import urlsplit

    parts = urlsplit(str(url))
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path or '/'}"


def path_from_url(url: str | Path) -> Path:
    """``sqlite:///rel.db`` (relative), ``sqlite:////abs.db`` (absolute), or a plain path."""
    if scheme_of(url) != "sqlite":
        raise InvalidArgument(f"{url} is not a SQLite database URL: use sqlite:///path/to/swarm.db")
    if isinstance(url, Path):
        return url
    if "://" not in url:
        return Path(url)
    return Path(unquote(url[len("sqlite:///"):]))


async def open_store(
    url: str | Path, *, create: bool = False, read_only: bool = False, clock: Callable[[], float] = time.time,
    vector_backend: str | None = None, vector_cache_mb: int | None = None,
) -> Store:
    """Open the coordination database at ``url``. ``create`` makes a new one if it is missing.

    ``vector_backend`` ("sqlite-vec", the default, or "sqlite-vss") is the vector index inside the
    database; ``vector_cache_mb`` bounds the in-memory fast path of semantic search per model (0: off;
    else 1024). Either left out falls back to its variable (this package's docstring)."""
    opener = _backend(scheme_of(url))
    return await opener(url, create=create, read_only=read_only, clock=clock,
                        vector_backend=vector_backend, vector_cache_mb=vector_cache_mb)


def __getattr__(name: str) -> Any:
    """The public names of store/models.py, store/charts.py and store/audit.py, imported when first
    asked for; ``SQLiteStore`` for callers that still import it from here, likewise."""
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value  # asked once
        return value
    if name == "SQLiteStore":  # through the registry's own lookup, like open_store: never imported here
        return importlib.import_module(BACKENDS["sqlite"].partition(":")[0]).SQLiteStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Agent", "AgentStatus", "AuditHead", "AuditProblem", "AuditResult", "BACKENDS", "CancelResult", "Condition",
    "CriterionEvidence",
    "Decision", "Event", "ExecutionPlan", "GateDecision", "GateStatus", "MemoryType", "Milestone",
    "MilestoneStatus", "PlanState", "PriorityBreakdown", "QueueStatus", "Resumption", "Reviewer", "SQLiteStore", "SearchMode",
    "SessionStatus", "Store", "StoreError", "SwarmState", "Task", "TaskSource", "TaskStatus", "UNSET",
    "ValidationReport", "describe", "open_store", "path_from_url", "scheme_of",
]
