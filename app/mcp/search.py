"""Search for the memory and document tools: hybrid when the index can serve it, else keyword
results and a note saying why."""

from __future__ import annotations

from typing import Any

from swarmdeck.store import Store
from swarmdeck.store.models import SearchMode


class _EmbedFailed(Exception):
    """The query could not be embedded: the search falls back to keyword results."""


class _GuardedEmbedder:
    """The configured embedder, its failures told apart from the store's."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model = inner.model

    async def embed_query(self, text: str) -> Any:
        try:
            return await self.inner.embed_query(text)
        except Exception as exc:  # a model that will not load, a server that is down
            raise _EmbedFailed(str(exc) or type(exc).__name__) from exc


async def search(store: Store, embedder: Any, query: str, *, kinds: list[str], namespace_prefix: str | None,
                 memory_type: str | None, limit: int) -> tuple[list[Any], str, str | None]:
    """Hybrid search when the index can serve it, else keyword results and a note saying why."""
    params = dict(kinds=kinds, namespace_prefix=namespace_prefix or None, memory_type=memory_type,
                  limit=limit)
    if embedder is None:
        hits = await store.search(query, mode=SearchMode.KEYWORD, **params)
        return hits, "keyword", "semantic search is off (no embedder); keyword results only"
    status = await store.index_status(embedder.model)
    if not status.embedded:
        hits = await store.search(query, mode=SearchMode.KEYWORD, **params)
        return hits, "keyword", f"nothing is embedded with {embedder.model} yet; keyword results only"
    try:
        guarded = _GuardedEmbedder(embedder)
        hits = await store.search(query, mode=SearchMode.HYBRID, embedder=guarded, **params)
        return hits, "hybrid", None
    except _EmbedFailed as exc:
        hits = await store.search(query, mode=SearchMode.KEYWORD, **params)
        return hits, "keyword", f"semantic search failed ({exc}); keyword results only"
