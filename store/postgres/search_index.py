"""PostgreSQL's search index: the shared one (store/search_index.py) given PostgreSQL's ``Rankings`` and SQL.

Keyword ranking. The words are SQLite's (``search.query_words``: the meaningful words, the last as a
prefix while it is being typed), each split and stemmed as the index is (schema.py: every run of
characters other than letters and digits separates tokens; a word of several tokens is a phrase, as a
quoted FTS5 string is) into one ``tsquery`` per word. The GIN index on ``search_items.tsv`` finds the
items holding any of them; each is scored as FTS5's bm25 scores it, the sum over the query's words of
the word's inverse document frequency (FTS5's formula, over every item, not only those the filters keep)
times how much of it the item holds, which here is ``ts_rank`` with the title weighted above the body
(``_WEIGHTS``; SQLite's is bm25(search_fts, 3.0, 1.0)) and divided by 1 + log of the item's length in
words (what stands for bm25's length normalisation; ``ts_rank`` also saturates as a word repeats, as
bm25 does). The terms' document frequencies and the ranks are one
pass over the matching items; the filters are applied inside that query, before its limit.
tests/bench/bench_pg_search.py measures the agreement with FTS5 on the seeds' questions (BENCHMARKS.md).

Semantic ranking. With pgvector, each model's vectors are also in its table (``vector_indexes.table_name``,
``schema.vector_table_sql``: an HNSW index on cosine distance), written in the same transaction as the
``embeddings`` row, and the k nearest are found by the index with the filters in the same query
(``hnsw.iterative_scan = strict_order``, so that filtered-out neighbours do not leave the answer short;
``hnsw.ef_search`` = ``EF_SEARCH``): approximate, its recall@10 against the exact search measured by the
benchmark. When the filters leave fewer than k, the exact search answers instead. Without pgvector (or
before a model's table exists) the exact search answers: numpy over the float32 bytes of ``embeddings``
(store/vectors.py), the same code SQLite uses when it has no vector index.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import psycopg

from .. import search as rules
from .. import vectors
from ..search_index import Ranked, SearchIndex, _none, _then
from ..sql_dialect import Sql
from . import schema
from .base import Database
from .sql import PG_SQL, PgSql, PgTx, _pg

if TYPE_CHECKING:
    import numpy as np

#: The HNSW search's candidate list (pgvector's ``hnsw.ef_search``; its default is 40). Larger is
#: slower and nearer the exact answer: BENCHMARKS.md, "PostgreSQL: memory search".
EF_SEARCH = 100

#: Title and body weights of the keyword ranking (``ts_rank``'s {D, C, B, A}: the body is B, the title
#: A). Not SQLite's 1 to 3: bm25 weighs the summed frequency and then saturates, while ``ts_rank`` takes a
#: word's best-weighted place and adds little for the rest, so a title hit weighs more there. Measured on
#: the seeds' questions (tests/bench/bench_pg_search.py, BENCHMARKS.md): with the body at 0.55-0.75 of
#: the title every question's first hit is FTS5's; at 1/3, 16 of 18.
_WEIGHTS = "'{0, 0, 0.65, 1.0}'::float4[]"
_CONFIG = f"'{schema.TS_CONFIG}'::regconfig"
#: ``ts_rank``'s normalisation: 1 divides by 1 + the log of the item's length.
_NORMALIZATION = 1

#: Below this many search items (the planner's estimate) the keyword ranking's idf counts them.
COUNT_ITEMS = 50_000

#: What PostgreSQL's ``[[:alnum:]]+`` finds (schema.py's split): runs of letters and digits.
_TOKENS = re.compile(r"[^\W_]+")




def word_queries(text: str) -> list[str]:
    """``to_tsquery`` input for each word of a keyword search: its tokens split as the index splits text
    (letters and digits only, so nothing in them is tsquery syntax), a phrase of them, the last token a
    prefix where the word is."""
    found = []
    for word, prefix in rules.query_words(text):
        tokens = _TOKENS.findall(word)
        if tokens:
            found.append(" <-> ".join(tokens) + (":*" if prefix else ""))
    return list(dict.fromkeys(found))


def vector_text(vector: np.ndarray) -> str:
    """A float32 vector as pgvector's text input."""
    return "[" + ",".join(map(repr, vector.astype("<f4").tolist())) + "]"


class Rankings:
    """PostgreSQL's rankings for the shared search index: tsvector and GIN for words, pgvector's HNSW (or
    the exact search) for meaning (the module docstring)."""

    __slots__ = ("_tuned", "db")

    sql: Sql = PG_SQL

    def __init__(self, db: Database) -> None:
        self.db = db
        self._tuned: object | None = None  # the reader connection the HNSW settings were made on

    # -- keyword ----------------------------------------------------------------------------------------

    async def keyword(self, query: str, filters: vectors.VectorFilters, depth: int) -> Ranked:
        words = word_queries(query)
        if not words:
            return []
        where, params = filters.item_sql()
        # One pass over the items holding any word: each word's document frequency over all of them
        # (a window), then only those the filters keep are ranked. idf as FTS5's,
        # ln((N - n + 0.5) / (n + 0.5)) and at least 1e-6, in float8 (numeric's ln cost half the
        # query). N is counted below ``COUNT_ITEMS`` items; past that, it is the planner's estimate of
        # the table's rows (a count cost 15 ms at 100,000, and a few percent of N moves an idf by less
        # than that).
        sql = f"""
            WITH w AS MATERIALIZED (
                SELECT n, to_tsquery({_CONFIG}, t) AS q FROM unnest(?::text[]) WITH ORDINALITY AS u(t, n)),
            total AS MATERIALIZED (
                SELECT CASE WHEN c.reltuples >= {COUNT_ITEMS} THEN c.reltuples::float8
                            ELSE (SELECT count(*) FROM search_items)::float8 END AS n
                FROM pg_class c WHERE c.oid = 'search_items'::regclass),
            m AS (
                SELECT si.id, si.tsv, (TRUE{where}) AS kept FROM search_items si
                WHERE si.tsv @@ (SELECT string_agg('(' || q::text || ')', ' | ')::tsquery
                                 FROM w WHERE q::text <> '')),
            hits AS (
                SELECT m.id, m.kept, ts_rank({_WEIGHTS}, m.tsv, w.q, {_NORMALIZATION}) AS tf,
                       count(*) OVER (PARTITION BY w.n) AS df
                FROM m JOIN w ON m.tsv @@ w.q)
            SELECT h.id, -sum(greatest(ln((greatest(total.n, h.df) - h.df + 0.5) / (h.df + 0.5)), 1e-6)
                              * h.tf) AS rank
            FROM hits h, total WHERE h.kept GROUP BY h.id ORDER BY rank, h.id LIMIT ?"""
        rows = await self.db._all(_pg(sql), (words, *params, depth))
        return [(r[0], float(r[1])) for r in rows]

    # -- semantic -----------------------------------------------------------------------------------------

    async def semantic(self, query: str, embedder: Any, filters: vectors.VectorFilters,
                       depth: int) -> tuple[Awaitable[Ranked], asyncio.Future | None]:
        index = await self.db._one(
            "SELECT table_name, to_regclass(table_name) IS NOT NULL FROM vector_indexes WHERE model = %s",
            (embedder.model,))
        if index is None:
            return _none(), None  # nothing embedded with this model yet: keyword results still come
        vector = asyncio.ensure_future(embedder.embed_query(query))
        table, indexed = index
        if indexed:
            try:
                await self._tune()
            except BaseException:
                vector.cancel()
                raise
            return _then(vector, lambda v: self.knn(embedder.model, table, v, depth, filters)), vector
        return _then(vector, lambda v: self.exact(embedder.model, v, depth, filters)), vector

    async def _tune(self) -> None:
        """The HNSW search's settings, on the reader's connection (made once per connection)."""
        conn = await self.db._read_conn()
        if self._tuned is not conn:
            await self.db._one("SELECT set_config('hnsw.ef_search', %s, false), "
                               "set_config('hnsw.iterative_scan', 'strict_order', false)", (str(EF_SEARCH),))
            self._tuned = conn

    async def knn(self, model: str, table: str, vector: np.ndarray, k: int,
                  filters: vectors.VectorFilters) -> Ranked:
        """The k nearest by pgvector's HNSW index, the filters in the same query, ties broken by item id as
        the exact search breaks them (2k are read, so that the k-th place's ties are among them); the exact
        search when the filters leave fewer than k, or when the ties run past the 2k."""
        where, params = filters.item_sql()
        if where:
            sql = (f"SELECT v.item_id, v.embedding <=> ?::vector AS distance FROM {table} v "
                   f"JOIN search_items si ON si.id = v.item_id WHERE TRUE{where} ORDER BY distance LIMIT ?")
        else:
            sql = (f"SELECT item_id, embedding <=> ?::vector AS distance FROM {table} "
                   "ORDER BY distance LIMIT ?")
        rows = await self.db._all(_pg(sql), (vector_text(vector), *params, 2 * k))
        hits = sorted(((r[0], float(r[1])) for r in rows), key=lambda hit: (hit[1], hit[0]))
        if (len(hits) < k and filters) or (len(hits) == 2 * k and hits[k - 1][1] == hits[-1][1]):
            return await self.exact(model, vector, k, filters)
        return hits[:k]

    async def exact(self, model: str, vector: np.ndarray, k: int, filters: vectors.VectorFilters) -> Ranked:
        """The exact k nearest: every vector of the model that passes the filters, scored with numpy. The
        vectors are read in binary (as text, bytea is hex: twice the bytes, and decoding them cost more
        than the scoring); a connection found lost is left to the store's read, which connects again."""
        sql, params = vectors.exact_sql(filters, None)
        try:
            conn = await self.db._read_conn()
            cur = await conn.execute(_pg(sql), (model, *params), binary=True)
            rows = await cur.fetchall()
        except psycopg.OperationalError:
            rows = await self.db._all(_pg(sql), (model, *params))
        rows = [(r[0], bytes(r[1])) for r in rows]
        return await asyncio.to_thread(vectors.exact_from_rows, rows, vector, k)

    # -- the vector index ---------------------------------------------------------------------------------

    def ensure_index(self, tx: PgTx, model: str, dim: int) -> str:
        """The model's pgvector table if the server has pgvector (made, and filled from ``embeddings``, when
        missing), else "" (the exact search serves it). ``vector_indexes`` names the table either way, as
        SQLite's (so a copy between the two keeps it)."""
        row = vectors.registered(tx, model, dim)
        table = row[1] if row is not None else vectors.table_for(model)
        if row is None:
            tx.run("INSERT INTO vector_indexes (model, dim, table_name, created_at) VALUES (?, ?, ?, ?)",
                   (model, dim, table, tx.now))
        if tx.one("SELECT to_regclass(?) IS NOT NULL", (table,))[0]:
            return table
        if not schema.has_pgvector(tx.raw):
            return ""
        tx.raw.execute(schema.vector_table_sql(table, dim).encode())
        for item_id, blob in tx.all("SELECT item_id, vector FROM embeddings WHERE model = ? AND dim = ?",
                                    (model, dim)):
            self.put(tx, table, item_id, _from_blob(blob), None)
        return table

    def put(self, tx: PgTx, table: str, item_id: int, vector: np.ndarray, item: Any) -> None:
        if table:
            tx.run(f"INSERT INTO {table} (item_id, embedding) VALUES (?, ?::vector) "
                   "ON CONFLICT (item_id) DO UPDATE SET embedding = excluded.embedding",
                   (item_id, vector_text(vector)))

    def vector_tables(self, tx: PgTx) -> list[str]:
        return [r[0] for r in tx.all("SELECT table_name FROM vector_indexes "
                                     "WHERE to_regclass(table_name) IS NOT NULL")]

    async def flush(self, model: str) -> None:
        return None

    def recent_order(self, filters: vectors.VectorFilters) -> str:
        return "si.id"


def _from_blob(blob: bytes) -> np.ndarray:
    import numpy as np

    return np.frombuffer(bytes(blob), dtype="<f4")


__all__ = ["PG_SQL", "PgSql", "PgTx", "Rankings", "SearchIndex"]
