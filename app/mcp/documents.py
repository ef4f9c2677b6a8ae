"""Document tools: index a document's text, search documents by meaning and keywords."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from swarmdeck.app.output import jsonable
from swarmdeck.store.errors import InvalidArgument

from .params import Namespace, whole
from .search import relevance
from .server import READ, WRITE, Tools


def register(t: Tools) -> None:
    store, actor, tool = t.store, t.actor, t.tool

    @tool(WRITE)
    async def document_index(
        namespace: Namespace,
        file_path: Annotated[str, Field(
            min_length=1, description="The document's path, its identity in the namespace.")],
        content: Annotated[str, Field(description="The full text.")],
    ) -> dict[str, Any]:
        """Index a document's text in chunks so document_semantic_search finds it. Indexing the same
        path again replaces it; unchanged content is left as it is."""
        document = await store.index_document(namespace, file_path, content, actor=actor)
        return {**jsonable(document), "status": "indexed"}

    @tool(READ)
    async def document_semantic_search(
        query_text: Annotated[str, Field(
            min_length=1, description="What you are looking for, in plain words.")],
        namespace: Annotated[str | None, Field(
            description="Only this namespace and what lies under it.")] = None,
        limit: whole(1, 100) = 10,
        include_less_relevant: Annotated[bool, Field(
            description="Also the chunks under the relevance cut-off, which are left out by default.")] = False,
    ) -> dict[str, Any]:
        """Search indexed documents by meaning and keywords, best first. Each result has file_path,
        namespace, score, relevance (0-100) and relevance_label (strong, good, weak), a snippet and the
        matching chunk's text; less relevant chunks are left out (hidden says how many). mode says
        whether semantic ranking took part (note says why not)."""
        if not query_text.strip():
            raise InvalidArgument("query_text must not be blank")
        hits, mode, note, hidden = await t.search(query_text, kinds=["document"], namespace_prefix=namespace,
                                                memory_type=None, limit=limit, everything=include_less_relevant)
        results = []
        for h in hits:
            path, _, chunk = h.title.rpartition(" #")
            results.append({
                "file_path": path or h.title, "chunk": int(chunk) if chunk.isdigit() else None,
                "namespace": h.namespace, **relevance(h), "snippet": h.snippet,
                "text": await store.search_item_body(h.item_id),
            })
        out: dict[str, Any] = {"results": results, "count": len(results), "mode": mode, "hidden": hidden}
        if note:
            out["note"] = note
        return out
