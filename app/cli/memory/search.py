"""`swarmdeck memory search`: ranked memories, records and documents, through the shared rule
(store/rules.py: keyword results with a warning when the embedder cannot be used)."""

from __future__ import annotations

import click

from swarmdeck.store import rules
from swarmdeck.store import search as search_rules
from swarmdeck.store.errors import StoreError
from swarmdeck.store.models import LearningRecord, SearchHit, SearchMode

from .._base import Config, Store, leaf
from .._parse import PAST
from ._common import memory_group, one_line, warn

def render_hits(hits: list[SearchHit] | list[LearningRecord]) -> str:
    if not hits:
        return "no matches"
    if isinstance(hits[0], LearningRecord):  # --archived: the records themselves
        from .records import render_records

        return render_records(hits)  # type: ignore[arg-type]
    # The relevance a person reads (store/search.py): "84% strong"; --json also has the raw score.
    return "\n".join(
        f"{search_rules.relevance_text(h.relevance):>11}  {h.kind:<13} {one_line(h.namespace)}  "
        f"{one_line(h.title, 80)} — {one_line(h.snippet)}"
        for h in hits
    )


@leaf(memory_group, "search", render_hits, settings=True)
@click.argument("query")
@click.option("--mode", type=click.Choice([m.value for m in SearchMode]), default="hybrid", show_default=True,
              help="hybrid fuses keyword (BM25) and semantic (vector) rankings.")
@click.option("--prefix", "namespace_prefix", help="Only namespaces starting with this.")
@click.option("--kind", "kinds", multiple=True,
              help="memory, document, or a learning record kind (`record log --help` lists them); "
                   "repeatable.")
@click.option("--type", "memory_type", help="Only memories of this type.")
@click.option("--agent", help="Only what this agent wrote.")
@click.option("--since", type=PAST, help="Only newer than this: ISO time, or how long ago (2h, 1d).")
@click.option("--until", type=PAST, help="Only older than this: ISO time, or how long ago.")
@click.option("--limit", type=click.IntRange(1, 500), default=10, show_default=True)
@click.option("--all", "everything", is_flag=True,
              help="Also the less relevant hits, which hybrid and semantic search hide (each embedder's "
                   "measured cut-off).")
@click.option("--embedder", "embedder_spec", help="local, ollama[:MODEL][@URL] or hash[:DIM] "
                                                  "(default: $SWARMDECK_EMBEDDER, else local).")
@click.option("--archived", is_flag=True,
              help="Search the learning records `swarmdeck prune` archived instead: every word must occur; "
                   "newest first; --kind, --prefix and --limit apply.")
async def search(store: Store, cfg: Config, query: str, mode: str, embedder_spec: str | None, since, until,
                 kinds: tuple[str, ...], everything: bool, archived: bool,
                 **filters) -> list[SearchHit] | list[LearningRecord]:
    """Ranked memories, learning records and documents, each with its relevance (strong, good, weak);
    filters apply before the limit. Hybrid and semantic search hide the less relevant hits (--all
    shows them) and say how many.

    If the embedder cannot be used, keyword results are shown with a warning. --archived searches the
    archive of pruned records (out of the ranked index) by their words.
    """
    if archived:
        given = [name for name, value in (("--type", filters["memory_type"]), ("--agent", filters["agent"]),
                                          ("--since", since), ("--until", until)) if value is not None]
        if given:
            raise click.UsageError(f"--archived searches by words, --kind and --prefix only, not {', '.join(given)}")
        return await store.search_archive(query, kinds=list(kinds), namespace_prefix=filters["namespace_prefix"],
                                          limit=filters["limit"])
    filters = dict(kinds=list(kinds), since=since and since.timestamp(), until=until and until.timestamp(),
                   **filters)
    embedder, unavailable = None, None
    if mode != SearchMode.KEYWORD:
        try:
            embedder = cfg.settings.make_embedder(embedder_spec)
        except StoreError as exc:
            unavailable = str(exc)
    try:
        answer = await rules.search(store, query, mode=mode, embedder=embedder, unavailable=unavailable,
                                    everything=everything, **filters)
    finally:
        if embedder is not None:
            await embedder.aclose()
    if answer.fallback is not None:
        hint = (" (run `swarmdeck memory index`)"
                if answer.fallback is rules.Fallback.INDEX_EMPTY and not answer.detail else "")
        warn(cfg, answer.fallback.value, f"{answer.reason}{hint}; keyword results only")
    if answer.hidden_note:
        warn(cfg, "less_relevant_hidden", f"{answer.hidden_note}; --all shows them")
    return answer.hits
