"""Opening a database changes it only when asked to: an empty file is not made a database unless the
caller creates one, and a read-only seat changes nothing in the file (no migration, no switch to WAL,
no files left beside it). A disk that refuses a write (read-only, full) is a store error that says so.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from store_support import raw

from swarmdeck.app.cli._base import message as cli_message
from swarmdeck.store import open_store
from swarmdeck.store.sqlite import schema
from swarmdeck.store.errors import DatabaseMissing, SchemaOutdated, StoreError
from swarmdeck.store.sqlite import base


def beside(path: Path) -> list[str]:
    """The files SQLite and swarmdeck may leave next to a database."""
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name and p.name.startswith(path.name))


def snapshot(path: Path) -> tuple[bytes, int, list[str]]:
    return path.read_bytes(), os.stat(path).st_mtime_ns, beside(path)


def journal_mode(path: Path) -> str:
    with raw(path) as conn:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]


class TestEmptyFile:
    @pytest.mark.parametrize("read_only", [False, True])
    async def test_an_empty_file_is_not_made_a_database(self, tmp_path, read_only):
        path = tmp_path / "empty.db"
        path.touch()
        with pytest.raises(DatabaseMissing) as info:
            await open_store(path, read_only=read_only)
        message = cli_message(info.value)  # the store's message, then the CLI's hint
        assert str(path) in message and "empty" in message and "swarmdeck init" in message
        assert path.stat().st_size == 0 and beside(path) == []

    async def test_a_blank_sqlite_file_is_not_made_a_database_either(self, tmp_path):
        path = tmp_path / "blank.db"
        with raw(path) as conn:  # a SQLite header and nothing else, as `sqlite3 blank.db` can leave
            conn.execute("CREATE TABLE t (x)")
            conn.execute("DROP TABLE t")
        before = snapshot(path)
        with pytest.raises(DatabaseMissing, match="empty"):
            await open_store(path)
        assert snapshot(path) == before and journal_mode(path) == "delete"

    async def test_creating_initialises_an_empty_file(self, tmp_path):
        path = tmp_path / "empty.db"
        path.touch()
        store = await open_store(path, create=True)
        try:
            assert await store.schema_version() == schema.SCHEMA_VERSION
        finally:
            await store.close()

    async def test_a_read_only_seat_never_creates(self, tmp_path):
        path = tmp_path / "new" / "swarm.db"
        with pytest.raises(DatabaseMissing):
            await open_store(path, create=True, read_only=True)
        assert not path.parent.exists()


class TestReadOnlySeat:
    async def test_an_older_schema_is_refused_and_left_exactly_as_it_was(self, db_path, clock, monkeypatch):
        monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        monkeypatch.setattr(schema, "SCHEMA_VERSION", 1)
        old = await open_store(db_path, create=True, clock=clock)
        await old.close()
        monkeypatch.undo()
        with raw(db_path) as conn:  # a row in schema 1's shape (today's enqueue_task needs later columns)
            conn.execute("INSERT INTO tasks (description, source, agent_type, base_priority, status, priority, "
                         "created_at, updated_at) VALUES ('written by an older swarmdeck', 'human', 'general', 5, "
                         "'ready', 50, 0, 0)")
        with raw(db_path) as conn:  # as an older swarmdeck, or one that ran before WAL, may have left it
            conn.execute("PRAGMA journal_mode = DELETE")
        before = snapshot(db_path)
        with pytest.raises(SchemaOutdated) as info:
            await open_store(db_path, read_only=True, clock=clock)
        assert "open it once without --read-only" in cli_message(info.value)
        assert snapshot(db_path) == before
        assert journal_mode(db_path) == "delete"
        with raw(db_path) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == 1

    async def test_reading_a_database_not_in_wal_mode_changes_nothing(self, db_path, clock):
        store = await open_store(db_path, create=True, clock=clock)
        await store.enqueue_task(description="t")
        await store.close()
        with raw(db_path) as conn:
            conn.execute("PRAGMA journal_mode = DELETE")
        before = snapshot(db_path)
        ro = await open_store(db_path, read_only=True, clock=clock)
        try:
            assert [t.description for t in await ro.list_tasks()] == ["t"]
            assert (await ro.queue_status()).total == 1
        finally:
            await ro.close()
        assert snapshot(db_path) == before
        assert journal_mode(db_path) == "delete"

    async def test_reading_a_wal_database_leaves_nothing_behind(self, db_path, clock):
        store = await open_store(db_path, create=True, clock=clock)
        await store.enqueue_task(description="t")
        await store.close()
        before = snapshot(db_path)
        assert before[2] == ["swarm.db-writers"]  # the writers' lock file; no -wal, no -shm
        ro = await open_store(db_path, read_only=True, clock=clock)
        try:
            assert len(await ro.list_tasks()) == 1
        finally:
            await ro.close()
        assert snapshot(db_path) == before

    async def test_the_seat_cannot_write_even_through_its_own_connections(self, store, db_path, clock):
        await store.enqueue_task(description="t")
        ro = await open_store(db_path, read_only=True, clock=clock)
        try:
            with pytest.raises(Exception, match="readonly"):
                await ro._reader.execute("DELETE FROM tasks")
            with pytest.raises(Exception, match="readonly"):
                await ro._writer.execute("DELETE FROM tasks")
        finally:
            await ro.close()
        assert len(await store.list_tasks()) == 1


async def test_a_path_sqlite_cannot_open_fails_at_once_and_leaves_no_thread(tmp_path):
    """The store opens its own writer connection first: a path SQLite cannot open is refused before
    any other connection (or its thread) exists, and the writer's thread has ended when it is."""
    import threading

    from swarmdeck.store.sqlite.connection import THREAD_PREFIX

    folder = tmp_path / "a-folder.db"
    folder.mkdir()
    before = set(threading.enumerate())
    with pytest.raises(DatabaseMissing, match="cannot open"):
        await open_store(folder)
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()
            and (t.name.startswith(THREAD_PREFIX) or t.name.endswith("(_connection_worker_thread)"))]
    assert left == []


def connect_with(monkeypatch, setup) -> None:
    """Every connection the store opens from now on runs ``setup(conn)`` first (or is made by it)."""
    original = base._connector

    def connector(path):
        make = original(path)

        def connect():
            return setup(make, path)

        return connect

    monkeypatch.setattr(base, "_connector", connector)


class TestStorageRefusals:
    async def test_a_full_disk_is_a_store_error_and_the_store_stays_usable(self, store, db_path, clock,
                                                                            monkeypatch):
        await store.enqueue_task(description="before")
        await store.close()

        def full(make, path):
            conn = make()
            conn.execute("PRAGMA max_page_count = 1")  # SQLite clamps it to the pages in use: nothing more fits
            return conn

        connect_with(monkeypatch, full)
        s = await open_store(db_path, clock=clock)
        try:
            with pytest.raises(StoreError) as info:
                await s.enqueue_task(description="x" * 60_000)
            assert info.value.code == "disk_full"
            assert "full" in str(info.value) and str(db_path) in str(info.value)
            assert [t.description for t in await s.list_tasks()] == ["before"]
            await s.enqueue_task(description="small")  # fits in the pages already there
        finally:
            await s.close()

    async def test_a_read_only_file_is_a_store_error(self, store, db_path, clock, monkeypatch):
        await store.enqueue_task(description="before")
        await store.close()

        def read_only(make, path):
            # What SQLite gets from a file it may not write (chmod, a read-only mount): SQLITE_READONLY.
            import sqlean
            return sqlean.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                  check_same_thread=False)

        connect_with(monkeypatch, read_only)
        s = await open_store(db_path, clock=clock)
        try:
            with pytest.raises(StoreError) as info:
                await s.enqueue_task(description="x")
            assert info.value.code == "read_only_storage"
            assert "read-only" in str(info.value) and str(db_path) in str(info.value)
            assert [t.description for t in await s.list_tasks()] == ["before"]
        finally:
            await s.close()
