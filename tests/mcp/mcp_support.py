"""What the MCP and bridge tests share: the server in a real subprocess driven by the SDK's own client,
a connection of the test's own, and bounded waits on conditions (tests/support.py)."""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters, stdio_client

from swarmdeck.store import open_store

from support import SWARMDECK, wait_for


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """What the server process gets on top of the SDK's minimal default environment."""
    env = {"PYTHONIOENCODING": "utf-8", "SWARMDECK_EMBEDDER": "hash"}  # the test embedder: fast, no model
    for name in ("PYTHONPYCACHEPREFIX", "TMPDIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra or {})
    return env


class Tools:
    """Calls tools and unpacks results: `ok` wants a result, `error` wants a tool error and its text."""

    def __init__(self, session: ClientSession, init: Any) -> None:
        self.session = session
        self.init = init  # the server's InitializeResult: capabilities, instructions

    async def call(self, tool: str, /, **args: Any):
        return await self.session.call_tool(tool, args)

    async def ok(self, tool: str, /, **args: Any) -> dict[str, Any]:
        result = await self.call(tool, **args)
        text = result.content[0].text if result.content else ""
        assert not result.is_error, f"{tool}({args}) failed: {text}"
        assert isinstance(result.structured_content, dict), result
        return result.structured_content

    async def error(self, tool: str, /, **args: Any) -> str:
        result = await self.call(tool, **args)
        assert result.is_error, f"{tool}({args}) should have failed but returned {result.structured_content}"
        assert result.structured_content is None
        return result.content[0].text


@asynccontextmanager
async def mcp_tools(db: Path, *args: str, env: dict[str, str] | None = None) -> AsyncIterator[Tools]:
    """`swarmdeck mcp --db DB` as a subprocess, initialised; closed (and the process ended) on exit."""
    assert SWARMDECK, "the swarmdeck console script is not installed (pip install -e .)"
    params = StdioServerParameters(command=SWARMDECK, args=["mcp", "--db", str(db), *args], env=server_env(env))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=30) as session:
            yield Tools(session, await session.initialize())


@asynccontextmanager
async def opened(db: Path):
    """The test's own connection, as another process (the dashboard, a human) would have."""
    store = await open_store(db)
    try:
        yield store
    finally:
        await store.close()


#: Work another process does in its own time: up to 10 s, looked at every 25 ms.
until = functools.partial(wait_for, tries=400, step=0.025)
