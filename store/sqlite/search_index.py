"""SQLite's search index: the shared one (store/search_index.py) given SQLite's ``Rankings``: keyword on
FTS5 (bm25, the title weighted 3 to the body's 1) and semantic on the vector index the store chose
(sqlite-vec or sqlite-vss, and the in-memory fast path: vectors.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .. import search as rules
from ..search_index import SearchIndex, _none, _then  # noqa: F401  (SearchIndex: this store's part)
from ..sql_dialect import SQLITE, Sql
from . import vectors
from .base import Database, Tx

if TYPE_CHECKING:
    import numpy as np

#: A keyword search filtered to fewer items than this reads them first (``SearchIndex._keyword``): past about
#: 20,000 of 100,000 items, looking up each FTS5 match costs less than gathering the set.
FEW_ITEMS = 10_000


class Rankings:
    """SQLite's rankings for the shared search index: FTS5's bm25 and the vector index the store chose
    (backend and fast path)."""

    __slots__ = ("db", "_vectors")

    sql: Sql = SQLITE

    def __init__(self, db: Database, index: vectors.VectorIndex) -> None:
        self.db = db
        self._vectors = index

    def ensure_index(self, tx: Tx, model: str, dim: int) -> str:
        return self._vectors.ensure_index(tx, model, dim)

    def put(self, tx: Tx, table: str, item_id: int, vector: np.ndarray, item: Mapping[str, Any]) -> None:
        self._vectors.put(tx, table, item_id, vector, item)

    async def flush(self, model: str) -> None:
        await self._vectors.flush(model)

    def vector_tables(self, tx: Tx) -> None:
        return None  # sqlite-vec's tables (vectors.forget); a vss0 index catches up from the feed

    def recent_order(self, filters: vectors.VectorFilters) -> str:
        # A rowid walk that the limit stops, where an order by time would sort every item. With a
        # namespace, kind or agent, that filter's index finds the items and they are sorted (`+` keeps the
        # planner from walking the whole table in rowid order, testing each row against a filter few may
        # pass). A memory type or time range alone has no index: the rowid walk reads items until ``limit``
        # of them pass (the whole table only if fewer than that do).
        indexed = filters.namespace_prefix or filters.kinds or filters.agent
        return "+si.id" if indexed else "si.id"

    async def keyword(self, query: str, filters: vectors.VectorFilters, depth: int) -> list[tuple[int, float]]:
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

    async def semantic(self, query: str, embedder: Any, filters: vectors.VectorFilters,
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
