"""Dashboard benchmark: first paint, idle poll tick, and a 200-change tick at 100k tasks, 500 agents, 1M events.

Run: python tests/bench/bench_ui.py [--tasks 100000] [--agents 500] [--events 1000000] [--repeat 15]

Compares the live path (diff rows in place) against a naive clear-and-refill of the same table
in the same run. Prints medians; the machine is shared, so read ratios rather than single times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import sqlean

from swarmdeck.app.tui import SwarmdeckApp
from swarmdeck.app.screens.queue import QueueScreen
from swarmdeck.store import open_store

STATUSES = ["completed"] * 70 + ["ready"] * 10 + ["blocked"] * 10 + ["running"] * 4 + ["failed"] * 3 + ["pending"] * 3


async def build(path: Path, tasks: int, agents: int, events: int) -> None:
    store = await open_store(path, create=True)
    for n in range(4):
        await store.add_milestone(f"M{n + 1}", objective="bench", hour_budget=100)
    await store.close()
    rng = random.Random(7)
    now = time.time()
    db = sqlean.connect(str(path))
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO agents (name, agent_type, colour, status, last_heartbeat, registered_at) VALUES (?, ?, ?, ?, ?, ?)",
        [(f"agent-{i:03}", f"type-{i % 8}", "blue", "idle", now - rng.random() * 120, now - 3600) for i in range(agents)],
    )
    rows = []
    for i in range(1, tasks + 1):
        status = rng.choice(STATUSES)
        rows.append((f"task {i}: implement part {i % 97} of the memory service", "human", f"type-{i % 8}",
                     rng.randint(0, 10), status, rng.random() * 100, 1 + i % 4, now - rng.random() * 86400,
                     now, f"agent-{i % agents:03}" if status in ("running", "completed", "failed") else None))
    db.executemany(
        "INSERT INTO tasks (description, source, agent_type, base_priority, status, priority, milestone_id,"
        " created_at, updated_at, assigned_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    kinds = ["task.claimed", "task.completed", "agent.heartbeat", "task.enqueued"]
    db.executemany(
        "INSERT INTO events (ts, actor, kind, entity, entity_id, payload) VALUES (?, ?, ?, ?, ?, '{}')",
        ((now - (events - i) * 0.05, f"agent-{i % agents:03}", kinds[i % 4],
          "agent" if i % 4 == 2 else "task", str(1 + i % tasks)) for i in range(events)),
    )
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()


def touch_tasks(path: Path, count: int, rng: random.Random) -> list[int]:
    """Change ``count`` unfinished tasks the way a burst of agent activity would, with their events."""
    db = sqlean.connect(str(path), isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    ids = [r[0] for r in db.execute(
        "SELECT id FROM tasks WHERE status IN ('ready', 'blocked', 'running') ORDER BY random() LIMIT ?", (count,))]
    now = time.time()
    for task_id in ids:
        db.execute("UPDATE tasks SET priority = ?, updated_at = ? WHERE id = ?", (rng.random() * 100, now, task_id))
        db.execute("INSERT INTO events (ts, actor, kind, entity, entity_id, payload) VALUES (?, 'bench', "
                   "'task.reprioritised', 'task', ?, ?)", (now, str(task_id), json.dumps({})))
    db.execute("COMMIT")
    db.close()
    return ids


def app_in(mode: str) -> type[SwarmdeckApp]:
    """The app, opening on the given screen."""
    return type(f"{mode.title()}App", (SwarmdeckApp,), {"DEFAULT_MODE": mode})


async def wait_idle(app: SwarmdeckApp, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    while getattr(app.screen, "_syncing", False):
        await pilot.pause(0.001)
        await app.workers.wait_for_complete()


async def measure(path: Path, repeat: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in (
        "first_paint_queue", "first_paint_milestones", "first_paint_agents", "idle_tick", "tick_200_live",
        "tick_200_naive", "frame_after_live", "frame_after_naive", "tick_200_work")}
    for mode, key in (("queue", "first_paint_queue"), ("milestones", "first_paint_milestones"),
                      ("agents", "first_paint_agents")):
        for _ in range(max(3, repeat // 3)):
            started = time.perf_counter()
            app = app_in(mode)(lambda: open_store(path), poll=False)
            async with app.run_test(size=(160, 50)) as pilot:
                await wait_idle(app, pilot)
                out[key].append((time.perf_counter() - started) * 1000)
    app = app_in("queue")(lambda: open_store(path), poll=False)
    rng = random.Random(3)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_idle(app, pilot)
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        poller = app.poller
        for _ in range(repeat * 10):  # idle tick: the poll query + nothing to apply
            started = time.perf_counter()
            await poller._poll()
            out["idle_tick"].append((time.perf_counter() - started) * 1000)
        for _ in range(repeat):
            # The live path: poll, fetch the 200 changed tasks, diff them into the table in place.
            touch_tasks(path, 200, rng)
            started = time.perf_counter()
            await poller._poll()
            screen._syncing = True  # run the screen's catch-up here, inline, to time it alone
            await screen._catch_up()
            out["tick_200_live"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await wait_idle(app, pilot)
            out["frame_after_live"].append((time.perf_counter() - started) * 1000)
            # The naive way, same table, same run: re-query everything, clear and refill.
            touch_tasks(path, 200, rng)
            started = time.perf_counter()
            tasks = await app.store.list_tasks(limit=2000, **screen.filters.query())
            with app.batch_update():
                screen.table.clear()
                screen.table._shadow.clear()
                for t in tasks:
                    screen.table.upsert(str(t.id), screen._cells(t))
            out["tick_200_naive"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await wait_idle(app, pilot)
            out["frame_after_naive"].append((time.perf_counter() - started) * 1000)
            screen.seen = await app.store.latest_event_id()
            poller.cursor = screen.seen
            # The tick's own work, with no frame being drawn meanwhile: read the feed, fetch the
            # changed tasks, diff them into the table (the repaint that follows is Textual's frame).
            touch_tasks(path, 200, rng)
            started = time.perf_counter()
            events = await app.store.changes_since(screen.seen)
            screen.seen = poller.cursor = events[-1].id
            await screen.apply(events)
            out["tick_200_work"].append((time.perf_counter() - started) * 1000)
            await wait_idle(app, pilot)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp(prefix="swarmdeck-bench-")) / "swarm.db"
    started = time.perf_counter()
    asyncio.run(build(path, args.tasks, args.agents, args.events))
    print(f"built {args.tasks:,} tasks, {args.agents} agents, {args.events:,} events in "
          f"{time.perf_counter() - started:.1f} s ({path.stat().st_size / 1e6:.0f} MB)")
    results = asyncio.run(measure(path, args.repeat))
    print("\n| measure | median ms | p90 ms | runs |\n|---|---:|---:|---:|")
    for name, values in results.items():
        values = sorted(values)
        p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
        print(f"| {name} | {statistics.median(values):.2f} | {p90:.2f} | {len(values)} |")
    live, naive = statistics.median(results["tick_200_live"]), statistics.median(results["tick_200_naive"])
    print(f"\n200-change tick: live diff {live:.1f} ms vs clear-and-refill {naive:.1f} ms "
          f"({naive / live:.1f}x)")


if __name__ == "__main__":
    main()
