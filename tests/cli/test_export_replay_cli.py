"""`swarmdeck export replay`: a self-contained replay file, from a SQLite or a PostgreSQL database, opened
with no access to the database it came from; an existing file refused unless --force; bad input refused."""

from __future__ import annotations

import asyncio
import shutil

from test_cli import expect_error, expect_json_error

from swarmdeck.store import open_store
from swarmdeck.store.replay import open_replay

from support import invoke

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
