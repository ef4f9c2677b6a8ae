"""PostgreSQL memory search against SQLite's, in two parts. It prints figures; it is not a test.

(a) Keyword ranking. The seeds' corpus and questions (tests/relevance_cases.py: 47 entries, 18 questions)
are written to a SQLite store and a PostgreSQL store, and every question is asked of both as a keyword
search (limit 10): FTS5's bm25 on one side, the tsvector ranking (store/postgres/search_index.py) on the
other. Printed: how many questions have the same first hit, the mean overlap of the first 5 and of the
first 10, how many have the same first 5 in the same order, and for each backend how many of the
relevant entries the first 5 hold. Then the questions whose first three hits differ, side by side.
(a2) The same at scale: ``--items`` items of bench_memory.py's corpus on both backends (bulk-loaded), its
40 questions as keyword searches, unfiltered and under a namespace holding a fifth of the items: the
median time of each backend and how often they agree.

(b) Vector search. ``--items`` search items (20,000 by default) with 384-dimensional vectors around 200
random centres (as embeddings cluster by topic; ``--spread`` how loosely), loaded with COPY, the model's
pgvector table indexed with HNSW as the store makes it (``schema.vector_table_sql``). ``--queries``
query vectors near random centres; for each, the store's own HNSW search and its exact search (numpy
over ``embeddings``, the fallback without pgvector) with k=10, no filter and with a namespace filter
holding a tenth of the items. Printed per ``hnsw.ef_search``: recall@10 of HNSW against exact, and the
median and p90 time of each.

    python tests/bench/bench_pg_search.py                    # a throwaway server (tests/pg_support.py)
    python tests/bench/bench_pg_search.py --vectors-only --items 100000 --queries 20   # the issue's size
    python tests/bench/bench_pg_search.py --keyword-only --items 100000
    python tests/bench/bench_pg_search.py --url postgresql://me@host/db   # a database that may be emptied
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pg_support import FAST_SETTINGS, create_database, drop_database, start_server  # noqa: E402
from relevance_cases import CASES, seed  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_memory  # noqa: E402

from swarmdeck.store import open_store  # noqa: E402
from swarmdeck.store.postgres import schema, search_index as pg_search  # noqa: E402
from swarmdeck.store.postgres.connection import connect  # noqa: E402
from swarmdeck.store.vectors import VectorFilters, table_for  # noqa: E402

MODEL = "bench:384"
DIM = 384
CENTRES = 200


# -- (a) keyword ranking ----------------------------------------------------------------------------------


async def keyword_agreement(url: str) -> None:
    folder = tempfile.mkdtemp(prefix="bench-pg-search-")
    lite = await open_store(f"{folder}/seed.db", create=True)
    pg = await open_store(url, create=True)
    try:
        await seed(lite)
        await seed(pg)
        same_top1 = same_top5 = 0
        overlap5: list[float] = []
        overlap10: list[float] = []
        relevant5 = {"sqlite": 0, "postgres": 0}
        relevant_total = 0
        differing = []
        for case in CASES:
            a = [h.title for h in await lite.search(case.query, mode="keyword", limit=10)]
            b = [h.title for h in await pg.search(case.query, mode="keyword", limit=10)]
            if not a and not b:
                same_top1 += 1
                same_top5 += 1
                overlap5.append(1.0)
                overlap10.append(1.0)
                continue
            same_top1 += bool(a and b and a[0] == b[0])
            same_top5 += a[:5] == b[:5]
            overlap5.append(len(set(a[:5]) & set(b[:5])) / max(1, min(5, max(len(a), len(b)))))
            overlap10.append(len(set(a) & set(b)) / max(1, min(10, max(len(a), len(b)))))
            relevant_total += min(5, len(case.relevant))
            relevant5["sqlite"] += len(set(a[:5]) & case.relevant)
            relevant5["postgres"] += len(set(b[:5]) & case.relevant)
            if a[:3] != b[:3]:
                differing.append((case.query, a[:3], b[:3]))
        n = len(CASES)
        print(f"(a) keyword ranking, {n} questions, limit 10: "
              "FTS5 bm25 (SQLite) against tsvector (PostgreSQL)")
        print(f"    same first hit            {same_top1}/{n}")
        print(f"    same first 5, same order  {same_top5}/{n}")
        print(f"    overlap@5  mean {statistics.mean(overlap5):.2f} · "
              f"overlap@10 mean {statistics.mean(overlap10):.2f}")
        print(f"    relevant entries in the first 5: SQLite {relevant5['sqlite']}/{relevant_total}, "
              f"PostgreSQL {relevant5['postgres']}/{relevant_total}")
        for query, a, b in differing:
            print(f"    differs: {query!r}\n      sqlite   {a}\n      postgres {b}")
    finally:
        await lite.close()
        await pg.close()


async def keyword_at_scale(url: str, items: int) -> None:
    """bench_memory.py's corpus (what swarms write: features, approaches, why they failed...) of ``items``
    search items on both backends, its 40 questions as keyword searches (limit 10), unfiltered and under a
    namespace (a fifth of the items): the median time on each, and the agreement at that size."""
    corpus = bench_memory.corpus(items)
    folder = tempfile.mkdtemp(prefix="bench-pg-search-kw-")
    lite = await open_store(f"{folder}/scale.db", create=True)
    pg = await open_store(url, create=True)
    try:
        bench_memory.bulk_items(Path(f"{folder}/scale.db"), corpus)
        conn = connect(url)
        try:
            with conn.transaction(), conn.cursor().copy(
                    "COPY search_items (id, kind, ref_id, namespace, title, body, memory_type, agent, "
                    "created_at) FROM STDIN") as copy:
                for n, it in enumerate(corpus):
                    copy.write_row((n + 1, it["kind"], 10_000_000 + n, it["namespace"], it["title"],
                                    it["body"], it["memory_type"], it["agent"], it["created_at"]))
            conn.execute("VACUUM ANALYZE search_items")
        finally:
            conn.close()
        print(f"\n(a2) keyword search over {items:,} items of bench_memory.py's corpus, its "
              f"{len(bench_memory.QUESTIONS)} questions, limit 10, medians (p90) in ms")
        for label, filters in (("unfiltered", {}), ("namespace", {"namespace_prefix": "project:kestrel"})):
            times: dict[str, list[float]] = {"sqlite": [], "postgres": []}
            answers: dict[str, list[list[int]]] = {"sqlite": [], "postgres": []}
            for _ in range(2):  # the first round warms both caches; the second is timed
                for name in times:
                    times[name].clear()
                    answers[name].clear()
                for question in bench_memory.QUESTIONS:
                    for name, store in (("sqlite", lite), ("postgres", pg)):
                        t = time.perf_counter()
                        hits = await store.search(question, mode="keyword", limit=10, **filters)
                        times[name].append((time.perf_counter() - t) * 1000)
                        answers[name].append([h.item_id for h in hits])
            top1 = sum(a[:1] == b[:1] for a, b in zip(answers["sqlite"], answers["postgres"]))
            overlap = statistics.mean(len(set(a) & set(b)) / max(1, min(10, len(a)))
                                      for a, b in zip(answers["sqlite"], answers["postgres"]))
            lite_ms, pg_ms = times["sqlite"], times["postgres"]
            print(f"    {label:10s}  SQLite {statistics.median(lite_ms):6.1f} ({np.percentile(lite_ms, 90):6.1f}) · "
                  f"PostgreSQL {statistics.median(pg_ms):6.1f} ({np.percentile(pg_ms, 90):6.1f}) · "
                  f"same first hit {top1}/{len(answers['sqlite'])}, overlap@10 {overlap:.2f}")
    finally:
        await lite.close()
        await pg.close()


# -- (b) vector search --------------------------------------------------------------------------------------


def clustered(n: int, rng: np.random.Generator, centres: np.ndarray,
              spread: float) -> tuple[np.ndarray, np.ndarray]:
    which = rng.integers(len(centres), size=n)
    vectors = centres[which] + rng.normal(scale=spread, size=(n, DIM)).astype(np.float32)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype("<f4"), which


def load(url: str, vectors: np.ndarray) -> float:
    """search_items, embeddings and the model's pgvector table, by COPY; the HNSW index built after. Its
    build time."""
    table = table_for(MODEL)
    conn = connect(url)
    try:
        with conn.transaction():
            with conn.cursor().copy("COPY search_items (id, kind, ref_id, namespace, title, body, "
                                    "memory_type, agent, created_at, embedded_model) FROM STDIN") as copy:
                for i in range(len(vectors)):
                    copy.write_row((i + 1, "memory", i + 1, f"bench:{i % 10}", f"item {i}",
                                    f"body of item {i}", "semantic", "bench", float(i), MODEL))
            conn.execute("SELECT setval(pg_get_serial_sequence('search_items', 'id'), %s)", (len(vectors),))
            with conn.cursor().copy("COPY embeddings (item_id, model, dim, vector, embedded_at) "
                                    "FROM STDIN") as copy:
                for i, vec in enumerate(vectors):
                    copy.write_row((i + 1, MODEL, DIM, vec.tobytes(), 0.0))
            conn.execute("INSERT INTO vector_indexes (model, dim, table_name, created_at) "
                         "VALUES (%s, %s, %s, 0)", (MODEL, DIM, table))
            create_table, create_index = schema.vector_table_sql(table, DIM).strip().split("\n")
            conn.execute(create_table)
            with conn.cursor().copy(f"COPY {table} (item_id, embedding) FROM STDIN") as copy:
                for i, vec in enumerate(vectors):
                    copy.write_row((i + 1, pg_search.vector_text(vec)))
        conn.execute("SET maintenance_work_mem = '512MB'")
        began = time.perf_counter()
        conn.execute(create_index)
        built = time.perf_counter() - began
        conn.execute("VACUUM ANALYZE search_items")
        conn.execute(f"VACUUM ANALYZE {table}")
        conn.execute("VACUUM ANALYZE embeddings")
        return built
    finally:
        conn.close()


async def vector_search(url: str, items: int, queries: int, ef_values: list[int], spread: float) -> None:
    rng = np.random.default_rng(2026)
    centres = rng.normal(size=(CENTRES, DIM)).astype(np.float32)
    vectors, _ = clustered(items, rng, centres, spread)
    store = await open_store(url, create=True)
    try:
        began = time.perf_counter()
        built = await asyncio.to_thread(load, url, vectors)
        print(f"\n(b) vector search, {items:,} x {DIM} in {CENTRES} clusters (spread {spread}), k=10, "
              f"{queries} queries (loaded in {time.perf_counter() - began:.1f} s, "
              f"HNSW built in {built:.1f} s)")
        ranking = store.search_index.ranking
        table = table_for(MODEL)
        asked, _ = clustered(queries, rng, centres, spread)
        for filters, label in ((VectorFilters(), "no filter"),
                               (VectorFilters(namespace_prefix="bench:3"), "namespace (1/10 of the items)")):
            exact_ms, truth = [], []
            for vec in asked:
                t = time.perf_counter()
                truth.append([i for i, _ in await ranking.exact(MODEL, vec, 10, filters)])
                exact_ms.append((time.perf_counter() - t) * 1000)
            print(f"    {label}: exact (numpy over embeddings) median {statistics.median(exact_ms):7.1f} ms, "
                  f"p90 {np.percentile(exact_ms, 90):7.1f} ms")
            for ef in ef_values:
                pg_search.EF_SEARCH = ef
                ranking._tuned = None  # the setting is made again on the next search
                await ranking._tune()
                hnsw_ms, recall = [], []
                for vec, want in zip(asked, truth):
                    t = time.perf_counter()
                    got = [i for i, _ in await ranking.knn(MODEL, table, vec, 10, filters)]
                    hnsw_ms.append((time.perf_counter() - t) * 1000)
                    recall.append(len(set(got) & set(want)) / 10)
                ratio = statistics.median(exact_ms) / statistics.median(hnsw_ms)
                print(f"      HNSW ef_search {ef:3d}: recall@10 {statistics.mean(recall):.3f} "
                      f"(min {min(recall):.1f}) · median {statistics.median(hnsw_ms):6.2f} ms, "
                      f"p90 {np.percentile(hnsw_ms, 90):6.2f} ms · {ratio:5.1f}x faster than exact")
    finally:
        await store.close()


async def run(make_db, args: argparse.Namespace) -> None:
    if not args.vectors_only:
        await keyword_agreement(make_db("bench_pg_search_kw"))
        await keyword_at_scale(make_db("bench_pg_search_kw_scale"), args.items)
    if not args.keyword_only:
        await vector_search(make_db("bench_pg_search_vec"), args.items, args.queries, args.ef, args.spread)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a server to use (a role that may CREATE DATABASE), "
                                      "instead of a throwaway one")
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--ef", type=int, nargs="+", default=[40, 100, 200])
    parser.add_argument("--spread", type=float, default=0.35,
                        help="how far items lie from their cluster's centre (per dimension; "
                             "the centres are N(0, 1))")
    parser.add_argument("--vectors-only", action="store_true", help="skip the keyword parts")
    parser.add_argument("--keyword-only", action="store_true", help="skip the vector part")
    args = parser.parse_args()
    server = None if args.url else start_server(FAST_SETTINGS)
    base = args.url or server.url
    made: list[str] = []

    def make_db(name: str) -> str:
        made.append(name)
        return create_database(base, name)

    try:
        asyncio.run(run(make_db, args))
    finally:
        for name in made:
            drop_database(base, name)
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
