"""Agents learn before they work: every learning record kind logged over MCP, one search over
everything, and task_claim bringing the past failures and decisions that concern the task."""

from __future__ import annotations

from mcp_support import mcp_tools, opened, until

from swarmdeck.store import learning


async def test_every_record_kind_has_a_tool_whose_parameters_are_its_fields(db):
    from swarmdeck.app.mcp import build_server

    async with opened(db) as store:
        listed = {tool.name: tool for tool in await build_server(store, actor="mcp").list_tools()}
    for kind, (required, optional, types) in learning.KINDS.items():
        tool = listed[f"record_{kind}"]
        props = tool.input_schema["properties"]
        assert set(required) | set(optional) <= set(props), kind
        assert set(tool.input_schema["required"]) == set(required), kind
        assert {"namespace", "agent", "task_id", "milestone", "session_id"} <= set(props)
        assert kind.replace("_", " ") in tool.description or kind in tool.description
    spike = listed["record_retrospective"].input_schema["properties"]["spike_accuracy"]
    assert "100" in str(spike)  # the bound is in the schema a client validates against


async def test_records_are_logged_read_and_searched_with_the_clis_filters(db):
    async with mcp_tools(db, "--no-index", env={"SWARMDECK_ACTOR": "mcp-host"}) as t:
        failure = await t.ok("record_failure", feature="claim loop", approach="polling every 10 ms",
                             why_failed="SQLite busy errors under 50 agents", lesson="use BEGIN IMMEDIATE and back off",
                             cost_minutes=90, namespace="project:abathur", agent="builder-1")
        assert failure["record"]["kind"] == "failure" and failure["record"]["fields"]["cost_minutes"] == 90
        assert failure["record"]["agent"] == "builder-1"
        decision = await t.ok("record_decision", decision="use WAL mode", rationale="readers never block writers",
                              alternatives=["rollback journal", "a server database"], namespace="project:abathur")
        assert decision["record"]["agent"] == "mcp-host"  # the server's actor when the call names none
        retro = await t.ok("record_retrospective", feature="memory", new_patterns="repository pattern",
                           spike_accuracy=80)
        assert retro["record"]["fields"] == {"feature": "memory", "new_patterns": ["repository pattern"],
                                             "spike_accuracy": 80}
        docs = await t.ok("record_docs_cache", library="fastapi", version="0.110",
                          source_url="https://fastapi.tiangolo.com/", fetched_at="2026-12-01T10:00:00Z")
        assert docs["record"]["fields"]["fetched_at"] == 1796119200
        log = await t.ok("record_agent_log", agent_name="builder-1", phase="implement", action="wrote DDL",
                         duration_ms=1200, success=True, pipeline_id="p-1")
        assert log["record"]["fields"]["success"] is True

        got = await t.ok("record_get", record_id=failure["record_id"])
        assert got["fields"]["lesson"] == "use BEGIN IMMEDIATE and back off"
        assert [r["kind"] for r in (await t.ok("record_list", kind="decision"))["records"]] == ["decision"]
        await t.ok("memory_add", namespace="project:abathur", key="busy", value="SQLite busy: retry with backoff",
                   memory_type="procedural", created_by="builder-1")
        await t.ok("document_index", namespace="project:abathur", file_path="notes.md",
                   content="SQLite busy timeout is 5 s")

        found = await t.ok("search", query="SQLite busy", mode="keyword")
        assert {r["kind"] for r in found["results"]} == {"failure", "memory", "document"}
        only = await t.ok("search", query="SQLite busy", kinds=["failure", "decision"], mode="keyword")
        assert [r["ref_id"] for r in only["results"]] == [failure["record_id"]]
        assert (await t.ok("search", query="SQLite busy", agent="nobody", mode="keyword"))["results"] == []
        assert (await t.ok("search", query="SQLite busy", namespace_prefix="project:other"))["results"] == []
        recent = await t.ok("search", query="SQLite busy", mode="keyword", since="1h")
        assert recent["count"] == 3
        assert (await t.ok("search", query="SQLite busy", mode="keyword", until="1h"))["count"] == 0

        # Bad calls: a clear error, nothing written.
        assert "spike_accuracy" in await t.error("record_retrospective", feature="x", spike_accuracy=140)
        assert "needs" in await t.error("record_failure", feature="x", approach="", why_failed="y", lesson="z")
        assert "unknown parameter" in await t.error("record_decision", decision="a", rationale="b", colour="red")
        assert "since" in await t.error("search", query="x", since="yesterday-ish")
        assert "not_found" in await t.error("record_decision", decision="a", rationale="b", milestone="M9")
        assert "unknown kind" in await t.error("search", query="x", kinds=["nonsense"])
        assert (await t.ok("record_list"))["count"] == 5


async def test_task_claim_brings_the_failures_and_decisions_that_concern_the_task(db):
    async with mcp_tools(db) as t:
        await t.ok("agent_register", name="builder-1", agent_type="implementation")
        await t.ok("record_failure", feature="websocket server", approach="one thread per connection",
                   why_failed="threads exhausted at 500 websocket clients", lesson="use asyncio for websockets",
                   namespace="project:chat")
        await t.ok("record_decision", decision="websocket library: websockets", rationale="asyncio native",
                   namespace="project:chat")
        await t.ok("record_failure", feature="css build", approach="sass in the browser", why_failed="slow",
                   lesson="precompile", namespace="project:chat")
        await t.ok("record_failure", feature="websocket server", approach="polling", why_failed="latency",
                   lesson="push", namespace="project:other")
        task = await t.ok("task_enqueue", description="Implement the websocket server for chat rooms",
                          source="agent_planner", agent_type="implementation")

        async def embedded() -> bool:
            async with opened(db) as store:
                s = await store.index_status("hash:64")
                return s.entries == s.embedded == 4

        await until(embedded, "the server's indexer to embed the records")
        claim = await t.ok("task_claim", agent="builder-1", context_namespace_prefix="project:chat")
        assert claim["claimed"] is True and claim["task"]["id"] == task["task_id"]
        context = claim["context"]
        assert context["mode"] == "hybrid"
        titles = [lesson["title"] for lesson in context["lessons"]]
        assert titles and set(titles) <= {"failure: websocket server", "decision: websocket library: websockets"}
        first = context["lessons"][0]
        assert first["namespace"] == "project:chat" and "lesson" in first["fields"] or "rationale" in first["fields"]
        assert 0 <= first["relevance"] <= 100

        second = (await t.ok("task_enqueue", description="websocket reconnects", source="human",
                             agent_type="implementation"))["task_id"]
        bare = await t.ok("task_claim", agent="builder-1", context=False)
        assert bare["task"]["id"] == second and "context" not in bare
        assert "context_limit" in await t.error("task_claim", agent="builder-1", context_limit=99)
        assert await t.ok("task_claim", agent="builder-1") == {"claimed": False, "task": None}
