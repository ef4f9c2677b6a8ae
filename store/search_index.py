"""The search index of the memories, records and documents, and search over it: keyword, semantic (vectors)
or both fused, on either backend.

``SearchIndex`` (the store's ``search_index`` part, on both backends) is what they share: the items
(``search_items``) written with the memories in their transactions, the embeddings stored and their
failures, the fusion of the two rankings, the filters (checked here, applied inside each ranking's query
before its limit), the newest entries and the hits as a person reads them. Each backend gives it its
``Ranking``: its two rankings, its vector index and its SQL (store/sql_dialect.py):
store/sqlite/search_index.py (FTS5 bm25; sqlite-vec, sqlite-vss and the in-memory fast path) and
store/postgres/search_index.py (tsvector and GIN; pgvector's HNSW, or an exact scan).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from . import learning, search as rules, vectors
from .errors import InvalidArgument, NotFound
from .events import EventKind
from .models import IndexStatus, MemoryType, SearchHit, SearchMode, from_ts
from .sql_dialect import Sql

if TYPE_CHECKING:
    import numpy as np

Tx = Any  # a backend's write transaction, as its ``sql.tx`` gives it

#: A ranking: ``(item_id, rank)``, best first (a keyword rank is lower for better, a semantic one is the
#: cosine distance).
Ranked = list[tuple[int, float]]


class Ranking(Protocol):
    """What a backend gives the shared search index."""

    #: The backend's SQL (store/sql_dialect.py).
    sql: Sql

    async def keyword(self, query: str, filters: vectors.VectorFilters, depth: int) -> Ranked:
        """The ``depth`` best keyword matches passing ``filters``, lowest rank first."""
        ...

    async def semantic(self, query: str, embedder: Any, filters: vectors.VectorFilters,
                       depth: int) -> tuple[Awaitable[Ranked], asyncio.Future | None]:
        """The semantic ranking, started: what finishes it (``(item_id, cosine distance)``, nearest first)
        and the query's embedding under way (None when nothing is embedded with the model yet)."""
        ...

    def ensure_index(self, tx: Tx, model: str, dim: int) -> str:
        """The model's vector table (made with its first vector), as ``vector_indexes`` names it."""
        ...

    def put(self, tx: Tx, table: str, item_id: int, vector: np.ndarray, item: Any) -> None:
        """Index one vector beside its ``embeddings`` row (``item``: its search item's row)."""
        ...

    def vector_tables(self, tx: Tx) -> list[str] | None:
        """The vector tables an item's vectors are dropped from (None: ``vectors.forget``'s own)."""
        ...

    async def flush(self, model: str) -> None:
        """After a transaction that stored vectors of ``model`` committed."""
        ...

    def recent_order(self, filters: vectors.VectorFilters) -> str:
        """``recent``'s ORDER BY column: the item's id (newest first), as the backend's planner wants it."""
        ...

RECORD_KINDS = tuple(learning.KINDS)
ITEM_KINDS = ("memory", "document", *RECORD_KINDS)


def parse_memory_type(value: Any) -> MemoryType:
    try:
        return MemoryType(value)
    except ValueError:
        raise InvalidArgument(
            f"memory_type must be one of {', '.join(m.value for m in MemoryType)}, not {value!r}"
        ) from None


class SearchIndex:
    """The search index (``search_items``), the embeddings written into it, and search over it: what both
    backends share (the module docstring). ``db`` is the backend's database (``_write``, ``_one``, ``_all``,
    ``clock``); a write transaction handed in (``put_item``...) is already the backend's (``sql.tx``)."""

    __slots__ = ("db", "ranking", "sql")

    def __init__(self, db: Any, ranking: Ranking) -> None:
        self.db = db
        self.ranking = ranking
        self.sql = ranking.sql

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self.db._one(self.sql.q(sql), params)

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self.db._all(self.sql.q(sql), params)

    async def _write(self, actor: str, body: Callable[[Any], Any]) -> Any:
        sql = self.sql
        return await self.db._write(actor, lambda tx: body(sql.tx(tx)))

    def put_item(self, tx: Tx, kind: str, ref_id: int, namespace: str, title: str, body: str, *,
                  memory_type: str | None = None, agent: str | None = None, task_id: int | None = None,
                  milestone_id: int | None = None, created_at: float | None = None) -> int:
        return self.sql.insert(
            tx, "INSERT INTO search_items (kind, ref_id, namespace, title, body, memory_type, agent, task_id, "
            "milestone_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (kind, ref_id, namespace, title, body, memory_type, agent, task_id, milestone_id,
             tx.now if created_at is None else created_at),
        )

    def move_item(self, tx: Tx, kind: str, old_ref: int, new_ref: int, *, title: str, body: str,
                   memory_type: str | None, agent: str | None) -> None:
        """The item now stands for a new version: new text, so its vectors must be made again."""
        row = tx.one("SELECT id FROM search_items WHERE kind = ? AND ref_id = ?", (kind, old_ref))
        if row is None:
            return
        vectors.forget(tx, [row[0]], self.ranking.vector_tables(tx))
        tx.run("UPDATE search_items SET ref_id = ?, title = ?, body = ?, memory_type = ?, agent = ?, "
               "created_at = ?, embedded_model = NULL WHERE id = ?",
               (new_ref, title, body, memory_type, agent, tx.now, row[0]))

    def drop_item(self, tx: Tx, kind: str, ref_id: int) -> None:
        row = tx.one("SELECT id FROM search_items WHERE kind = ? AND ref_id = ?", (kind, ref_id))
        if row is not None:
            vectors.forget(tx, [row[0]], self.ranking.vector_tables(tx))
            tx.run("DELETE FROM search_items WHERE id = ?", (row[0],))

    async def pending_embeddings(self, model: str, *, limit: int = 64, retry_after: float = 30.0) -> list[tuple[int, str]]:
        """Items without a current vector for ``model`` (recent failures wait ``retry_after`` s): (id, text)."""
        now = self.db.clock()
        waiting = ("NOT EXISTS (SELECT 1 FROM embedding_failures f WHERE f.item_id = si.id AND f.model = ? "
                   "AND f.failed_at > ?)")
        rows = await self._all(
            f"SELECT si.id, si.title, si.body FROM search_items si WHERE si.embedded_model IS NULL AND {waiting} "
            "ORDER BY si.id LIMIT ?",
            (model, now - retry_after, limit),
        )
        if len(rows) < limit:  # items embedded by another model: re-embed for this one
            # < and > (not !=) are two ranges of search_items_embedded that skip this model's items, and
            # no ORDER BY (which would sort every stale item): an idle indexer's poll reads nothing.
            rows += await self._all(
                "SELECT si.id, si.title, si.body FROM search_items si "
                f"WHERE (si.embedded_model < ? OR si.embedded_model > ?) AND {waiting} LIMIT ?",
                (model, model, model, now - retry_after, limit - len(rows)))
        return [(r[0], f"{r[1]}\n{r[2]}") for r in rows]

    async def store_embeddings(self, model: str, dim: int, vectors_by_item: Sequence[tuple[Any, ...]]) -> int:
        """Record vectors made by ``model``: ``(item_id, vector)`` or ``(item_id, vector, text)`` with the
        text ``pending_embeddings`` gave. Items gone since, or whose text changed since, are skipped."""
        import numpy as np

        def in_tx(tx: Tx) -> int:
            stored_ids: list[int] = []
            table = self.ranking.ensure_index(tx, model, dim)
            for item_id, vector, *read in vectors_by_item:
                vec = np.asarray(vector, dtype="<f4")
                if vec.shape != (dim,):
                    raise InvalidArgument(f"vector for item {item_id} has shape {vec.shape}, expected ({dim},)")
                item = tx.one("SELECT kind, namespace, memory_type, agent, created_at, title, body "
                              "FROM search_items WHERE id = ?", (item_id,))
                if item is None:
                    continue
                if read and read[0] != f"{item['title']}\n{item['body']}":
                    continue  # updated while it was being embedded: the vector is of the old text
                blob = vec.tobytes()
                self.ranking.put(tx, table, item_id, vec, item)
                tx.run("INSERT INTO embeddings (item_id, model, dim, vector, embedded_at) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT (item_id, model) DO UPDATE SET dim = excluded.dim, vector = excluded.vector, "
                       "embedded_at = excluded.embedded_at", (item_id, model, dim, blob, tx.now))
                tx.run("UPDATE search_items SET embedded_model = ? WHERE id = ?", (model, item_id))
                tx.run("DELETE FROM embedding_failures WHERE item_id = ?", (item_id,))
                stored_ids.append(item_id)
            stored = len(stored_ids)
            if stored:  # the item ids: caches of the vectors catch up from the change feed
                tx.event(EventKind.INDEX_EMBEDDED, "index", model, {"count": stored, "items": stored_ids})
            return stored

        stored = await self._write("indexer", in_tx)
        if stored:
            await self.ranking.flush(model)
        return stored

    async def record_embedding_failure(self, model: str, item_ids: Iterable[int], error: str) -> None:
        def in_tx(tx: Tx) -> None:
            for item_id in item_ids:
                # an item deleted while its batch was out is skipped (its failure row could not exist)
                tx.run(
                    "INSERT INTO embedding_failures (item_id, model, error, failed_at) SELECT id, ?, ?, ? "
                    "FROM search_items WHERE id = ? "
                    "ON CONFLICT (item_id) DO UPDATE SET error = excluded.error, model = excluded.model, "
                    "attempts = embedding_failures.attempts + 1, failed_at = excluded.failed_at",
                    (model, error[:500], tx.now, item_id),
                )
            tx.event(EventKind.INDEX_FAILED, "index", model, {"error": error[:500]})

        return await self._write("indexer", in_tx)

    async def index_status(self, model: str | None) -> IndexStatus:
        entries = (await self._one("SELECT count(*) FROM search_items"))[0]
        if model is None:
            return IndexStatus(entries, 0, entries, 0, None, None)
        embedded = (await self._one("SELECT count(*) FROM search_items WHERE embedded_model = ?", (model,)))[0]
        failed = (await self._one("SELECT count(*) FROM embedding_failures WHERE model = ?", (model,)))[0]
        last = await self._one("SELECT error FROM embedding_failures WHERE model = ? ORDER BY failed_at DESC LIMIT 1",
                               (model,))
        dim = await self._one("SELECT dim FROM vector_indexes WHERE model = ?", (model,))
        return IndexStatus(entries, embedded, entries - embedded, failed, model, dim and dim[0], last and last[0])

    # -- search ---------------------------------------------------------------------------------------------

    async def search(
        self,
        query: str,
        *,
        mode: SearchMode | str = SearchMode.HYBRID,
        embedder: Any = None,
        namespace_prefix: str | None = None,
        kinds: Sequence[str] = (),
        memory_type: str | None = None,
        agent: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 20,
    ) -> list[SearchHit]:
        """Ranked memories, records and documents: keyword (the backend's ranking of words: FTS5 bm25, or
        PostgreSQL's closest to it), semantic (vectors) or both fused (reciprocal rank fusion).

        Every filter is applied inside each ranking's query, before its limit. ``namespace_prefix`` names
        whole segments (``project:a`` is project:a and what lies under project:a/, never project:ab); ending
        in ``/`` or ``:`` it is a plain string prefix (search.namespace_scope). ``since``/``until`` and
        ``agent`` are those of the searchable text: for a memory, its current version's write and writer.
        """
        try:
            mode = SearchMode(mode)
        except ValueError:
            raise InvalidArgument(f"mode must be hybrid, keyword or semantic, not {mode!r}") from None
        filters = _filters(limit, namespace_prefix, kinds, memory_type, agent, since, until)
        depth = limit * 3 if mode is SearchMode.HYBRID else limit
        # Both rankings at once: the query's embedding (on a thread) overlaps the keyword query.
        # The semantic ranking is started first, so that what it reads is read before the keyword query
        # takes the read connection, whose queries run one at a time.
        meaning = mode in (SearchMode.HYBRID, SearchMode.SEMANTIC) and embedder is not None and query.strip()
        by_meaning, vector = await self.ranking.semantic(query, embedder, filters, depth) if meaning else (_none(), None)
        by_words, by_meaning = await asyncio.gather(
            self.ranking.keyword(query, filters, depth) if mode in (SearchMode.HYBRID, SearchMode.KEYWORD) else _none(),
            by_meaning,
        )
        keyword = [item_id for item_id, _ in by_words]
        semantic = [item_id for item_id, _ in by_meaning]
        if mode is SearchMode.HYBRID:
            ranked = rules.rrf([keyword, semantic])[:limit]
        elif mode is SearchMode.KEYWORD:
            ranked = [(item_id, -rank) for item_id, rank in by_words[:limit]]
        else:
            ranked = [(item_id, 1.0 - distance) for item_id, distance in by_meaning[:limit]]
        similarity = {item_id: 1.0 - distance for item_id, distance in by_meaning}
        if vector is not None and vector.done() and not vector.cancelled() and vector.exception() is None:
            # Hits the semantic ranking did not reach (keyword's own): their similarity from their vectors.
            await self._similarities(embedder.model, vector.result(), [i for i, _ in ranked], similarity)
        cal = rules.calibration(embedder.model) if meaning else None
        return await self._hits(ranked, keyword, semantic, rules.terms(query), similarity, cal)

    async def _similarities(self, model: str, vector: Any, item_ids: list[int], into: dict[int, float]) -> None:
        import numpy as np

        missing = [i for i in item_ids if i not in into]
        if not missing:
            return
        query = np.asarray(vector, dtype=np.float32)
        among, ids = self.sql.ids("item_id", missing)
        rows = await self._all(f"SELECT item_id, vector FROM embeddings WHERE model = ? AND {among}", (model, ids))
        for item_id, blob in rows:
            stored = np.frombuffer(blob, dtype="<f4")
            if stored.shape == query.shape:
                into[item_id] = float(stored @ query)

    async def recent(self, *, namespace_prefix: str | None = None, kinds: Sequence[str] = (),
                     memory_type: str | None = None, agent: str | None = None, since: float | None = None,
                     until: float | None = None, limit: int = 20) -> list[SearchHit]:
        """The newest searchable entries (memories, records, documents), the last added first, under the same
        filters as ``search``: what a search box with nothing typed in it shows. Scores are 0, ranks None."""
        filters = _filters(limit, namespace_prefix, kinds, memory_type, agent, since, until)
        where, params = filters.item_sql()
        # Newest first by when the entry first became searchable (the item's id; a new version keeps its
        # entry's place): a walk of the primary key that the limit stops (``Ranking.recent_order``).
        order = self.ranking.recent_order(filters)
        where = f" WHERE {where.removeprefix(' AND ')}" if where else ""
        rows = await self._all(f"SELECT si.id FROM search_items si{where} ORDER BY {order} DESC LIMIT ?",
                                  (*params, limit))
        return await self._hits([(r[0], 0.0) for r in rows], [], [], [], recent=True)

    async def _hits(self, ranked: list[tuple[int, float]], keyword: list[int], semantic: list[int],
                    words: list[str], similarity: dict[int, float] | None = None,
                    cal: rules.Calibration | None = None, *, recent: bool = False) -> list[SearchHit]:
        if not ranked:
            return []
        among, ids = self.sql.ids("id", [i for i, _ in ranked])
        rows = {r["id"]: r for r in await self._all(f"SELECT * FROM search_items WHERE {among}", (ids,))}
        kw_rank = {item: n for n, item in enumerate(keyword, start=1)}
        sem_rank = {item: n for n, item in enumerate(semantic, start=1)}
        hits = []
        for item_id, score in ranked:
            row = rows.get(item_id)
            if row is None:
                continue  # removed between the ranking and now
            text, spans = rules.snippet(row["body"], words)
            sim = (similarity or {}).get(item_id)
            covered = rules.coverage(words, f"{row['title']}\n{row['body']}")
            hits.append(SearchHit(
                item_id=item_id, kind=row["kind"], ref_id=row["ref_id"], namespace=row["namespace"],
                title=row["title"], snippet=text, highlights=spans, score=round(score, 6),
                keyword_rank=kw_rank.get(item_id), semantic_rank=sem_rank.get(item_id),
                memory_type=row["memory_type"], agent=row["agent"], task_id=row["task_id"],
                milestone_id=row["milestone_id"], created_at=from_ts(row["created_at"]),
                similarity=None if sim is None else round(sim, 6),
                relevance=None if recent else round(rules.relevance(sim, covered, cal), 4),
            ))
        return hits

    async def search_item_body(self, item_id: int) -> str:
        row = await self._one("SELECT body FROM search_items WHERE id = ?", (item_id,))
        if row is None:
            raise NotFound(f"search item {item_id} does not exist", entity="search_item", key=item_id)
        return row[0]


async def _none() -> list[tuple[int, float]]:
    return []


async def _then(vector: Awaitable[np.ndarray], knn: Callable[[np.ndarray], Awaitable[list[tuple[int, float]]]]
                ) -> list[tuple[int, float]]:
    return await knn(await vector)


def _filters(limit: int, namespace_prefix: str | None, kinds: Sequence[str], memory_type: str | None,
             agent: str | None, since: float | None, until: float | None) -> vectors.VectorFilters:
    """The filters ``search`` and ``recent`` share, checked: a limit in range, known kinds and memory type."""
    if not 1 <= limit <= 500:
        raise InvalidArgument("limit must be between 1 and 500")
    unknown = [k for k in kinds if k not in ITEM_KINDS]
    if unknown:
        raise InvalidArgument(f"unknown kind(s) {', '.join(unknown)}; use {', '.join(ITEM_KINDS)}")
    if memory_type is not None:
        memory_type = parse_memory_type(memory_type).value
    return vectors.VectorFilters(namespace_prefix or None, tuple(kinds), memory_type, agent, since, until)
