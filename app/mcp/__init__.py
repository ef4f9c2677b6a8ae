"""The MCP server: the swarm's coordination state as tools a model calls (`swarmdeck mcp`).

Tool names and parameters are the ones agents written for this swarm design already call (seed 001's
task tools, abathur's memory tools) plus what the dashboard adds: claiming, heartbeats, gate reports.
Every tool is one store call, so a refused call changes nothing. A bad call comes back as an MCP
tool error (``isError``) whose text says what was wrong: ``<code>: <message>``, the codes being the
store's (``not_found``, ``invalid_argument``, ``swarm_paused``...). Gate decisions are not a tool:
only a human decides a gate.

One module per domain (tasks, agents, gates, memory, records, sessions, documents), each registering its
tools on the server through ``register(Tools)``. This package may import the store and
``app.output``; never Textual.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from swarmdeck.store import Store, open_store
from swarmdeck.store.errors import StoreError
from swarmdeck.store.indexer import Indexer

from . import agents, documents, gates, memory, records, sessions, tasks
from .server import INSTRUCTIONS, SwarmdeckMCP, Tools, package_version

DOMAINS = (tasks, agents, gates, memory, records, sessions, documents)


def build_server(store: Store, *, actor: str, embedder: Any = None) -> SwarmdeckMCP:
    """The server's tools over an open store. ``actor`` is who enqueues and cancels (--actor)."""
    mcp = SwarmdeckMCP(
        "swarmdeck", instructions=INSTRUCTIONS, version=package_version(), log_level="WARNING",
    )
    tools = Tools(mcp, store, actor, embedder)
    for domain in DOMAINS:
        domain.register(tools)
    return mcp


async def serve(db: Path, *, actor: str, make_embedder: Callable[[], Any] | None = None, index: bool = True,
                warn: Callable[[str], None] = lambda message: None, read_only: bool = False,
                store_options: Mapping[str, Any] | None = None) -> None:
    """Serve MCP over stdio on the database at ``db`` until the client closes the connection.

    The caller passes what its settings say (app/settings.py): ``make_embedder`` builds the embedder for
    semantic search (None, or a refusal, which is warned about: keyword search only) and
    ``store_options`` are ``open_store``'s vector options. With ``index`` the server also embeds new
    memories and documents in the background (what the dashboard's indexer does), so semantic search
    works without a dashboard open. ``read_only`` serves a seat that reads and searches only: every
    write tool is refused (permission_denied).
    """
    store = await open_store(db, read_only=read_only, **(store_options or {}))
    index = index and not read_only
    embedder = None
    try:
        try:
            embedder = make_embedder() if make_embedder is not None else None
        except StoreError as exc:
            warn(f"semantic search is off: {exc}")
        stop = asyncio.Event()
        indexer_task = None
        if embedder is not None and index:
            indexer_task = asyncio.create_task(Indexer(store, embedder).run(stop))
        try:
            await build_server(store, actor=actor, embedder=embedder).run_stdio_async()
        finally:
            stop.set()
            if indexer_task is not None:
                indexer_task.cancel()  # it may be embedding a batch: the store closes only once it ended
                await asyncio.gather(indexer_task, return_exceptions=True)
    finally:
        try:
            if embedder is not None:
                await embedder.aclose()
        finally:
            await store.close()


__all__ = ["INSTRUCTIONS", "SwarmdeckMCP", "build_server", "serve"]
