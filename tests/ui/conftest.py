"""UI fixtures: a seeded swarm database built through the public store API, and the app over it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ui_support import Seeded, seed


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """Times are shown in local time: pin the zone so text and snapshots do not depend on the machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def seeded(tmp_path) -> Seeded:
    return asyncio.run(seed(tmp_path / "swarm.db"))


@pytest.fixture
def db(seeded) -> Path:
    """Here the swarm database (tests/conftest.py) is the seeded one."""
    return seeded.path


