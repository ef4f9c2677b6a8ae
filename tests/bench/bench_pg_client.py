"""What one PostgreSQL agent costs its own machine: the client's CPU time per message (heartbeat ->
claim -> complete, as the store benchmark's agents loop) through the store, beside raw asyncpg running
the store's statements and seal (store_pg.py's ``RawPg``, the ceiling), in one process each, the two
alternating for ``--rounds``. Reported: medians of CPU µs and wall µs per message, and the store's
CPU ÷ raw's. One agent alone, so the figure is the client's own cost and not the share of two cores
that 100 processes fight for: the number that says whether a change to the write path made it leaner.
It prints figures; it is not a test.

    python tests/bench/bench_pg_client.py                  # a throwaway server (tests/pg_support.py)
    python tests/bench/bench_pg_client.py --loops 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: pg_support
sys.path.insert(0, str(Path(__file__).resolve().parent))  # store_pg

import pg_support  # noqa: E402
import store_pg  # noqa: E402

WARMUP_LOOPS = 100


async def _timed(loop, loops: int) -> tuple[float, float]:
    """CPU and wall seconds of ``loop(loops)``, after ``WARMUP_LOOPS`` not counted."""
    await loop(WARMUP_LOOPS)
    cpu, wall = time.process_time(), time.monotonic()
    await loop(loops)
    return time.process_time() - cpu, time.monotonic() - wall


async def through_store(url: str, loops: int) -> tuple[float, float]:
    """CPU and wall seconds of ``loops`` heartbeat -> claim -> complete through the store."""
    from swarmdeck.store import open_store

    store = await open_store(url)
    try:
        await store.register_agent("a1", agent_type="general")

        async def loop(n: int) -> None:
            for _ in range(n):
                await store.heartbeat("a1")
                task = await store.claim_task(agent="a1")
                await store.complete_task(task.id, agent="a1")

        return await _timed(loop, loops)
    finally:
        await store.close()


async def through_asyncpg(url: str, loops: int) -> tuple[float, float]:
    """The same loops as raw asyncpg running the store's statements and seal."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for kind in ("json", "jsonb"):
            await conn.set_type_codec(kind, encoder=str, decoder=str, schema="pg_catalog")
        await conn.execute("INSERT INTO agents (name, agent_type, registered_at, last_heartbeat) "
                           "VALUES ('a1', 'general', $1, $1)", time.time())
        raw = store_pg.RawPg(conn, "a1")

        async def loop(n: int) -> None:
            for _ in range(n):
                await raw.heartbeat()
                await raw.complete(await raw.claim())

        return await _timed(loop, loops)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loops", type=int, default=1000, help="measured loops (3 messages each) per run")
    parser.add_argument("--rounds", type=int, default=4, help="runs of each, alternating (default 4)")
    parser.add_argument("--pg-url", default=None,
                        help="an existing server (a role that may CREATE DATABASE) instead of a throwaway one")
    args = parser.parse_args(argv)
    server = pg_support.PgServer(args.pg_url, 0.0) if args.pg_url else pg_support.start_server(store_pg.PG_SETTINGS)
    try:
        store_pg.make_template(server.url, args.loops + WARMUP_LOOPS + 100)  # each run on a copy
        figures: dict[str, list[tuple[float, float]]] = {"store": [], "asyncpg": []}
        for r in range(args.rounds):
            for name, run in (("store", through_store), ("asyncpg", through_asyncpg)):
                db = f"client_{name}_{r}"
                url = store_pg.fresh_db(server.url, db)
                try:
                    cpu, wall = asyncio.run(run(url, args.loops))
                finally:
                    store_pg.drop(server.url, db)
                per = 1e6 / (3 * args.loops)
                figures[name].append((cpu * per, wall * per))
                print(f"round {r + 1}: {name}: CPU {cpu * per:,.0f} µs, wall {wall * per:,.0f} µs a message",
                      flush=True)
    finally:
        if args.pg_url:
            store_pg.drop(server.url, store_pg.TEMPLATE)
        server.stop()
    print(f"\n| one agent, medians of {args.rounds} | client CPU µs / message | wall µs / message |")
    print("|---|---:|---:|")
    medians = {}
    for name, values in figures.items():
        medians[name] = statistics.median(v[0] for v in values)
        print(f"| {name} | {medians[name]:,.0f} | {statistics.median(v[1] for v in values):,.0f} |")
    print(f"\nstore ÷ raw asyncpg, client CPU: {medians['store'] / medians['asyncpg']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
