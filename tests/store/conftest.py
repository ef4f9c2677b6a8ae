"""Store fixtures: two registered coder agents (a1, a2), and on top of them milestones M1 (open) and
M2 (locked), the agent "bot" that submits reports and the reviewers alice, bob, carol and lead."""

from __future__ import annotations

import pytest

from store_support import people


@pytest.fixture
def where(request, store_backend, db_path):
    """Where the ``store`` fixture's database is: the SQLite file, or the PostgreSQL database's URL
    (what ``store_support.raw`` opens a plain connection to)."""
    return request.getfixturevalue("pg_store_url") if store_backend == "postgres" else db_path


@pytest.fixture
async def agents(store):
    await store.register_agent("a1", agent_type="coder")
    await store.register_agent("a2", agent_type="coder")
    return store


@pytest.fixture
async def gated(agents):
    store = agents
    await people(store)
    await store.add_milestone("M1", objective="foundations", hour_budget=40)
    await store.add_milestone("M2", objective="features")
    return store
