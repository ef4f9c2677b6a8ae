"""Bounded inputs: every text field and JSON value written through the store has a size limit, and every
JSON value a depth limit, so that nothing one agent writes is too big or too deep for the others to read.

The store checks at the top of each public write, so no face (CLI, MCP server, status bridge, dashboard,
Python API) gets past it, and a refused write changes nothing. What was stored before the limits existed
is still read without breaking a reader: a value too deep to decode safely is read as a note saying so.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from store_support import claim, drop_trigger, raw, submit

from swarmdeck.store.errors import InvalidArgument

#: Runs on both backends (tests/conftest.py).
STORE_BACKENDS = ("sqlite", "postgres")

#: The documented limits (README, "Limits").
DEPTH = 32
NAME = 200
LINE = 500
TEXT = 65_536
DOCUMENT = 1_000_000
JSON_BYTES = 1_000_000
ITEMS = 1_000
READ_DEPTH = 64

TEN_MB = 10 * 1024 * 1024


def nested(depth: int, bottom: object = "bottom") -> object:
    """A JSON value ``depth`` containers deep, lists and objects in turn."""
    value = bottom
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


DEEP = nested(970)


def deep_text(depth: int) -> str:
    """JSON text ``depth`` lists deep, written without recursing (json.dumps would hit Python's limit)."""
    return "[" * depth + "1" + "]" * depth  # what `task enqueue --input` took, and every reader then choked on


@pytest.fixture
async def world(gated):
    """Two agents, milestones M1 (open, with a report in review) and M2, a running task, a memory and a
    session: something for every kind of write to aim at."""
    store = gated
    running = await store.enqueue_task(description="running")
    await claim(store, "a1", running.id)
    waiting = await store.enqueue_task(description="waiting")
    await store.add_memory("ns", "existing", "v1", memory_type="semantic", created_by="a1")
    session = await store.create_session(agent="a1")
    await submit(store, "M1")
    return store, {"running": running.id, "waiting": waiting.id, "session": session.id}


async def refused(store, call, *fragments: str) -> str:
    """The call is refused as invalid input naming every fragment, and changes nothing."""
    mark = await store.latest_event_id()
    with pytest.raises(InvalidArgument) as info:
        await call
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert await store.latest_event_id() == mark
    return message


DEEP_WRITES = [
    pytest.param("input_data", lambda s, ids: s.enqueue_task(description="x", input_data=DEEP), id="enqueue"),
    pytest.param("result", lambda s, ids: s.complete_task(ids["running"], agent="a1", result=DEEP), id="complete"),
    pytest.param("value", lambda s, ids: s.add_memory("ns", "k", DEEP, memory_type="semantic", created_by="a1"),
                 id="add_memory"),
    pytest.param("value", lambda s, ids: s.update_memory("ns", "existing", DEEP, updated_by="a1"),
                 id="update_memory"),
    pytest.param("metadata", lambda s, ids: s.add_memory("ns", "k", "v", memory_type="semantic",
                                                         created_by="a1", metadata={"m": DEEP}), id="metadata"),
    pytest.param("state", lambda s, ids: s.create_session(agent="a1", state={"s": DEEP}), id="create_session"),
    pytest.param("payload", lambda s, ids: s.append_session_event(ids["session"], kind="note",
                                                                  payload={"p": DEEP}), id="session_event"),
    pytest.param("state_delta", lambda s, ids: s.append_session_event(ids["session"], kind="note",
                                                                      state_delta={"d": DEEP}), id="state_delta"),
    pytest.param("state", lambda s, ids: s.set_session_state(ids["session"], {"s": DEEP}), id="set_session_state"),
]


class TestJsonValues:
    @pytest.mark.parametrize("field, call", DEEP_WRITES)
    async def test_deep_json_is_refused_by_every_write(self, world, field, call):
        store, ids = world
        await refused(store, call(store, ids), f"{field}: nested deeper than {DEPTH} levels (limit {DEPTH})")

    async def test_a_value_at_the_depth_limit_is_kept_and_one_past_it_is_refused(self, store):
        task = await store.enqueue_task(description="x", input_data=nested(DEPTH))
        assert (await store.get_task(task.id)).input_data == nested(DEPTH)
        await refused(store, store.enqueue_task(description="x", input_data=nested(DEPTH + 1)),
                      f"input_data: nested deeper than {DEPTH} levels (limit {DEPTH})")

    async def test_a_value_deeper_than_python_can_encode_is_refused_not_crashed(self, store):
        await refused(store, store.enqueue_task(description="x", input_data=nested(100_000)),
                      f"input_data: nested deeper than {DEPTH} levels")

    async def test_size(self, store, agents):
        await refused(store, store.enqueue_task(description="x", input_data={"blob": "x" * JSON_BYTES}),
                      "input_data: ", f"bytes of JSON, limit {JSON_BYTES}")
        t = await store.enqueue_task(description="x", input_data={"blob": "é" * (JSON_BYTES // 2 - 20)})
        await claim(store, "a1", t.id)
        await refused(store, store.complete_task(t.id, agent="a1", result=["x" * TEN_MB]),
                      f"result: {TEN_MB + 4} bytes of JSON, limit {JSON_BYTES}")

    async def test_what_json_cannot_hold_is_refused(self, store):
        await refused(store, store.enqueue_task(description="x", input_data={"x": float("nan")}), "input_data")
        await refused(store, store.enqueue_task(description="x", input_data={"x": "\udcff"}),
                      "input_data: not valid UTF-8")


def too_long(field: str, limit: int, call, id: str | None = None):
    return pytest.param(field, call, limit, id=id or field)


TOO_LONG_WRITES = [
    too_long("description", TEXT, lambda s, ids: s.enqueue_task(description="d" * TEN_MB)),
    too_long("agent_type", NAME, lambda s, ids: s.enqueue_task(description="x", agent_type="t" * (NAME + 1))),
    too_long("summary", LINE, lambda s, ids: s.enqueue_task(description="x", summary="s" * (LINE + 1))),
    too_long("session_id", NAME, lambda s, ids: s.enqueue_task(description="x", session_id="s" * (NAME + 1))),
    too_long("actor", NAME, lambda s, ids: s.enqueue_task(description="x", actor="a" * (NAME + 1))),
    too_long("error", TEXT, lambda s, ids: s.fail_task(ids["running"], agent="a1", error="e" * TEN_MB)),
    too_long("reason", TEXT, lambda s, ids: s.cancel_task(ids["waiting"], reason="r" * TEN_MB)),
    too_long("agent", NAME, lambda s, ids: s.claim_task(agent="a" * (NAME + 1))),
    too_long("name", NAME, lambda s, ids: s.register_agent("n" * TEN_MB, agent_type="coder")),
    too_long("agent_type", NAME, lambda s, ids: s.register_agent("a3", agent_type="t" * (NAME + 1)),
             "register agent_type"),
    too_long("colour", NAME, lambda s, ids: s.register_agent("a3", agent_type="coder", colour="c" * (NAME + 1))),
    too_long("model", NAME, lambda s, ids: s.register_agent("a3", agent_type="coder", model="m" * (NAME + 1))),
    too_long("blockers[1]", TEXT, lambda s, ids: s.heartbeat("a1", blockers=["ok", "b" * TEN_MB])),
    too_long("next_milestone", LINE, lambda s, ids: s.heartbeat("a1", next_milestone="m" * (LINE + 1))),
    too_long("phase", LINE, lambda s, ids: s.log_action("a1", phase="p" * (LINE + 1), action="a")),
    too_long("action", TEXT, lambda s, ids: s.log_action("a1", phase="p", action="a" * TEN_MB)),
    too_long("error_message", TEXT,
             lambda s, ids: s.log_action("a1", phase="p", action="a", error_message="e" * TEN_MB)),
    too_long("name", NAME, lambda s, ids: s.add_milestone("M" * (NAME + 1)), "milestone name"),
    too_long("objective", TEXT, lambda s, ids: s.add_milestone("M9", objective="o" * TEN_MB)),
    too_long("deliverables[0]", TEXT, lambda s, ids: s.add_milestone("M9", deliverables=["d" * TEN_MB])),
    too_long("summary", TEXT, lambda s, ids: submit(s, "M1", summary="s" * TEN_MB), "report summary"),
    too_long("criteria[0].evidence", TEXT, lambda s, ids: submit(s, "M1", criteria=[
        {"name": "c", "status": "met", "evidence": "e" * TEN_MB}])),
    too_long("recommendations[0]", TEXT, lambda s, ids: submit(s, "M1", recommendations=["r" * TEN_MB])),
    too_long("submitted_by", NAME, lambda s, ids: submit(s, "M1", by="b" * (NAME + 1))),
    too_long("rationale", TEXT, lambda s, ids: s.decide_gate("M1", decision="APPROVE", rationale="r" * TEN_MB,
                                                             reviewer="alice")),
    too_long("conditions[0]", TEXT, lambda s, ids: s.decide_gate("M1", decision="CONDITIONAL", rationale="ok",
                                                                 reviewer="alice", conditions=["c" * TEN_MB])),
    too_long("note", TEXT, lambda s, ids: s.resume_swarm(by="lead", note="n" * TEN_MB)),
    too_long("namespace", LINE, lambda s, ids: s.add_memory("n" * (LINE + 1), "k", "v", memory_type="semantic",
                                                            created_by="a1")),
    too_long("key", LINE, lambda s, ids: s.add_memory("ns", "k" * (LINE + 1), "v", memory_type="semantic",
                                                      created_by="a1")),
    too_long("value", DOCUMENT, lambda s, ids: s.add_memory("ns", "k", "v" * TEN_MB, memory_type="semantic",
                                                            created_by="a1")),
    too_long("value", DOCUMENT, lambda s, ids: s.update_memory("ns", "existing", "v" * TEN_MB, updated_by="a1"),
             "update value"),
    too_long("created_by", NAME, lambda s, ids: s.add_memory("ns", "k", "v", memory_type="semantic",
                                                             created_by="c" * (NAME + 1))),
    too_long("lesson", TEXT, lambda s, ids: s.log_record("failure", {
        "feature": "f", "approach": "a", "why_failed": "w", "lesson": "l" * TEN_MB})),
    too_long("content", DOCUMENT, lambda s, ids: s.index_document("ns", "doc.md", "c" * TEN_MB)),
    too_long("path", LINE, lambda s, ids: s.index_document("ns", "p" * (LINE + 1), "text")),
    too_long("kind", NAME, lambda s, ids: s.append_session_event(ids["session"], kind="k" * (NAME + 1))),
    too_long("session_id", NAME, lambda s, ids: s.create_session(session_id="s" * (NAME + 1)), "new session id"),
]


class TestText:
    @pytest.mark.parametrize("field, call, limit", TOO_LONG_WRITES)
    async def test_text_past_its_limit_is_refused_by_every_write(self, world, field, call, limit):
        store, ids = world
        message = await refused(store, call(store, ids), f"{field}: ", f"characters, limit {limit}")
        assert len(message) < 200  # the value itself is never echoed back

    async def test_the_message_gives_the_length_and_the_limit(self, store):
        await refused(store, store.enqueue_task(description="d" * TEN_MB),
                      f"description: {TEN_MB} characters, limit {TEXT}")

    async def test_text_at_its_limit_is_kept(self, store):
        task = await store.enqueue_task(description="d" * TEXT, agent_type="t" * NAME, summary="s" * LINE)
        got = await store.get_task(task.id)
        assert (len(got.description), len(got.agent_type), len(got.summary)) == (TEXT, NAME, LINE)
        entry = await store.add_memory("ns", "big", "v" * DOCUMENT, memory_type="semantic", created_by="a")
        assert len((await store.get_memory("ns", "big")).value) == DOCUMENT == len(entry.value)

    @pytest.mark.parametrize("items, field", [
        ("blockers", "blockers"), ("conditions", "conditions"), ("deliverables", "deliverables"),
    ])
    async def test_lists_of_text_are_bounded_in_length_too(self, world, items, field):
        store, ids = world
        many = [f"{items} {i}" for i in range(ITEMS + 1)]
        call = {
            "blockers": lambda: store.heartbeat("a1", blockers=many),
            "conditions": lambda: store.decide_gate("M1", decision="CONDITIONAL", rationale="ok",
                                                    reviewer="alice", conditions=many),
            "deliverables": lambda: store.add_milestone("M9", deliverables=many),
        }[items]
        await refused(store, call(), f"{field}: {ITEMS + 1} entries, limit {ITEMS}")

    @pytest.mark.parametrize("call, field", [
        (lambda s: s.enqueue_task(description="\udcff\udcfe"), "description"),
        (lambda s: s.register_agent("\udcff", agent_type="coder"), "name"),
        (lambda s: s.add_memory("ns", "k", "caf\udce9", memory_type="semantic", created_by="a"), "value"),
        (lambda s: s.heartbeat("a1", blockers=["\ud800"]), "blockers[0]"),
    ])
    async def test_text_that_is_not_utf8_is_refused(self, agents, call, field):
        # What Python makes of bytes that are not UTF-8 in argv or a file (lone surrogates): SQLite
        # cannot store them, and the write used to fail with a traceback instead.
        await refused(agents, call(agents), f"{field}: not valid UTF-8 text")


class TestStoredBeforeTheLimits:
    """Rows written before the limits existed (or around swarmdeck) never break the readers."""

    async def test_a_task_too_deep_to_decode_is_read_with_a_note(self, agents, where):
        store = agents
        deep = await store.enqueue_task(description="deep")
        fine = await store.enqueue_task(description="fine", input_data={"n": 1})
        text = deep_text(970)
        with raw(where) as conn:
            conn.execute("UPDATE tasks SET input_data = ?, result_data = ? WHERE id = ?", (text, text, deep.id))
        got = await store.get_task(deep.id)
        assert isinstance(got.input_data, dict) and "input_data" in got.input_data["unreadable"]
        assert f"nested deeper than {READ_DEPTH} levels" in got.input_data["unreadable"]
        assert "result_data" in got.result_data["unreadable"]
        json.dumps(dataclasses.asdict(got), default=str)  # every consumer can serialise it
        listed = await store.list_tasks()
        assert [t.id for t in listed] == [fine.id, deep.id]
        assert listed[0].input_data == {"n": 1}
        assert [t.id for t in await store.tasks_by_ids([deep.id, fine.id])] == [deep.id, fine.id]
        claimed = await store.claim_task(agent="a1")
        assert claimed.id == deep.id and "unreadable" in claimed.input_data
        # The row itself is untouched: the note is how it reads, not what is stored.
        with raw(where) as conn:
            assert conn.execute("SELECT CAST(input_data AS TEXT) FROM tasks WHERE id = ?", (deep.id,)).fetchone()[0] == text

    async def test_moderately_deep_old_values_still_read_whole(self, store, where):
        task = await store.enqueue_task(description="x")
        value = nested(READ_DEPTH)
        with raw(where) as conn:
            conn.execute("UPDATE tasks SET input_data = ? WHERE id = ?", (json.dumps(value), task.id))
        assert (await store.get_task(task.id)).input_data == value

    async def test_memories_sessions_records_and_events(self, store, where):
        entry = await store.add_memory("ns", "k", {"v": 1}, memory_type="semantic", created_by="a",
                                       metadata={"m": 1})
        session = await store.create_session(agent="a")
        await store.append_session_event(session.id, kind="note", payload={"p": 1})
        record = await store.log_record("decision", {"decision": "d", "rationale": "r"})
        text = '{"x": ' + deep_text(970) + "}"
        with raw(where) as conn:
            conn.execute("UPDATE memory_entries SET value = ?, metadata = ? WHERE id = ?", (text, text, entry.id))
            conn.execute("UPDATE sessions SET state = ? WHERE id = ?", (text, session.id))
            conn.execute("UPDATE session_events SET payload = ?", (text,))
            conn.execute("UPDATE learning_records SET fields = ? WHERE id = ?", (text, record.id))
            # Events are append-only now; this one was written before that, as before the limits.
            conn.execute(drop_trigger(where, "events_no_update", "events"))
            conn.execute("UPDATE events SET payload = ? WHERE kind = 'session.created'", (text,))
        for value in [
            (await store.get_memory("ns", "k")).value,
            (await store.get_memory("ns", "k")).metadata,
            (await store.list_memories())[0].value,
            (await store.get_session(session.id)).state,
            (await store.session_events(session.id))[0].payload,
            (await store.get_record(record.id)).fields,
            next(e.payload for e in await store.changes_since(0) if e.kind == "session.created"),
        ]:
            assert "unreadable" in value, value
            json.dumps(value)
