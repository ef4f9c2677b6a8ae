"""The store against a real database (a SQLite file, and a PostgreSQL database where a test takes the
``store`` fixture): opening and migrations, the change feed, read-only seats, layering. What is a
SQLite file's own (its pragmas, its version mark) is tested on a SQLite store the test opens."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from swarmdeck.app.cli._base import message as cli_message
from swarmdeck.store import AgentStatus, Store, TaskStatus, open_store
from swarmdeck.store.sqlite import schema
from swarmdeck.store.errors import (
    DatabaseMissing,
    InvalidArgument,
    NotASwarmdeckDatabase,
    PermissionDenied,
    SchemaTooNew,
    StoreError,
)

from store_support import claim, raw, row_counts, state, submit

STORE_BACKENDS = ("sqlite", "postgres")

REPO_ROOT = Path(__file__).resolve().parents[2]


# -- opening and migrations ---------------------------------------------------------------------


class TestOpen:
    async def test_implements_the_protocol(self, store):
        assert isinstance(store, Store)

    async def test_opening_twice_is_a_no_op(self, store, where, clock):
        task = await store.enqueue_task(description="survives a reopen")
        await store.close()
        for _ in range(2):
            again = await open_store(where, clock=clock)
            try:
                assert await again.schema_version() == schema.SCHEMA_VERSION
                assert (await again.get_task(task.id)).description == "survives a reopen"
            finally:
                await again.close()
        with raw(where) as conn:
            rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
            assert [tuple(r) for r in rows] == [(i, name) for i, (name, _) in enumerate(schema.MIGRATIONS, 1)]
            assert conn.execute("SELECT count(*) FROM swarm_state").fetchone()[0] == 1

    async def test_a_sqlite_file_is_marked_and_in_wal_mode(self, db_path, clock):
        store = await open_store(db_path, create=True, clock=clock)
        await store.close()
        with raw(db_path) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
            assert conn.execute("PRAGMA application_id").fetchone()[0] == schema.APPLICATION_ID
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    async def test_sqlite_url(self, db_path, clock):
        s = await open_store(f"sqlite:///{db_path}", create=True, clock=clock)
        await s.close()
        assert db_path.exists()

    async def test_other_url_schemes_are_refused(self):
        with pytest.raises(InvalidArgument, match=r"unsupported database URL scheme 'mysql'.*sqlite:///"):
            await open_store("mysql://db.example/swarm")

    async def test_missing_file_without_create(self, tmp_path):
        path = tmp_path / "nowhere" / "swarm.db"
        with pytest.raises(DatabaseMissing) as info:
            await open_store(path)
        assert str(path) in str(info.value) and "swarmdeck init" in cli_message(info.value)
        assert not path.exists() and not path.parent.exists()

    async def test_a_path_sqlite_cannot_open_fails_at_once(self, tmp_path):
        # A directory: SQLite refuses it when connecting, and the store must say so, not wait forever.
        with pytest.raises(DatabaseMissing, match="cannot open .*unable to open database file"):
            await asyncio.wait_for(open_store(tmp_path), 30)

    async def test_a_file_that_is_not_sqlite(self, tmp_path):
        path = tmp_path / "notes.db"
        content = b"meeting notes, definitely not a database\n" * 200
        path.write_bytes(content)
        with pytest.raises(NotASwarmdeckDatabase) as info:
            await open_store(path, create=True)
        assert str(path) in str(info.value) and "not a SQLite database" in str(info.value)
        assert path.read_bytes() == content

    async def test_a_sqlite_file_with_other_tables(self, tmp_path):
        path = tmp_path / "billing.db"
        with raw(path) as conn:
            conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
            conn.execute("INSERT INTO invoices (total) VALUES (9.5)")
        with pytest.raises(NotASwarmdeckDatabase) as info:
            await open_store(path, create=True)
        message = str(info.value)
        assert str(path) in message and "not a swarmdeck one" in message and "invoices" in message
        assert "--db" in message  # what to do about it
        # The refused file is left exactly as it was: no tables added, not switched to WAL.
        with raw(path) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            assert names == ["invoices"]
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
            assert conn.execute("PRAGMA user_version").fetchone()[0] == 0

    async def test_a_database_from_a_newer_swarmdeck(self, db_path, clock):
        await (await open_store(db_path, create=True, clock=clock)).close()
        newer = schema.SCHEMA_VERSION + 1
        with raw(db_path) as conn:
            conn.execute(f"PRAGMA user_version = {newer}")
        with pytest.raises(SchemaTooNew) as info:
            await open_store(db_path, clock=clock)
        message = str(info.value)
        assert str(db_path) in message and f"schema {newer}" in message
        assert f"up to {schema.SCHEMA_VERSION}" in message and "upgrade swarmdeck" in message
        with raw(db_path) as conn:  # and it was not "migrated" down or touched
            assert conn.execute("PRAGMA user_version").fetchone()[0] == newer
            applied = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
            assert applied == schema.SCHEMA_VERSION

    async def test_errors_are_store_errors_with_codes(self, tmp_path):
        with pytest.raises(StoreError) as info:
            await open_store(tmp_path / "missing.db")
        assert info.value.code == "database_missing"

    async def test_a_closed_store_says_so(self, store):
        await store.close()
        with pytest.raises(StoreError, match="closed"):
            await store.list_tasks()
        with pytest.raises(StoreError, match="closed"):
            await store.enqueue_task(description="x")


# -- the change feed --------------------------------------------------------------------------------


class TestEvents:
    async def test_changes_since_returns_exactly_the_new_events_in_order(self, store, clock):
        mark = await store.latest_event_id()
        a = await store.enqueue_task(description="a")
        await store.register_agent("a1", agent_type="coder")
        await store.claim_task(agent="a1")
        await store.complete_task(a.id, agent="a1")
        events = await store.changes_since(mark)
        assert [(e.kind, e.entity, e.entity_id, e.actor) for e in events] == [
            ("task.enqueued", "task", str(a.id), "human"),
            ("agent.registered", "agent", "a1", "a1"),
            ("task.claimed", "task", str(a.id), "a1"),
            ("task.completed", "task", str(a.id), "a1"),
        ]
        ids = [e.id for e in events]
        assert ids == sorted(ids) and len(set(ids)) == len(ids) and ids[0] > mark
        assert ids[-1] == await store.latest_event_id()
        assert all(e.ts.timestamp() == clock.now for e in events)
        assert events[2].payload == {"agent": "a1"}
        assert await store.changes_since(ids[-1]) == []
        assert await store.changes_since(mark, limit=2) == events[:2]
        assert await store.changes_since(ids[1]) == events[2:]

    async def test_events_queries(self, agents):
        store = agents
        a = await store.enqueue_task(description="a")
        await store.enqueue_task(description="b")
        newest_first = await store.events(entity="task", entity_id=a.id)
        assert [e.kind for e in newest_first] == ["task.enqueued"]
        assert {e.actor for e in await store.events(actor="a2")} == {"a2"}
        assert [e.entity_id for e in await store.events(kind="task.enqueued")] == [str(a.id + 1), str(a.id)]

    async def test_a_refused_write_adds_no_event(self, agents):
        store = agents
        t = await store.enqueue_task(description="t")
        mark = await store.latest_event_id()
        refused = [
            store.complete_task(t.id, agent="a1"),
            store.claim_task(agent="nobody"),
            store.add_dependency(t.id, t.id),
            store.heartbeat("nobody"),
            store.set_base_priority(t.id, 42),
            store.retry_task(t.id),
            store.decide_gate("M1", decision="APPROVE", rationale="x", reviewer="r"),
        ]
        for call in refused:
            with pytest.raises(StoreError):
                await call
        assert await store.latest_event_id() == mark
        assert await store.changes_since(mark) == []

    async def test_events_are_written_in_the_same_transaction(self, agents, monkeypatch):
        """If appending the event fails, the change it describes is rolled back with it."""
        import importlib

        store = agents
        base = importlib.import_module(type(store).__module__ + ".base")  # the backend's Tx
        t = await store.enqueue_task(description="t")
        await claim(store, "a1", t.id)
        before = await state(store)
        original = base.Tx.event

        def failing(self, kind, *args, **kwargs):
            if kind == "task.completed":
                raise RuntimeError("disk full while logging")
            return original(self, kind, *args, **kwargs)

        monkeypatch.setattr(base.Tx, "event", failing)
        with pytest.raises(RuntimeError, match="disk full"):
            await store.complete_task(t.id, agent="a1")
        assert await state(store) == before
        assert (await store.get_task(t.id)).status is TaskStatus.RUNNING
        assert (await store.get_agent("a1")).status is AgentStatus.WORKING
        monkeypatch.undo()
        assert (await store.complete_task(t.id, agent="a1")).status is TaskStatus.COMPLETED


# -- read-only seats -------------------------------------------------------------------------------


class TestReadOnly:
    async def test_reads_work_and_writes_are_refused(self, gated, where, clock):
        store = gated
        t = await store.enqueue_task(description="t")
        await submit(store, "M1")
        ro = await open_store(where, read_only=True, clock=clock)
        try:
            assert [x.id for x in await ro.list_tasks()] == [t.id]
            assert (await ro.queue_status()).total == 1
            assert (await ro.gate_status("M1")).report is not None
            counts = row_counts(where)
            writes = [
                ro.enqueue_task(description="x"),
                ro.claim_task(agent="a1"),
                ro.cancel_task(t.id),
                ro.cancel_task(t.id, dry_run=True),
                ro.set_base_priority(t.id, 1),
                ro.add_dependency(t.id, t.id),
                ro.register_agent("a3", agent_type="coder"),
                ro.heartbeat("a1"),
                ro.add_milestone("M9"),
                ro.submit_report("M1", submitted_by="bot"),
                ro.decide_gate("M1", decision="APPROVE", rationale="ok", reviewer="alice"),
                ro.resume_swarm(by="lead", note="reviewed"),
                ro.add_reviewer("dave", by="alice"),
                ro.set_reviewer_key("alice", public_key=bytes(32)),
                ro.remove_reviewer("bob", by="alice"),
                ro.refresh_priorities(),
                ro.reap_timeouts(),
                ro.log_action("a1", phase="p", action="a"),
            ]
            for call in writes:
                with pytest.raises(PermissionDenied, match="read-only"):
                    await call
            assert row_counts(where) == counts
        finally:
            await ro.close()


# -- layering ------------------------------------------------------------------------------------


class TestLayering:
    def test_import_linter_store_contract_is_kept(self, tmp_path):
        """pyproject's import-linter contracts on swarmdeck.store, run as configured, from the repo root.

        Only the store's contracts: another layer breaking its own contract is not the store's failure.
        """
        config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
        contracts = [c for c in config["contracts"] if "swarmdeck.store" in c.get("source_modules", ())]
        assert any("textual" in c["forbidden_modules"] for c in contracts)
        lines = ["[tool.importlinter]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in config.items() if k != "contracts"]
        for contract in contracts:
            lines += ["", "[[tool.importlinter.contracts]]"]
            lines += [f"{k} = {json.dumps(v)}" for k, v in contract.items()]
        store_only = tmp_path / "importlinter.toml"
        store_only.write_text("\n".join(lines) + "\n")
        lint_imports = Path(sys.executable).with_name("lint-imports")
        proc = subprocess.run([str(lint_imports), "--no-cache", "--config", str(store_only)], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "the store never imports the UI KEPT" in proc.stdout
        assert "BROKEN" not in proc.stdout

    def test_importing_the_store_does_not_load_textual(self):
        code = (
            "import json, sys, swarmdeck.store, swarmdeck.store.sqlite\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich') "
            "or m.startswith(('swarmdeck.app', 'swarmdeck.widgets')))))\n"
            "print('swarmdeck.store.sqlite.tasks' in sys.modules)"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        loaded, sanity = proc.stdout.splitlines()
        assert json.loads(loaded) == []
        assert sanity == "True"
