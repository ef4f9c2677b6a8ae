"""`swarmdeck mcp`: the MCP server over stdio, for agents whose tools are MCP tools."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from swarmdeck.store.errors import StoreError

from ..output import plain
from ._base import Config, refuse
from ._options import DATABASE, ERRORS_AS_JSON


@click.command("mcp")
@click.option("--db", "mcp_db", type=DATABASE,
              help="The swarm database (default: the global --db, $SWARMDECK_DB, else the nearest .swarmdeck/).")
@click.option("--embedder", "embedder_spec",
              help="For semantic search: local (default), ollama[:MODEL][@URL] or hash[:DIM] "
                   "(default: $SWARMDECK_EMBEDDER).")
@click.option("--index/--no-index", default=True, show_default=True,
              help="Embed new memories and documents in the background while serving.")
@ERRORS_AS_JSON
@click.pass_obj
def mcp(cfg: Config, mcp_db: Path | None, embedder_spec: str | None, index: bool, as_json: bool) -> None:
    """Serve the Model Context Protocol over stdio (register it in your MCP client's .mcp.json).

    Writes that name no agent (task_enqueue, task_cancel, ...) are recorded as --actor.
    """
    from ..mcp import serve  # the SDK loads only when serving

    cfg.json = cfg.json or as_json
    db = mcp_db or cfg.db

    def warn(message: str) -> None:
        click.echo(f"swarmdeck mcp: {plain(message)}", err=True)

    try:
        settings = cfg.settings
        asyncio.run(serve(db, actor=cfg.who(), make_embedder=lambda: settings.make_embedder(embedder_spec),
                          index=index, warn=warn, read_only=cfg.read_only, store_options=settings.store_options()))
    except StoreError as exc:
        sys.exit(refuse(cfg, exc))
    except KeyboardInterrupt:
        sys.exit(130)
