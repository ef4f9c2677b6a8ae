"""Store fixtures: two registered coder agents (a1, a2), and on top of them milestones M1 (open) and
M2 (locked), the agent "bot" that submits reports and the reviewers alice, bob, carol and lead."""

from __future__ import annotations

import pytest

from store_support import people


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
