"""Query plans of the memory's statements: on ~4,500 search items, every statement the memory and
search methods issue is served by an index, and none reads far more than it returns."""

from __future__ import annotations

import re
from pathlib import Path

import sqlean
import sqlite_vec
from memory_support import MODES, SEED_FAILURE, _WORDS

from swarmdeck.store import open_store
from swarmdeck.store.embed import HashEmbedder
from swarmdeck.store.indexer import Indexer
from swarmdeck.store.sqlite import vectors
from swarmdeck.store.sqlite import SQLiteStore


def _memory_methods() -> set[str]:
    """The store's methods that are the memory part's or the search index's."""
    return {n for n, v in vars(SQLiteStore).items() if getattr(v, "part", None) in ("memory", "search_index")}


# -- query plans of the memory's statements ----------------------------------------------------------------

WATCHED = ("search_items", "memory_entries", "learning_records", "documents", "document_chunks", "session_events",
           "sessions", "embeddings", "embedding_failures")
N_BULK = 3000
_TABLE_REF = re.compile(r"\b(?:from|join|update|into)\s+(" + "|".join(WATCHED) + r")\b(?:\s+(?:as\s+)?(\w+))?",
                        re.IGNORECASE)
_KEYWORDS = {"where", "join", "on", "order", "group", "limit", "set", "using", "as", "values", "not", "inner",
             "left"}
_SCAN = re.compile(r"^SCAN (\w+)(?: |$)")
_INDEXED = ("USING INDEX", "USING COVERING INDEX", "USING INTEGER PRIMARY KEY", "USING PRIMARY KEY")


def _watched_names(sql: str) -> set[str]:
    names = set()
    for table, alias in _TABLE_REF.findall(sql):
        names.add(table.lower())
        if alias and alias.lower() not in _KEYWORDS:
            names.add(alias.lower())
    return names


def _full_scans(sql: str, plan: list[str]) -> list[str]:
    """Plan lines reading a whole watched table without an index. Allowed: a rowid-order scan with
    no WHERE (but that leaving archived records out) that a LIMIT stops early (newest-first listings). FTS5 and vec0 plans are virtual tables."""
    names = _watched_names(sql)
    flat = " ".join(sql.split())
    bad = []
    for line in plan:
        m = _SCAN.match(line)
        if not m or m.group(1).lower() not in names or any(k in line for k in _INDEXED):
            continue
        # A WHERE that only leaves archived records out passes nearly every row: with statistics the
        # planner walks the rowid backwards rather than the partial index, and the LIMIT still stops it
        # (the work budget below still measures it).
        where = re.sub(r"\bWHERE archived_at IS NULL\b", "", flat, flags=re.I)
        stopped_by_limit = (line == f"SCAN {m.group(1)}" and re.search(r"\bLIMIT\b", flat, re.I)
                            and not re.search(r"\bWHERE\b", where, re.I)
                            and not any("USE TEMP B-TREE" in p for p in plan))
        if not stopped_by_limit:
            bad.append(line)
    return bad


def _vec_connection(path: Path) -> sqlean.Connection:
    conn = sqlean.connect(str(path), isolation_level=None)
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    return conn


def _plan(conn, sql: str) -> list[str]:
    return [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()]


def _ns(i: int) -> str:
    return f"project:p{i % 7}/agent:a{i % 11}"


def _bulk(path: Path, now: float) -> None:
    """N_BULK memories (plus old versions), records and document chunks, straight into SQLite."""
    conn = sqlean.connect(str(path), isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    for i in range(N_BULK):
        ns = _ns(i)
        t = now - (N_BULK - i) * 10.0
        text = f"bulk memory {i} about {_WORDS[i % 26]} {_WORDS[(i * 7) % 26]} {_WORDS[(i * 11) % 26]}"
        conn.execute("INSERT INTO memory_entries (namespace, key, version, value, memory_type, created_by, "
                     "created_at, is_current) VALUES (?, ?, 1, ?, ?, ?, ?, 0)",
                     (ns, f"k{i}", "older " + text, ("semantic", "episodic", "procedural")[i % 3], f"agent-{i % 11}", t))
        mid = conn.execute("INSERT INTO memory_entries (namespace, key, version, value, memory_type, created_by, "
                           "created_at) VALUES (?, ?, 2, ?, ?, ?, ?)",
                           (ns, f"k{i}", text, ("semantic", "episodic", "procedural")[i % 3], f"agent-{i % 11}",
                            t + 1)).lastrowid
        conn.execute("INSERT INTO search_items (kind, ref_id, namespace, title, body, memory_type, agent, created_at) "
                     "VALUES ('memory', ?, ?, ?, ?, ?, ?, ?)",
                     (mid, ns, f"k{i}", text, ("semantic", "episodic", "procedural")[i % 3], f"agent-{i % 11}", t + 1))
        if i % 3 == 0:
            kind = ("failure", "decision", "pattern")[i % 9 // 3]
            rid = conn.execute("INSERT INTO learning_records (kind, namespace, title, fields, agent, created_at) "
                               "VALUES (?, ?, ?, '{}', ?, ?)", (kind, ns, f"{kind}: bulk {i}", f"agent-{i % 11}",
                                                                 t)).lastrowid
            conn.execute("INSERT INTO search_items (kind, ref_id, namespace, title, body, agent, created_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", (kind, rid, ns, f"{kind}: bulk {i}", text, f"agent-{i % 11}", t))
    for d in range(100):
        did = conn.execute("INSERT INTO documents (namespace, path, content_hash, chunk_count, created_at, updated_at) "
                           "VALUES ('docs', ?, 'h', 5, ?, ?)", (f"doc{d}.md", now, now)).lastrowid
        for p in range(5):
            cid = conn.execute("INSERT INTO document_chunks (document_id, position, text) VALUES (?, ?, ?)",
                               (did, p, f"chunk {p} of doc {d} {_WORDS[(d + p) % 26]}")).lastrowid
            conn.execute("INSERT INTO search_items (kind, ref_id, namespace, title, body, agent, created_at) "
                         "VALUES ('document', ?, 'docs', ?, ?, 'librarian', ?)",
                         (cid, f"doc{d}.md #{p + 1}", f"chunk {p} of doc {d} {_WORDS[(d + p) % 26]}", now))
    for s in range(200):
        conn.execute("INSERT INTO sessions (id, agent_name, status, state, created_at, updated_at) "
                     "VALUES (?, ?, 'active', '{}', ?, ?)", (f"s{s}", f"agent-{s % 11}", now, now))
        conn.executemany("INSERT INTO session_events (session_id, ts, kind, payload) VALUES (?, ?, 'step', '{}')",
                         [(f"s{s}", now + j) for j in range(10)])
    conn.execute("COMMIT")
    conn.close()


def _bulk_vectors(path: Path, embedder: HashEmbedder, *, leave: int) -> None:
    """Vectors for every pending item but the last ``leave``, straight into the model's vec0 table."""
    conn = _vec_connection(path)
    conn.execute("BEGIN IMMEDIATE")
    table = conn.execute("SELECT table_name FROM vector_indexes WHERE model = ?", (embedder.model,)).fetchone()[0]
    rows = conn.execute("SELECT id, title, body, kind, namespace, memory_type, agent, created_at FROM search_items "
                        "WHERE embedded_model IS NULL ORDER BY id").fetchall()[:-leave]
    vecs = embedder.embed_sync([f"{r[1]}\n{r[2]}" for r in rows])
    for r, v in zip(rows, vecs):
        blob = vectors.as_blob(v)
        conn.execute(f"INSERT INTO {table} (item_id, embedding, kind, namespace, memory_type, agent, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", (r[0], blob, r[3], r[4], r[5] or "", r[6] or "", r[7]))
        conn.execute("INSERT INTO embeddings (item_id, model, dim, vector, embedded_at) VALUES (?, ?, ?, ?, 0)",
                     (r[0], embedder.model, embedder.dim, blob))
        conn.execute("UPDATE search_items SET embedded_model = ? WHERE id = ?", (embedder.model, r[0]))
    conn.execute("COMMIT")
    conn.close()


async def _memory_workload(store, clock) -> set[str]:
    """Call every memory method, each filter each way. Returns the methods called."""
    called: set[str] = set()
    h64 = HashEmbedder(64)
    # most items get vectors (the first ones through the store, the bulk raw); a few hundred stay pending
    first = await store.pending_embeddings(h64.model, limit=100)
    await store.store_embeddings(h64.model, h64.dim, [(i, v, t) for (i, t), v in
                                                      zip(first, h64.embed_sync([t for _, t in first]))])
    called |= {"pending_embeddings", "store_embeddings"}
    _bulk_vectors(store.path, h64, leave=300)
    failing = await store.pending_embeddings(h64.model, limit=50)
    await store.record_embedding_failure(h64.model, [i for i, _ in failing], "down")
    called.add("record_embedding_failure")
    await store.pending_embeddings(h64.model, limit=32)  # with failures waiting
    await store.pending_embeddings("hash:32", limit=32)  # another model: re-embedding
    await store.index_status(h64.model)
    await store.index_status(None)
    called.add("index_status")

    s = await store.create_session(agent="agent-1", state={"a": 1})
    await store.get_session("s5")
    await store.set_session_status(s.id, "active")
    await store.append_session_event("s7", kind="step", payload={"n": 1})
    await store.session_events("s7", limit=5)
    await store.set_session_state("s7", {"b": 2})
    called |= {"create_session", "get_session", "set_session_status", "append_session_event", "session_events",
               "set_session_state"}

    await store.add_memory("project:p1/agent:a1", "fresh", "fresh memory about kestrels", memory_type="semantic",
                           created_by="agent-1")
    await store.update_memory(_ns(12), "k12", {"v": 3}, updated_by="agent-2")
    await store.update_memory(_ns(13), "k13", "changed", updated_by="agent-2", memory_type="episodic",
                              metadata={"m": 1})
    await store.delete_memory("project:p1/agent:a1", "fresh", deleted_by="agent-1")
    await store.restore_memory("project:p1/agent:a1", "fresh", restored_by="agent-1")
    await store.get_memory(_ns(12), "k12")
    await store.get_memory(_ns(12), "k12", version=1)
    await store.memory_history(_ns(12), "k12")
    await store.get_memory_by_id(5)
    for kwargs in ({}, {"namespace_prefix": "project:p3"}, {"namespace_prefix": "project:p3/"},
                   {"memory_type": "procedural"}, {"namespace_prefix": "project:p4", "memory_type": "episodic"},
                   {"include_deleted": True, "limit": 10}):
        await store.list_memories(**kwargs)
    called |= {"add_memory", "update_memory", "delete_memory", "restore_memory", "get_memory", "memory_history",
               "get_memory_by_id", "list_memories"}

    task = await store.enqueue_task(description="t")
    milestone = await store.add_milestone("M1")
    record = await store.log_record("failure", SEED_FAILURE, namespace="project:p1", agent="agent-1", task_id=task.id,
                                    milestone_id=milestone.id)
    await store.get_record(record.id)
    await store.list_records()
    await store.list_records(kind="decision")
    called |= {"log_record", "get_record", "list_records"}

    await store.index_document("docs", "doc3.md", "new text for doc three")
    await store.index_document("docs", "new.md", "a new document")
    await store.index_document("docs", "new.md", "a new document")
    called.add("index_document")

    clock.advance(60)
    await Indexer(store, h64, batch=16).run_once()
    for mode in MODES:
        for kwargs in ({}, {"namespace_prefix": "project:p1"}, {"namespace_prefix": "project:p1/"},
                       {"kinds": ["failure", "decision"]}, {"memory_type": "semantic"}, {"agent": "agent-3"},
                       {"since": clock.now - 3600, "until": clock.now}, {"limit": 50}):
            await store.search("bravo kilo", mode=mode, embedder=h64, **kwargs)
    hit = (await store.search("bravo", mode="keyword", limit=1))[0]
    await store.search_item_body(hit.item_id)
    called |= {"search", "search_item_body"}
    for kwargs in ({}, {"namespace_prefix": "project:p1"}, {"kinds": ["failure", "decision"]},
                   {"agent": "agent-3"}, {"namespace_prefix": "project:p1", "since": clock.now - 3600}):
        await store.recent(limit=50, **kwargs)
    called.add("recent")

    # Retention: what would go, then archiving it, and the archive's word search.
    await store.prune(dry_run=True)
    await store.prune(dry_run=False, older_than=60, actor="operator")
    await store.search_archive("bravo")
    await store.search_archive("bravo kilo", kinds=["agent_log"], namespace_prefix="project:p1", limit=5)
    called |= {"prune", "search_archive"}

    # Everything embedded: the indexer's idle polls (checked below on this final state) find nothing.
    clock.advance(3600)
    await Indexer(store, h64, batch=500).drain()
    assert (await store.index_status(h64.model)).pending == 0
    await store.pending_embeddings(h64.model)
    return called


#: VM steps (counted in hundreds) a statement may spend beyond 60 per row it returns. One pass over the
#: ~4,500 search items or ~6,000 memory rows costs well over 20,000.
WORK_BUDGET = 5_000
_STEP_GRAIN = 100

#: Statements whose work grows with what they are asked for, not with the table: (pattern, why).
_BULK_BY_DESIGN = [
    (r"\bMATCH\b", "FTS5 bm25 ranks every document matching a term before the limit; vec0 KNN is brute force"),
    (r"^SELECT count\(\*\) FROM", "index_status counts (the count is the answer)"),
    (r"^SELECT \* FROM memory_entries WHERE is_current = \? AND \(?namespace",
     "list_memories under a prefix sorts that namespace's current entries by time"),
]


def _shape(sql: str) -> str:
    sql = re.sub(r"'(?:[^']|'')*'|x'[0-9a-fA-F]*'", "?", sql)
    return " ".join(re.sub(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b", "?", sql).split())


def _heavy(conn, sql: str) -> int | None:
    """VM steps beyond the budget for this statement (run and rolled back), or None."""
    steps = [0]

    def tick() -> int:
        steps[0] += _STEP_GRAIN
        return 0

    conn.set_progress_handler(tick, _STEP_GRAIN)
    conn.execute("BEGIN")
    try:
        rows = len(conn.execute(sql).fetchall())
    finally:
        conn.execute("ROLLBACK")
        conn.set_progress_handler(None, 0)
    return steps[0] if steps[0] > WORK_BUDGET + 60 * rows else None


async def traced_memory_workload(db: Path, clock) -> tuple[list[str], set[str]]:
    """Build the memory database at ``db`` and run the workload on it, tracing the store's connections.
    Returns every statement SQLite ran (in order, bound values expanded) and the methods called."""
    store = await open_store(db, create=True, clock=clock)
    await store.close()
    _bulk(db, clock.now)
    store = await open_store(db, clock=clock)
    seen: list[str] = []
    try:
        await store._writer.set_trace_callback(seen.append)
        await store._reader.set_trace_callback(seen.append)
        called = await _memory_workload(store, clock)
    finally:
        await store.close()
    return seen, called


async def test_memory_statements_use_indexes(tmp_path, clock):
    """Every statement the memory methods issue, on ~4,500 search items: no full scan of a memory table
    (FTS5 and vec0 plans are virtual tables), and no index walked end to end for a few rows."""
    db = tmp_path / "plans.db"
    seen, called = await traced_memory_workload(db, clock)

    memory_methods = _memory_methods()
    assert memory_methods - called == set(), f"memory methods never called: {sorted(memory_methods - called)}"
    by_shape: dict[str, list[str]] = {}
    for sql in dict.fromkeys(seen):
        head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        if _watched_names(sql) and (head in ("SELECT", "UPDATE", "DELETE") or re.search(r"\bSELECT\b", sql, re.I)):
            by_shape.setdefault(_shape(sql), []).append(sql)
    statements = [sql for group in by_shape.values() for sql in group[:4]]  # a few values of each shape
    assert len(by_shape) > 40, "suspiciously few distinct statements traced"
    assert any("embedding_failures" in s and "embedded_model <" in s for s in statements)
    for analyzed in (False, True):
        conn = _vec_connection(db)
        try:
            if analyzed:
                conn.execute("ANALYZE")
            problems = []
            for sql in statements:
                plan = _plan(conn, sql)
                bad = _full_scans(sql, plan)
                steps = None if any(re.search(p, _shape(sql)) for p, _ in _BULK_BY_DESIGN) else _heavy(conn, sql)
                if bad or steps:
                    problems.append(f"  {' '.join(sql.split())[:600]}\n" + "\n".join(f"      {p}" for p in plan)
                                    + (f"\n    full scan: {bad}" if bad else f"\n    {steps} VM steps"))
        finally:
            conn.close()
        assert not problems, (f"{'analyzed' if analyzed else 'no stats'}: {len(problems)} statement(s) read a "
                              "whole table:\n\n" + "\n\n".join(problems))
