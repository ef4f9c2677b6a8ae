"""PostgreSQL reads: the store's reader (psycopg's ``AsyncConnection`` on the event loop) against a
synchronous psycopg connection on a thread of its own that the loop hands each read to (the writer's
shape). One indexed row (``SELECT * FROM agents WHERE name = %s``), ``--reads`` times one after
another and then from 8 coroutines at once, the two variants alternating for ``--rounds``. Reported:
reads/s and the latency p50/p99 of the serial run. It prints figures; it is not a test.

    python tests/bench/bench_pg_reads.py                  # a throwaway server (tests/pg_support.py)
    python tests/bench/bench_pg_reads.py --url postgresql://me@host/db
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pg_support import FAST_SETTINGS, create_database, drop_database, start_server  # noqa: E402

from swarmdeck.store import open_store  # noqa: E402
from swarmdeck.store.postgres.connection import OwnedThread, connect  # noqa: E402

SQL = "SELECT * FROM agents WHERE name = %s"
AGENTS = 50


async def run(url: str, reads: int, rounds: int) -> None:
    store = await open_store(url, create=True)
    thread = OwnedThread("bench-reader")
    await thread.open(lambda: connect(url))
    try:
        for i in range(AGENTS):
            await store.register_agent(f"a{i}", agent_type="coder")

        def sync_one(name: str):
            return thread.raw.execute(SQL, (name,)).fetchone()

        async def on_loop(name: str):
            return await store._one(SQL, (name,))

        async def on_thread(name: str):
            return await thread.call(sync_one, name)

        for _ in range(rounds):
            for label, read in (("async connection", on_loop), ("thread", on_thread)):
                latencies = []
                began = time.perf_counter()
                for i in range(reads):
                    start = time.perf_counter()
                    await read(f"a{i % AGENTS}")
                    latencies.append(time.perf_counter() - start)
                serial = reads / (time.perf_counter() - began)
                latencies.sort()

                async def worker() -> None:
                    for i in range(reads // 8):
                        await read(f"a{i % AGENTS}")

                began = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(8)))
                concurrent = reads / (time.perf_counter() - began)
                print(f"{label:17s} serial {serial:6.0f}/s p50 {latencies[reads // 2] * 1e6:4.0f} us "
                      f"p99 {latencies[int(reads * 0.99)] * 1e6:4.0f} us · 8 at once {concurrent:6.0f}/s")
    finally:
        await thread.close()
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url")
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.url:
        asyncio.run(run(args.url, args.reads, args.rounds))
        return
    server = start_server(FAST_SETTINGS)
    try:
        url = create_database(server.url, "bench_reads")
        asyncio.run(run(url, args.reads, args.rounds))
        drop_database(server.url, "bench_reads")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
