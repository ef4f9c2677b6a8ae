"""Search for the memory and document tools: the shared rule (store/rules.py: hybrid when the index can
serve it, else keyword results), with the note the model reads when it fell back."""

from __future__ import annotations

from typing import Any

from swarmdeck.store import Store, rules
from swarmdeck.store.models import SearchMode


async def search(store: Store, embedder: Any, query: str, *, kinds: list[str], namespace_prefix: str | None,
                 memory_type: str | None, limit: int) -> tuple[list[Any], str, str | None]:
    """The hits, the mode that ranked them, and a note saying why semantic ranking took no part."""
    answer = await rules.search(store, query, mode=SearchMode.HYBRID, embedder=embedder, kinds=kinds,
                                namespace_prefix=namespace_prefix or None, memory_type=memory_type,
                                limit=limit)
    note = f"{answer.reason}; keyword results only" if answer.fell_back else None
    return answer.hits, answer.mode.value, note
