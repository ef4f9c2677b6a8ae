"""What only PostgreSQL's search has: pgvector's HNSW index beside the exact search over ``embeddings``
(the same nearest items), a model's vector table made again from ``embeddings`` when it is missing, and
the keyword query's words split as the tsvector splits text. Everything search must do alike runs on both
backends in test_search.py, test_memory.py and test_indexer.py."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from memory_support import _WORDS, read, scalar

from swarmdeck.store.embed import HashEmbedder
from swarmdeck.store.indexer import Indexer
from swarmdeck.store.postgres import search_index as pg_search
from swarmdeck.store.vectors import VectorFilters, table_for

STORE_BACKENDS = ("postgres",)


class ClusterEmbedder:
    """Vectors in a few tight clusters (as real embeddings fall), chosen by the text's first word, so that
    many items are near each other and the order within a cluster is decided by small differences."""

    model = "cluster:16"
    dim = 16

    def __init__(self) -> None:
        rng = np.random.default_rng(7)
        self.centres = {word: rng.normal(size=self.dim) for word in _WORDS[:5]}

    def _vector(self, text: str) -> np.ndarray:
        word = text.split()[0] if text.split()[0] in self.centres else _WORDS[0]
        jitter = np.random.default_rng(zlib.crc32(text.encode())).normal(scale=0.3, size=self.dim)
        return (self.centres[word] + jitter).astype(np.float32)

    async def embed_documents(self, texts):
        return np.stack([self._vector(t) for t in texts]) if texts else np.empty((0, self.dim), np.float32)

    async def embed_query(self, text):
        return self._vector(text)


async def _corpus(store, n: int = 200) -> ClusterEmbedder:
    for i in range(n):
        word = _WORDS[i % 5]
        await store.add_memory(f"team:{'ab'[i % 2]}", f"{word}-{i}", f"{word} note number {i}",
                               memory_type="semantic", created_by=f"bot-{i % 3}")
    embedder = ClusterEmbedder()
    await Indexer(store, embedder, batch=64).drain()
    return embedder


async def test_pgvector_and_the_exact_search_find_the_same_nearest_items(store):
    embedder = await _corpus(store)
    table = table_for(embedder.model)
    assert await scalar(store, f"SELECT count(*) FROM {table}") == 200  # the HNSW index holds every vector
    ranking = store.search_index.ranking
    rng = np.random.default_rng(11)
    for query_word in _WORDS[:5]:
        vector = await embedder.embed_query(f"{query_word} question {rng.integers(1000)}")
        for filters in (VectorFilters(), VectorFilters(namespace_prefix="team:a"),
                        VectorFilters(agent="bot-1", kinds=("memory",))):
            hnsw = await ranking.knn(embedder.model, table, vector, 10, filters)
            exact = await ranking.exact(embedder.model, vector, 10, filters)
            assert [i for i, _ in hnsw] == [i for i, _ in exact], (query_word, filters)
            assert [d for _, d in hnsw] == pytest.approx([d for _, d in exact], abs=1e-5)


async def test_without_the_model_s_table_the_exact_search_answers_the_same(store):
    embedder = await _corpus(store, 60)
    with_index = [h.item_id for h in await store.search("charlie note", mode="semantic", embedder=embedder)]
    await store._write("test", lambda tx: tx.run(f"DROP TABLE {table_for(embedder.model)}"))
    without = [h.item_id for h in await store.search("charlie note", mode="semantic", embedder=embedder)]
    assert without == with_index and len(without) == 20
    # the next vectors stored make the table again, from every vector the model has
    await store.add_memory("team:a", "late", "alpha late note", memory_type="semantic", created_by="bot-0")
    await Indexer(store, embedder).drain()
    assert await scalar(store, f"SELECT count(*) FROM {table_for(embedder.model)}") == 61


async def test_a_vector_goes_from_the_model_s_table_with_its_memory(store):
    await store.add_memory("ns", "k", "kestrel notes", memory_type="semantic", created_by="a")
    await Indexer(store, HashEmbedder()).drain()
    table = table_for(HashEmbedder().model)
    assert await scalar(store, f"SELECT count(*) FROM {table}") == 1
    await store.update_memory("ns", "k", "kestrel notes, revised", updated_by="a")
    assert await scalar(store, f"SELECT count(*) FROM {table}") == 0
    await Indexer(store, HashEmbedder()).drain()
    assert await scalar(store, f"SELECT count(*) FROM {table}") == 1
    await store.delete_memory("ns", "k", deleted_by="a")
    assert await scalar(store, f"SELECT count(*) FROM {table}") == 0


def test_the_words_of_a_keyword_query_are_split_as_the_index_splits_text():
    assert pg_search.word_queries("why did the websocket fail") == ["websocket", "fail:*"]
    assert pg_search.word_queries("store/sqlite/base.py ") == ["store <-> sqlite <-> base <-> py"]
    assert pg_search.word_queries("snake_case o'brien") == ["snake <-> case", "o", "brien:*"]  # FTS5's tokens
    # tsquery syntax in what a person types stays inert ("a" is a stop word)
    assert pg_search.word_queries("a & !b | c:*") == ["b", "c:*"]
    assert pg_search.word_queries("!!! ***") == []


async def test_tsquery_syntax_in_a_query_finds_the_words_and_nothing_breaks(store):
    await store.add_memory("ns", "ops", "restart the workers one by one", memory_type="semantic", created_by="a")
    for query in ("workers & !restart", "'workers'", "workers:* | (restart", "<-> workers"):
        hits = await store.search(query, mode="keyword")
        assert [h.title for h in hits] == ["ops"], query
    rows = await read(store, "SELECT count(*) FROM search_items WHERE tsv @@ to_tsquery('swarmdeck_english', ?)",
                      ("restart",))
    assert rows[0][0] == 1


async def test_with_memory_and_search_the_postgresql_store_is_a_whole_store(store):
    from swarmdeck.store import Store

    assert isinstance(store, Store)
