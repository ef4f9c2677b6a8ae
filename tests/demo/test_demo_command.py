"""`swarmdeck demo` as the README starts it: a fresh database, the dashboard, and a swarm at work."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.app import App

from swarmdeck.app.cli import cli
from swarmdeck.app.demo import Swarm
from swarmdeck.app.tui import SwarmdeckApp
from swarmdeck.store import open_store

from support import run_dashboards_with, wait_for

#: What the simulated agents must have done through their own store while the dashboard was open.
AT_WORK = {"agent.heartbeat", "task.claimed", "task.completed"}


def test_demo_seeds_a_fresh_database_opens_the_dashboard_and_the_swarm_works(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "demo.db"
    opened = datetime.now(timezone.utc)  # the seeded history is all from before this
    seen: dict[str, object] = {}

    async def watch(pilot) -> None:
        store = await open_store(db, read_only=True)
        try:
            kinds: set[str] = set()
            for _ in range(1200):  # up to a minute; the swarm at --speed 20 takes a few seconds
                kinds = {e.kind for e in await store.events(limit=500) if e.ts >= opened}
                if AT_WORK <= kinds:
                    break
                await pilot.pause(0.05)
            seen["kinds"] = kinds
            seen["reviewers"] = [r.name for r in await store.list_reviewers()]
            seen["reviewer"] = pilot.app.reviewer
            seen["db_title"] = pilot.app.db_title
            seen["screen"] = type(pilot.app.screen).__name__
            # Its key is unlocked already: the first act asks nothing.
            seen["signer"] = await pilot.app.unlock_signer()
            seen["registered"] = (await store.get_reviewer("dana")).public_key
            seen["toasts"] = [n.message for n in pilot.app._notifications]
        finally:
            await store.close()
        pilot.app.exit()

    def run_headless(self: SwarmdeckApp, **_: object) -> None:
        return App.run(self, headless=True, size=(140, 44), auto_pilot=watch)

    run_dashboards_with(monkeypatch, run_headless)
    result = CliRunner(env={"SWARMDECK_REVIEWER": None}).invoke(
        cli, ["demo", "--db", str(db), "--seed", "7", "--speed", "20", "--reviewer", "Dana"])

    assert result.exit_code == 0, result.output
    # The person at the demo is its registered reviewer, set up by the demo itself, and told so.
    assert "demo: dana is the registered reviewer of this swarm" in result.output
    assert seen["reviewers"] == ["dana"] and seen["reviewer"] == "dana"
    assert AT_WORK <= seen["kinds"]
    assert str(db) in str(seen["db_title"])
    assert seen["screen"] == "MilestonesScreen"  # screen 1, where a reviewer starts
    # Its signing key: beside the demo database, unlocked without ceremony, and it says so.
    shortcut = f"demo reviewer dana: its signing key is unlocked automatically, in {tmp_path / 'demo.db-keys'}"
    assert shortcut in result.output and shortcut in seen["toasts"]
    assert (tmp_path / "demo.db-keys" / "dana.pem").is_file()
    assert seen["signer"].public_key == seen["registered"]
    assert f"demo database kept at {db}" in result.output


def test_demo_refuses_a_reviewer_named_like_one_of_its_agents(tmp_path: Path, monkeypatch) -> None:
    run_dashboards_with(monkeypatch, lambda self, **_: pytest.fail("no dashboard for a mistake"))
    result = CliRunner().invoke(cli, ["demo", "--db", str(tmp_path / "demo.db"), "--reviewer", "Code-Reviewer"])
    assert result.exit_code == 1
    assert "code-reviewer is a registered agent; a reviewer can never be an agent" in result.output


def test_demo_refuses_a_database_that_exists(tmp_path: Path, monkeypatch) -> None:
    run_dashboards_with(monkeypatch, lambda self, **_: pytest.fail("no dashboard for a mistake"))
    db = tmp_path / "demo.db"
    db.write_bytes(b"")
    result = CliRunner().invoke(cli, ["demo", "--db", str(db)])
    assert result.exit_code == 1
    assert "already exists; the demo needs a fresh database" in result.output


# -- quitting, at any moment, ends the process -------------------------------------------------------------


def connection_threads() -> set[threading.Thread]:
    """aiosqlite's connection threads (not daemons: one left running keeps the process from exiting)."""
    return {t for t in threading.enumerate() if t.name.endswith("(_connection_worker_thread)")}


def run_demo(monkeypatch, db: Path, pilot_script) -> None:
    """`swarmdeck demo` as a user runs it (``App.run``, so ``asyncio.run`` tears down what is left when the
    app returns), headless, driven by ``pilot_script``; then none of its connections may be open."""
    before = connection_threads()

    def run_headless(self: SwarmdeckApp, **_: object) -> None:
        return App.run(self, headless=True, size=(120, 40), auto_pilot=pilot_script)

    run_dashboards_with(monkeypatch, run_headless)
    result = CliRunner().invoke(cli, ["demo", "--db", str(db), "--seed", "3", "--speed", "20"])
    assert result.exit_code == 0, result.output
    left = connection_threads() - before
    for t in left:
        t.join(5)
    left = [t.name for t in left if t.is_alive()]
    assert not left, f"the demo returned with {len(left)} connection(s) open (its process would never exit): {left}"


#: Where a quit can land: before the swarm's first step, among the charts' queries (the keys of the
#: report: range, range, milestone, agent type, range back), and once the swarm has worked a while.
QUITS = {
    "at-once": [],
    "charts-keys": ["5", "t", "t", "m", "a", "T"],
    "charts-keys-paced": ["5", 0.2, "t", 0.05, "t", 0.1, "m", 0.05, "a", 0.3, "T"],
    "after-work": [1.0],
}


@pytest.mark.parametrize("keys", QUITS.values(), ids=QUITS.keys())
def test_quitting_the_demo_at_any_moment_leaves_no_connection_open(tmp_path: Path, monkeypatch, keys) -> None:
    async def script(pilot) -> None:
        for key in keys:
            if isinstance(key, str):
                await pilot.press(key)
            else:
                await pilot.pause(key)
        await pilot.press("q")

    run_demo(monkeypatch, tmp_path / "demo.db", script)


def test_quitting_while_the_swarm_is_reading_closes_its_store(tmp_path: Path, monkeypatch) -> None:
    """The hang as it happened: the swarm's worker, cancelled at the quit, closed its store after its
    read in flight, and ``asyncio.run`` cancelled that close as the app returned: the writer's thread
    was never stopped and the process waited for it forever."""
    reading: list[bool] = []

    async def long_read(self: Swarm) -> None:
        reading.append(True)
        # A few seconds of counting on the swarm's own read connection (a big query, a slow disk).
        await self.store._all("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3e7) "
                              "SELECT count(*) FROM c")

    monkeypatch.setattr(Swarm, "step", long_read)

    async def script(pilot) -> None:
        await wait_for(lambda: reading, "the swarm's read", tries=1000, pause=pilot.pause)
        await pilot.press("q")

    run_demo(monkeypatch, tmp_path / "demo.db", script)
