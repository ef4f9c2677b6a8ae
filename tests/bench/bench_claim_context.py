"""A claim alone against a claim with its lessons (store/lessons.py), in the same run.

One agent, one SQLite store in a temporary folder, ``--records`` learning records (failures, decisions
and others, varied words) and ``--loops`` claims of each sort, interleaved (alone, with context, alone,
...) so that both see the same database as it grows. Each claimed task is completed (not timed).
Reported, in microseconds: the median and p90 of ``claim_task`` alone; of ``claim_with_lessons``
whole; and of the claim inside it (the part the lookup must not slow: it runs after the claim
committed). Keyword lessons (the CLI's default) and, with ``--embedder hash``, hybrid ones. A benchmark,
not a test: it prints figures and passes/fails nothing.

    python tests/bench/bench_claim_context.py                      # 200 claims of each sort
    python tests/bench/bench_claim_context.py --embedder hash --records 2000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from swarmdeck.store import lessons, open_store

WORDS = ("claim loop queue database sqlite lock retry backoff websocket server thread asyncio cache "
         "index search vector embedding migration schema gate review report milestone agent heartbeat "
         "timeout deadline priority parser token auth login session memory pattern test coverage").split()


class Timed:
    """The store, its ``claim_task`` timed: the claim inside ``claim_with_lessons``."""

    def __init__(self, store) -> None:
        self.store, self.last = store, 0.0

    def __getattr__(self, name):
        return getattr(self.store, name)

    async def claim_task(self, **kwargs):
        t0 = time.perf_counter()
        try:
            return await self.store.claim_task(**kwargs)
        finally:
            self.last = time.perf_counter() - t0


def sentence(rng: random.Random, n: int = 8) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def stats(xs: list[float]) -> str:
    xs = sorted(x * 1e6 for x in xs)
    return f"median {statistics.median(xs):7.0f} us   p90 {xs[int(len(xs) * 0.9)]:7.0f} us"


async def main(loops: int, records: int, embedder_spec: str | None) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(Path(tmp) / "swarm.db", create=True)
        embedder = None
        try:
            await store.register_agent("w1", agent_type="impl")
            for i in range(records):
                kind = ("failure", "decision", "pattern", "spike")[i % 4]
                fields = {
                    "failure": lambda: {"feature": sentence(rng, 3), "approach": sentence(rng),
                                        "why_failed": sentence(rng), "lesson": sentence(rng)},
                    "decision": lambda: {"decision": sentence(rng, 5), "rationale": sentence(rng)},
                    "pattern": lambda: {"name": sentence(rng, 2), "description": sentence(rng)},
                    "spike": lambda: {"feature": sentence(rng, 3), "question": sentence(rng),
                                      "approach": sentence(rng), "result": sentence(rng)},
                }[kind]()
                await store.log_record(kind, fields, namespace=f"project:{i % 3}", agent="w1")
            if embedder_spec:
                from swarmdeck.store.embed import embedder_from_config
                from swarmdeck.store.indexer import Indexer

                embedder = embedder_from_config(embedder_spec)
                await Indexer(store, embedder, batch=256).drain()
            for _ in range(2 * loops + 10):
                await store.enqueue_task(description=sentence(rng, 10), agent_type="impl", actor="bench")
            timed = Timed(store)

            async def one(with_context: bool) -> tuple[float, float]:
                t0 = time.perf_counter()
                if with_context:
                    claim = await lessons.claim_with_lessons(timed, agent="w1", embedder=embedder)
                    task, inner = claim.task, timed.last
                else:
                    task = await store.claim_task(agent="w1")
                    inner = time.perf_counter() - t0
                total = time.perf_counter() - t0
                await store.complete_task(task.id, agent="w1", actor="w1")
                return total, inner

            for _ in range(10):  # warm-up: statements prepared, caches filled
                await one(True)
            alone, whole, inside = [], [], []
            for _ in range(loops):
                alone.append((await one(False))[0])
                total, inner = await one(True)
                whole.append(total)
                inside.append(inner)
            mode = "hybrid, " + embedder.model if embedder is not None else "keyword"
            print(f"{loops} claims of each sort, {records} learning records, lessons by {mode}, "
                  f"{lessons.DEFAULT_LIMIT} per claim")
            print(f"claim alone                  {stats(alone)}")
            print(f"claim + lessons, whole       {stats(whole)}")
            print(f"claim inside claim + lessons {stats(inside)}")
        finally:
            if embedder is not None:
                await embedder.aclose()
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=200)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--embedder", help="e.g. hash: lessons ranked hybrid (the records are embedded first)")
    args = parser.parse_args()
    asyncio.run(main(args.loops, args.records, args.embedder))
