"""The background indexer, on a real database file: writes never wait for embedding, batches,
failures recorded and retried, a new model re-embeds, vectors follow changes, and run() stops."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from memory_support import _WORDS, item_id, scalar, titles

from swarmdeck.store.embed import EmbedderError, HashEmbedder
from swarmdeck.store.indexer import Indexer
from swarmdeck.store.sqlite import vectors

#: Memory and search run on both backends (tests/conftest.py).
STORE_BACKENDS = ("sqlite", "postgres")


# -- helpers ------------------------------------------------------------------------------------


async def vector_count(store, model: str, item: int) -> tuple[int, int]:
    """(rows in the model's vec0 table, rows in embeddings) for one search item."""
    table = vectors.table_for(model)
    vec = await scalar(store, f"SELECT count(*) FROM {table} WHERE item_id = ?", (item,))
    emb = await scalar(store, "SELECT count(*) FROM embeddings WHERE item_id = ?", (item,))
    return vec, emb


class FlakyEmbedder:
    """An embedder whose server can be taken down and brought back."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.model, self.dim = inner.model, inner.dim
        self.down = True
        self.calls = 0

    async def embed_documents(self, texts):
        self.calls += 1
        if self.down:
            raise EmbedderError("could not connect to Ollama at http://localhost:11434 (connection refused)")
        return await self.inner.embed_documents(texts)

    async def embed_query(self, text):
        return await self.inner.embed_query(text)


# -- the background indexer --------------------------------------------------------------------------------


async def _memories(store, n: int, ns: str = "ns") -> None:
    for i in range(n):
        await store.add_memory(ns, f"note-{i}", f"note {i} about {_WORDS[i % 26]} and {_WORDS[(i * 3) % 26]}",
                               memory_type="episodic", created_by="t")


class TestIndexer:
    async def test_writes_do_not_wait_and_batches_embed(self, store):
        embedder = HashEmbedder()
        await _memories(store, 5)
        status = await store.index_status(embedder.model)
        assert (status.entries, status.embedded, status.pending, status.failed, status.dim) == (5, 0, 5, 0, None)
        assert await store.index_status(None) == type(status)(5, 0, 5, 0, None, None)
        assert await store.search("bravo", mode="semantic", embedder=embedder) == []  # nothing embedded yet
        indexer = Indexer(store, embedder, batch=2)
        assert await indexer.run_once() == 2
        status = await store.index_status(embedder.model)
        assert (status.embedded, status.pending, status.dim, status.model) == (2, 3, 64, "hash:64")
        assert await indexer.drain() == 3
        assert await indexer.run_once() == 0
        assert (await store.index_status(embedder.model)).pending == 0
        assert indexer.stats.embedded == 5 and indexer.stats.last_error is None
        # the newest batch was item 5 alone; the item ids let caches of the vectors catch up
        assert (await store.events(kind="index.embedded"))[0].payload == {"count": 1, "items": [5]}

    async def test_a_failing_embedder_is_recorded_and_retried_later(self, store, clock):
        await _memories(store, 4)
        flaky = FlakyEmbedder(HashEmbedder())
        indexer = Indexer(store, flaky, batch=10, retry_after=30)
        with pytest.raises(EmbedderError, match="connection refused"):
            await indexer.run_once()
        status = await store.index_status(flaky.model)
        assert (status.embedded, status.pending, status.failed) == (0, 4, 4)
        assert "connection refused" in status.last_error and "connection refused" in indexer.stats.last_error
        assert await store.events(kind="index.failed")
        # still found by keyword; hybrid falls back to keyword
        assert await titles(store, "note 2", mode="keyword")
        assert await titles(store, "bravo", mode="hybrid", embedder=flaky)

        # within retry_after nothing is retried, even with the server back
        flaky.down = False
        assert await indexer.run_once() == 0 and flaky.calls == 1
        clock.advance(31)
        assert await indexer.drain() == 4
        status = await store.index_status(flaky.model)
        assert (status.embedded, status.pending, status.failed, status.last_error) == (4, 0, 0, None)
        assert (await titles(store, "bravo", mode="semantic", embedder=flaky, limit=1))

    async def test_drain_gives_up_after_repeated_failures(self, store, clock):
        await _memories(store, 2)
        flaky = FlakyEmbedder(HashEmbedder())
        with pytest.raises(EmbedderError):
            await Indexer(store, flaky, retry_after=0).drain(max_failures=3)
        assert flaky.calls == 3

    async def test_a_new_model_re_embeds_everything(self, store):
        await _memories(store, 6)
        old, new = HashEmbedder(64), HashEmbedder(32)
        assert old.model != new.model
        await Indexer(store, old).drain()
        assert (await store.index_status(new.model)).pending == 6
        assert await store.search("note 4", mode="semantic", embedder=new) == []
        await Indexer(store, new, batch=4).drain()
        status = await store.index_status(new.model)
        assert (status.embedded, status.pending, status.dim) == (6, 0, 32)
        hits = await store.search("note 4 about echo and mike", mode="semantic", embedder=new, limit=1)
        assert [h.title for h in hits] == ["note-4"]
        assert await scalar(store, f"SELECT count(*) FROM {vectors.table_for(new.model)}") == 6

    async def test_a_failing_new_model_waits_like_any_failure(self, store, clock):
        """Items embedded by an older model and failing with the new one wait retry_after too."""
        await _memories(store, 3)
        await Indexer(store, HashEmbedder(64)).drain()
        flaky = FlakyEmbedder(HashEmbedder(32))
        indexer = Indexer(store, flaky, retry_after=30)
        with pytest.raises(EmbedderError):
            await indexer.run_once()
        assert (await store.index_status(flaky.model)).failed == 3
        flaky.down = False
        assert await indexer.run_once() == 0 and flaky.calls == 1
        clock.advance(31)
        assert await indexer.drain() == 3 and flaky.calls == 2

    async def test_vectors_go_when_a_memory_changes_or_goes(self, store):
        embedder = HashEmbedder()
        entry = await store.add_memory("ns", "k", "kestrel nests", memory_type="semantic", created_by="t")
        await Indexer(store, embedder).drain()
        item = await item_id(store, "memory", entry.id)
        assert await vector_count(store, embedder.model, item) == (1, 1)
        assert [h.title for h in await store.search("kestrel", mode="semantic", embedder=embedder)] == ["k"]

        await store.update_memory("ns", "k", "osprey nests", updated_by="t")
        assert await vector_count(store, embedder.model, item) == (0, 0)
        assert (await store.index_status(embedder.model)).pending == 1
        assert await store.search("kestrel", mode="semantic", embedder=embedder) == []
        await Indexer(store, embedder).drain()
        assert await vector_count(store, embedder.model, item) == (1, 1)

        await store.delete_memory("ns", "k", deleted_by="t")
        assert await vector_count(store, embedder.model, item) == (0, 0)
        assert await store.search("osprey", mode="semantic", embedder=embedder) == []
        assert (await store.index_status(embedder.model)).entries == 0

    async def test_an_update_while_embedding_is_not_stored_with_the_old_vector(self, store):
        """The indexer read the old text; the memory changed before its vector came back."""
        first = await store.add_memory("ns", "k", "kestrel nests", memory_type="semantic", created_by="t")
        before = await item_id(store, "memory", first.id)
        inner = HashEmbedder()

        class UpdatingEmbedder:
            model, dim = inner.model, inner.dim

            async def embed_documents(self, texts):
                await store.update_memory("ns", "k", "osprey nests", updated_by="t")
                return await inner.embed_documents(texts)

            async def embed_query(self, text):
                return await inner.embed_query(text)

        await Indexer(store, UpdatingEmbedder()).run_once()
        item = await item_id(store, "memory", (await store.get_memory("ns", "k")).id)
        assert item == before  # the same search item, now standing for the new version
        assert (await store.index_status(inner.model)).pending == 1  # still to embed, with the new text
        assert await vector_count(store, inner.model, item) == (0, 0)
        assert await Indexer(store, inner).drain() == 1
        stored = await scalar(store, "SELECT vector FROM embeddings WHERE item_id = ?", (item,))
        np.testing.assert_array_equal(np.frombuffer(stored, dtype="<f4"), inner.embed_sync(["k\nosprey nests"])[0])

    async def test_a_memory_deleted_while_its_batch_fails(self, store):
        """Recording the failure of a batch whose item went meanwhile still records the others."""
        await _memories(store, 3)

        class DeletingEmbedder:
            model, dim = "gone:8", 8

            async def embed_documents(self, texts):
                await store.delete_memory("ns", "note-0", deleted_by="t")
                raise EmbedderError("model crashed")

            async def embed_query(self, text):
                raise EmbedderError("model crashed")

        with pytest.raises(EmbedderError, match="model crashed"):
            await Indexer(store, DeletingEmbedder()).run_once()
        status = await store.index_status("gone:8")
        assert (status.entries, status.failed, status.last_error) == (2, 2, "model crashed")

    async def test_run_stops_when_told(self, store):
        await _memories(store, 5)
        stop = asyncio.Event()
        inner = HashEmbedder()

        class StoppingEmbedder:
            model, dim = inner.model, inner.dim
            batches = 0

            async def embed_documents(self, texts):
                StoppingEmbedder.batches += 1
                if StoppingEmbedder.batches == 3:
                    stop.set()
                return await inner.embed_documents(texts)

            async def embed_query(self, text):
                return await inner.embed_query(text)

        # stopped between batches: the third batch is stored, nothing after it is tried
        await asyncio.wait_for(Indexer(store, StoppingEmbedder(), batch=1, idle=3600).run(stop), timeout=10)
        assert StoppingEmbedder.batches == 3
        assert (await store.index_status(inner.model)).embedded == 3

    async def test_run_stops_while_idle_or_backing_off(self, store):
        stop = asyncio.Event()
        polled = asyncio.Event()

        class WatchedStore:
            async def pending_embeddings(self, *args, **kwargs):
                polled.set()
                return await store.pending_embeddings(*args, **kwargs)

            def __getattr__(self, name):
                return getattr(store, name)

        idle = asyncio.create_task(Indexer(WatchedStore(), HashEmbedder(), idle=3600).run(stop))
        await asyncio.wait_for(polled.wait(), timeout=10)
        stop.set()
        await asyncio.wait_for(idle, timeout=10)  # an hour of idling cut short

        await _memories(store, 1)
        flaky = FlakyEmbedder(HashEmbedder())
        original = flaky.embed_documents

        async def fail_then_stop(texts):
            try:
                return await original(texts)
            finally:
                stop.set()

        flaky.embed_documents = fail_then_stop
        stop.clear()
        await asyncio.wait_for(Indexer(store, flaky, max_backoff=3600).run(stop), timeout=10)
        assert flaky.calls == 1 and (await store.index_status(flaky.model)).failed == 1
