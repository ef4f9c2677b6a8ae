"""Fixtures for the MCP server and status bridge tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from swarmdeck.store import open_store


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """An empty swarm database, made through the store as `swarmdeck init` would."""
    path = tmp_path / "swarm.db"

    async def init() -> None:
        store = await open_store(path, create=True)
        await store.close()

    asyncio.run(init())
    return path
