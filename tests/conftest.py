"""Shared fixtures: a real store file in tmp_path, and a clock the test controls."""

from __future__ import annotations

import pytest

from swarmdeck.store import open_store, signing

#: 2026-01-01T00:00:00Z: far from any DST or epoch edge, so arithmetic on it stays obvious.
EPOCH = 1_767_225_600.0


class FakeClock:
    """A callable clock (what open_store's ``clock=`` takes) that moves only when told."""

    def __init__(self, start: float = EPOCH) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@pytest.fixture(scope="session", autouse=True)
def signing_keys(tmp_path_factory):
    """Reviewers' private keys go to a folder of the test session's own (inherited by the CLI it runs),
    never to the real config folder; set before any fixture, module-scoped ones included. Keys are
    made on first use under one passphrase (tests/signing_support.py), so tests can share them."""
    folder = tmp_path_factory.mktemp("keys")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(signing.KEYS_ENV, str(folder))
        yield folder


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "swarm.db"


@pytest.fixture
async def store(db_path, clock):
    s = await open_store(db_path, create=True, clock=clock)
    try:
        yield s
    finally:
        await s.close()
