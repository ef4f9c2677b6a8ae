"""Search for the memory and document tools: the shared rule (store/rules.py: hybrid when the index can
serve it, else keyword results), with the note the model reads when it fell back."""

from __future__ import annotations

from typing import Any

from swarmdeck.store import Store, rules
from swarmdeck.store import search as search_rules
from swarmdeck.store.models import SearchMode


async def search(store: Store, embedder: Any, query: str, *, kinds: list[str], namespace_prefix: str | None,
                 memory_type: str | None, limit: int, everything: bool = False,
                 mode: SearchMode | str = SearchMode.HYBRID, **filters: Any,
                 ) -> tuple[list[Any], str, str | None, int]:
    """The hits, the mode that ranked them, a note saying why semantic ranking took no part or how many
    less relevant hits were left out, and how many were. ``filters``: `Store.search`'s others (agent,
    since, until)."""
    answer = await rules.search(store, query, mode=mode, embedder=embedder, kinds=kinds,
                                namespace_prefix=namespace_prefix or None, memory_type=memory_type,
                                limit=limit, everything=everything, **filters)
    notes = []
    if answer.fell_back:
        notes.append(f"{answer.reason}; keyword results only")
    if answer.hidden_note:
        notes.append(f"{answer.hidden_note}; include_less_relevant=true returns them")
    return answer.hits, answer.mode.value, "; ".join(notes) or None, len(answer.hidden)


def relevance(hit: Any) -> dict[str, Any]:
    """What a hit's ranking says, for the model: the fused score, the similarity, and the relevance
    (0-100, with strong/good/weak) calibrated for the embedder (store/search.py)."""
    return {"score": hit.score, "similarity": hit.similarity,
            "relevance": None if hit.relevance is None else round(hit.relevance * 100),
            "relevance_label": search_rules.relevance_label(hit.relevance) or None}
