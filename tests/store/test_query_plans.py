"""Every statement the store issues is served by an index: no full scan of tasks, events or agents.

A database with 20k tasks (dependencies, every status, several milestones), 200 agents and ~70k
events is built (the first rows through the store, the bulk with raw SQL). Then a workload calls
every Store method while a trace callback on the store's own connections records each SQL
statement as SQLite ran it (bound values expanded). Each distinct SELECT / UPDATE / DELETE /
INSERT ... SELECT is then put through EXPLAIN QUERY PLAN on a fresh connection, with and without
ANALYZE statistics, and any plan line that scans tasks, events or agents without an index fails.

Two full scans are honest and allowed: a plain rowid-order scan with no WHERE at all that a LIMIT
stops early (no temp B-tree: newest-first listings), and listing every agent by name (the whole
table is the answer).

A plan can name an index and still read most of a table (SQLite without statistics happily walks
every 'blocked' task of tasks_waiting to find the two it wanted). So each statement is also run
on a copy of the data and its work counted in VM steps; over a budget well below one pass over
the tasks it fails, except for the few statements whose work is their answer's size (listed).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from pathlib import Path

import pytest
import sqlean

from swarmdeck.store import TaskStatus, open_store
from swarmdeck.store.audit import event_hash

from signing_support import close, decide, resume
from signing_support import key as public_key
from support import EPOCH, FakeClock

WATCHED = ("tasks", "events", "agents")
N_TASKS = 20_000
N_AGENTS = 200
AGENT_TYPES = ("backend", "frontend", "qa", "docs", "general")
SOURCES = ("human", "agent_requirements", "agent_planner", "agent_implementation")
START = EPOCH


# -- building the database -------------------------------------------------------------------


def _bulk_insert(db: Path, now: float, milestone_ids: dict[str, int]) -> None:
    """20k tasks, 200 agents and their events, straight into SQLite in one transaction."""
    rng = random.Random(20260101)
    conn = sqlean.connect(str(db), isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("BEGIN IMMEDIATE")
    agents = [f"agent-{i:03d}" for i in range(N_AGENTS)]
    conn.executemany(
        "INSERT INTO agents (name, agent_type, status, last_heartbeat, registered_at) VALUES (?, ?, ?, ?, ?)",
        [(a, AGENT_TYPES[i % len(AGENT_TYPES)], ("idle", "working", "blocked", "offline")[i % 4],
          now - rng.uniform(0, 300), now - 86_400) for i, a in enumerate(agents)],
    )
    open_ms = [milestone_ids["M1"], None]
    locked_ms = [milestone_ids["M2"], milestone_ids["M3"], milestone_ids["M4"]]
    statuses = (["completed"] * 40 + ["ready"] * 20 + ["blocked"] * 15 + ["running"] * 5
                + ["failed"] * 5 + ["cancelled"] * 5 + ["pending"] * 10)
    first_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM tasks").fetchone()[0]
    tasks, deps, events = [], [], []
    depth: dict[int, int] = {}
    for n in range(N_TASKS):
        tid = first_id + n
        created = now - (N_TASKS - n) * 5.0
        milestone = rng.choice(locked_ms) if rng.random() < 0.3 else rng.choice(open_ms)
        status = "blocked" if milestone in locked_ms and rng.random() < 0.9 else rng.choice(statuses)
        prereqs = sorted({tid - rng.randint(1, 300) for _ in range(rng.randint(0, 2))} - {tid})
        prereqs = [p for p in prereqs if p >= first_id]
        depth[tid] = max((depth[p] + 1 for p in prereqs), default=0)
        deps += [(tid, p) for p in prereqs]
        agent = rng.choice(agents) if status in ("running", "completed", "failed") else None
        unfinished = status in ("pending", "blocked", "ready", "running")
        deadline = now + rng.uniform(-3600, 14 * 86_400) if unfinished and rng.random() < 0.1 else None
        tasks.append((
            tid, f"bulk task {tid}", rng.choice(SOURCES), rng.choice(AGENT_TYPES), rng.randint(0, 10),
            status, round(rng.uniform(0, 100), 2), depth[tid], milestone, deadline,
            rng.choice((None, 600, 3600)), agent, rng.randint(0, 2),
            now + 3600 if status == "running" else None,
            created, created + 1, created if agent else None,
            created + 60 if status in ("completed", "failed", "cancelled") else None,
        ))
        events.append((created, "planner", "task.enqueued", "task", str(tid), "{}"))
        if agent:
            events.append((created + 1, agent, "task.claimed", "task", str(tid), json.dumps({"agent": agent})))
        if status in ("completed", "failed", "cancelled"):
            events.append((created + 60, agent or "human", f"task.{status}", "task", str(tid), "{}"))
    conn.executemany(
        """INSERT INTO tasks (id, description, source, agent_type, base_priority, status, priority,
               dependency_depth, milestone_id, deadline, estimated_duration_seconds, assigned_agent,
               retry_count, lease_expires_at, created_at, updated_at, started_at, finished_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        tasks,
    )
    conn.executemany("INSERT INTO task_dependencies (task_id, prerequisite_id) VALUES (?, ?)", deps)
    for i in range(30_000):
        agent = agents[i % N_AGENTS]
        events.append((now - 30_000 + i, agent, "agent.heartbeat", "agent", agent, "{}"))
    events.sort(key=lambda e: e[0])
    # Chained after the store's own events, as the store would have written them.
    last_id, last_hash = conn.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
    chained = []
    for i, (ts, *rest) in enumerate(events, start=last_id + 1):
        content = (i, float(ts), *rest)
        last_hash = event_hash(last_hash, *content)
        chained.append((*content, last_hash))
    conn.executemany(
        "INSERT INTO events (id, ts, actor, kind, entity, entity_id, payload, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        chained,
    )
    conn.execute("COMMIT")
    conn.close()


async def _build(db: Path, clock: FakeClock) -> None:
    store = await open_store(db, create=True, clock=clock)
    try:
        milestones = {}
        for name in ("M1", "M2", "M3", "M4"):
            milestones[name] = (await store.add_milestone(name, objective=f"objective of {name}")).id
        await store.add_reviewer("lead", by="lead", public_key=public_key("lead"))
        await store.add_reviewer("second", by="lead", public_key=public_key("second"))
        await store.enqueue_task(description="made through the store", milestone="M1")
    finally:
        await store.close()
    _bulk_insert(db, clock.now, milestones)


# -- the workload ----------------------------------------------------------------------------


async def _workload(store, clock: FakeClock) -> set[str]:
    """Call every Store method at least once, the filters each way. Returns the methods called."""
    called: set[str] = set()

    def mark(name: str):
        called.add(name)

    some = [t.id for t in await store.list_tasks(status="completed", limit=3)]
    mark("list_tasks")

    # agents
    await store.register_agent("newcomer", agent_type="backend", colour="cyan", model="m")
    mark("register_agent")
    await store.heartbeat("agent-000", status="working", completion=25.0)
    mark("heartbeat")
    await store.update_agent("agent-001", blockers=["waiting on review"], current_task_id=some[0],
                             next_milestone="M2")
    mark("update_agent")
    await store.get_agent("agent-002")
    mark("get_agent")
    await store.list_agents()
    mark("list_agents")
    await store.agents_by_names(["agent-003", "agent-004", "nobody"])
    mark("agents_by_names")
    await store.log_action("agent-005", phase="implement", action="edit", duration_ms=12.5)
    mark("log_action")
    await store.agent_task_counts()
    mark("agent_task_counts")

    # milestones
    await store.list_milestones()
    mark("list_milestones")
    await store.get_milestone("M1")
    await store.get_milestone(1)
    mark("get_milestone")
    await store.add_milestone("M5", objective="later", deliverables=["d"], acceptance_criteria=["a"])
    mark("add_milestone")
    await store.replan_milestone("M5", state="deferred", by="lead", reason="after the release")
    await store.replan_milestone("M5", state="active", by="lead", reason="back in")
    mark("replan_milestone")
    await store.add_evidence("M5", criterion=1, command="pytest -q", exit_code=0, output_sha256="0" * 64,
                             recorded_by="agent-001")
    mark("add_evidence")

    # tasks: enqueue, dependencies, priorities
    ready = await store.list_tasks(status=TaskStatus.READY, limit=5)
    blocked = await store.list_tasks(status=[TaskStatus.BLOCKED, TaskStatus.PENDING], limit=5)
    a = await store.enqueue_task(
        description="workload a", source="agent_planner", agent_type="backend", base_priority=7,
        prerequisites=[some[0], some[1]], deadline=clock.now + 7200, estimated_duration_seconds=600,
        milestone="M1", parent_task_id=some[2], input_data={"k": 1}, summary="a",
    )
    b = await store.enqueue_task(description="workload b", prerequisites=[ready[0].id], milestone=1)
    c = await store.enqueue_task(description="workload c")
    mark("enqueue_task")
    await store.add_dependency(c.id, b.id)
    await store.add_dependency(ready[1].id, a.id)
    mark("add_dependency")
    await store.set_base_priority(a.id, 9)
    mark("set_base_priority")
    await store.refresh_priorities()
    mark("refresh_priorities")
    await store.priority_breakdown(a.id)
    mark("priority_breakdown")

    # the claim loop
    first = await store.claim_task(agent="agent-010")
    typed = await store.claim_task(agent="agent-011", agent_type="backend")
    mark("claim_task")
    await store.complete_task(first.id, agent="agent-010", result={"ok": True})
    mark("complete_task")
    await store.fail_task(typed.id, error="flaky", agent="agent-011")  # retried: ready again
    again = await store.claim_task(agent="agent-012")
    await store.fail_task(again.id, error="broken", agent="agent-012", retry=False)
    mark("fail_task")
    await store.retry_task(again.id)
    mark("retry_task")
    stuck = await store.enqueue_task(description="stuck", agent_type="escalates")
    assert (await store.claim_task(agent="agent-014", agent_type="escalates")).id == stuck.id
    await store.escalate_task(stuck.id, agent="agent-014", note="KeyError in parse()")
    mark("escalate_task")
    await store.cancel_task(blocked[0].id, dry_run=True)
    await store.cancel_task(b.id, reason="not needed")  # cascades to c
    mark("cancel_task")
    short = await store.enqueue_task(description="times out", agent_type="reap-me", timeout_seconds=5)
    got = await store.claim_task(agent="agent-013", agent_type="reap-me")
    assert got.id == short.id
    clock.now += 10  # past this lease only (the others last an hour)
    reaped = await store.reap_timeouts()
    assert [t.id for t in reaped] == [short.id]
    mark("reap_timeouts")

    # task reads
    await store.queue_status()
    mark("queue_status")
    await store.execution_plan([a.id, b.id, c.id, ready[1].id, *some])
    mark("execution_plan")
    await store.list_tasks()
    await store.list_tasks(status="ready")
    await store.list_tasks(status=["running", "failed"], limit=50)
    await store.list_tasks(source="agent_planner")
    await store.list_tasks(agent_type="qa")
    await store.list_tasks(milestone_id=2)
    await store.list_tasks(assigned_agent="agent-010")
    await store.list_tasks(status="ready", agent_type="backend")
    await store.list_tasks(status="blocked", milestone_id=3)
    await store.list_tasks(status="completed", assigned_agent="agent-010")
    await store.list_tasks(status="ready", source="human")
    await store.list_tasks(held_by_failure=True)
    await store.list_tasks(archived=True)
    await store.list_tasks(archived=None)
    await store.get_task(a.id)
    mark("get_task")
    await store.tasks_by_ids([a.id, b.id, c.id, 999_999])
    mark("tasks_by_ids")
    await store.dependents(a.id)
    mark("dependents")

    # gates
    report = await store.submit_report(
        "M1", submitted_by="agent-020", summary="M1 done",
        criteria=[{"name": "tests pass", "status": "met", "evidence": "ci"}],
        metrics=[{"name": "p99", "value": 12, "target": 50, "comparator": "<", "unit": "ms"}],
        issues=[{"severity": "low", "description": "naming"}], recommendations=["ship"],
        proposed_decision="APPROVE",
    )
    mark("submit_report")
    await store.get_report("M1")
    await store.get_report("M1", version=report.version)
    mark("get_report")
    await store.gate_status("M1")
    mark("gate_status")
    await store.gates_awaiting_review()
    mark("gates_awaiting_review")
    await store.milestone_progress()
    mark("milestone_progress")
    decision = await decide(store, "M1", decision="CONDITIONAL", rationale="good enough", reviewer="lead",
                                       conditions=["fix naming"], report_hash=report.content_hash)
    mark("decide_gate")
    status = await store.gate_status("M1")
    await close(store, status.conditions[0].id, closed_by="lead", note="fixed")
    mark("close_condition")
    await store.latest_decision("M1")
    await store.latest_decision("M1", after_id=decision.id)
    mark("latest_decision")
    await store.gate_status("M2")  # M2 opened: counts what approving it would unblock in M3
    await store.submit_report("M2", submitted_by="agent-021", summary="stuck")
    await decide(store, "M2", decision="ESCALATE", rationale="needs a human", reviewer="lead")
    await store.swarm_state()
    mark("swarm_state")
    await resume(store, by="lead", note="resolved")
    mark("resume_swarm")

    # reviewers
    await store.add_reviewer("third", by="lead")
    mark("add_reviewer")
    await store.set_reviewer_key("third", public_key=public_key("third"))
    mark("set_reviewer_key")
    await store.remove_reviewer("third", by="second")
    mark("remove_reviewer")
    await store.list_reviewers()
    await store.list_reviewers(include_removed=True)
    mark("list_reviewers")
    await store.get_reviewer("second")
    mark("get_reviewer")
    await store.check_reviewer("second", milestone="M2", act="resume the swarm")
    mark("check_reviewer")

    # the performance charts (each chart_* runs inside charts(), on every range and both filters)
    await store.chart_filters()
    mark("chart_filters")
    for key in ("15m", "24h", "all"):
        await store.charts(key)
        await store.charts(key, milestone_id=1, agent_type="backend")
    for name in ("chart_window", "charts", "chart_throughput", "chart_queue_depth", "chart_durations",
                 "chart_estimates", "chart_burndown", "chart_gate_latency"):
        mark(name)
    await store.write_latencies()
    mark("write_latencies")

    await store.schema_version()
    mark("schema_version")

    # the change feed
    last = await store.latest_event_id()
    mark("latest_event_id")
    await store.changes_since(last)
    await store.changes_since(last - 50, limit=20)
    mark("changes_since")
    await store.wait_for_changes(last, 0.05)  # a wake-up only: it reads no table
    mark("wait_for_changes")
    head = await store.audit_head()
    mark("audit_head")
    full = await store.verify_events()
    assert full.ok and full.last_id == head.id == last
    await store.verify_events(after_id=last - 50)
    await store.verify_events(after_id=last - 50, head=(head.id, head.hash), chunk=20)
    await store.verify_events(after_id=full.last_id, after_hash=full.last_hash)
    mark("verify_events")
    await store.events()
    await store.events(entity="task")
    await store.events(entity="task", entity_id=a.id)
    await store.events(entity="agent", entity_id="agent-000", before_id=last)
    await store.events(actor="agent-010")
    await store.events(actor="lead", before_id=last)
    await store.events(kind="task.claimed")
    await store.events(kind="agent.heartbeat", before_id=last - 100, limit=10)
    await store.events(before_id=last - 10)
    mark("events")
    return called


# -- checking plans --------------------------------------------------------------------------

_KEYWORDS = {"where", "join", "left", "inner", "cross", "on", "order", "group", "limit", "set", "using",
             "natural", "outer", "as", "union", "values", "window", "having", "indexed", "not"}
_TABLE_REF = re.compile(r"\b(?:from|join|update|into)\s+(tasks|events|agents)\b(?:\s+(?:as\s+)?(\w+))?",
                        re.IGNORECASE)
_SCAN = re.compile(r"^SCAN (\w+)(?: |$)")
_INDEXED = ("USING INDEX", "USING COVERING INDEX", "USING INTEGER PRIMARY KEY")
_ALL_AGENTS_BY_NAME = "SELECT * FROM agents ORDER BY name"


def _watched_names(sql: str) -> set[str]:
    """The names under which tasks/events/agents appear in this statement's plan (table or alias)."""
    names = set()
    for table, alias in _TABLE_REF.findall(sql):
        names.add(table.lower())
        if alias and alias.lower() not in _KEYWORDS:
            names.add(alias.lower())
    return names


def _normalise(sql: str) -> str:
    """The statement with literals replaced, so repeats with other values count once."""
    sql = re.sub(r"'(?:[^']|'')*'", "?", sql)
    sql = re.sub(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b", "?", sql)
    return " ".join(sql.split())


def _checked(sql: str) -> bool:
    head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    if head in ("SELECT", "WITH", "UPDATE", "DELETE"):
        return True
    return head in ("INSERT", "REPLACE") and re.search(r"\bSELECT\b", sql, re.IGNORECASE) is not None


def _full_scans(sql: str, plan: list[str]) -> list[str]:
    """Plan lines that read a whole watched table with no index, minus the two honest cases."""
    names = _watched_names(sql)
    bad = []
    for line in plan:
        m = _SCAN.match(line)
        if not m or m.group(1).lower() not in names or any(k in line for k in _INDEXED):
            continue
        flat = " ".join(sql.split())
        rowid_scan_stopped_by_limit = (
            line == f"SCAN {m.group(1)}"
            and re.search(r"\bLIMIT\b", flat, re.IGNORECASE)
            and not re.search(r"\bWHERE\b", flat, re.IGNORECASE)
            and not any("USE TEMP B-TREE" in p for p in plan)
        )
        if rowid_scan_stopped_by_limit or flat == _ALL_AGENTS_BY_NAME:
            continue
        bad.append(line)
    return bad


def _plan(conn: sqlean.Connection, sql: str) -> list[str]:
    """The detail column of EXPLAIN QUERY PLAN, one line per plan node."""
    return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()]


def _format(sql: str, plan: list[str]) -> str:
    return "  " + " ".join(sql.split())[:1500] + "\n" + "\n".join(f"      {p}" for p in plan)


def _violations(db: Path, statements: list[str]) -> tuple[list[str], int]:
    """Explain every distinct statement; return one report per offending statement shape."""
    conn = sqlean.connect(str(db), isolation_level=None)
    try:
        offenders: dict[str, str] = {}
        explained = 0
        for sql in statements:
            plan = _plan(conn, sql)
            explained += 1
            bad = _full_scans(sql, plan)
            if bad:
                offenders.setdefault(_normalise(sql), _format(sql, plan) + f"\n    full scan: {bad}")
        return list(offenders.values()), explained
    finally:
        conn.close()


#: VM steps (counted in hundreds by a progress handler). One pass over 20k tasks costs well over
#: 20k; the statements that serve a screen row or a transition cost a few thousand.
WORK_BUDGET = 15_000
_STEP_GRAIN = 100

#: Statements whose work grows with what they are asked for, not with the table: (pattern, why).
_BULK_BY_DESIGN = [
    (r"^SELECT t\.\*, m\.status AS milestone_status, .* WHERE t\.status IN \(\?(?:, ?\?)+\)"
     r"(?: AND t\.archived_at IS NULL)? ORDER BY",
     "list_tasks with several statuses sorts every task of those statuses by priority before the limit"),
    (r"^SELECT assigned_agent, status, count\(\*\) FROM tasks WHERE",
     "agent_task_counts aggregates every finished task (from tasks_agent alone, no table rows)"),
    (r"^SELECT status, count\(\*\) FROM tasks WHERE milestone_id = \? GROUP BY status$",
     "milestone_progress aggregates a milestone's tasks (from tasks_milestone alone)"),
    (r"^SELECT t\.\*, \(SELECT count\(\*\) FROM task_dependencies d .* WHERE t\.id IN \(SELECT value FROM json_each",
     "reprioritising reads one row per task it was given (refresh_priorities: every waiting task with a deadline)"),
    (r"^SELECT count\(\*\) FROM tasks t WHERE t\.milestone_id = \? AND t\.status = \? AND NOT EXISTS",
     "gate_status counts the next milestone's blocked tasks that approving would release"),
    (r"^SELECT t\.id FROM tasks t LEFT JOIN milestones m .* WHERE t\.milestone_id = \? AND t\.status = \?",
     "opening a milestone examines each of its blocked tasks once"),
    (r"FROM tasks INDEXED BY tasks_(?:finished|agent|milestone_created) WHERE",
     "a chart aggregates the tasks finished (or created) in its window: index ranges, no table rows"),
    (r"^SELECT milestone_id, count\(\*\) FROM tasks WHERE milestone_id IN \(SELECT value FROM json_each",
     "the burn-down counts each charted milestone's unfinished tasks (the count is its answer)"),
    (r"^SELECT id, ts, actor, kind, entity, entity_id, payload, hash FROM events WHERE id > \? ORDER BY id LIMIT \?$",
     "verifying the audit trail reads a chunk of events in id order (every row read is returned)"),
]


def _bulk_by_design(sql: str) -> str | None:
    shape = _normalise(sql)
    return next((why for pattern, why in _BULK_BY_DESIGN if re.search(pattern, shape)), None)


def _heavy_statements(db: Path, statements: list[str]) -> list[str]:
    """Run each statement (rolled back) and report those doing more work than WORK_BUDGET."""
    conn = sqlean.connect(str(db), isolation_level=None)
    steps = [0]

    def tick() -> int:
        steps[0] += _STEP_GRAIN
        return 0

    conn.set_progress_handler(tick, _STEP_GRAIN)
    heavy: dict[str, tuple[int, str]] = {}
    try:
        for sql in statements:
            if _bulk_by_design(sql):
                continue
            steps[0] = 0
            conn.execute("BEGIN")
            try:
                conn.execute(sql).fetchall()
            except sqlean.IntegrityError:
                pass  # a trigger refuses it now (a condition since closed for good): measured as far as it ran
            finally:
                conn.execute("ROLLBACK")
            shape = _normalise(sql)
            if steps[0] > WORK_BUDGET and steps[0] > heavy.get(shape, (0, ""))[0]:
                conn.set_progress_handler(None, 0)
                heavy[shape] = (steps[0], _format(sql, _plan(conn, sql)))
                conn.set_progress_handler(tick, _STEP_GRAIN)
    finally:
        conn.close()
    return [f"{n} VM steps (budget {WORK_BUDGET}):\n{text}" for n, text in heavy.values()]


def _trigger_statements(db: Path, tables: tuple[str, ...] | None = WATCHED) -> list[str]:
    """The statements inside triggers on ``tables`` (None: every table), with NEW./OLD. made literals.

    The trace callback does not report statements run by triggers, so they are read from the schema.
    """
    conn = sqlean.connect(str(db), isolation_level=None)
    try:
        rows = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger'"
            + ("" if tables is None else f" AND tbl_name IN ({', '.join('?' * len(tables))})"),
            tables or (),
        ).fetchall()
    finally:
        conn.close()
    out = []
    for (sql,) in rows:
        body = re.search(r"\bBEGIN\b(.*)\bEND\b\s*;?\s*$", sql, re.IGNORECASE | re.DOTALL).group(1)
        when = re.search(r"\bWHEN\b(.*?)\bBEGIN\b", sql, re.IGNORECASE | re.DOTALL)
        # A WHEN clause runs on every row the trigger sees (the append-only ones probe a key).
        statements = [f"SELECT 1 WHERE {when.group(1)}"] if when else []
        for stmt in statements + body.split(";"):
            stmt = re.sub(r"\b(?:NEW|OLD)\.\w+", "'ready'", stmt.strip())
            if stmt and _checked(stmt) and not re.match(r"SELECT\s+RAISE\s*\(", stmt, re.IGNORECASE):
                out.append(stmt)
    return out


# -- the test --------------------------------------------------------------------------------


async def _traced_workload(db: Path, clock: FakeClock) -> tuple[list[str], set[str]]:
    store = await open_store(db, clock=clock)
    seen: list[str] = []
    try:
        # Both of the store's connections: its writer (transactions) and its reader.
        await store._writer.set_trace_callback(seen.append)
        await store._reader.set_trace_callback(seen.append)
        called = await _workload(store, clock)
    finally:
        await store.close()
    return seen, called


@pytest.fixture(scope="module")
def traced(tmp_path_factory) -> tuple[Path, list[str], set[str]]:
    """Build the database, run the workload once, keep the distinct checked statements."""
    db = tmp_path_factory.mktemp("plans") / "swarm.db"
    clock = FakeClock(START)
    asyncio.run(_build(db, clock))
    seen, called = asyncio.run(_traced_workload(db, clock))
    statements = list(dict.fromkeys(s for s in seen if _checked(s)))
    return db, statements, called


def test_workload_calls_every_store_method(traced) -> None:
    """The plan check below is only as good as its coverage: every public method ran."""
    from swarmdeck.store import Store
    from swarmdeck.store.sqlite import SQLiteStore

    _, statements, called = traced
    # the memory methods have their own workload and plan check (test_memory_query_plans.py)
    memory = {n for n, v in vars(SQLiteStore).items() if getattr(v, "part", None) in ("memory", "search_index")}
    methods = {n for n in dir(Store) if not n.startswith("_") and callable(getattr(Store, n))} - {"close"} - memory
    assert methods - called == set(), f"Store methods the workload never called: {sorted(methods - called)}"
    assert len({_normalise(s) for s in statements}) > 60, "suspiciously few distinct statements traced"


@pytest.fixture(scope="module")
def analyzed(traced, tmp_path_factory) -> Path:
    """A copy of the traced database with ANALYZE statistics (the store itself never runs ANALYZE)."""
    return analyzed_copy(traced[0], tmp_path_factory.mktemp("analyzed") / "swarm.db")


def analyzed_copy(db: Path, copy: Path) -> Path:
    """``db`` copied to ``copy``, with ANALYZE statistics in the copy."""
    src, dst = sqlean.connect(str(db)), sqlean.connect(str(copy))
    try:
        src.backup(dst)
        dst.execute("ANALYZE")
        dst.commit()
    finally:
        src.close()
        dst.close()
    return copy


@pytest.mark.parametrize("stats", [False, True], ids=["no-stats", "analyzed"])
def test_no_statement_scans_tasks_events_or_agents(traced, analyzed, stats: bool) -> None:
    """EXPLAIN QUERY PLAN each distinct statement on a fresh connection: no full scans."""
    db, statements, _ = traced
    db = analyzed if stats else db
    statements = statements + _trigger_statements(db)
    problems, explained = _violations(db, statements)
    assert explained == len(statements)
    assert not problems, (
        f"{len(problems)} statement shape(s) scan a whole table without an index:\n\n" + "\n\n".join(problems)
    )


@pytest.mark.parametrize("stats", [False, True], ids=["no-stats", "analyzed"])
def test_no_statement_reads_far_more_than_it_returns(traced, analyzed, stats: bool) -> None:
    """Run each distinct statement (rolled back) and count its work: an index walked end to end
    fails here even though its plan names the index."""
    db, statements, _ = traced
    heavy = _heavy_statements(analyzed if stats else db, statements)
    assert not heavy, (
        f"{len(heavy)} statement shape(s) read far more than they return:\n\n" + "\n\n".join(heavy)
    )


def test_the_checker_flags_full_scans_and_only_allows_the_two_honest_ones() -> None:
    """The checker itself, on plans SQLite really produces for hand-written statements."""
    conn = sqlean.connect(":memory:", isolation_level=None)
    from swarmdeck.store.sqlite import schema
    from swarmdeck.store.sqlite.base import split_script

    for stmt in split_script(schema.MIGRATIONS[0][1]):
        conn.execute(stmt)

    def scans(sql: str) -> list[str]:
        return _full_scans(sql, _plan(conn, sql))

    assert scans("SELECT * FROM tasks t WHERE t.description = 'x'") == ["SCAN t"]
    assert scans("SELECT count(*) FROM events WHERE payload = '{}'") == ["SCAN events"]
    assert scans("UPDATE agents SET status = 'idle' WHERE model = 'm'") == ["SCAN agents"]
    # filtered, even with LIMIT: may read the whole table before finding enough rows
    assert scans("SELECT * FROM tasks WHERE summary = 'x' ORDER BY id DESC LIMIT 5") == ["SCAN tasks"]
    # the honest cases
    assert scans("SELECT * FROM tasks t ORDER BY t.id DESC LIMIT 100") == []
    assert scans("SELECT * FROM agents ORDER BY name") == []
    # indexed access passes
    assert scans("SELECT * FROM tasks t WHERE t.status = 'ready' ORDER BY priority DESC, id LIMIT 1") == []
    assert scans("SELECT * FROM events WHERE id > 5 ORDER BY id LIMIT 10") == []
    # the alias is what the plan names; other tables are not watched
    assert _watched_names("SELECT * FROM tasks AS p JOIN milestones m ON m.id = p.milestone_id") == {"tasks", "p"}
    conn.close()
