"""The MCP server under bad input: too deep or too big values are refused naming the limit, and a row
too deep to decode (stored before the limits existed) no longer breaks task_claim, task_list and
task_get for every agent. In process (the SDK's own client on the server object), plus one smoke test
against the real server process."""

from __future__ import annotations

from contextlib import asynccontextmanager, closing

import pytest
import sqlean
from mcp import Client
from mcp_support import mcp_tools

from swarmdeck.app.mcp import build_server
from swarmdeck.store import open_store


def nested(depth: int) -> object:
    value: object = 1
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


def deep_text(depth: int) -> str:
    """JSON text ``depth`` lists deep, written without recursing (json.dumps would hit Python's limit)."""
    return "[" * depth + "1" + "]" * depth


@asynccontextmanager
async def served(db):
    store = await open_store(db)
    try:
        async with Client(build_server(store, actor="planner")) as client:
            yield client
    finally:
        await store.close()


async def ok(client, tool: str, **args):
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def error(client, tool: str, **args) -> str:
    result = await client.call_tool(tool, args)
    assert result.is_error, result.structured_content
    return result.content[0].text


def bury(db, task_id: int) -> None:
    """Make a task's input 970 levels deep, as `task enqueue --input` once accepted."""
    with closing(sqlean.connect(str(db), isolation_level=None)) as conn:
        conn.execute("UPDATE tasks SET input_data = ? WHERE id = ?", (deep_text(970), task_id))


@pytest.mark.parametrize("tool, args, message", [
    ("task_enqueue", dict(description="x", source="human", input_data={"d": nested(40)}),
     "invalid_argument: input_data: nested deeper than 32 levels (limit 32)"),
    ("task_enqueue", dict(description="d" * 100_000, source="human"),
     "invalid_argument: description: 100000 characters, limit 65536"),
    ("memory_add", dict(namespace="ns", key="k", value=nested(40), memory_type="semantic", created_by="a"),
     "invalid_argument: value: nested deeper than 32 levels (limit 32)"),
    ("agent_register", dict(name="a", agent_type="t" * 300),
     "invalid_argument: agent_type: 300 characters, limit 200"),
    ("session_create", dict(initial_state={"s": nested(40)}),
     "invalid_argument: state: nested deeper than 32 levels (limit 32)"),
])
async def test_values_past_a_limit_are_refused_naming_it(db, tool, args, message):
    async with served(db) as client:
        text = await error(client, tool, **args)
        assert message in text, text
        assert (await ok(client, "task_queue_status"))["total_tasks"] == 0


async def test_a_task_too_deep_to_decode_breaks_no_reader(db):
    async with served(db) as client:
        await ok(client, "agent_register", name="w1", agent_type="general")
        deep = (await ok(client, "task_enqueue", description="deep", source="human"))["task_id"]
        bury(db, deep)
        got = await ok(client, "task_get", task_id=deep)
        assert "nested deeper than" in got["input_data"]["unreadable"]
        assert [t["id"] for t in (await ok(client, "task_list"))["tasks"]] == [deep]
        claimed = await ok(client, "task_claim", agent="w1")
        assert claimed["claimed"] and claimed["task"]["id"] == deep


async def test_the_real_server_survives_a_buried_task(db):
    async with mcp_tools(db, "--no-index") as tools:
        await tools.ok("agent_register", name="w1", agent_type="general")
        deep = (await tools.ok("task_enqueue", description="deep", source="human"))["task_id"]
        bury(db, deep)
        assert (await tools.ok("task_get", task_id=deep))["input_data"]["unreadable"]
        assert (await tools.ok("task_list"))["count"] == 1
        assert (await tools.ok("task_claim", agent="w1"))["task"]["id"] == deep


async def test_a_read_only_seat_serves_reads_and_refuses_writes(db):
    """What `swarmdeck --read-only mcp` serves: the store opened read-only."""
    store = await open_store(db, read_only=True)
    try:
        async with Client(build_server(store, actor="watcher")) as client:
            assert (await ok(client, "task_queue_status"))["total_tasks"] == 0
            text = await error(client, "task_enqueue", description="x", source="human")
            assert text.startswith("Error executing tool task_enqueue: permission_denied:"), text
            assert "read-only" in await error(client, "agent_register", name="a", agent_type="t")
    finally:
        await store.close()
