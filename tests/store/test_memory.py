"""The memory part of the store, on a real database file: migration 2, sessions, versioned memories
with soft delete, the FTS index kept in step with every write, learning records and documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlean
from memory_support import _WORDS, item_id, on_postgres, read, scalar, titles

from swarmdeck.store import open_store, search as rules
from swarmdeck.store.sqlite import schema
from swarmdeck.store.errors import Conflict, InvalidArgument, InvalidTransition, NotFound
from swarmdeck.store.models import MemoryType, SessionStatus
from swarmdeck.store.postgres import base as pg_base, schema as pg_schema
from swarmdeck.store.sqlite import base

#: Memory and search run on both backends (tests/conftest.py).
STORE_BACKENDS = ("sqlite", "postgres")


# -- helpers ------------------------------------------------------------------------------------


async def fts_rowids(store, word: str) -> set[int]:
    """Ask the keyword index itself (not search()): which search items does it hold this word for? (FTS5's
    table on SQLite; on PostgreSQL the tsv column, through its GIN index.)"""
    if on_postgres(store):
        return {r[0] for r in await read(store, "SELECT id FROM search_items WHERE tsv @@ "
                                                f"{pg_schema.tsquery_text('?')}", (word,))}
    return {r[0] for r in await store._all("SELECT rowid FROM search_fts WHERE search_fts MATCH ?", (f'"{word}"',))}


async def assert_fts_in_sync(store) -> None:
    """FTS5's own check that the index matches its content table, row for row; on PostgreSQL, that every
    item's tsv is what its title and body make."""
    if on_postgres(store):
        made = (f"setweight({pg_schema.tsvector_sql('title')}, 'A') || "
                f"setweight({pg_schema.tsvector_sql('body')}, 'B')")
        assert await scalar(store, f"SELECT count(*) FROM search_items WHERE tsv IS DISTINCT FROM {made}") == 0
        return

    def in_tx(tx):
        tx.run("INSERT INTO search_fts (search_fts, rank) VALUES ('integrity-check', 1)")

    await store._write("test", in_tx)


# -- migration 2 ----------------------------------------------------------------------------------


MEMORY_TABLES = {"session_events", "memory_entries", "learning_records", "documents", "document_chunks",
                 "search_items", "search_fts", "embeddings", "vector_indexes", "embedding_failures"}


def _schema_rows(path: Path) -> list[tuple]:
    conn = sqlean.connect(str(path))
    try:
        return conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    finally:
        conn.close()


async def test_migration_2_applies_on_a_version_1_database(db_path, clock, monkeypatch):
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 1)
    v1 = await open_store(db_path, create=True, clock=clock)
    try:
        def insert_task(tx):  # SQL of schema 1: today's enqueue_task needs later columns
            return tx.run(
                "INSERT INTO tasks (description, source, agent_type, base_priority, status, priority, "
                "created_at, updated_at) VALUES ('written before memory existed', 'human', 'general', 5, "
                "'ready', 50, ?, ?)", (clock.now, clock.now))

        def insert_session(tx):  # likewise: today's events carry a hash schema 1 has no column for
            tx.run("INSERT INTO sessions (id, agent_name, status, state, created_at, updated_at) "
                         "VALUES ('s1', 'builder', 'created', '{\"step\":1}', ?, ?)", (clock.now, clock.now))

        task_id = await v1._write("test", insert_task)
        await v1._write("test", insert_session)
        session = await v1.get_session("s1")
        assert await v1.schema_version() == 1
    finally:
        await v1.close()
    assert not MEMORY_TABLES & {name for _, name, _ in _schema_rows(db_path)}
    monkeypatch.undo()
    assert schema.SCHEMA_VERSION == len(schema.MIGRATIONS) >= 2

    clock.advance(60)
    store = await open_store(db_path, clock=clock)
    try:
        assert await store.schema_version() == schema.SCHEMA_VERSION
        assert (await store.get_task(task_id)).description == "written before memory existed"
        # the v1 session takes v2's session events
        await store.append_session_event(session.id, kind="note", payload={"x": 1})
        assert (await store.get_session(session.id)).status is SessionStatus.ACTIVE
        await store.add_memory("project:a", "k", "memory after migrating", memory_type="semantic", created_by="t")
        assert await titles(store, "migrating") == ["k"]
        migrations = [tuple(r) for r in await store._all("SELECT version, name, applied_at FROM schema_migrations "
                                                         "ORDER BY version")]
    finally:
        await store.close()
    assert [(v, n) for v, n, _ in migrations] == [(i, name) for i, (name, _) in enumerate(schema.MIGRATIONS, 1)]
    assert migrations[1][2] == clock.now  # migration 2 was applied on this open, migration 1 a minute before
    assert migrations[0][2] < migrations[1][2]
    assert MEMORY_TABLES <= {name for _, name, _ in _schema_rows(db_path)}

    # Opening again applies nothing: the same records, the same schema.
    before = _schema_rows(db_path)
    clock.advance(60)
    again = await open_store(db_path, clock=clock)
    try:
        assert [tuple(r) for r in await again._all("SELECT version, name, applied_at FROM schema_migrations "
                                                   "ORDER BY version")] == migrations
        assert await again.schema_version() == schema.SCHEMA_VERSION
        assert (await again.get_memory("project:a", "k")).value == "memory after migrating"
    finally:
        await again.close()
    assert _schema_rows(db_path) == before


# -- sessions -------------------------------------------------------------------------------------


class TestSessions:
    async def test_create_and_the_status_flow(self, store):
        s = await store.create_session(agent="builder", state={"step": 1})
        assert (s.status, s.agent_name, s.state) == (SessionStatus.CREATED, "builder", {"step": 1})
        with pytest.raises(Conflict, match=f"session {s.id} already exists"):
            await store.create_session(session_id=s.id)
        for status in ("active", "paused", "active", "terminated", "archived"):
            assert (await store.set_session_status(s.id, status, actor="lead")).status == status
        assert (await store.get_session(s.id)).status is SessionStatus.ARCHIVED
        kinds = [e.kind for e in reversed(await store.events(entity="session", entity_id=s.id))]
        assert kinds == ["session.created", "session.active", "session.paused", "session.active",
                         "session.terminated", "session.archived"]

    @pytest.mark.parametrize("path, refused", [
        ((), "paused"), ((), "archived"), (("active",), "created"), (("active",), "archived"),
        (("active", "paused"), "paused"), (("terminated",), "active"), (("terminated", "archived"), "terminated"),
        (("terminated", "archived"), "active"),
    ])
    async def test_invalid_transitions_are_refused_and_change_nothing(self, store, path, refused):
        s = await store.create_session(session_id="s1")
        for status in path:
            await store.set_session_status(s.id, status)
        current = (await store.get_session(s.id)).status
        last = await store.latest_event_id()
        with pytest.raises(InvalidTransition, match=f"session s1 is {current}; it cannot become {refused}"):
            await store.set_session_status(s.id, refused)
        assert (await store.get_session(s.id)).status == current
        assert await store.latest_event_id() == last

    async def test_bad_status_and_missing_session(self, store):
        s = await store.create_session()
        with pytest.raises(InvalidArgument, match="session status must be one of created, active, .*not 'done'"):
            await store.set_session_status(s.id, "done")
        with pytest.raises(NotFound, match="session nope does not exist"):
            await store.set_session_status("nope", "active")
        with pytest.raises(NotFound):
            await store.get_session("nope")
        with pytest.raises(NotFound):
            await store.append_session_event("nope", kind="x")

    async def test_events_make_a_created_session_active(self, store, clock):
        s = await store.create_session(agent="builder")
        first = await store.append_session_event(s.id, kind="tool_call", payload={"tool": "grep", "n": [1, 2]})
        assert (first.kind, first.payload) == ("tool_call", {"tool": "grep", "n": [1, 2]})
        assert (await store.get_session(s.id)).status is SessionStatus.ACTIVE
        for i in range(4):
            clock.advance(1)
            await store.append_session_event(s.id, kind=f"step-{i}")
        assert [e.kind for e in await store.session_events(s.id)] == ["tool_call", "step-0", "step-1", "step-2",
                                                                      "step-3"]
        # the newest N, still in the order they happened
        assert [e.kind for e in await store.session_events(s.id, limit=2)] == ["step-2", "step-3"]
        assert (await store.get_session(s.id)).updated_at.timestamp() == clock.now

    async def test_a_paused_session_takes_events_and_stays_paused_a_terminated_one_takes_none(self, store):
        s = await store.create_session()
        await store.set_session_status(s.id, "active")
        await store.set_session_status(s.id, "paused")
        await store.append_session_event(s.id, kind="note")
        assert (await store.get_session(s.id)).status is SessionStatus.PAUSED
        await store.set_session_status(s.id, "terminated")
        with pytest.raises(InvalidTransition, match="is terminated; it takes no more events"):
            await store.append_session_event(s.id, kind="late")
        assert [e.kind for e in await store.session_events(s.id)] == ["note"]

    async def test_event_payload_must_be_json(self, store):
        s = await store.create_session()
        with pytest.raises(InvalidArgument, match="must be JSON-serialisable"):
            await store.append_session_event(s.id, kind="x", payload={"when": object()})
        with pytest.raises(InvalidArgument, match="event kind must be non-empty"):
            await store.append_session_event(s.id, kind="  ")
        assert await store.session_events(s.id) == []

    async def test_an_event_can_carry_a_state_delta(self, store):
        s = await store.create_session(state={"step": 1, "branch": "main"})
        await store.append_session_event(s.id, kind="step", state_delta={"step": 2, "file": "a.py"})
        assert (await store.get_session(s.id)).state == {"step": 2, "branch": "main", "file": "a.py"}
        with pytest.raises(InvalidArgument, match="state_delta must be an object"):
            await store.append_session_event(s.id, kind="step", state_delta=["step"])
        await store.set_session_status(s.id, "terminated")
        with pytest.raises(InvalidTransition):
            await store.append_session_event(s.id, kind="late", state_delta={"step": 3})
        assert (await store.get_session(s.id)).state["step"] == 2  # refused with its event

    async def test_state_merges_or_replaces(self, store):
        s = await store.create_session(state={"step": 1, "files": ["a.py"]})
        merged = await store.set_session_state(s.id, {"step": 2, "branch": "main"})
        assert merged.state == {"step": 2, "files": ["a.py"], "branch": "main"}
        replaced = await store.set_session_state(s.id, {"fresh": True}, merge=False)
        assert replaced.state == {"fresh": True}
        assert (await store.get_session(s.id)).state == {"fresh": True}
        with pytest.raises(InvalidArgument, match="session state must be an object"):
            await store.set_session_state(s.id, ["not", "an", "object"])
        with pytest.raises(InvalidArgument, match="JSON-serialisable"):
            await store.set_session_state(s.id, {"bad": {1, 2}})
        assert (await store.get_session(s.id)).state == {"fresh": True}
        with pytest.raises(NotFound):
            await store.set_session_state("nope", {})


# -- memory entries -------------------------------------------------------------------------------


class TestMemoryEntries:
    async def test_versions_history_and_values(self, store, clock):
        v1 = await store.add_memory("project:a/agent:b", "schema", {"tables": ["tasks"], "n": 1},
                                    memory_type="semantic", created_by="planner", metadata={"src": "seed"})
        assert (v1.version, v1.is_json, v1.value, v1.is_current, v1.metadata) == (
            1, True, {"tables": ["tasks"], "n": 1}, True, {"src": "seed"})
        with pytest.raises(Conflict, match="memory project:a/agent:b / schema already exists and is there"):
            await store.add_memory("project:a/agent:b", "schema", "again", memory_type="semantic", created_by="x")
        clock.advance(10)
        v2 = await store.update_memory("project:a/agent:b", "schema", '{"looks": "like json"}', updated_by="builder")
        clock.advance(10)
        v3 = await store.update_memory("project:a/agent:b", "schema", [1, "two", None, 3.5, True],
                                       updated_by="reviewer", memory_type="procedural")
        assert (v2.version, v3.version) == (2, 3)
        assert v2.value == '{"looks": "like json"}' and v2.is_json is False  # text stays text
        assert v2.memory_type is MemoryType.SEMANTIC and v2.metadata == {"src": "seed"}  # kept from v1
        assert v3.memory_type is MemoryType.PROCEDURAL

        history = await store.memory_history("project:a/agent:b", "schema")
        assert [(e.version, e.value, e.created_by, e.is_current) for e in history] == [
            (1, {"tables": ["tasks"], "n": 1}, "planner", False),
            (2, '{"looks": "like json"}', "builder", False),
            (3, [1, "two", None, 3.5, True], "reviewer", True),
        ]
        assert [e.created_at.timestamp() for e in history] == [clock.now - 20, clock.now - 10, clock.now]
        assert (await store.get_memory("project:a/agent:b", "schema")).version == 3
        assert (await store.get_memory("project:a/agent:b", "schema", version=1)).value == {"tables": ["tasks"],
                                                                                            "n": 1}
        with pytest.raises(NotFound, match="no memory project:a/agent:b / schema version 9"):
            await store.get_memory("project:a/agent:b", "schema", version=9)
        assert (await store.get_memory_by_id(v2.id)).version == 2
        kinds = [e.kind for e in reversed(await store.events(entity="memory"))]
        assert kinds == ["memory.added", "memory.updated", "memory.updated"]

    @pytest.mark.parametrize("value", ["plain text", "", 0, False, {"nested": {"é": ["ü", 1e-9]}}, [], "null"])
    async def test_values_round_trip(self, store, value):
        if value == "":
            with pytest.raises(InvalidArgument, match="non-empty value"):
                await store.add_memory("ns", "k", value, memory_type="episodic", created_by="t")
            return
        await store.add_memory("ns", "k", value, memory_type="episodic", created_by="t")
        got = await store.get_memory("ns", "k")
        assert got.value == value and type(got.value) is type(value)
        assert got.is_json is not isinstance(value, str)

    @pytest.mark.parametrize("namespace, message", [
        ("", "namespace must be non-empty"), ("project:a//agent:b", "empty segment"), ("/x", "empty segment"),
        ("x/", "empty segment"),
    ])
    async def test_bad_namespaces(self, store, namespace, message):
        with pytest.raises(InvalidArgument, match=message):
            await store.add_memory(namespace, "k", "v", memory_type="semantic", created_by="t")

    async def test_bad_arguments(self, store):
        with pytest.raises(InvalidArgument, match="memory_type must be one of semantic, episodic, procedural"):
            await store.add_memory("ns", "k", "v", memory_type="factual", created_by="t")
        with pytest.raises(InvalidArgument, match="JSON-serialisable"):
            await store.add_memory("ns", "k", {"x": object()}, memory_type="semantic", created_by="t")
        with pytest.raises(InvalidArgument, match="metadata must be an object"):
            await store.add_memory("ns", "k", "v", memory_type="semantic", created_by="t", metadata=[1])
        with pytest.raises(NotFound, match="no memory ns / k"):
            await store.update_memory("ns", "k", "v", updated_by="t")
        assert await store.list_memories() == []

    async def test_soft_delete_and_restore(self, store):
        await store.add_memory("ns", "transport", "use websockets for chat", memory_type="semantic", created_by="a")
        await store.update_memory("ns", "transport", "use server sent events for chat", updated_by="b")
        deleted = await store.delete_memory("ns", "transport", deleted_by="lead")
        assert deleted.deleted and deleted.deleted_by == "lead" and deleted.version == 2

        with pytest.raises(NotFound, match="no memory ns / transport"):
            await store.get_memory("ns", "transport")
        assert (await store.get_memory("ns", "transport", include_deleted=True)).deleted
        assert (await store.get_memory("ns", "transport", version=2)).deleted  # a version asked for by number
        assert await titles(store, "server sent events") == []
        assert await store.list_memories() == []
        assert [e.version for e in await store.list_memories(include_deleted=True)] == [2]
        history = await store.memory_history("ns", "transport")
        assert [(e.version, e.deleted) for e in history] == [(1, False), (2, True)]

        with pytest.raises(InvalidTransition, match="is deleted; restore it before updating"):
            await store.update_memory("ns", "transport", "x", updated_by="b")
        with pytest.raises(InvalidTransition, match="already deleted"):
            await store.delete_memory("ns", "transport", deleted_by="lead")
        with pytest.raises(Conflict, match="already exists and is deleted \\(restore it\\)"):
            await store.add_memory("ns", "transport", "x", memory_type="semantic", created_by="a")

        restored = await store.restore_memory("ns", "transport", restored_by="lead")
        assert (restored.version, restored.value, restored.deleted) == (2, "use server sent events for chat", False)
        assert (await store.get_memory("ns", "transport")).value == "use server sent events for chat"
        assert await titles(store, "server sent events") == ["transport"]
        assert await titles(store, "websockets") == []  # version 1's text is history, not searchable
        with pytest.raises(InvalidTransition, match="is not deleted"):
            await store.restore_memory("ns", "transport", restored_by="lead")
        v3 = await store.update_memory("ns", "transport", "back to websockets", updated_by="b")
        assert v3.version == 3
        kinds = [e.kind for e in reversed(await store.events(entity="memory"))]
        assert kinds == ["memory.added", "memory.updated", "memory.deleted", "memory.restored", "memory.updated"]

    async def test_list_memories_namespace_prefix_names_whole_segments(self, store, clock):
        """A prefix names whole segments: `project:a` is project:a and what lies under project:a/, never
        project:ab or project:a-old. Ending in `/` or `:` it is a plain string prefix."""
        for ns in ("project:a", "project:a/agent:x", "project:a/agent:y/run:1", "project:ab", "project:a-old",
                   "project:a.b", "other"):
            clock.advance(1)
            await store.add_memory(ns, "k", f"value in {ns}", memory_type="semantic", created_by="t")

        async def listed(prefix):
            return [e.namespace for e in await store.list_memories(namespace_prefix=prefix)]

        assert await listed("project:a") == ["project:a/agent:y/run:1", "project:a/agent:x", "project:a"]
        assert await listed("project:a/") == ["project:a/agent:y/run:1", "project:a/agent:x"]
        assert await listed("project:a/agent:") == ["project:a/agent:y/run:1", "project:a/agent:x"]
        assert await listed("project:ab") == ["project:ab"]
        assert await listed("project:") == ["project:a.b", "project:a-old", "project:ab", "project:a/agent:y/run:1",
                                            "project:a/agent:x", "project:a"]
        assert await listed("proj") == []
        assert len(await listed(None)) == 7

    async def test_list_memories_filters_before_the_limit(self, store, clock):
        for i in range(3):
            clock.advance(1)
            await store.add_memory("project:a/agent:x", f"wanted-{i}", "v", memory_type="procedural", created_by="t")
        for i in range(20):  # newer, and outside every filter below
            clock.advance(1)
            await store.add_memory("project:b", f"noise-{i}", "v", memory_type="semantic", created_by="t")
        clock.advance(1)
        await store.add_memory("project:a", "semantic-in-a", "v", memory_type="semantic", created_by="t")
        by_prefix = await store.list_memories(namespace_prefix="project:a/", limit=3)
        assert [e.key for e in by_prefix] == ["wanted-2", "wanted-1", "wanted-0"]
        by_type = await store.list_memories(memory_type="procedural", limit=2)
        assert [e.key for e in by_type] == ["wanted-2", "wanted-1"]
        both = await store.list_memories(namespace_prefix="project:a", memory_type="semantic", limit=5)
        assert [e.key for e in both] == ["semantic-in-a"]
        assert len(await store.list_memories(limit=5)) == 5
        with pytest.raises(InvalidArgument, match="memory_type must be one of"):
            await store.list_memories(memory_type="factual")
        with pytest.raises(InvalidArgument, match="limit must be between"):
            await store.list_memories(limit=0)

    async def test_list_shows_only_current_versions(self, store):
        await store.add_memory("ns", "k", "one", memory_type="semantic", created_by="t")
        await store.update_memory("ns", "k", "two", updated_by="t")
        assert [(e.key, e.version) for e in await store.list_memories()] == [("k", 2)]


# -- the FTS index follows every write, in the same transaction ------------------------------------


#: What an agent may write: markup of every kind the faces render (Rich, HTML, Markdown), terminal escapes,
#: backslashes, quotes, SQL and placeholder look-alikes of both backends, and text outside ASCII.
AGENT_TEXT = ("[bold red]gate passed[/] <script>alert('x')</script> **done** `rm -rf /` \\x1b[2J \x1b[31mred\x1b[0m "
              "\\n stays two characters; a real\nnewline and\ttab; 'single' \"double\" %s %(name)s %% ? ?1 $1 :name "
              "'); DROP TABLE memory_entries; -- {\"json\": [1]} \\u0041 émigré 🚀 zebrafinch")


async def test_agent_written_text_is_stored_and_returned_verbatim(store):
    entry = await store.add_memory("ns", AGENT_TEXT[:40], AGENT_TEXT, memory_type="episodic", created_by="a",
                                   metadata={"note": AGENT_TEXT})
    assert entry.value == AGENT_TEXT and entry.key == AGENT_TEXT[:40] and entry.metadata == {"note": AGENT_TEXT}
    got = await store.get_memory("ns", AGENT_TEXT[:40])
    assert (got.value, got.key, got.metadata) == (AGENT_TEXT, AGENT_TEXT[:40], {"note": AGENT_TEXT})
    structured = await store.update_memory("ns", AGENT_TEXT[:40], {"text": AGENT_TEXT, "list": [AGENT_TEXT]},
                                           updated_by="a")
    assert (await store.get_memory_by_id(structured.id)).value == {"text": AGENT_TEXT, "list": [AGENT_TEXT]}
    assert [e.value for e in await store.memory_history("ns", AGENT_TEXT[:40])] == [
        AGENT_TEXT, {"text": AGENT_TEXT, "list": [AGENT_TEXT]}]

    session = await store.create_session(agent="a", state={"s": AGENT_TEXT})
    await store.append_session_event(session.id, kind=AGENT_TEXT[:30], payload={"p": AGENT_TEXT},
                                     state_delta={"d": AGENT_TEXT})
    assert (await store.get_session(session.id)).state == {"s": AGENT_TEXT, "d": AGENT_TEXT}
    [event] = await store.session_events(session.id)
    assert (event.kind, event.payload) == (AGENT_TEXT[:30], {"p": AGENT_TEXT})

    record = await store.log_record("decision", {"decision": AGENT_TEXT, "rationale": AGENT_TEXT}, agent="a")
    assert (await store.get_record(record.id)).fields == {"decision": AGENT_TEXT, "rationale": AGENT_TEXT}
    doc = await store.index_document("ns", "notes.md", AGENT_TEXT)
    assert [r[0] for r in await read(store, "SELECT text FROM document_chunks WHERE document_id = ?",
                                     (doc.id,))] == [AGENT_TEXT]

    hits = await store.search("zebrafinch", mode="keyword", kinds=["document", "decision"])
    assert {h.kind for h in hits} == {"document", "decision"}
    for hit in hits:
        body = await store.search_item_body(hit.item_id)
        assert AGENT_TEXT in body
        # highlights are spans into the snippet, never markup added to it
        assert all(hit.snippet[a:b].lower() == "zebrafinch" for a, b in hit.highlights)
    [memory_hit] = await store.search("zebrafinch", mode="keyword", kinds=["memory"])
    # a JSON value is searched as its JSON text
    assert json.loads(await store.search_item_body(memory_hit.item_id)) == {"text": AGENT_TEXT, "list": [AGENT_TEXT]}


class TestFtsSync:
    async def test_update_delete_restore(self, store):
        entry = await store.add_memory("ns", "transport", "we chose carrierpigeon", memory_type="semantic",
                                       created_by="a")
        item = await item_id(store, "memory", entry.id)
        assert await fts_rowids(store, "carrierpigeon") == {item}
        v2 = await store.update_memory("ns", "transport", "we chose semaphore", updated_by="a")
        assert await item_id(store, "memory", v2.id) == item  # the same search item, now for version 2
        assert await fts_rowids(store, "carrierpigeon") == set()
        assert await fts_rowids(store, "semaphore") == {item}
        assert await titles(store, "carrierpigeon") == [] and await titles(store, "semaphore") == ["transport"]
        await assert_fts_in_sync(store)

        await store.delete_memory("ns", "transport", deleted_by="a")
        assert await fts_rowids(store, "semaphore") == set()
        assert await titles(store, "semaphore") == []
        await assert_fts_in_sync(store)

        await store.restore_memory("ns", "transport", restored_by="a")
        assert await titles(store, "semaphore") == ["transport"]
        assert len(await fts_rowids(store, "semaphore")) == 1
        assert await fts_rowids(store, "carrierpigeon") == set()
        await assert_fts_in_sync(store)

    async def test_a_refused_update_leaves_entry_and_index_unchanged(self, store):
        await store.add_memory("ns", "k", "original wording", memory_type="semantic", created_by="a")
        last = await store.latest_event_id()
        with pytest.raises(InvalidArgument, match="memory_type must be one of"):
            await store.update_memory("ns", "k", "replacement wording", updated_by="a", memory_type="factual")
        assert [e.value for e in await store.memory_history("ns", "k")] == ["original wording"]
        assert await titles(store, "original") == ["k"] and await titles(store, "replacement") == []
        assert await store.latest_event_id() == last
        await assert_fts_in_sync(store)

    async def test_an_update_failing_at_its_last_step_rolls_back_entry_and_index(self, store, monkeypatch):
        """The new version, the search item and the FTS rows land in one transaction with the event:
        when the event cannot be written, none of it stays."""
        await store.add_memory("ns", "k", "original wording", memory_type="semantic", created_by="a")
        tx_class = pg_base.Tx if on_postgres(store) else base.Tx
        real_event = tx_class.event

        def failing_event(self, kind, *args, **kwargs):
            if kind == "memory.updated":
                raise InvalidArgument("simulated failure after every other write")
            return real_event(self, kind, *args, **kwargs)

        monkeypatch.setattr(tx_class, "event", failing_event)
        with pytest.raises(InvalidArgument, match="simulated"):
            await store.update_memory("ns", "k", "replacement wording", updated_by="a")
        monkeypatch.undo()
        history = await store.memory_history("ns", "k")
        assert [(e.version, e.value, e.is_current) for e in history] == [(1, "original wording", True)]
        assert await titles(store, "original") == ["k"] and await titles(store, "replacement") == []
        assert await fts_rowids(store, "replacement") == set()
        await assert_fts_in_sync(store)
        assert (await store.update_memory("ns", "k", "replacement wording", updated_by="a")).version == 2


# -- learning records --------------------------------------------------------------------------------

RECORDS = {
    "failure": {"feature": "realtime chat", "approach": "Bidirectional WebSocket streaming",
                "why_failed": "connections dropped under load", "lesson": "use Redis pub/sub for fan-out"},
    "decision": {"decision": "keep SSE for notifications", "rationale": "works through corporate proxies",
                 "alternatives": ["long polling"]},
    "retrospective": {"feature": "OAuth login", "surprises": "token refresh raced with logout",
                      "spike_accuracy": 60},
    "spike": {"feature": "LLM streaming", "question": "Can we stream tokens via WebSocket?",
              "approach": "Bidirectional WebSocket", "result": "Viable with Redis", "viable": True, "time_spent": 45},
    "pattern": {"name": "transactional outbox", "description": "write the event and the state together"},
    "estimate": {"feature": "Add OAuth authentication", "estimated_sessions": 3, "actual_sessions": 5,
                 "complexity_score": 7.5},
}
DISTINCT = {"failure": "dropped", "decision": "proxies", "retrospective": "raced", "spike": "viable",
            "pattern": "outbox", "estimate": "authentication"}


class TestLearningRecords:
    async def test_every_kind_is_stored_and_searchable_by_kind(self, store):
        for kind, fields in RECORDS.items():
            record = await store.log_record(kind, fields, namespace="project:chat", agent="historian")
            assert (record.kind, record.fields, record.agent) == (kind, fields, "historian")
            assert (await store.get_record(record.id)).title == record.title
        for kind, word in DISTINCT.items():
            hits = await store.search(word, mode="keyword")
            assert [h.kind for h in hits] == [kind], word
            assert await store.search(word, mode="keyword", kinds=[k for k in RECORDS if k != kind]) == []
        assert [r.kind for r in await store.list_records()] == list(reversed(RECORDS))
        assert [r.kind for r in await store.list_records(kind="spike")] == ["spike"]
        with pytest.raises(InvalidArgument, match="record kind must be one of"):
            await store.list_records(kind="lesson")

    async def test_invalid_records_are_refused_before_anything_is_written(self, store):
        last = await store.latest_event_id()
        with pytest.raises(InvalidArgument, match="a failure needs lesson"):
            await store.log_record("failure", {k: v for k, v in RECORDS["failure"].items() if k != "lesson"})
        with pytest.raises(InvalidArgument, match="unknown field\\(s\\) for an estimate: files_deleted"):
            await store.log_record("estimate", RECORDS["estimate"] | {"files_deleted": 4})
        with pytest.raises(InvalidArgument, match="files_created must be a whole number of at least 0, not -1"):
            await store.log_record("estimate", RECORDS["estimate"] | {"files_created": -1})
        with pytest.raises(InvalidArgument, match="actual_sessions must be a number"):
            await store.log_record("estimate", RECORDS["estimate"] | {"actual_sessions": "five"})
        with pytest.raises(InvalidArgument, match="record kind must be one of"):
            await store.log_record("lesson", {"text": "x"})
        with pytest.raises(InvalidArgument, match="namespace"):
            await store.log_record("pattern", RECORDS["pattern"], namespace="a//b")
        assert await store.latest_event_id() == last and await store.list_records() == []

    async def test_links_to_task_and_milestone(self, store):
        milestone = await store.add_milestone("M1", objective="ship chat")
        task = await store.enqueue_task(description="build chat transport", milestone="M1")
        record = await store.log_record("failure", RECORDS["failure"], agent="builder", task_id=task.id,
                                        milestone_id=milestone.id)
        assert (record.task_id, record.milestone_id) == (task.id, milestone.id)
        hit = (await store.search("dropped", mode="keyword"))[0]
        assert (hit.kind, hit.ref_id, hit.task_id, hit.milestone_id, hit.agent) == (
            "failure", record.id, task.id, milestone.id, "builder")
        last = await store.latest_event_id()
        with pytest.raises(NotFound, match="task 999 does not exist"):
            await store.log_record("failure", RECORDS["failure"], task_id=999)
        with pytest.raises(NotFound, match="milestone 999 does not exist"):
            await store.log_record("failure", RECORDS["failure"], milestone_id=999)
        assert await store.latest_event_id() == last
        assert [r.id for r in await store.list_records()] == [record.id]
        assert await scalar(store, "SELECT count(*) FROM search_items") == 1


# -- documents --------------------------------------------------------------------------------------


def _document(marker: str) -> str:
    paragraphs = [" ".join(f"Paragraph {p} sentence {s} about {_WORDS[(p * 5 + s) % 26]}." for s in range(30))
                  for p in range(4)]
    paragraphs[2] = f"The {marker} protocol is described here. " + paragraphs[2]
    return "\n\n".join(paragraphs)


class TestDocuments:
    async def test_chunks_are_indexed_and_searchable(self, store):
        content = _document("quokka")
        doc = await store.index_document("project:chat", "docs/design.md", content, actor="librarian")
        chunks = rules.chunk_text(content)
        assert doc.chunk_count == len(chunks) >= 3
        rows = await read(store, "SELECT position, text FROM document_chunks WHERE document_id = ? ORDER BY position",
                          (doc.id,))
        assert [r[1] for r in rows] == chunks
        hits = await store.search("quokka", mode="keyword", kinds=["document"])
        assert len(hits) >= 1 and all(h.title.startswith("docs/design.md #") for h in hits)
        assert all(h.agent == "librarian" and h.namespace == "project:chat" for h in hits)
        assert await scalar(store, "SELECT count(*) FROM search_items WHERE kind = 'document'") == len(chunks)

    async def test_same_content_is_a_no_op(self, store, clock):
        content = _document("quokka")
        first = await store.index_document("ns", "a.md", content)
        last = await store.latest_event_id()
        items = await store._all("SELECT id FROM search_items ORDER BY id")
        clock.advance(60)
        again = await store.index_document("ns", "a.md", content)
        assert again == first  # same id, same hash, same updated_at
        assert await store.latest_event_id() == last
        assert await store._all("SELECT id FROM search_items ORDER BY id") == items

    async def test_changed_content_replaces_the_chunks(self, store, clock):
        first = await store.index_document("ns", "a.md", _document("quokka"))
        clock.advance(60)
        second = await store.index_document("ns", "a.md", _document("wombat") + "\n\nA short new ending.")
        assert second.id == first.id and second.content_hash != first.content_hash
        assert second.updated_at.timestamp() == clock.now and second.created_at == first.created_at
        assert await titles(store, "quokka") == []
        assert await fts_rowids(store, "quokka") == set()
        assert len(await titles(store, "wombat")) >= 1
        assert await scalar(store, "SELECT count(*) FROM search_items WHERE kind = 'document'") == second.chunk_count
        assert await scalar(store, "SELECT count(*) FROM document_chunks") == second.chunk_count
        await assert_fts_in_sync(store)
        # the same path in another namespace is another document
        other = await store.index_document("other", "a.md", "tiny")
        assert other.id != first.id and other.chunk_count == 1

    async def test_empty_and_bad_documents(self, store):
        empty = await store.index_document("ns", "empty.md", "   ")
        assert empty.chunk_count == 0
        with pytest.raises(InvalidArgument, match="content must be text"):
            await store.index_document("ns", "b.md", b"bytes")
        with pytest.raises(InvalidArgument, match="must be non-empty"):
            await store.index_document("ns", " ", "text")
