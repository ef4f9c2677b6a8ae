"""Charts benchmark: every chart of the charts screen, for each time range, on a database of 1M events.

Run: python tests/bench/bench_charts.py [--events 1000000] [--days 14] [--agents 200] [--repeat 15]

The database is a busy swarm's fortnight, built with raw SQL in one transaction: ~100k tasks over
six milestones and eight agent types (each enqueued, claimed, finished or retried, with the payloads
the store writes), heartbeats and action logs to make up the rest of the 1M events, one queue sample
per 10 s slot, and a few dozen gate reviews. Timed: ``Store.charts`` (all six store charts, the way
the screen asks for them) plus ``write_latencies``, per range, unfiltered and filtered by milestone
and agent type. Prints medians and p90s; the machine is shared and noisy, so read the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import statistics
import tempfile
import time
from pathlib import Path

import sqlean

from swarmdeck.store import open_store
from swarmdeck.store.charts import QUEUE_SLOT, RANGE_KEYS

AGENT_TYPES = ("implementation", "testing", "review", "docs", "research", "ops", "debugging", "planning")
MILESTONES = 6
HEARTBEAT_SHARE, ACTION_SHARE = 0.5, 0.15
EVENTS_PER_TASK = 3.4  # enqueued, claimed, finished, and now and then ready/retried/claimed again


def build(path: Path, *, events: int = 1_000_000, days: float = 14, agents: int = 200, seed: int = 11) -> dict:
    """Make the database; return what it holds (for the report)."""
    asyncio.run(_create(path))
    rng = random.Random(seed)
    now = time.time()
    start = now - days * 86400
    n_tasks = int(events * (1 - HEARTBEAT_SHARE - ACTION_SHARE) / EVENTS_PER_TASK)
    names = [f"agent-{i:03d}" for i in range(agents)]
    types = {name: AGENT_TYPES[i % len(AGENT_TYPES)] for i, name in enumerate(names)}
    by_type = {t: [n for n in names if types[n] == t] or names for t in AGENT_TYPES}
    # Some agents are slow: the chart of durations should find them.
    pace = {name: math.exp(rng.gauss(0, 0.35)) for name in names}
    db = sqlean.connect(str(path), isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("BEGIN IMMEDIATE")
    db.executemany(
        "INSERT INTO milestones (name, position, objective, hour_budget, hours_spent, status, created_at) "
        "VALUES (?, ?, 'bench', ?, ?, ?, ?)",
        [(f"M{m} milestone {m}", m, 400.0 + 50 * m, 0.0, "approved" if m < MILESTONES else "open", start)
         for m in range(1, MILESTONES + 1)],
    )
    db.executemany(
        "INSERT INTO agents (name, agent_type, status, last_heartbeat, registered_at) VALUES (?, ?, 'idle', ?, ?)",
        [(n, types[n], now, start) for n in names],
    )
    tasks, evs = [], []
    hours = [0.0] * (MILESTONES + 1)
    for tid in range(1, n_tasks + 1):
        created = start + (tid / n_tasks) * (now - start - 600) + rng.uniform(0, 60)
        milestone = None if rng.random() < 0.2 else min(MILESTONES, 1 + int((created - start) / (now - start) * MILESTONES))
        agent_type = rng.choice(AGENT_TYPES)
        estimate = rng.choice((None, 300, 600, 900, 1800, 3600))
        ev_payload = {"status": "ready", "agent_type": agent_type, "milestone_id": milestone}
        evs.append((created, "planner", "task.enqueued", "task", str(tid), json.dumps(ev_payload)))
        t = created + rng.uniform(5, 300)
        status, agent, started, finished, retries = "ready", None, None, None, 0
        while t < now:
            agent = rng.choice(by_type[agent_type]) if rng.random() < 0.9 else rng.choice(names)
            started = t
            evs.append((t, agent, "task.claimed", "task", str(tid), json.dumps({"agent": agent})))
            took = (estimate or 600) * pace[agent] * math.exp(rng.gauss(0.15, 0.4))
            end = t + took
            if end >= now:
                status = "running"
                break
            roll = rng.random()
            payload = {"agent": agent, "duration_s": round(took, 3), "milestone_id": milestone}
            if milestone:
                hours[milestone] += took / 3600
            if roll < 0.08 and retries < 3:
                retries += 1
                evs.append((end, agent, "task.retried", "task", str(tid),
                            json.dumps({**payload, "error": "tests failed", "retry": retries, "max_retries": 3})))
                t = end + rng.uniform(5, 120)
                agent = started = None
                continue
            if roll < 0.1:
                status, finished = "failed", end
                evs.append((end, agent, "task.failed", "task", str(tid), json.dumps({**payload, "error": "broken"})))
            else:
                status, finished = "completed", end
                evs.append((end, agent, "task.completed", "task", str(tid),
                            json.dumps({**payload, "estimated_s": estimate})))
            break
        tasks.append((tid, f"bench task {tid}", "agent_planner", agent_type, 5, status, rng.uniform(0, 100),
                      milestone, estimate, agent, retries, created, finished or started or created, started, finished))
    db.executemany(
        "INSERT INTO tasks (id, description, source, agent_type, base_priority, status, priority, milestone_id,"
        " estimated_duration_seconds, assigned_agent, retry_count, created_at, updated_at, started_at,"
        " finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        tasks,
    )
    for m in range(1, MILESTONES + 1):
        db.execute("UPDATE milestones SET hours_spent = ? WHERE id = ?", (hours[m], m))
    rest = events - len(evs)
    beats = int(rest * HEARTBEAT_SHARE / (HEARTBEAT_SHARE + ACTION_SHARE))
    for i in range(rest):
        ts = start + rng.random() * (now - start)
        name = names[i % agents]
        if i < beats:
            evs.append((ts, name, "agent.heartbeat", "agent", name, '{"status":"working"}'))
        else:
            evs.append((ts, name, "agent.action", "agent", name, json.dumps(
                {"phase": "implement", "action": "edit", "duration_ms": round(rng.expovariate(1 / 800), 1),
                 "success": True, "error_message": None})))
    # Gate reviews: a report per milestone round, decided by one of three reviewers some minutes later.
    for m in range(1, MILESTONES + 1):
        for version in range(1, rng.randint(2, 4)):
            submitted = start + (m - 0.2 + version * 0.05) / MILESTONES * (now - start)
            report = db.execute(
                "INSERT INTO validation_reports (milestone_id, version, submitted_by, submitted_at, content_hash) "
                "VALUES (?, ?, 'validator', ?, ?)", (m, version, submitted, f"h{m}.{version}"),
            ).lastrowid
            evs.append((submitted, "validator", "gate.report_submitted", "milestone", str(m), "{}"))
            if m == MILESTONES and version > 1:
                db.execute("UPDATE milestones SET status = 'review' WHERE id = ?", (m,))
                continue  # the newest report still awaits its reviewer
            reviewer = rng.choice(("alice", "bob", "carol"))
            decided = submitted + rng.uniform(120, 4 * 3600)
            db.execute(
                "INSERT INTO gate_decisions (milestone_id, report_id, report_hash, decision, rationale, reviewer,"
                " decided_at) VALUES (?, ?, ?, ?, 'ok', ?, ?)",
                (m, report, f"h{m}.{version}", rng.choice(("APPROVE", "REVISE", "CONDITIONAL")), reviewer, decided),
            )
            evs.append((decided, reviewer, "gate.decided", "milestone", str(m), json.dumps({"reviewer": reviewer})))
    evs.sort(key=lambda e: e[0])
    db.executemany("INSERT INTO events (ts, actor, kind, entity, entity_id, payload) VALUES (?, ?, ?, ?, ?, ?)", evs)
    # The counts the store keeps, and a queue sample in every slot of a busy fortnight.
    db.execute("UPDATE task_counts SET n = (SELECT count(*) FROM tasks t WHERE t.status = task_counts.status)")
    ready = blocked = running = 0
    samples = []
    for slot in range(int(start // QUEUE_SLOT), int(now // QUEUE_SLOT) + 1):
        ready = max(0, ready + rng.randint(-3, 3))
        blocked = max(0, blocked + rng.randint(-2, 2))
        running = max(0, min(agents, running + rng.randint(-4, 4)))
        samples.append((slot, slot * QUEUE_SLOT + 5, 0, blocked, ready, running))
    db.executemany("INSERT INTO queue_samples VALUES (?, ?, ?, ?, ?, ?)", samples)
    db.execute("COMMIT")
    db.close()
    return {"events": len(evs), "tasks": n_tasks, "agents": agents, "samples": len(samples), "days": days}


async def _create(path: Path) -> None:
    store = await open_store(path, create=True)
    await store.close()


async def measure(path: Path, repeat: int) -> dict[tuple[str, str], list[float]]:
    store = await open_store(path)
    out: dict[tuple[str, str], list[float]] = {}
    try:
        filters = await store.chart_filters()
        milestone = filters.milestones[-1][0]
        agent_type = filters.agent_types[0]
        for label, kw in (("all tasks", {}), (f"milestone {milestone} + {agent_type}",
                                               {"milestone_id": milestone, "agent_type": agent_type})):
            for key in RANGE_KEYS:
                times = out.setdefault((key, label), [])
                await store.charts(key, **kw)  # warm the page cache: the screen refreshes, it does not cold-start
                for _ in range(repeat):
                    started = time.perf_counter()
                    await store.charts(key, **kw)
                    await store.write_latencies()
                    times.append((time.perf_counter() - started) * 1000)
    finally:
        await store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=14)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--db", type=Path, help="reuse (or keep) the database at this path")
    args = parser.parse_args()
    path = args.db or Path(tempfile.mkdtemp(prefix="swarmdeck-bench-")) / "swarm.db"
    if not path.exists():
        started = time.perf_counter()
        info = build(path, events=args.events, days=args.days, agents=args.agents)
        print(f"built {info['events']:,} events, {info['tasks']:,} tasks, {info['agents']} agents, "
              f"{info['samples']:,} queue samples over {info['days']:g} days in "
              f"{time.perf_counter() - started:.1f} s ({path.stat().st_size / 1e6:.0f} MB) at {path}")
    results = asyncio.run(measure(path, args.repeat))
    print("\n| range | filter | median ms | p90 ms | runs |\n|---|---|---:|---:|---:|")
    for (key, label), values in results.items():
        values = sorted(values)
        p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
        print(f"| {key} | {label} | {statistics.median(values):.1f} | {p90:.1f} | {len(values)} |")


if __name__ == "__main__":
    main()
