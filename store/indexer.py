"""The background indexer: embeds what was written, so that writes never wait for an embedding.

It survives the embedder being down: failed items are recorded and retried later, and until
then they stay keyword-searchable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from .errors import StoreError

log = logging.getLogger(__name__)


@dataclass
class IndexerStats:
    embedded: int = 0
    failures: int = 0
    last_error: str | None = None
    last_batch_ms: float | None = None
    texts_per_second: float | None = None
    started_at: float = field(default_factory=time.time)


class Indexer:
    """Embed pending search items in batches with one embedder; back off while it fails."""

    def __init__(self, store, embedder, *, batch: int = 32, idle: float = 1.0, max_backoff: float = 60.0,
                 retry_after: float = 30.0) -> None:
        self.store = store
        self.embedder = embedder
        self.batch = batch
        self.idle = idle
        self.max_backoff = max_backoff
        self.retry_after = retry_after
        self.stats = IndexerStats()
        self._backoff = 0.0

    async def run_once(self) -> int:
        """Embed one batch; returns how many vectors were stored (0 when nothing is pending or it failed)."""
        pending = await self.store.pending_embeddings(self.embedder.model, limit=self.batch,
                                                      retry_after=self.retry_after)
        if not pending:
            return 0
        started = time.perf_counter()
        try:
            vectors = await self.embedder.embed_documents([text for _, text in pending])
        except (StoreError, OSError, ValueError) as exc:
            self.stats.failures += 1
            self.stats.last_error = str(exc)
            await self.store.record_embedding_failure(self.embedder.model, [i for i, _ in pending], str(exc))
            raise
        elapsed = time.perf_counter() - started
        stored = await self.store.store_embeddings(
            self.embedder.model, self.embedder.dim,
            [(item, vec, text) for (item, text), vec in zip(pending, vectors)],
        )
        self.stats.embedded += stored
        self.stats.last_error = None
        self.stats.last_batch_ms = elapsed * 1000
        self.stats.texts_per_second = len(pending) / elapsed if elapsed else None
        return stored

    async def drain(self, *, max_failures: int = 1) -> int:
        """Embed until nothing is pending (the CLI's `memory index`); stops after repeated failures."""
        total, failures = 0, 0
        while True:
            try:
                stored = await self.run_once()
            except (StoreError, OSError, ValueError):
                failures += 1
                if failures >= max_failures:
                    raise
                continue
            if not stored:
                return total
            total += stored

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the index current until ``stop`` is set (the app runs this as a worker)."""
        while not stop.is_set():
            try:
                stored = await self.run_once()
                self._backoff = 0.0
                delay = 0.0 if stored else self.idle
            except (StoreError, OSError, ValueError) as exc:
                self._backoff = min(self.max_backoff, max(1.0, self._backoff * 2))
                delay = self._backoff
                log.warning("embedding failed, retrying in %.0f s: %s", delay, exc)
            if delay:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except asyncio.TimeoutError:
                    pass
