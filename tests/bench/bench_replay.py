"""Replay benchmark: open, seek and step through a swarm's history of 1M events (store/replay/).

Run: python tests/bench/bench_replay.py [--events 1000000] [--seeks 50] [--keep DIR]

The swarm is bench_charts.py's busy fortnight (~100k tasks enqueued, claimed, completed, failed or
retried, heartbeats and action logs, gate reviews: the kinds and payloads the store writes), with its
agents' registrations and its milestones' additions first, as a real history starts. Timed:

- first open: ``open_replay`` on a database with no cache yet (the cache is built: one pass of the
  reducer over every event), then a second open (the cache is current: nothing to add);
- seek: to random event ids, median and p95; alone, and with what a dashboard reads at a point (the
  running and ready tasks, the agents, the queue's counts);
- step: one event forward, and to the next failure and the next stale agent;
- the baseline, in the same run: the state at a few points rebuilt from zero (the reducer over every
  event up to the point, into a new cache), as a replay without anything kept would have to.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlean

sys.path.insert(0, str(Path(__file__).parent))

from bench_charts import build  # noqa: E402

from swarmdeck.store.replay import Step, open_replay  # noqa: E402
from swarmdeck.store.replay.build import Builder, Source  # noqa: E402
from swarmdeck.store.replay.engine import _connect, _new_cache  # noqa: E402


def make_history(path: Path, events: int) -> dict:
    """bench_charts' swarm, with each agent's registration and each milestone's addition as its first events."""
    info = build(path, events=events)
    db = sqlean.connect(str(path), isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    for trigger in ("no_update", "no_delete", "no_replace"):
        db.execute(f"DROP TRIGGER IF EXISTS events_{trigger}")
    rest = db.execute("SELECT ts, actor, kind, entity, entity_id, payload FROM events ORDER BY id").fetchall()
    start = rest[0][0] - 1
    first = [(start, "bench", "milestone.added", "milestone", str(mid), json.dumps({"name": name, "status": status}))
             for mid, name, status in db.execute("SELECT id, name, status FROM milestones ORDER BY id")]
    first += [(start, name, "agent.registered", "agent", name, json.dumps({"agent_type": kind, "colour": None,
                                                                           "model": None}))
              for name, kind in db.execute("SELECT name, agent_type FROM agents ORDER BY id")]
    db.execute("DELETE FROM events")
    db.executemany("INSERT INTO events (ts, actor, kind, entity, entity_id, payload) VALUES (?, ?, ?, ?, ?, ?)",
                   first + rest)
    db.execute("COMMIT")
    db.close()
    return {**info, "events": len(first) + len(rest)}


def quantiles(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms   (n={len(ordered)})"


async def screen(store) -> None:
    await store.list_tasks(status="running", limit=100)
    await store.list_tasks(status="ready", limit=100)
    await store.list_agents()
    await store.queue_status()


def from_zero(db: Path, upto: int, folder: Path) -> float:
    """Seconds to rebuild the state at ``upto`` with nothing kept: every event up to it, reduced."""
    cache = folder / f"zero-{upto}.db"
    asyncio.run(_new_cache(cache))
    started = time.perf_counter()
    conn, src = _connect(cache), Source(db)
    try:
        conn.execute("BEGIN IMMEDIATE")
        Builder(conn, src).run(upto=upto)
        conn.execute("COMMIT")
    finally:
        src.close()
        conn.close()
    return time.perf_counter() - started


async def measure(db: Path, seeks: int, rng: random.Random) -> dict:
    out: dict = {}
    started = time.perf_counter()
    replay = await open_replay(db)
    out["first open (cache build)"] = time.perf_counter() - started
    await replay.close()
    started = time.perf_counter()
    replay = await open_replay(db)
    out["second open (cache current)"] = time.perf_counter() - started
    try:
        lo, hi = replay.point.first_id, replay.point.last_id
        seek, seek_read = [], []
        for _ in range(seeks):
            target = rng.randint(lo, hi)
            t0 = time.perf_counter()
            await replay.seek(target)
            t1 = time.perf_counter()
            await screen(replay.store)
            t2 = time.perf_counter()
            seek.append((t1 - t0) * 1000)
            seek_read.append((t2 - t0) * 1000)
        out["seek"] = quantiles(seek)
        out["seek + screen reads"] = quantiles(seek_read)
        for label, by in (("step: one event", Step.EVENT), ("step: next failure", Step.FAILURE),
                          ("step: next stale agent", Step.STALE)):
            times = []
            await replay.seek(rng.randint(lo, (lo + hi) // 2))
            for _ in range(seeks):
                t0 = time.perf_counter()
                await replay.step(by)
                times.append((time.perf_counter() - t0) * 1000)
            out[label] = quantiles(times)
    finally:
        await replay.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seeks", type=int, default=50)
    parser.add_argument("--keep", type=Path, help="Build in this folder and leave the files there.")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-replay-"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "swarm.db"
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}.replay-cache")):
        stale.unlink(missing_ok=True)
    started = time.perf_counter()
    info = make_history(db, args.events)
    print(f"built {info} in {time.perf_counter() - started:.0f} s")
    rng = random.Random(18)
    results = asyncio.run(measure(db, args.seeks, rng))
    for name, value in results.items():
        print(f"{name:30s} {value:.1f} s" if isinstance(value, float) else f"{name:30s} {value}")
    cache = Path(f"{db}.replay-cache")
    print(f"{'cache size':30s} {cache.stat().st_size / 1e6:.0f} MB (database {db.stat().st_size / 1e6:.0f} MB)")
    for share in (0.25, 0.5):
        upto = int(info["events"] * share)
        print(f"{'baseline: from zero to ' + str(upto):30s} {from_zero(db, upto, folder):.1f} s")


if __name__ == "__main__":
    main()
