"""The vector index behind semantic search: sqlite-vec and sqlite-vss through the same interface, and the
in-memory numpy fast path. Each is checked against exact brute force computed here from the vectors
and the items, for every filter: the filters are applied before the limit, and the ranking is exact.

sqlite-vss needs libblas3 and liblapack3 from the OS. CI installs them, and there these tests always
run: where the backend cannot load they fail, with the store's message naming the missing packages.
Elsewhere (a developer machine without the two OS packages) the sqlite-vss cases are skipped, saying so.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import sys
import time
import traceback

import numpy as np
import pytest
import sqlean

from swarmdeck.store import open_store
from swarmdeck.store.embed import HashEmbedder
from swarmdeck.store.errors import InvalidArgument, StoreError
from swarmdeck.store.indexer import Indexer
from swarmdeck.store.search import namespace_matches
from swarmdeck.store.sqlite import matrix as matrix_module, vectors
from swarmdeck.store.sqlite.vectors import VectorFilters

from support import EPOCH, FakeClock


def _vss_loads() -> bool:
    try:
        import sqlite_vss

        conn = sqlean.connect(":memory:")
        conn.enable_load_extension(True)
        sqlite_vss.load(conn)
        conn.close()
        return True
    except Exception:
        return False


#: Only outside CI, and only when the OS packages are really missing; CI must run them.
needs_vss = pytest.mark.skipif(
    not os.environ.get("CI") and not _vss_loads(),
    reason="the sqlite-vss backend needs the OS packages libblas3 and liblapack3 "
           "(apt-get install libblas3 liblapack3); CI installs them and runs these tests",
)
BACKENDS = ("sqlite-vec", pytest.param("sqlite-vss", marks=needs_vss))
EMB = HashEmbedder(32)
NAMESPACES = ("project:a", "project:a/agent:x", "project:a/agent:y", "project:ab", "project:b/agent:x", "team:c")
AGENTS = ("ana", "bo", "cy")
WORDS = ("kestrel osprey falcon heron raven finch wren robin lark swift crane egret ibis stork tern gull "
         "redis sqlite vector index cache queue lock claim retry backoff socket stream").split()
QUERIES = ("kestrel redis cache", "heron queue lock", "swift socket stream retry", "tern gull backoff")
#: (name, filters) — each selects a different slice; "far" ones exclude the unfiltered nearest.
FILTER_CASES = [
    ("none", {}),
    ("namespace, whole segments", {"namespace_prefix": "project:a"}),
    ("namespace, open prefix", {"namespace_prefix": "project:a/"}),
    ("namespace, one leaf", {"namespace_prefix": "project:b/agent:x"}),
    ("kinds", {"kinds": ("failure", "decision")}),
    ("memory type", {"memory_type": "procedural"}),
    ("agent", {"agent": "cy"}),
    ("time range", {"since": EPOCH + 3_000, "until": EPOCH + 9_000}),
    ("everything at once", {"namespace_prefix": "project:a", "kinds": ("memory",), "memory_type": "semantic",
                            "agent": "ana", "since": EPOCH}),
    ("matches nothing", {"agent": "nobody"}),
]
TOL = 1e-5


# -- the corpus and the reference -----------------------------------------------------------------------


async def build_corpus(store, clock, n: int = 180, start: int = 0) -> None:
    """Memories (three types), failures and decisions across namespaces, agents and an hour and a half."""
    for i in range(start, start + n):
        ns, agent = NAMESPACES[i % len(NAMESPACES)], AGENTS[(i // 2) % len(AGENTS)]
        text = " ".join(WORDS[(i * p) % len(WORDS)] for p in (1, 3, 7, 11)) + f" note {i}"
        if i % 7 == 3:
            await store.log_record("failure", {"feature": text, "approach": "polling", "why_failed": "slow",
                                               "lesson": WORDS[i % len(WORDS)]}, namespace=ns, agent=agent)
        elif i % 7 == 5:
            await store.log_record("decision", {"decision": text, "rationale": "measured"}, namespace=ns,
                                   agent=agent)
        else:
            await store.add_memory(ns, f"k{i}", text, memory_type=("semantic", "episodic", "procedural")[i % 3],
                                   created_by=agent)
        clock.advance(60)
    await Indexer(store, EMB, batch=64).drain()


async def run_sql(store, sql: str, *params) -> None:
    """One statement as a write transaction of its own, as another writer would."""
    def in_tx(tx):
        tx.run(sql, params)

    await store._write("other-writer", in_tx)


async def brute_force(store, query: np.ndarray, k: int, f: dict) -> list[tuple[int, float]]:
    """The exact answer, from the items and their stored vectors, filtered here in Python."""
    rows = await store._all(
        "SELECT si.id, si.kind, si.namespace, si.memory_type, si.agent, si.created_at, e.vector "
        "FROM search_items si JOIN embeddings e ON e.item_id = si.id AND e.model = ?", (EMB.model,))
    keep = [r for r in rows
            if (not f.get("namespace_prefix") or namespace_matches(f["namespace_prefix"], r[2]))
            and (not f.get("kinds") or r[1] in f["kinds"])
            and (not f.get("memory_type") or r[3] == f["memory_type"])
            and (not f.get("agent") or r[4] == f["agent"])
            and (f.get("since") is None or r[5] >= f["since"])
            and (f.get("until") is None or r[5] < f["until"])]
    q = query / np.linalg.norm(query)
    scored = []
    for r in keep:
        v = np.frombuffer(r[6], dtype="<f4").astype(np.float64)
        scored.append((r[0], 1.0 - float(v @ q) / float(np.linalg.norm(v))))
    return sorted(scored, key=lambda s: (s[1], s[0]))[:k]


def assert_exact(got: list[tuple[int, float]], want: list[tuple[int, float]], what: object) -> None:
    """Same length, the same distance at every rank, and the same items (up to ties at the last rank)."""
    assert len(got) == len(want), (what, got, want)
    for rank, ((gi, gd), (wi, wd)) in enumerate(zip(got, want)):
        assert abs(gd - wd) < TOL, (what, rank, got, want)
    if want:
        edge = want[-1][1] - TOL
        assert {i for i, d in got if d < edge} == {i for i, d in want if d < edge}, (what, got, want)


async def knn(store, query: str, k: int, f: dict, *, via=None) -> list[tuple[int, float]]:
    table = (await store._all("SELECT table_name FROM vector_indexes WHERE model = ?", (EMB.model,)))[0][0]
    backend = via or store._vectors
    return await backend.knn(store._read_conn, EMB.model, table, await EMB.embed_query(query), k,
                             VectorFilters(**f))


@pytest.fixture(params=BACKENDS)
async def backend_store(request, db_path, clock):
    """A store on each backend, with the fast path off so that the backend itself answers."""
    s = await open_store(db_path, create=True, clock=clock, vector_backend=request.param, vector_cache_mb=0)
    assert s._vectors.backend.name == request.param and s._vectors.cache is None
    try:
        yield s
    finally:
        await s.close()


# -- both backends: filters before the limit, exact ranking ------------------------------------------------


@pytest.mark.parametrize("k", [1, 7, 40])
async def test_every_filter_gives_the_exact_top_k(backend_store, clock, k):
    await build_corpus(backend_store, clock)
    vss = backend_store._vectors.backend.name == "sqlite-vss"
    # sqlite-vss: the first indexing batch built the vss0 table, the later ones wait in the overlay; then synced
    for state in ("overlay", "synced") if vss else ("",):
        if state == "synced":
            assert backend_store._vectors.backend.sync(EMB.model) == 180 - 64
        for query in QUERIES:
            q = await EMB.embed_query(query)
            for name, f in FILTER_CASES:
                want = await brute_force(backend_store, q, k, f)
                assert_exact(await knn(backend_store, query, k, f), want, (state, query, name))
                if name not in ("none", "matches nothing"):
                    assert len(want) == min(k, len(await brute_force(backend_store, q, 10_000, f))), name


async def test_a_filter_whose_items_are_all_far_still_fills_the_limit(backend_store, clock):
    """The 60 nearest items all lie outside the filter: a filter applied after the limit would return nothing."""
    await build_corpus(backend_store, clock, n=120)
    for i in range(12):
        await backend_store.add_memory("far:zone", f"far-{i}", f"far note {i}", memory_type="episodic",
                                       created_by="dee")
    q = await EMB.embed_query(QUERIES[0])
    rnd = np.random.default_rng(4)  # vectors pointing away from the query
    await backend_store.store_embeddings(EMB.model, EMB.dim, [
        (item, -q + rnd.normal(0, 0.3, EMB.dim), text)
        for item, text in await backend_store.pending_embeddings(EMB.model)])
    nearest = await brute_force(backend_store, q, 60, {})
    far = await brute_force(backend_store, q, 5, {"namespace_prefix": "far:zone"})
    assert len(far) == 5 and not {i for i, _ in far} & {i for i, _ in nearest}  # the premise
    for f in ({"namespace_prefix": "far:zone"}, {"agent": "dee"}, {"memory_type": "episodic", "agent": "dee"}):
        assert_exact(await knn(backend_store, QUERIES[0], 5, f), far, f)
    hits = await backend_store.search(QUERIES[0], mode="semantic", embedder=EMB, limit=5, namespace_prefix="far:zone")
    assert [h.item_id for h in hits] == [i for i, _ in far]


async def test_changes_are_searchable_at_once_and_gone_items_never_come_back(backend_store, clock):
    await build_corpus(backend_store, clock, n=60)
    await backend_store.add_memory("project:a", "fresh", "zebra zebra quagga", memory_type="semantic",
                                   created_by="ana")
    await backend_store.update_memory("project:a", "k0", "zebra quagga okapi", updated_by="bo")
    await backend_store.delete_memory("project:a", "k6", deleted_by="bo")
    await Indexer(backend_store, EMB).drain()
    gone = (await backend_store.get_memory("project:a", "k6", include_deleted=True)).id
    for name, f in FILTER_CASES:
        q = await EMB.embed_query("zebra quagga okapi")
        got = await knn(backend_store, "zebra quagga okapi", 10, f)
        assert_exact(got, await brute_force(backend_store, q, 10, f), name)
    top = await backend_store.search("zebra quagga okapi", mode="semantic", embedder=EMB, limit=2)
    assert {h.title for h in top} == {"fresh", "k0"}
    assert gone not in {h.ref_id for h in await backend_store.search("note 6", mode="semantic", embedder=EMB,
                                                                      limit=60, kinds=["memory"])}


# -- sqlite-vss: loaded only when asked, its bugs worked around -----------------------------------------------


@needs_vss
async def test_sqlite_vss_loads_here(db_path, clock):
    """CI installs libblas3 and liblapack3: the backend must load (a failure here names what is missing)."""
    store = await open_store(db_path, create=True, clock=clock, vector_backend="sqlite-vss")
    try:
        conn = store._vectors.backend._connect()
        assert conn.execute("SELECT vss_version()").fetchone()[0].startswith("v")
        conn.close()
        # ... and only where it is used: the store's own connections never load it
        with pytest.raises(sqlean.OperationalError, match="no such function"):
            await store._all("SELECT vss_version()")
    finally:
        await store.close()


async def test_the_default_backend_never_loads_sqlite_vss(db_path, clock, monkeypatch):
    monkeypatch.delenv(vectors.ENV_BACKEND, raising=False)
    monkeypatch.setitem(sys.modules, "sqlite_vss", None)  # importing it would now fail
    store = await open_store(db_path, create=True, clock=clock)
    try:
        assert store._vectors.backend.name == "sqlite-vec"
        await store.add_memory("ns", "k", "kestrel", memory_type="semantic", created_by="t")
        await Indexer(store, EMB).drain()
        assert [h.title for h in await store.search("kestrel", mode="semantic", embedder=EMB)] == ["k"]
    finally:
        await store.close()


@needs_vss
async def test_the_backend_comes_from_the_environment_or_the_option(db_path, clock, monkeypatch):
    monkeypatch.setenv(vectors.ENV_BACKEND, "sqlite-vss")
    store = await open_store(db_path, create=True, clock=clock)
    assert store._vectors.backend.name == "sqlite-vss"
    await store.close()
    store = await open_store(db_path, clock=clock, vector_backend="sqlite-vec")
    assert store._vectors.backend.name == "sqlite-vec"
    await store.close()
    with pytest.raises(InvalidArgument, match="vector backend must be one of sqlite-vec, sqlite-vss"):
        await open_store(db_path, clock=clock, vector_backend="faiss")
    monkeypatch.setenv(vectors.ENV_CACHE_MB, "lots")
    with pytest.raises(InvalidArgument, match="SWARMDECK_VECTOR_CACHE_MB must be a whole number"):
        await open_store(db_path, clock=clock)


async def test_a_missing_os_library_is_a_clear_error(db_path, clock, monkeypatch):
    import sqlite_vss

    def fail(conn):
        raise sqlean.OperationalError("liblapack.so.3: cannot open shared object file: No such file or directory")

    monkeypatch.setattr(sqlite_vss, "load", fail)
    with pytest.raises(StoreError, match=r"needs the OS packages liblapack3 .*apt-get install libblas3 liblapack3"):
        await open_store(db_path, create=True, clock=clock, vector_backend="sqlite-vss")
    monkeypatch.setitem(sys.modules, "sqlite_vss", None)
    with pytest.raises(StoreError, match=r"needs the sqlite-vss package: pip install"):
        await open_store(db_path, create=True, clock=clock, vector_backend="sqlite-vss")


async def _vss_state(store) -> tuple[int, int]:
    table = vectors.vss_table_for(EMB.model)
    return tuple((await store._all(f"SELECT event_id, count FROM {table}_synced"))[0])


def vss_index_size(store) -> int:
    """Vectors in the vss0 table's Faiss index itself, as a fresh connection loads it (its rows in SQL
    can outnumber them: a lost write leaves its row behind)."""
    conn = store._vectors.backend._connect()
    try:
        table = vectors.vss_table_for(EMB.model)
        probe = vectors.as_blob(np.ones(EMB.dim) / np.sqrt(EMB.dim))
        return len(conn.execute(f"SELECT rowid FROM {table} WHERE vss_search(embedding, "
                                "vss_search_params(vector_from_raw(?), 100000))", (probe,)).fetchall())
    finally:
        conn.close()


@needs_vss
async def test_vss_reads_stay_exact_between_syncs_and_a_sync_applies_the_changes(vss_store, clock):
    store = vss_store
    vss = store._vectors.backend
    await build_corpus(store, clock, n=60)
    built = await _vss_state(store)
    assert built[1] == 60  # the first flush builds it (it was never built)
    vss.SYNC_BATCH = 1_000  # fewer changes than this wait for the next sync; reads overlay them
    await build_corpus(store, clock, n=12, start=500)
    await store.update_memory("project:a", "k0", "zebra quagga", updated_by="bo")
    await store.delete_memory("project:a/agent:x", "k1", deleted_by="bo")
    await Indexer(store, EMB).drain()
    assert await _vss_state(store) == built  # nothing applied yet
    for name, f in FILTER_CASES:
        for query in ("zebra quagga", QUERIES[1]):
            q = await EMB.embed_query(query)
            assert_exact(await knn(store, query, 9, f), await brute_force(store, q, 9, f), (name, query))
    # the growing-k path (candidates above RESCORE_MAX) too
    vss.RESCORE_MAX = 0
    for name, f in FILTER_CASES:
        q = await EMB.embed_query(QUERIES[2])
        assert_exact(await knn(store, QUERIES[2], 9, f), await brute_force(store, q, 9, f), ("grow-k", name))
    assert vss.sync(EMB.model) > 0
    mark, count = await _vss_state(store)
    assert mark > built[0] and count == vss_index_size(store) == 60 + 12 - 1  # k1 went; k0 came back
    for name, f in FILTER_CASES:
        q = await EMB.embed_query("zebra quagga")
        assert_exact(await knn(store, "zebra quagga", 9, f), await brute_force(store, q, 9, f), ("synced", name))


@needs_vss
async def test_vss_syncs_in_chunks_and_one_sync_at_a_time(vss_store, clock):
    store = vss_store
    vss = store._vectors.backend
    vss.INSERT_CHUNK = 7  # 40 vectors: six transactions of inserts
    await build_corpus(store, clock, n=40)
    assert vss_index_size(store) == 40
    vss.SYNC_BATCH = 1_000
    await build_corpus(store, clock, n=10, start=700)
    table = vectors.vss_table_for(EMB.model)
    await run_sql(store, f"UPDATE {table}_synced SET syncing = ?", time.time())  # another one is syncing it now
    assert vss.sync(EMB.model) == 0 and vss_index_size(store) == 40
    await run_sql(store, f"UPDATE {table}_synced SET syncing = ?", time.time() - vss.CLAIM_SECONDS - 1)  # ... or was, and died
    assert vss.sync(EMB.model) == 10 and vss_index_size(store) == 50
    assert (await store._all(f"SELECT syncing FROM {table}_synced"))[0][0] is None
    for name, f in FILTER_CASES:
        q = await EMB.embed_query(QUERIES[0])
        assert_exact(await knn(store, QUERIES[0], 12, f), await brute_force(store, q, 12, f), name)


@needs_vss
async def test_vss_never_searches_an_empty_index(vss_store, clock):
    """An empty Faiss index aborts the whole process when searched: the backend must not search one."""
    store = vss_store
    await store.add_memory("ns", "k", "kestrel", memory_type="semantic", created_by="t")
    await Indexer(store, EMB).drain()
    assert (await _vss_state(store))[1] == 1
    await store.delete_memory("ns", "k", deleted_by="t")
    assert store._vectors.backend.sync(EMB.model) == 1
    assert await _vss_state(store) != (0, 0) and (await _vss_state(store))[1] == 0
    assert await store.search("kestrel", mode="semantic", embedder=EMB) == []
    assert await knn(store, "kestrel", 5, {"agent": "t"}) == []


@needs_vss
async def test_vss_connections_see_each_others_syncs_and_lose_nothing(db_path, clock):
    """Two stores (two connections each) syncing in turn: in plain sqlite-vss, the second writer's stale
    copy of the index would overwrite the first one's vectors, and a reader would never see them."""
    a = await open_store(db_path, create=True, clock=clock, vector_backend="sqlite-vss", vector_cache_mb=0)
    b = await open_store(db_path, clock=clock, vector_backend="sqlite-vss", vector_cache_mb=0)
    a._vectors.backend.SYNC_BATCH = b._vectors.backend.SYNC_BATCH = 1  # every indexing batch syncs
    try:
        await build_corpus(a, clock, n=20)
        assert len(await knn(b, "kestrel", 50, {})) == 20  # b's reader loads the index as it is now
        await build_corpus(b, clock, n=20, start=100)  # b writes and syncs (its writes land in its fresh copy)
        await build_corpus(a, clock, n=20, start=200)  # then a, whose earlier copy is stale
        for s in (a, b):
            for query in QUERIES:
                q = await EMB.embed_query(query)
                assert_exact(await knn(s, query, 60, {}), await brute_force(s, q, 60, {}), query)
        assert (await _vss_state(a))[1] == 60 and vss_index_size(a) == 60
    finally:
        await a.close()
        await b.close()


CTX = mp.get_context("spawn")


async def _other_process(db: str, start: int) -> None:
    store = await open_store(db, clock=FakeClock(), vector_backend="sqlite-vss", vector_cache_mb=0)
    store._vectors.backend.SYNC_BATCH = 1
    try:
        await build_corpus(store, FakeClock(), n=15, start=start)
    finally:
        await store.close()


def _process_main(db: str, start: int, results) -> None:
    try:
        asyncio.run(_other_process(db, start))
        results.put(None)
    except BaseException:
        results.put(traceback.format_exc())


@needs_vss
async def test_vss_vectors_written_by_another_process_are_found(db_path, clock):
    store = await open_store(db_path, create=True, clock=clock, vector_backend="sqlite-vss", vector_cache_mb=0)
    store._vectors.backend.SYNC_BATCH = 1
    try:
        await build_corpus(store, clock, n=15)
        assert len(await knn(store, "kestrel", 100, {})) == 15
        results = CTX.Queue()
        proc = CTX.Process(target=_process_main, args=(str(db_path), 300, results), daemon=True)
        proc.start()
        error = await asyncio.to_thread(results.get, True, 120)
        await asyncio.to_thread(proc.join, 30)
        assert error is None, error
        await build_corpus(store, clock, n=15, start=600)  # this process's stale copy must not win
        got = await knn(store, "kestrel", 100, {})
        assert len(got) == 45 and vss_index_size(store) == 45  # all in the vss0 index itself
        assert_exact(got, await brute_force(store, await EMB.embed_query("kestrel"), 100, {}), "three writers")
    finally:
        await store.close()


@needs_vss
async def test_switching_backends_rebuilds_from_the_stored_vectors(db_path, clock):
    store = await open_store(db_path, create=True, clock=clock, vector_cache_mb=0)
    await build_corpus(store, clock, n=40)
    await store.close()
    q = await EMB.embed_query(QUERIES[0])

    store = await open_store(db_path, clock=clock, vector_backend="sqlite-vss", vector_cache_mb=0)
    try:
        assert_exact(await knn(store, QUERIES[0], 10, {}), await brute_force(store, q, 10, {}), "vec table, vss seat")
        await build_corpus(store, clock, n=3, start=900)  # the next indexing run switches the index
        table = (await store._all("SELECT table_name FROM vector_indexes WHERE model = ?", (EMB.model,)))[0][0]
        assert table == vectors.vss_table_for(EMB.model)
        assert not await store._all("SELECT 1 FROM sqlite_master WHERE name = ?", (vectors.table_for(EMB.model),))
        assert (await _vss_state(store))[1] == 43
        assert_exact(await knn(store, QUERIES[0], 10, {}), await brute_force(store, q, 10, {}), "vss")
    finally:
        await store.close()

    store = await open_store(db_path, clock=clock, vector_backend="sqlite-vec", vector_cache_mb=0)
    try:  # a vss table this seat cannot open: scored exactly from the stored vectors meanwhile
        assert_exact(await knn(store, QUERIES[0], 10, {"agent": "bo"}),
                     await brute_force(store, q, 10, {"agent": "bo"}), "vss table, vec seat")
        await build_corpus(store, clock, n=2, start=950)
        table = (await store._all("SELECT table_name FROM vector_indexes WHERE model = ?", (EMB.model,)))[0][0]
        assert table == vectors.table_for(EMB.model)
        assert (await store._all(f"SELECT count(*) FROM {table}"))[0][0] == 45
        assert_exact(await knn(store, QUERIES[0], 10, {}), await brute_force(store, q, 10, {}), "vec again")
    finally:
        await store.close()


# -- the in-memory fast path ----------------------------------------------------------------------------------


@pytest.fixture
async def vss_store(db_path, clock):
    """A store on sqlite-vss with the fast path off, so that vss0 itself answers."""
    s = await open_store(db_path, create=True, clock=clock, vector_backend="sqlite-vss", vector_cache_mb=0)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def fast_store(db_path, clock):
    s = await open_store(db_path, create=True, clock=clock)  # the default: sqlite-vec with the matrix
    try:
        yield s
    finally:
        await s.close()


async def test_the_matrix_gives_the_sqlite_vec_results(fast_store, clock):
    await build_corpus(fast_store, clock)
    plain = fast_store._vectors.backend
    for query in QUERIES:
        for name, f in FILTER_CASES:
            for k in (1, 10, 60):
                fast = await knn(fast_store, query, k, f)
                assert fast_store._vectors.cache._models[EMB.model].loaded
                assert_exact(fast, await knn(fast_store, query, k, f, via=plain), (query, name, k))
                assert_exact(fast, await brute_force(fast_store, await EMB.embed_query(query), k, f), (query, name))


async def test_the_matrix_keeps_in_step_with_this_and_other_stores(fast_store, db_path, clock):
    await build_corpus(fast_store, clock, n=50)
    await knn(fast_store, QUERIES[0], 5, {})  # loaded now
    other = await open_store(db_path, clock=clock, vector_cache_mb=0)
    try:
        await build_corpus(other, clock, n=20, start=400)  # another writer's vectors
        await other.update_memory("project:a", "k0", "zebra quagga", updated_by="bo")
        await other.delete_memory("project:a/agent:x", "k1", deleted_by="bo")
        await Indexer(other, EMB).drain()
        await fast_store.delete_memory("project:a/agent:y", "k2", deleted_by="bo")  # and this store's own
        matrix = fast_store._vectors.cache._models[EMB.model]
        for query in (*QUERIES, "zebra quagga"):
            for name, f in FILTER_CASES:
                want = await knn(fast_store, query, 15, f, via=fast_store._vectors.backend)
                assert_exact(await knn(fast_store, query, 15, f), want, (query, name))
        live = set(matrix.ids[:matrix.n][matrix.alive[:matrix.n]].tolist())
        stored = {r[0] for r in await fast_store._all("SELECT item_id FROM embeddings WHERE model = ?", (EMB.model,))}
        assert live == stored and len(stored) == 50 + 20 - 2
    finally:
        await other.close()


async def test_the_matrix_reloads_when_the_feed_cannot_say_what_changed(fast_store, clock):
    """An index event without item ids (a database written before they carried them): reload it all."""
    await build_corpus(fast_store, clock, n=30)
    await knn(fast_store, QUERIES[0], 5, {})
    item = (await fast_store._all("SELECT id FROM search_items ORDER BY id LIMIT 1"))[0][0]
    target = await EMB.embed_query("zebra quagga okapi")
    def in_tx(tx):
        tx.run("UPDATE embeddings SET vector = ? WHERE item_id = ?", (vectors.as_blob(target), item))
        tx.event("index.embedded", "index", EMB.model, {"count": 1})

    await fast_store._write("old-writer", in_tx)
    got = await knn(fast_store, "zebra quagga okapi", 3, {})
    assert got[0][0] == item and got[0][1] < TOL


async def test_a_large_model_loads_in_the_background_and_the_backend_answers_meanwhile(fast_store, clock,
                                                                                      monkeypatch):
    await build_corpus(fast_store, clock, n=40)
    monkeypatch.setattr(matrix_module, "EAGER_BYTES", 0)
    first = await knn(fast_store, QUERIES[0], 8, {"agent": "ana"})  # the backend's answer, loading started
    matrix = fast_store._vectors.cache._models[EMB.model]
    await asyncio.to_thread(matrix.loading.join, 60)
    assert matrix.loaded
    assert_exact(await knn(fast_store, QUERIES[0], 8, {"agent": "ana"}), first, "loaded")


async def test_a_hybrid_search_reads_for_the_matrix_before_the_keyword_query(fast_store, clock, monkeypatch):
    """The read connection runs its queries one at a time: what the matrix reads (its catch-up with the
    change feed) goes ahead of the keyword ranking's FTS query, so once the query's embedding is made
    the vector search waits for nothing; only the hits are read after the FTS query."""
    await build_corpus(fast_store, clock, n=40)
    await knn(fast_store, QUERIES[0], 5, {})  # loaded
    await build_corpus(fast_store, clock, n=3, start=500)  # vectors the matrix has not seen yet
    read = fast_store._read_conn
    asked: list[str] = []
    for name in ("execute", "execute_fetchall"):
        def recording(sql, *args, _real=getattr(read, name)):
            asked.append(" ".join(sql.split()))
            return _real(sql, *args)

        monkeypatch.setattr(read, name, recording)
    for filters in ({}, {"agent": "bo"}):
        asked.clear()
        hits = await fast_store.search("kestrel redis cache", mode="hybrid", embedder=EMB, limit=5, **filters)
        assert hits and any(h.semantic_rank for h in hits) and any(h.keyword_rank for h in hits)
        fts = next(n for n, sql in enumerate(asked) if "MATCH" in sql)
        assert any(vectors.LATEST_INDEX_EVENT in sql for sql in asked[:fts]), asked
        assert [sql.split(" WHERE ")[0] for sql in asked[fts + 1:]] == ["SELECT * FROM search_items"], asked
    matrix = fast_store._vectors.cache._models[EMB.model]
    assert matrix.n == 43  # caught up


async def test_past_its_budget_the_matrix_steps_aside(db_path, clock):
    store = await open_store(db_path, create=True, clock=clock, vector_cache_mb=1)
    try:
        await build_corpus(store, clock, n=20)
        store._vectors.cache.budget = 20 * EMB.dim * 4 - 1  # one float short
        q = await EMB.embed_query(QUERIES[3])
        assert_exact(await knn(store, QUERIES[3], 5, {}), await brute_force(store, q, 5, {}), "over budget")
        assert EMB.model not in store._vectors.cache._models
    finally:
        await store.close()


def test_touched_reads_the_item_ids_of_index_events():
    rows = [("index.embedded", EMB.model, '{"count": 2, "items": [3, 4]}'),
            ("index.embedded", "other:8", '{"count": 1, "items": [9]}'),
            ("index.forgotten", None, '{"items": [4, 5]}'),
            ("index.failed", EMB.model, '{"error": "down"}')]
    assert vectors.touched(rows, EMB.model) == {3, 4, 5}
    assert vectors.touched([*rows, ("index.embedded", EMB.model, '{"count": 1}')], EMB.model) is None


def test_top_k_breaks_ties_by_item_id():
    ids = np.array([9, 3, 7, 1, 5])
    sims = np.array([0.5, 0.9, 0.9, 0.1, 0.9], dtype=np.float32)
    assert [i for i, _ in vectors.top_k(ids, sims, 2)] == [3, 5]
    assert [i for i, _ in vectors.top_k(ids, sims, 10)] == [3, 5, 7, 9, 1]
