"""Seed 000's project as data: the roster, the four milestones, their week-by-week tasks.

Also the vocabulary the demo swarm speaks (errors, blockers, recommendations, the documentation
work of the history) so that ``swarm.py`` and ``seeding.py`` hold behaviour only. Everything here is
quoted or derived from ``../shared/seeds/`` (000 for the plan, 001 for task fields, 003 for agent logs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from swarmdeck.store import milestone_refs

if TYPE_CHECKING:
    from swarmdeck.store import Task

ORCHESTRATOR = "implementation-orchestrator"
DB = "database-schema-implementer"
API = "python-api-developer"
TEST = "test-automation-engineer"
VECTOR = "vector-search-integrator"
REVIEWER = "code-reviewer"
PERF = "performance-validator"
DEBUG = "python-debugging-specialist"

#: Seed 000's roster: (name = role slug, model, colour). Each agent's agent_type is its role.
AGENTS: tuple[tuple[str, str, str], ...] = (
    (ORCHESTRATOR, "sonnet", "red"),
    (DB, "thinking", "blue"),
    (API, "thinking", "green"),
    (TEST, "thinking", "yellow"),
    (VECTOR, "thinking", "purple"),
    (REVIEWER, "sonnet", "cyan"),
    (PERF, "sonnet", "orange"),
    (DEBUG, "thinking", "pink"),
)
ROSTER = frozenset(name for name, _, _ in AGENTS)
IMPLEMENTERS = frozenset({DB, API, VECTOR})

#: Demo scale: seconds of demo time per planned hour (a 4 h task takes ~2 s, a 16 h one ~8 s).
SECONDS_PER_HOUR = 0.5
#: Heartbeat age after which the demo's agents count as stale.
STALE_AFTER_SECONDS = 10.0
#: Lease of a demo task: a silent agent's task is retried by the store after this.
TASK_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class PlannedTask:
    key: str
    description: str
    agent_type: str
    hours: float
    priority: int
    after: tuple[str, ...] = ()
    #: Seconds after seeding (demo scale) by which the task should be done; None for no deadline.
    due: float | None = None


@dataclass(frozen=True)
class PlannedMetric:
    name: str
    good: float  # a typical on-target value
    miss: float  # a plausible miss
    target: float
    comparator: str
    unit: str = ""


@dataclass(frozen=True)
class PlannedMilestone:
    name: str
    objective: str
    weeks: str
    hours: float
    deliverables: tuple[str, ...]
    #: Acceptance criteria copied from seed 000, each with the task keys that evidence it
    #: and the metric names that decide it.
    criteria: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]
    tasks: tuple[PlannedTask, ...]
    metrics: tuple[PlannedMetric, ...]


def _t(key, description, agent_type, hours, priority, after=(), due=None) -> PlannedTask:
    return PlannedTask(key, description, agent_type, hours, priority, tuple(after), due)


MILESTONES: tuple[PlannedMilestone, ...] = (
    PlannedMilestone(
        name="M1 Core Schema Foundation",
        objective="Deploy enhanced existing tables with session linkage",
        weeks="1-2",
        hours=86,
        deliverables=(
            "Initialized database with all tables, indexes, and constraints",
            "Enhanced Database class",
            "Unit test suite with 90%+ coverage",
            "Performance benchmark suite",
        ),
        criteria=(
            ("All DDL scripts executed without errors", ("m1.pragma", "m1.tables"), ()),
            ("All 15 core indexes created", ("m1.indexes",), ("Core indexes created",)),
            ('PRAGMA integrity_check returns "ok"', ("m1.integrity",), ()),
            ("All unit tests pass (90%+ coverage)", ("m1.unit",), ("Unit test coverage", "Test pass rate")),
            ("Performance <50ms (99th percentile)", ("m1.latency",), ("Exact-match read latency p99",)),
        ),
        tasks=(
            # Week 1: Database Schema Deployment (38 hours), database-schema-implementer
            _t("m1.pragma", "Execute PRAGMA configuration (WAL mode, foreign keys, busy_timeout)", DB, 4, 9,
               due=30),
            _t("m1.tables", "Deploy enhanced tasks, agents, audit, checkpoints tables", DB, 14, 9,
               ["m1.pragma"], due=60),
            _t("m1.indexes", "Create 15 core indexes", DB, 12, 8, ["m1.tables"], due=90),
            _t("m1.integrity", "Run integrity checks (PRAGMA integrity_check, foreign_key_check)", DB, 8, 7,
               ["m1.indexes"]),
            # Week 2: Testing and Validation (48 hours), test-automation-engineer with support
            _t("m1.dbclass", "Implement Database class enhancements", API, 14, 8, ["m1.tables"]),
            _t("m1.unit", "Write unit tests (90%+ coverage)", TEST, 16, 7, ["m1.dbclass"]),
            _t("m1.bench", "Create performance benchmark suite", PERF, 10, 6, ["m1.tables"]),
            _t("m1.latency", "Validate <50ms read latency target", PERF, 8, 7, ["m1.bench", "m1.indexes"]),
            # Supporting work the seed assigns to the roles (reviews, CI, baselines)
            _t("m1.ddl_review", "Review Phase 2 DDL scripts before execution", REVIEWER, 4, 6),
            _t("m1.ci", "Set up pytest and the CI job for the schema test suite", TEST, 6, 5),
            _t("m1.baseline", "Capture baseline read latency on the old schema (EXPLAIN QUERY PLAN)", PERF,
               5, 5),
        ),
        metrics=(
            PlannedMetric("Exact-match read latency p99", 38, 57, 50, "<", "ms"),
            PlannedMetric("Core indexes created", 15, 14, 15, "==", ""),
            PlannedMetric("Unit test coverage", 93.4, 87.2, 90, ">=", "%"),
            PlannedMetric("Index usage", 100, 96, 100, ">=", "% of queries"),
        ),
    ),
    PlannedMilestone(
        name="M2 Memory Management System",
        objective="Deploy memory tables and implement service layer APIs",
        weeks="3-4",
        hours=96,
        deliverables=(
            "sessions, memory_entries and document_index tables with 18 memory indexes",
            "SessionService, MemoryService and DocumentIndexService with full CRUD operations",
            "Integration test suite",
        ),
        criteria=(
            ("All memory tables deployed", ("m2.tables",), ()),
            ("All 18 memory indexes created", ("m2.indexes",), ("Memory indexes created",)),
            ("SessionService, MemoryService, DocumentIndexService implemented",
             ("m2.session", "m2.memory", "m2.docindex"), ()),
            ("Integration tests passing", ("m2.integration",), ("Test pass rate",)),
            ("Performance targets met", ("m2.integration",),
             ("Exact-match read latency p99", "Concurrent sessions")),
        ),
        tasks=(
            # Week 3: Memory Tables Deployment (30 hours), database-schema-implementer
            _t("m2.tables", "Deploy sessions, memory_entries, document_index tables", DB, 12, 9),
            _t("m2.indexes", "Create 18 memory indexes", DB, 10, 8, ["m2.tables"]),
            _t("m2.namespace", "Validate namespace hierarchy support", DB, 8, 7, ["m2.tables"]),
            # Week 4: Service Layer Implementation (66 hours), python-api-developer with support
            _t("m2.session", "Implement SessionService (12h)", API, 12, 8, ["m2.tables"]),
            _t("m2.memory", "Implement MemoryService (16h)", API, 16, 8, ["m2.tables", "m2.namespace"]),
            _t("m2.docindex", "Implement DocumentIndexService (8h)", API, 8, 7, ["m2.tables"]),
            _t("m2.integration", "Integration testing (12h)", TEST, 12, 7,
               ["m2.session", "m2.memory", "m2.docindex", "m2.indexes"]),
            _t("m2.unit", "Write unit tests for the service layer (85%+ coverage)", TEST, 12, 6,
               ["m2.session", "m2.memory"]),
            _t("m2.review", "Review service layer code (type annotations, docstrings, AI slop)", REVIEWER, 6,
               5, ["m2.session", "m2.memory", "m2.docindex"]),
        ),
        metrics=(
            PlannedMetric("Exact-match read latency p99", 41, 63, 50, "<", "ms"),
            PlannedMetric("Memory indexes created", 18, 16, 18, "==", ""),
            PlannedMetric("Service layer coverage", 88.1, 81.5, 85, ">=", "%"),
            PlannedMetric("Concurrent sessions", 64, 42, 50, ">=", "agents"),
        ),
    ),
    PlannedMilestone(
        name="M3 Vector Search Integration",
        objective="Integrate sqlite-vss and Ollama for semantic search",
        weeks="5-6",
        hours=84,
        deliverables=(
            "sqlite-vss extension installed and configured",
            "Ollama serving nomic-embed-text-v1.5",
            "Embedding generation and background sync services",
            "Semantic search queries under 500 ms",
        ),
        criteria=(
            ("sqlite-vss installed and functional", ("m3.vss",), ()),
            ("Ollama with nomic-embed-text-v1.5 deployed", ("m3.ollama",), ()),
            ("Semantic search <500ms latency", ("m3.perf",), ("Semantic search latency",)),
            ("Integration with MemoryService complete", ("m3.memory",), ()),
        ),
        tasks=(
            # Week 5-6: Full Vector Search Implementation (84 hours), vector-search-integrator
            _t("m3.vss", "Install sqlite-vss extension (4h)", VECTOR, 4, 9),
            _t("m3.ollama", "Setup Ollama with nomic-embed-text-v1.5 (6h)", VECTOR, 6, 9),
            _t("m3.embed", "Implement embedding generation service (12h)", VECTOR, 12, 8, ["m3.ollama"]),
            _t("m3.sync", "Implement background sync service (10h)", VECTOR, 10, 7, ["m3.embed", "m3.vss"]),
            _t("m3.search", "Implement semantic search queries (8h)", VECTOR, 8, 8, ["m3.vss", "m3.embed"]),
            _t("m3.perf", "Performance testing <500ms latency (8h)", PERF, 8, 7, ["m3.search", "m3.sync"]),
            _t("m3.memory", "Integrate semantic search with MemoryService", API, 16, 7, ["m3.search"]),
            _t("m3.integration", "Integration tests for semantic search through MemoryService", TEST, 12, 6,
               ["m3.memory"]),
            _t("m3.review", "Review the vector search integration", REVIEWER, 8, 5, ["m3.memory"]),
        ),
        metrics=(
            PlannedMetric("Semantic search latency", 310, 640, 500, "<", "ms"),
            PlannedMetric("Concurrent sessions", 58, 44, 50, ">=", "agents"),
            PlannedMetric("Embedding throughput", 120, 70, 100, ">=", "docs/s"),
            PlannedMetric("Service layer coverage", 86.3, 82.0, 85, ">=", "%"),
        ),
    ),
    PlannedMilestone(
        name="M4 Production Deployment",
        objective="Final validation and production deployment",
        weeks="7-8",
        hours=98,
        deliverables=(
            "Acceptance and performance test reports",
            "Tested rollback procedures",
            "Production database with monitoring and alerting",
            "48-hour monitoring report",
        ),
        criteria=(
            ("Production database operational", ("m4.init", "m4.ddl"), ()),
            ("All validation procedures passed", ("m4.accept", "m4.perf", "m4.report"), ("Test pass rate",)),
            ("Monitoring configured", ("m4.monitor",), ()),
            ("Zero critical issues in 48 hours", ("m4.watch",), ("Critical issues in 48 h",)),
        ),
        tasks=(
            # Week 7: Final Validation (36 hours), test-automation-engineer with support
            _t("m4.accept", "Acceptance tests (12h)", TEST, 12, 8),
            _t("m4.perf", "Performance tests (12h)", PERF, 12, 8),
            _t("m4.rollback", "Rollback procedures (8h)", DB, 8, 7),
            _t("m4.report", "Final test report (4h)", TEST, 4, 7, ["m4.accept", "m4.perf", "m4.rollback"]),
            # Week 8: Production Deployment (62 hours), database-schema-implementer
            _t("m4.init", "Initialize production database (6h)", DB, 6, 9, ["m4.report"]),
            _t("m4.ddl", "Execute DDL in production (4h)", DB, 4, 9, ["m4.init"]),
            _t("m4.monitor", "Configure monitoring/alerting (8h)", PERF, 8, 7, ["m4.init"]),
            _t("m4.deploy", "Deploy services (6h)", API, 6, 8, ["m4.ddl"]),
            _t("m4.smoke", "Production smoke tests (4h)", TEST, 4, 8, ["m4.deploy", "m4.monitor"]),
            _t("m4.watch", "48-hour monitoring (8h)", PERF, 8, 6, ["m4.smoke"]),
        ),
        metrics=(
            PlannedMetric("Critical issues in 48 h", 0, 1, 0, "==", ""),
            PlannedMetric("Concurrent sessions", 55, 47, 50, ">=", "agents"),
            PlannedMetric("Exact-match read latency p99", 36, 52, 50, "<", "ms"),
            PlannedMetric("Uptime", 99.97, 99.6, 99.9, ">=", "%"),
        ),
    ),
)

#: Benchmarks for a milestone the plan does not know.
GENERIC_METRICS = (PlannedMetric("Exact-match read latency p99", 40, 58, 50, "<", "ms"),)

#: What goes wrong, by role (errors an agent reports with fail_task).
ERRORS: dict[str, tuple[str, ...]] = {
    DB: (
        "sqlite3.OperationalError: database is locked (busy_timeout 5000 ms exceeded)",
        "FOREIGN KEY constraint failed while migrating audit rows",
        "index idx_tasks_status_priority already exists",
    ),
    API: (
        "TypeError: MemoryService.get() missing 1 required positional argument: 'namespace'",
        "RuntimeError: Event loop is closed (aiosqlite connection reused across loops)",
    ),
    TEST: (
        "3 tests failed: test_session_lifecycle, test_namespace_prefix, test_soft_delete",
        "coverage 87.2% is below the 90% threshold",
    ),
    VECTOR: (
        "sqlite-vss: undefined symbol faiss_Index_search (extension built for another SQLite)",
        "httpx.ConnectTimeout: Ollama at localhost:11434 did not answer in 30 s",
    ),
    REVIEWER: ("review tool crashed: diff too large (4,812 lines)",),
    PERF: (
        "p99 read latency 71 ms exceeds the 50 ms target",
        "EXPLAIN QUERY PLAN shows SCAN memory_entries (no index used)",
    ),
    DEBUG: ("could not reproduce: needs the production dataset",),
}

#: Transient blockers an agent reports while working (status blocked for a while).
BLOCKERS: dict[str, tuple[str, ...]] = {
    DB: ("waiting for a write lock held by a long migration", "waiting for code-reviewer sign-off on the DDL"),
    API: ("waiting for the memory table DDL to settle", "flaky FK error, asked python-debugging-specialist"),
    TEST: ("test database fixture hangs on WAL checkpoint", "waiting for CI runner"),
    VECTOR: ("Ollama model download in progress (nomic-embed-text-v1.5)", "waiting for sqlite-vss build"),
    REVIEWER: ("waiting for the author to push fixes",),
    PERF: ("benchmark host busy: waiting for a quiet machine",),
    DEBUG: ("waiting for a reproduction from the reporting agent",),
}

#: The `phase` of seed 003's agent_logs for each role's actions.
PHASES = {
    ORCHESTRATOR: "coordination", DB: "schema", API: "implementation", TEST: "testing",
    VECTOR: "integration", REVIEWER: "review", PERF: "benchmark", DEBUG: "debugging",
}


def milestone_tag(name: str) -> str:
    """'M1 Core Schema Foundation' -> 'M1': the label the CLI and the store take for the milestone."""
    return milestone_refs.label(name)


def planned(name: str) -> PlannedMilestone | None:
    """The plan of the milestone called ``name`` (None for milestones a human added)."""
    return next((p for p in MILESTONES if p.name == name), None)


def next_milestone_name(name: str) -> str | None:
    """The milestone after ``name`` in the plan, if any."""
    names = [p.name for p in MILESTONES]
    if name in names and names.index(name) + 1 < len(names):
        return names[names.index(name) + 1]
    return None


def owner_for(text: str) -> str:
    """Who should take on a piece of rework, judged from its words."""
    low = text.lower()
    rules = (
        (("coverage", "test", "flaky"), TEST),
        (("latency", "explain", "benchmark", "throughput", "concurrent", "uptime"), PERF),
        (("index", "ddl", "pragma", "table", "integrity", "migration"), DB),
        (("vss", "ollama", "embedding", "semantic"), VECTOR),
        (("service", "api", "class"), API),
        (("review", "docstring", "annotation"), REVIEWER),
    )
    for words, owner in rules:
        if any(w in low for w in words):
            return owner
    return DEBUG


#: The documentation work of Phases 1-3 (done before the implementation plan): the history.
HISTORY_WORK: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    DB: (
        ("Draft DDL for the {} table", ("tasks", "agents", "audit", "checkpoints", "sessions",
                                       "memory_entries", "document_index", "metrics", "state")),
        ("Specify indexes for the {} table", ("tasks", "agents", "audit", "sessions", "memory_entries",
                                             "document_index")),
    ),
    API: (
        ("Specify {}() signature, errors and docstring", (
            "SessionService.create_session", "SessionService.get_session", "SessionService.terminate",
            "MemoryService.add", "MemoryService.get", "MemoryService.search", "MemoryService.update",
            "MemoryService.delete", "MemoryService.list_namespaces", "DocumentIndexService.index_document",
            "DocumentIndexService.sync", "Database.migrate")),
    ),
    TEST: (
        ("Write test scenarios for {}", ("the session lifecycle", "the namespace hierarchy",
                                         "soft delete and versioning", "50 concurrent writers",
                                         "WAL checkpointing", "foreign key cascades",
                                         "semantic search ranking")),
    ),
    VECTOR: (
        ("Write the sqlite-vss installation guide for {}", ("macOS", "Linux x86_64", "Linux arm64")),
        ("Spike: {}", ("can sqlite-vss answer 384-dim queries under 500 ms?",
                       "nomic-embed-text-v1.5 batch size vs latency",
                       "background sync: triggers or polling?")),
    ),
    REVIEWER: (
        ("Review {} for consistency", ("the Phase 1 schema design", "the Phase 2 DDL scripts",
                                       "the Phase 3 API specification", "the test scenario catalogue",
                                       "the performance targets table")),
    ),
    PERF: (
        ("Estimate query cost with EXPLAIN QUERY PLAN: {}", (
            "tasks by status and priority", "memory_entries by namespace prefix",
            "document_index by content hash", "audit by agent and time")),
    ),
    DEBUG: (
        ("Document a known SQLite pitfall: {}", ("database is locked under concurrent writers",
                                                 "foreign_keys is a per-connection pragma",
                                                 "aiosqlite connections across event loops")),
    ),
    ORCHESTRATOR: (
        ("Validate Phase {} documentation against the roadmap", ("1", "2", "3")),
    ),
}


#: What the validation report recommends for a missed target, by the role that owns it.
RECOMMEND = {
    PERF: "Re-run EXPLAIN QUERY PLAN on the slow queries and add the missing covering index",
    TEST: "Fix or quarantine the failing tests and raise coverage before the next gate",
    DB: "Re-run the DDL in a scratch database and diff the index list",
    VECTOR: "Profile the embedding path; batch requests to Ollama",
    API: "Tighten the service layer's error handling",
    REVIEWER: "Schedule another review pass",
    DEBUG: "Hand the reproduction to python-debugging-specialist",
}


# -- the swarm's memory: what earlier features taught (seed 003) and what the agents keep (seed 000) --

NAMESPACE = "project:abathur"

#: (kind, fields, agent) — learning records, searchable with the memories.
RECORDS: tuple[tuple[str, dict, str], ...] = (
    ("failure", {"feature": "Real-time agent chat", "approach": "Bidirectional WebSocket streaming of LLM tokens",
                 "why_failed": "Connections dropped under load and every agent process held its own socket; "
                               "fan-out to 50 agents stalled",
                 "lesson": "Use Redis pub/sub for fan-out and keep one WebSocket per browser, not per agent"}, API),
    ("failure", {"feature": "Vector search", "approach": "Brute-force cosine similarity in Python over every row",
                 "why_failed": "Latency grew linearly: 2.4 s at 100k memories",
                 "lesson": "Keep vectors in an index inside the database and filter by namespace first"}, VECTOR),
    ("failure", {"feature": "Schema migration", "approach": "ALTER TABLE in place on the live database",
                 "why_failed": "Long write lock blocked every agent's heartbeat for 40 s",
                 "lesson": "Apply migrations in one short transaction each, recorded in the database"}, DB),
    ("failure", {"feature": "OAuth login", "approach": "Hand-written token refresh",
                 "why_failed": "Race between two refreshes invalidated both tokens",
                 "lesson": "Use the provider's SDK; serialise refreshes behind a lock"}, API),
    ("decision", {"decision": "SQLite with WAL as the coordination database",
                  "rationale": "Readers never block the writer; one file; enough for 50+ agents on one machine",
                  "alternatives": ["PostgreSQL from day one", "Redis only"]}, ORCHESTRATOR),
    ("decision", {"decision": "FTS5 with BM25 for keyword search",
                  "rationale": "Built into SQLite, kept in sync in the same transaction as the write"}, VECTOR),
    ("decision", {"decision": "nomic-embed-text via Ollama for embeddings when configured",
                  "rationale": "Runs locally; 768 dimensions; search_query/search_document prefixes"}, VECTOR),
    ("retrospective", {"feature": "Session service", "surprises": "Namespace hierarchy needed prefix queries",
                       "would_change": "Design the namespace index before the API",
                       "new_patterns": ["namespace range scans"], "spike_accuracy": 70}, API),
    ("spike", {"feature": "Streaming", "question": "Can we stream LLM output to agents over WebSocket?",
               "approach": "Bidirectional WebSocket prototype", "result": "Viable only with Redis pub/sub behind it",
               "viable": True, "lessons": "Fan-out belongs in a broker", "time_spent": 90}, API),
    ("pattern", {"name": "Transactional outbox", "description": "Write the change and its event in one transaction; "
                 "readers follow the event table", "when_to_use": "Any state other processes watch"}, DB),
    ("estimate", {"feature": "Add OAuth authentication", "estimated_sessions": 3, "actual_sessions": 5,
                  "complexity_score": 7.5, "notes": "Correction factor 1.67"}, ORCHESTRATOR),
    ("estimate", {"feature": "Memory service CRUD", "estimated_sessions": 2, "actual_sessions": 2,
                  "complexity_score": 4.0}, API),
)

#: (namespace suffix, key, value, memory type, agent)
MEMORIES: tuple[tuple[str, str, object, str, str], ...] = (
    ("agent:database-schema-implementer", "pragma-settings",
     {"journal_mode": "WAL", "foreign_keys": "ON", "busy_timeout_ms": 5000, "synchronous": "NORMAL"},
     "procedural", DB),
    ("agent:python-api-developer", "memory-service-api",
     "MemoryService: add, get, update (new version), delete (soft), history; namespaces are hierarchical",
     "semantic", API),
    ("agent:vector-search-integrator", "embedding-model",
     {"model": "nomic-embed-text-v1.5", "dimensions": 768, "query_prefix": "search_query: "}, "semantic", VECTOR),
    ("agent:test-automation-engineer", "coverage-targets",
     "95% for the database layer, 85% for the service layer", "semantic", TEST),
    ("agent:performance-validator", "latency-baseline",
     {"exact_read_p99_ms": 3.1, "semantic_search_p95_ms": 41, "measured_on": "2 cores"}, "episodic", PERF),
    ("agent:code-reviewer", "review-checklist",
     "Type annotations, docstrings, no bare except, every query uses an index", "procedural", REVIEWER),
    ("agent:python-debugging-specialist", "sqlite-busy-fix",
     "database is locked under 50 agents: use BEGIN IMMEDIATE and a busy_timeout, not retries in a loop",
     "episodic", DEBUG),
    ("agent:implementation-orchestrator", "gate-protocol",
     "Validate deliverables, criteria, performance and integration, then propose "
     "APPROVE / CONDITIONAL / REVISE / ESCALATE", "procedural", ORCHESTRATOR),
)


def task_kind(task: Task) -> str | None:
    """Which of the demo's kinds of work a task is (its ``input_data["kind"]``: plan, review, fix,
    gate_check, diagnosis, rework, condition, history), or None for a task the demo did not write."""
    return task.input_data.get("kind") if isinstance(task.input_data, dict) else None


def task_data(task: Task) -> dict[str, Any]:
    """A task's ``input_data`` as the demo wrote it (a dict), or an empty one."""
    return task.input_data if isinstance(task.input_data, dict) else {}
