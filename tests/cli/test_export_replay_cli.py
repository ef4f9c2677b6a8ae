"""`swarmdeck export replay`: a self-contained replay file, from a SQLite or a PostgreSQL database, opened
with no access to the database it came from; an existing file refused unless --force; bad input refused."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from test_cli import expect_error, expect_json_error

from swarmdeck.store import open_store
from swarmdeck.store.replay import open_replay

from support import invoke, run_dashboards_with

STORE_BACKENDS = ("sqlite", "postgres")


def _swarm(sdj) -> None:
    sdj("agent", "register", "ada", "--type", "general")
    for n in range(3):
        sdj("task", "enqueue", f"task {n}")
    sdj("task", "claim", "--agent", "ada")


async def _latest(db) -> int:
    store = await open_store(db)
    try:
        return await store.latest_event_id()
    finally:
        await store.close()


def test_export_writes_a_replay_file_that_opens_alone(db, tmp_path):
    def sdj(*args):
        ran = invoke("--db", db, "--json", *args)
        assert ran.returncode == 0, ran.stderr
        return __import__("json").loads(ran.stdout)

    _swarm(sdj)
    last = asyncio.run(_latest(db))
    target = tmp_path / "post-mortem.replay"
    result = sdj("export", "replay", "--from", "2", "--to", str(last - 1), target)
    assert (result["first_id"], result["last_id"]) == (2, last - 1)
    # Moved away from everything: no database, no cache beside it.
    alone = tmp_path / "elsewhere" / "copy.replay"
    alone.parent.mkdir()
    shutil.copy(target, alone)

    async def look() -> None:
        replay = await open_replay(alone)
        try:
            assert (replay.point.first_id, replay.point.last_id, replay.point.event_id) == (2, last - 1, last - 1)
            tasks = await replay.store.list_tasks()
            assert len(tasks) == 3 and all(t.status.value == "ready" for t in tasks)  # the claim is after --to
            assert max(e.id for e in await replay.store.events(limit=100)) == last - 1
            assert (await replay.seek(1)).event_id == 2  # clamped to the range it holds
        finally:
            await replay.close()

    asyncio.run(look())
    # An existing file is refused, and left as it was; --force replaces it.
    before = target.read_bytes()
    expect_error(invoke("--db", db, "export", "replay", target), 1, "exists", "--force")
    assert target.read_bytes() == before
    assert sdj("export", "replay", "--force", target)["last_id"] == last
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_export_refuses_bad_ranges(db, tmp_path):
    target = tmp_path / "x.replay"
    invoke("--db", db, "task", "enqueue", "one")
    expect_json_error(invoke("--db", db, "--json", "export", "replay", "--from", "yesterday-ish", target), 1,
                      "invalid_argument", "--from")
    expect_error(invoke("--db", db, "export", "replay", "--from", "5", "--to", "1", target), 1, "nothing to export")
    expect_error(invoke("--db", db, "export", "replay", "--to", "9" * 100_000, target), 1, "too large")
    assert not target.exists()


def _dashboard(seen: dict, monkeypatch) -> None:
    """`swarmdeck replay`'s dashboard, driven: it records where replay opened and what it showed, leaves
    replay (the live swarm) and enters it again from now."""
    from swarmdeck.app.tui import SwarmdeckApp

    async def until(pilot, condition) -> None:
        for _ in range(1000):
            if condition():
                return
            await pilot.pause(0.01)
        raise AssertionError(f"the dashboard never got there: {seen}")

    async def drive(app: SwarmdeckApp) -> int:
        async with app.run_test(size=(100, 30)) as pilot:
            # Shown, and its reads done: leaving closes the replay's store.
            await until(pilot, lambda: app.replay_point is not None and getattr(app.screen, "_loaded", False)
                        and all(w.is_finished or w.group == "poll" for w in app.workers))
            seen["point"] = app.replay_point
            seen["tasks"] = len(await app.store.list_tasks())
            if app._store_factory is not None:  # on the database itself: live, then replay once more
                await pilot.press("ctrl+r")
                await until(pilot, lambda: app.replay is None)
                seen["left"] = True
                await pilot.press("ctrl+r")
                await until(pilot, lambda: app.replay is not None)
                seen["again"] = app.replay_point
        return 0

    run_dashboards_with(monkeypatch, lambda self, loop: loop.run_until_complete(drive(self)))


def test_swarmdeck_replay_opens_the_history_once_to_check_at_and_show_it(db, monkeypatch):
    """A history is read into its cache (made, or extended) at each opening: `swarmdeck replay --at` opens
    it once, and the dashboard shows that one; entering replay again later opens it again."""
    from swarmdeck.store.replay import engine

    invoke("--db", db, "agent", "register", "ada", "--type", "general")
    for n in range(3):
        invoke("--db", db, "task", "enqueue", f"task {n}")
    last = asyncio.run(_latest(db))
    builds = []
    build_cache = engine.build_cache

    async def counted(source, path):
        builds.append(path)
        return await build_cache(source, path)

    monkeypatch.setattr(engine, "build_cache", counted)
    seen: dict = {}
    _dashboard(seen, monkeypatch)
    ran = invoke("--db", db, "replay", "--at", str(last - 1))
    assert ran.returncode == 0, ran.stderr
    assert seen["point"].event_id == last - 1 and seen["tasks"] == 2
    assert seen["again"].event_id == last
    assert len(builds) == 2  # once for --at and the dashboard, once for the later replay


def test_a_read_only_seat_replays_without_writing_beside_the_database(db, tmp_path_factory, monkeypatch):
    if not isinstance(db, Path):
        pytest.skip("a server's database has no folder beside it (its replay cache is in the user's cache folder)")
    cache_home = tmp_path_factory.mktemp("user-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    for n in range(2):
        invoke("--db", db, "task", "enqueue", f"task {n}")
    before = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in db.parent.iterdir())
    seen: dict = {}
    _dashboard(seen, monkeypatch)
    ran = invoke("--read-only", "--db", db, "replay")
    assert ran.returncode == 0, ran.stderr
    assert seen["tasks"] == 2 and seen["point"].event_id == asyncio.run(_latest(db))
    assert sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in db.parent.iterdir()) == before
    assert [p.suffix for p in (cache_home / "swarmdeck" / "replay").iterdir()] == [".replay-cache"]
    assert seen["again"].event_id == seen["point"].event_id  # the second replay found the same cache
