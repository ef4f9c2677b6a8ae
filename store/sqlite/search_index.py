"""The search index of the memories, records and documents, and search over it: keyword (FTS5 bm25),
semantic (vectors) or both fused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .. import learning, search as rules
from ..errors import InvalidArgument, NotFound
from ..events import EventKind
from ..models import IndexStatus, MemoryType, SearchHit, SearchMode, from_ts
from . import vectors
from .base import Database, Tx

if TYPE_CHECKING:
    import numpy as np

#: A keyword search filtered to fewer items than this reads them first (``SearchIndex._keyword``): past about
#: 20,000 of 100,000 items, looking up each FTS5 match costs less than gathering the set.
FEW_ITEMS = 10_000

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
    """The search index (``search_items`` and its FTS5 table), the embeddings written into it, and search
    over it. Given the database and the vector index (backend and fast path) the store chose."""

    __slots__ = ("db", "_vectors")

    def __init__(self, db: Database, index: vectors.VectorIndex) -> None:
        self.db = db
        self._vectors = index

    # -- the search index ------------------------------------------------------------------------------------

    def put_item(self, tx: Tx, kind: str, ref_id: int, namespace: str, title: str, body: str, *,
                  memory_type: str | None = None, agent: str | None = None, task_id: int | None = None,
                  milestone_id: int | None = None, created_at: float | None = None) -> int:
        return tx.run(
            "INSERT INTO search_items (kind, ref_id, namespace, title, body, memory_type, agent, task_id, "
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
        vectors.forget(tx, [row[0]])
        tx.run("UPDATE search_items SET ref_id = ?, title = ?, body = ?, memory_type = ?, agent = ?, "
               "created_at = ?, embedded_model = NULL WHERE id = ?",
               (new_ref, title, body, memory_type, agent, tx.now, row[0]))

    def drop_item(self, tx: Tx, kind: str, ref_id: int) -> None:
        row = tx.one("SELECT id FROM search_items WHERE kind = ? AND ref_id = ?", (kind, ref_id))
        if row is not None:
            vectors.forget(tx, [row[0]])
            tx.run("DELETE FROM search_items WHERE id = ?", (row[0],))

    async def pending_embeddings(self, model: str, *, limit: int = 64, retry_after: float = 30.0) -> list[tuple[int, str]]:
        """Items without a current vector for ``model`` (recent failures wait ``retry_after`` s): (id, text)."""
        now = self.db.clock()
        waiting = ("NOT EXISTS (SELECT 1 FROM embedding_failures f WHERE f.item_id = si.id AND f.model = ? "
                   "AND f.failed_at > ?)")
        rows = await self.db._all(
            f"SELECT si.id, si.title, si.body FROM search_items si WHERE si.embedded_model IS NULL AND {waiting} "
            "ORDER BY si.id LIMIT ?",
            (model, now - retry_after, limit),
        )
        if len(rows) < limit:  # items embedded by another model: re-embed for this one
            # < and > (not !=) are two ranges of search_items_embedded that skip this model's items, and
            # no ORDER BY (which would sort every stale item): an idle indexer's poll reads nothing.
            rows += await self.db._all(
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
            table = self._vectors.ensure_index(tx, model, dim)
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
                self._vectors.put(tx, table, item_id, vec, item)
                tx.run("INSERT OR REPLACE INTO embeddings (item_id, model, dim, vector, embedded_at) "
                       "VALUES (?, ?, ?, ?, ?)", (item_id, model, dim, blob, tx.now))
                tx.run("UPDATE search_items SET embedded_model = ? WHERE id = ?", (model, item_id))
                tx.run("DELETE FROM embedding_failures WHERE item_id = ?", (item_id,))
                stored_ids.append(item_id)
            stored = len(stored_ids)
            if stored:  # the item ids: caches of the vectors catch up from the change feed
                tx.event(EventKind.INDEX_EMBEDDED, "index", model, {"count": stored, "items": stored_ids})
            return stored

        stored = await self.db._write("indexer", in_tx)
        if stored:
            await self._vectors.flush(model)
        return stored

    async def record_embedding_failure(self, model: str, item_ids: Iterable[int], error: str) -> None:
        def in_tx(tx: Tx) -> None:
            for item_id in item_ids:
                # an item deleted while its batch was out is skipped (its failure row could not exist)
                tx.run(
                    "INSERT INTO embedding_failures (item_id, model, error, failed_at) SELECT id, ?, ?, ? "
                    "FROM search_items WHERE id = ? "
                    "ON CONFLICT (item_id) DO UPDATE SET error = excluded.error, model = excluded.model, "
                    "attempts = attempts + 1, failed_at = excluded.failed_at",
                    (model, error[:500], tx.now, item_id),
                )
            tx.event(EventKind.INDEX_FAILED, "index", model, {"error": error[:500]})

        return await self.db._write("indexer", in_tx)

    async def index_status(self, model: str | None) -> IndexStatus:
        entries = (await self.db._one("SELECT count(*) FROM search_items"))[0]
        if model is None:
            return IndexStatus(entries, 0, entries, 0, None, None)
        embedded = (await self.db._one("SELECT count(*) FROM search_items WHERE embedded_model = ?", (model,)))[0]
        failed = (await self.db._one("SELECT count(*) FROM embedding_failures WHERE model = ?", (model,)))[0]
        last = await self.db._one("SELECT error FROM embedding_failures WHERE model = ? ORDER BY failed_at DESC LIMIT 1",
                               (model,))
        dim = await self.db._one("SELECT dim FROM vector_indexes WHERE model = ?", (model,))
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
        """Ranked memories, records and documents: keyword (FTS5 bm25), semantic (vectors) or both fused.

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
        # Both rankings at once: the query's embedding (on a thread) overlaps the keyword query (on SQLite's).
        # The semantic ranking is started first, so that what it reads is read before the keyword query
        # takes the read connection, whose queries run one at a time.
        meaning = mode in (SearchMode.HYBRID, SearchMode.SEMANTIC) and embedder is not None and query.strip()
        by_meaning, vector = await self._semantic(query, embedder, filters, depth) if meaning else (_none(), None)
        by_words, by_meaning = await asyncio.gather(
            self._keyword(query, filters, depth) if mode in (SearchMode.HYBRID, SearchMode.KEYWORD) else _none(),
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
        rows = await self.db._all(
            "SELECT item_id, vector FROM embeddings WHERE model = ? AND item_id IN (SELECT value FROM json_each(?))",
            (model, json.dumps(missing)))
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
        # Newest first by when the entry first became searchable (the item's id): a rowid walk that the
        # limit stops, where an order by time would sort every item. (A new version keeps its entry's place.)
        # With a namespace, kind or agent, that filter's index finds the items and they are sorted (`+` keeps
        # the planner from walking the whole table in rowid order, testing each row against a filter few may
        # pass). A memory type or time range alone has no index: the rowid walk reads items until ``limit``
        # of them pass (the whole table only if fewer than that do).
        indexed = filters.namespace_prefix or filters.kinds or filters.agent
        order = "+si.id" if indexed else "si.id"
        where = f" WHERE {where.removeprefix(' AND ')}" if where else ""
        rows = await self.db._all(f"SELECT si.id FROM search_items si{where} ORDER BY {order} DESC LIMIT ?",
                                  (*params, limit))
        return await self._hits([(r[0], 0.0) for r in rows], [], [], [], recent=True)

    async def _keyword(self, query: str, filters: vectors.VectorFilters, depth: int) -> list[tuple[int, float]]:
        match = rules.fts_query(query)
        if match is None:
            return []
        rank = "bm25(search_fts, 3.0, 1.0) AS rank"
        if not filters:
            # FTS5 alone: joining search_items for every match (~20k of 100k for a question) doubled the time.
            sql, params = f"SELECT rowid, {rank} FROM search_fts WHERE search_fts MATCH ?", []
        elif await self._few_items(filters):
            # The filter's items first, from their index; each FTS5 match is then checked against them
            # instead of being looked up in search_items (at 3% of 100k items, 5 ms instead of 15). The `+`
            # keeps the set away from FTS5, which would run the whole MATCH again for each of its ids.
            where, params = filters.item_sql()
            sql = (f"SELECT rowid, {rank} FROM search_fts WHERE search_fts MATCH ? "
                   f"AND +rowid IN (SELECT si.id FROM search_items si WHERE 1{where})")
        else:
            # CROSS JOIN keeps FTS5 the outer loop: with an agent or time filter the planner otherwise starts
            # from search_items and runs the whole MATCH again for each row (16 s instead of 50 ms at 100k).
            where, params = filters.item_sql()
            sql = (f"SELECT si.id, {rank} FROM search_fts CROSS JOIN search_items si "
                   f"ON si.id = search_fts.rowid WHERE search_fts MATCH ?{where}")
        rows = await self.db._all(f"{sql} ORDER BY rank LIMIT ?", (match, *params, depth))
        return [(r[0], r[1]) for r in rows]

    async def _few_items(self, filters: vectors.VectorFilters) -> bool:
        """Whether one index of search_items gives the filter's items (one of namespace, kinds and agent,
        with or without a time range) and they are fewer than ``FEW_ITEMS``: counting them reads at most
        that many index entries (under 1 ms)."""
        if filters.memory_type or sum(map(bool, (filters.namespace_prefix, filters.kinds, filters.agent))) != 1:
            return False
        if not filters.namespace_prefix:
            where, params = filters.item_sql()
        else:
            # One range from the prefix itself to the end of what lies under it: a few namespaces more
            # (project:a-old sorts between project:a and project:a/) make no difference to a count that
            # only decides how to search, and one range is read at half the cost of the exact two.
            exact, low, high = rules.namespace_scope(filters.namespace_prefix)
            where, params = replace(filters, namespace_prefix=None).item_sql()
            where, params = f" AND si.namespace >= ? AND si.namespace < ?{where}", [exact or low, high, *params]
        row = await self.db._one(f"SELECT count(*) FROM (SELECT 1 FROM search_items si WHERE 1{where} LIMIT ?)",
                              (*params, FEW_ITEMS))
        return row[0] < FEW_ITEMS

    async def _semantic(self, query: str, embedder: Any, filters: vectors.VectorFilters,
                        depth: int) -> tuple[Awaitable[list[tuple[int, float]]], asyncio.Future | None]:
        """The semantic ranking, started: the query's embedding is under way on its thread and the index
        has read what it needs; what is returned finishes it (and the embedding, once it has)."""
        index = await self.db._one("SELECT table_name, dim FROM vector_indexes WHERE model = ?", (embedder.model,))
        if index is None:
            return _none(), None  # nothing embedded with this model yet: keyword results still come
        vector = asyncio.ensure_future(embedder.embed_query(query))
        try:
            knn = await self._vectors.prepare(self.db._read_conn, embedder.model, index[0], depth, filters)
        except BaseException:
            vector.cancel()
            raise
        return _then(vector, knn), vector

    async def _hits(self, ranked: list[tuple[int, float]], keyword: list[int], semantic: list[int],
                    words: list[str], similarity: dict[int, float] | None = None,
                    cal: rules.Calibration | None = None, *, recent: bool = False) -> list[SearchHit]:
        if not ranked:
            return []
        rows = {r["id"]: r for r in await self.db._all(
            "SELECT * FROM search_items WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps([i for i, _ in ranked]),),
        )}
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
        row = await self.db._one("SELECT body FROM search_items WHERE id = ?", (item_id,))
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
