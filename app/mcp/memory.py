"""Memory tools: add, read, search, update and delete what the swarm remembers."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from swarmdeck.app.output import jsonable

from .params import MemoryTypeName, Namespace, TaskId, whole
from .search import relevance
from .server import DESTRUCTIVE, READ, WRITE, Tools


def register(t: Tools) -> None:
    store, actor, tool = t.store, t.actor, t.tool

    @tool(WRITE)
    async def memory_add(
        namespace: Namespace,
        key: Annotated[str, Field(min_length=1)],
        value: Annotated[Any, Field(description="Text or any JSON value.")],
        memory_type: Annotated[MemoryTypeName, Field(
            description="semantic (facts), episodic (what happened), procedural (how to).")],
        created_by: Annotated[str, Field(min_length=1, description="Your agent name or session id.")],
        task_id: Annotated[TaskId | None, Field(description="The task it came from.")] = None,
        metadata: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        """Remember something under namespace/key (version 1). Refused if the key exists: use
        memory_update, which keeps the history. Returns memory_id, version and the entry."""
        entry = await store.add_memory(namespace, key, value, memory_type=memory_type, created_by=created_by,
                                       session_id=session_id, task_id=task_id, metadata=metadata)
        return {"memory_id": entry.id, "status": "created", "version": entry.version, "entry": jsonable(entry)}

    @tool(READ)
    async def memory_get(
        namespace: Namespace,
        key: Annotated[str, Field(min_length=1)],
        version: Annotated[TaskId | None, Field(
            description="An earlier version; omit for the current one.")] = None,
    ) -> dict[str, Any]:
        """A memory's current version (or the version asked for), with its value and metadata."""
        return jsonable(await store.get_memory(namespace, key, version=version))

    @tool(READ)
    async def memory_search(
        namespace_prefix: Annotated[str, Field(
            description="project:a matches project:a and project:a/...; \"\" matches all.")] = "",
        memory_type: MemoryTypeName | None = None,
        limit: whole(1, 500) = 50,
        query: Annotated[str | None, Field(
            description="Words to rank by (keyword + semantic); omit to list newest first.")] = None,
        include_less_relevant: Annotated[bool, Field(
            description="Also the hits under the relevance cut-off, which are left out by default.")] = False,
    ) -> dict[str, Any]:
        """Find memories under a namespace prefix, optionally of one type. Without query: the newest
        first. With query: ranked, each with score, relevance (0-100) and relevance_label (strong, good,
        weak) and snippet; less relevant hits are left out (hidden says how many). Filters apply before
        the limit. Returns {memories, count}. To search learning records and documents as well, use
        search."""
        if query is None or not query.strip():
            entries = await store.list_memories(namespace_prefix=namespace_prefix or None, memory_type=memory_type,
                                                limit=limit)
            return {"memories": [jsonable(e) for e in entries], "count": len(entries)}
        hits, mode, note, hidden = await t.search(query, kinds=["memory"], namespace_prefix=namespace_prefix,
                                                memory_type=memory_type, limit=limit,
                                                everything=include_less_relevant)
        memories = []
        for h in hits:
            entry = await store.get_memory_by_id(h.ref_id)
            memories.append({**jsonable(entry), **relevance(h), "snippet": h.snippet})
        out: dict[str, Any] = {"memories": memories, "count": len(memories), "mode": mode, "hidden": hidden}
        if note:
            out["note"] = note
        return out

    @tool(WRITE)
    async def memory_update(
        namespace: Namespace,
        key: Annotated[str, Field(min_length=1)],
        value: Annotated[Any, Field(description="The new text or JSON value.")],
        updated_by: Annotated[str, Field(min_length=1)],
        memory_type: MemoryTypeName | None = None,
        metadata: Annotated[dict[str, Any] | None, Field(
            description="Replaces the metadata; omit to keep it.")] = None,
        task_id: Annotated[TaskId | None, Field(
            description="Accepted for compatibility; not recorded.")] = None,
    ) -> dict[str, Any]:
        """Write a new version of a memory; the previous versions stay readable with memory_get(version)."""
        entry = await store.update_memory(namespace, key, value, updated_by=updated_by, memory_type=memory_type,
                                          metadata=metadata)
        return {"memory_id": entry.id, "status": "updated", "version": entry.version, "entry": jsonable(entry)}

    @tool(DESTRUCTIVE)
    async def memory_delete(
        namespace: Namespace,
        key: Annotated[str, Field(min_length=1)],
        deleted_by: Annotated[str | None, Field(
            description="Who deletes it (default: the server's actor).")] = None,
        task_id: Annotated[TaskId | None, Field(
            description="Accepted for compatibility; not recorded.")] = None,
    ) -> dict[str, Any]:
        """Soft-delete a memory: hidden from get and search, kept in its history (a human can restore it)."""
        entry = await store.delete_memory(namespace, key, deleted_by=deleted_by or actor)
        return {"deleted": True, "namespace": entry.namespace, "key": entry.key, "version": entry.version}
