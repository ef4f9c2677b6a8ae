"""Audit benchmark: what the hash chain costs a write, and how fast a chain is verified.

Writes: one process, one store, N heartbeats (then N claim + complete pairs), each timed from the
call to its return; the median and p99 in microseconds. Verify: a database of M chained events built
with raw SQL, then ``store.verify_events()`` over all of it (events/s). A benchmark, not a test: it
prints figures and passes/fails nothing.

    python tests/bench/bench_audit.py                         # 2,000 writes, 1,000,000 events
    python tests/bench/bench_audit.py --writes 500 --events 0  # writes only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from swarmdeck.store import open_store


def summary(label: str, micros: list[float]) -> str:
    micros = sorted(micros)
    p99 = micros[min(len(micros) - 1, int(len(micros) * 0.99))]
    return f"{label:<22} n={len(micros):>6}  median {statistics.median(micros):7.1f} µs  p99 {p99:8.1f} µs"


async def writes(path: Path, n: int) -> None:
    await _init(path)  # an agent opens a database that exists (the process that migrates is another)
    store = await open_store(path)
    try:
        await store.register_agent("bench-1", agent_type="general")
        beats = []
        for _ in range(n):
            started = time.perf_counter()
            await store.heartbeat("bench-1", status="idle")
            beats.append((time.perf_counter() - started) * 1e6)
        print(summary("heartbeat", beats))
        for i in range(n):
            await store.enqueue_task(description=f"task {i}")
        claims, completes = [], []
        for _ in range(n):
            started = time.perf_counter()
            task = await store.claim_task(agent="bench-1")
            claims.append((time.perf_counter() - started) * 1e6)
            started = time.perf_counter()
            await store.complete_task(task.id, agent="bench-1")
            completes.append((time.perf_counter() - started) * 1e6)
        print(summary("claim", claims))
        print(summary("complete", completes))
    finally:
        await store.close()


def build(path: Path, n: int) -> None:
    """A store database holding ``n`` chained heartbeat-like events, written with raw SQL."""
    import sqlean
    from swarmdeck.store.audit import GENESIS, event_hash

    asyncio.run(_init(path))
    conn = sqlean.connect(str(path), isolation_level=None)
    conn.execute("BEGIN")
    last = conn.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
    prev_id, prev = (last[0], last[1]) if last else (0, GENESIS)
    ts = time.time() - n
    batch = []
    for i in range(prev_id + 1, prev_id + n + 1):
        row = (
            i,
            ts + i * 0.001,
            f"agent-{i % 100}",
            "agent.heartbeat",
            "agent",
            f"agent-{i % 100}",
            json.dumps({"status": "working", "completion": i % 100}, separators=(",", ":")),
        )
        prev = event_hash(prev, *row)
        batch.append((*row, prev))
        if len(batch) == 50_000:
            conn.executemany(
                "INSERT INTO events (id, ts, actor, kind, entity, entity_id, payload, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                batch,
            )
            batch.clear()
    conn.executemany(
        "INSERT INTO events (id, ts, actor, kind, entity, entity_id, payload, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        batch,
    )
    conn.execute("COMMIT")
    conn.close()


async def _init(path: Path) -> None:
    store = await open_store(path, create=True)
    await store.close()


async def verify(path: Path) -> None:
    store = await open_store(path)
    try:
        started = time.perf_counter()
        result = await store.verify_events()
        seconds = time.perf_counter() - started
        print(
            f"verify_events          {result.checked:,} events in {seconds:.2f} s: "
            f"{result.checked / seconds:,.0f} events/s ({'intact' if result.ok else result.message})"
        )
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        if args.writes:
            asyncio.run(writes(Path(tmp) / "writes.db", args.writes))
        if args.events:
            path = Path(tmp) / "events.db"
            started = time.perf_counter()
            build(path, args.events)
            print(f"built {args.events:,} events in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            asyncio.run(verify(path))


if __name__ == "__main__":
    main()
