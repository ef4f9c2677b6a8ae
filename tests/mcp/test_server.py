"""Every tool over a real stdio connection: results, and bad calls answered with an error that says why."""

from __future__ import annotations

import asyncio

from mcp_support import SWARMDECK, mcp_tools, opened, server_env, until
from relevance_cases import CHAT_MEMORIES
from signing_support import decide, key

TOOLS = {
    "task_enqueue", "task_get", "task_list", "task_queue_status", "task_cancel", "task_execution_plan",
    "task_claim", "task_complete", "task_fail", "task_handoff",
    "agent_register", "agent_heartbeat", "log_action",
    "milestone_list", "gate_submit_report", "gate_evidence", "gate_status",
    "memory_add", "memory_get", "memory_search", "memory_update", "memory_delete",
    "session_create", "session_get", "session_append_event", "session_get_state", "session_set_state",
    "document_index", "document_semantic_search",
    "record_failure", "record_decision", "record_retrospective", "record_spike", "record_pattern",
    "record_estimate", "record_pattern_usage", "record_agent_log", "record_pipeline_state", "record_docs_cache",
    "record_complexity_snapshot", "record_get", "record_list", "search",
}


#: Words in the name of a tool that would do a person's act: none may exist.
HUMAN_ACTS = ("decide", "approve", "resume", "close", "condition", "reviewer", "escalat", "revise")


async def test_no_tool_does_what_only_a_person_may(db):
    """Deciding, resuming, closing conditions and registering reviewers happen only at a human seat:
    the server offers no tool for any of them (and no tool takes a reviewer)."""
    from swarmdeck.app.mcp import build_server

    async with opened(db) as store:
        server = build_server(store, actor="mcp")
        listed = await server.list_tools()
    names = {tool.name for tool in listed}
    assert names == TOOLS
    assert [n for n in names if any(w in n for w in HUMAN_ACTS)] == []
    for tool in listed:
        params = set(tool.input_schema.get("properties", {}))
        # A decision record's rationale is seed 003's (why an agent chose a design), not a gate's.
        own = {"rationale"} if tool.name == "record_decision" else set()
        assert not params - own & {"reviewer", "closed_by", "resumed_by", "rationale"}, (tool.name, params)


async def test_the_tools_agents_call_are_listed_and_described_and_no_gate_can_be_decided(db):
    async with mcp_tools(db) as t:
        assert t.init.capabilities.tools is not None and t.init.server_info.name == "swarmdeck"
        assert "agent_register" in t.init.instructions and "task_claim" in t.init.instructions
        listed = (await t.session.list_tools()).tools
        names = {tool.name for tool in listed}
        assert names == TOOLS
        assert not [n for n in names if any(w in n for w in HUMAN_ACTS)]
        for tool in listed:
            # Written for a model: what it does (a sentence or more), and every parameter typed.
            assert tool.description and len(tool.description) > 40, tool.name
            assert not tool.description.startswith(" "), tool.name
            assert tool.input_schema["type"] == "object"
            for name, schema in tool.input_schema.get("properties", {}).items():
                assert "type" in schema or "anyOf" in schema or "$ref" in schema or name in (
                    "value", "result"), (tool.name, name, schema)
        enqueue = next(tool for tool in listed if tool.name == "task_enqueue")
        props = enqueue.input_schema["properties"]
        # Seed 001's parameters, with its constraints in the schema a client validates against.
        assert {"description", "source", "agent_type", "base_priority", "prerequisites", "parent_task_id",
                "deadline", "estimated_duration_seconds", "session_id", "input_data", "summary"} <= set(props)
        assert set(enqueue.input_schema["required"]) == {"description", "source"}
        assert props["base_priority"]["minimum"] == 0 and props["base_priority"]["maximum"] == 10
        assert props["source"]["enum"] == ["human", "agent_requirements", "agent_planner", "agent_implementation"]
        listing = next(tool for tool in listed if tool.name == "task_list")
        assert listing.input_schema["properties"]["limit"]["maximum"] == 500
        # An unknown tool, e.g. a guess at deciding a gate, is an error, not a crash.
        text = await t.error("gate_decide", milestone=1, decision="APPROVE")
        assert "Unknown tool: gate_decide" in text


async def test_the_task_loop_over_mcp(db):
    async with mcp_tools(db, env={"SWARMDECK_ACTOR": "planner-7"}) as t:
        agent = await t.ok("agent_register", name="builder-1", agent_type="implementation", colour="green")
        assert agent["name"] == "builder-1" and agent["status"] == "idle"

        first = await t.ok("task_enqueue", description="Design the schema", source="agent_planner",
                           agent_type="implementation", base_priority=8, estimated_duration_seconds=600,
                           deadline="2099-01-31T17:00:00Z", input_data={"tables": 12}, summary="schema")
        assert first["status"] == "ready" and first["dependency_depth"] == 0
        assert 0 < first["calculated_priority"] <= 100 and first["task"]["input_data"] == {"tables": 12}
        assert first["task"]["deadline"].startswith("2099-01-31T17:00:00")
        a = first["task_id"]
        second = await t.ok("task_enqueue", description="Write migrations", source="agent_planner",
                            agent_type="implementation", prerequisites=[a], parent_task_id=a)
        b = second["task_id"]
        assert second["status"] == "blocked" and second["dependency_depth"] == 1
        assert f"waiting for task {a}" in second["blocked_reason"]
        # Ids given as digit strings (abathur's agents pass ids as strings) are read as ids.
        got = await t.ok("task_get", task_id=str(b))
        assert got["id"] == b and got["prerequisites"] == [a] and got["parent_task_id"] == a

        plan = await t.ok("task_execution_plan", task_ids=[b, a])
        assert plan["critical_path"] == [a, b]  # the longest chain (by estimate, then by tasks)
        assert {k: plan[k] for k in ("batches", "total_batches", "max_parallelism")} == {
            "batches": [[a], [b]], "total_batches": 2, "max_parallelism": 1}
        blocked = await t.ok("task_list", status="blocked")
        assert [x["id"] for x in blocked["tasks"]] == [b] and blocked["count"] == 1
        assert (await t.ok("task_list", agent_type="nobody"))["tasks"] == []
        status = await t.ok("task_queue_status")
        assert status["total_tasks"] == 2 and status["status_counts"]["ready"] == 1
        assert status["status_counts"]["blocked"] == 1 and status["swarm_paused"] is False
        assert status["held_by_failure"] == 0
        assert status["oldest_pending"] is not None and status["avg_priority"] > 0

        claim = await t.ok("task_claim", agent="builder-1", agent_type="implementation")
        assert claim["claimed"] is True and claim["task"]["id"] == a and claim["task"]["status"] == "running"
        assert await t.ok("task_claim", agent="builder-1") == {"claimed": False, "task": None}
        beat = await t.ok("agent_heartbeat", agent="builder-1", status="working", current_task=a, completion=40,
                          blockers=["waiting for review"], next_milestone="M2")
        assert beat["current_task_id"] == a and beat["completion"] == 40 and beat["blockers"] == ["waiting for review"]
        assert (await t.ok("agent_heartbeat", agent="builder-1", blockers=[]))["blockers"] == []
        cleared = await t.ok("agent_heartbeat", agent="builder-1", clear_current_task=True, next_milestone="")
        assert cleared["current_task_id"] is None and cleared["next_milestone"] is None
        assert cleared["completion"] == 40  # omitted fields stay as they were
        assert await t.ok("log_action", agent="builder-1", phase="implement", action="wrote DDL",
                          duration_ms=1200) == {"logged": True}

        done = await t.ok("task_complete", task_id=a, agent="builder-1", result={"files": 3})
        assert done["status"] == "completed" and done["result_data"] == {"files": 3}
        assert (await t.ok("task_get", task_id=b))["status"] == "ready"  # its prerequisite completed
        claim = await t.ok("task_claim", agent="builder-1")
        assert claim["task"]["id"] == b
        failed = await t.ok("task_fail", task_id=b, agent="builder-1", error="tests failed")
        assert failed["status"] == "ready" and failed["will_retry"] is True and failed["retry_count"] == 1
        await t.ok("task_claim", agent="builder-1")
        failed = await t.ok("task_fail", task_id=b, agent="builder-1", error="still failing", retry=False)
        assert failed["status"] == "failed" and failed["will_retry"] is False

        # Cancel cascades to transitive dependents; a dry run only previews.
        c = (await t.ok("task_enqueue", description="C", source="human"))["task_id"]
        d = (await t.ok("task_enqueue", description="D", source="human", prerequisites=[c]))["task_id"]
        e = (await t.ok("task_enqueue", description="E", source="human", prerequisites=[d]))["task_id"]
        preview = await t.ok("task_cancel", task_id=c, dry_run=True)
        assert preview["cascaded_task_ids"] == [d, e] and preview["dry_run"] is True
        assert (await t.ok("task_get", task_id=e))["status"] == "blocked"
        cancelled = await t.ok("task_cancel", task_id=c, reason="superseded")
        assert cancelled == {"cancelled_task_id": c, "cascaded_task_ids": [d, e], "total_cancelled": 3,
                             "dry_run": False}
        assert (await t.ok("task_get", task_id=e))["status"] == "cancelled"

    async with opened(db) as store:  # the server wrote through the same store rules the dashboard reads
        events = {ev.kind: ev for ev in await store.events(entity="task", entity_id=a)}
        assert {"task.enqueued", "task.claimed", "task.completed"} <= set(events)
        assert events["task.claimed"].actor == events["task.completed"].actor == "builder-1"
        assert events["task.enqueued"].actor == "planner-7"  # --actor: whoever runs this server


async def test_bad_calls_are_tool_errors_that_say_what_was_wrong_and_change_nothing(db):
    async with mcp_tools(db) as t:
        await t.ok("agent_register", name="a1", agent_type="implementation")
        await t.ok("agent_register", name="a2", agent_type="implementation")
        ready = (await t.ok("task_enqueue", description="ready one", source="human"))["task_id"]
        gone = (await t.ok("task_enqueue", description="cancelled one", source="human"))["task_id"]
        await t.ok("task_cancel", task_id=gone)
        running = (await t.ok("task_enqueue", description="run", source="human", base_priority=10))["task_id"]
        assert (await t.ok("task_claim", agent="a1"))["task"]["id"] == running
        await t.ok("memory_add", namespace="project:x", key="k", value="v", memory_type="semantic", created_by="a1")
        async with opened(db) as store:
            await store.add_milestone("M1")
            await store.add_milestone("M2")  # locked until M1's gate passes
            before = await store.latest_event_id()

        cases = [
            ("task_get", {"task_id": 999}, "not_found: task 999 does not exist"),
            ("task_get", {"task_id": "abc"}, "invalid_argument: task_id"),
            ("task_get", {}, "task_id is required"),
            ("task_get", {"task_id": True}, "must be a number, not true/false"),
            ("task_get", {"task_id": 2**70}, "less than or equal to 9223372036854775807"),
            ("task_get", {"task_id": 0}, "greater than or equal to 1"),
            ("task_enqueue", {"description": "x"}, "source is required"),
            ("task_enqueue", {"description": "x", "source": "robot"}, "source: Input should be 'human'"),
            ("task_enqueue", {"description": "x", "source": "human", "base_priority": 11}, "base_priority"),
            ("task_enqueue", {"description": "  ", "source": "human"}, "non-empty description"),
            ("task_enqueue", {"description": "x", "source": "human", "prerequisites": [999]},
             "not_found: prerequisite task 999 does not exist"),
            ("task_enqueue", {"description": "x", "source": "human", "prerequisites": [gone]},
             f"invalid_argument: prerequisite task {gone} is cancelled"),
            ("task_enqueue", {"description": "x", "source": "human", "deadline": "2026-01-31T17:00:00"},
             "needs a timezone"),
            ("task_enqueue", {"description": "x", "source": "human", "deadline": "friday"}, "ISO 8601"),
            ("task_enqueue", {"description": "x", "source": "human", "priority": 3},
             "unknown parameter(s) priority; task_enqueue takes: agent_type, base_priority"),
            ("task_enqueue", {"description": "x", "source": "human", "milestone": "M9"}, "not_found: milestone 'M9'"),
            ("task_enqueue", {"description": "x", "source": "human", "summary": "s" * 501}, "summary"),
            ("task_list", {"limit": 501}, "limit"),
            ("task_list", {"status": "done"}, "status: Input should be 'pending'"),
            ("task_execution_plan", {"task_ids": []}, "task_ids"),
            ("task_execution_plan", {"task_ids": [ready, 999]}, "not_found: no such task: 999"),
            ("task_cancel", {"task_id": gone}, "invalid_transition"),
            ("task_claim", {"agent": "ghost"}, "not_found: agent 'ghost' is not registered; call agent_register first"),
            ("task_complete", {"task_id": running, "agent": "a2"}, f"permission_denied: task {running} is assigned to a1"),
            ("task_complete", {"task_id": ready, "agent": "a1"}, "invalid_transition"),
            ("task_fail", {"task_id": running, "agent": "a1", "error": ""}, "error"),
            ("agent_register", {"name": "", "agent_type": "x"}, "name"),
            ("agent_heartbeat", {"agent": "a1", "completion": 150}, "completion"),
            ("agent_heartbeat", {"agent": "a1", "current_task": "SQLite schema analysis"}, "current_task"),
            ("agent_heartbeat", {"agent": "a1", "current_task": 999}, "not_found: task 999 does not exist"),
            ("agent_heartbeat", {"agent": "a1", "current_task": ready, "clear_current_task": True}, "not both"),
            ("agent_heartbeat", {"agent": "a1", "status": "sleeping"}, "status"),
            ("agent_heartbeat", {"agent": "ghost", "status": "idle"}, "not_found: agent 'ghost'"),
            ("agent_heartbeat", {"agent": "a1", "blockers": "one"}, "blockers"),
            ("log_action", {"agent": "ghost", "phase": "p", "action": "a"}, "not_found"),
            ("log_action", {"agent": "a1", "phase": "p", "action": "a", "duration_ms": -1}, "duration_ms"),
            ("gate_status", {"milestone": "M9"}, "not_found: milestone 'M9' does not exist"),
            ("gate_submit_report", {"milestone": "M2", "submitted_by": "a1"}, "invalid_transition: milestone 'M2' is locked"),
            ("gate_submit_report", {"milestone": "M1", "submitted_by": "a1",
                                    "criteria": [{"name": "c", "status": "done"}]}, "criteria.0.status"),
            ("gate_submit_report", {"milestone": "M1", "submitted_by": "a1", "proposed_decision": "SHIP"},
             "proposed_decision"),
            ("memory_add", {"namespace": "project:x", "key": "k", "value": "v2", "memory_type": "semantic",
                            "created_by": "a1"}, "conflict: memory project:x / k already exists"),
            ("memory_add", {"namespace": "project:x", "key": "k2", "value": "v", "memory_type": "wisdom",
                            "created_by": "a1"}, "memory_type"),
            ("memory_add", {"namespace": "project:x//y", "key": "k2", "value": "v", "memory_type": "semantic",
                            "created_by": "a1"}, "empty segment"),
            ("memory_get", {"namespace": "project:x", "key": "nope"}, "not_found: no memory project:x / nope"),
            ("memory_get", {"namespace": "project:x", "key": "k", "version": 7}, "not_found"),
            ("memory_update", {"namespace": "project:x", "key": "nope", "value": "v", "updated_by": "a1"}, "not_found"),
            ("memory_delete", {"namespace": "project:x", "key": "nope"}, "not_found"),
            ("memory_search", {"memory_type": "wisdom"}, "memory_type"),
            ("session_get", {"session_id": "nope"}, "not_found: session nope does not exist"),
            ("session_append_event", {"session_id": "nope", "event": {"event_type": "x"}, "state_delta": {"a": 1}},
             "not_found"),
            ("session_append_event", {"session_id": "nope", "event": "text"}, "event"),
            ("session_set_state", {"session_id": "nope", "key": "k", "value": 1}, "not_found"),
            ("document_index", {"namespace": "docs", "file_path": "", "content": "x"}, "file_path"),
            ("document_semantic_search", {"query_text": "   "}, "query_text must not be blank"),
        ]
        for name, args, expected in cases:
            text = await t.error(name, **args)
            assert expected in text, f"{name}({args}): {text!r} lacks {expected!r}"
            assert text.startswith(f"Error executing tool {name}: "), text
            assert "Traceback" not in text and "pydantic.dev" not in text, text

    async with opened(db) as store:
        assert await store.latest_event_id() == before, "a refused call wrote something"
        assert (await store.get_task(running)).assigned_agent == "a1"
        assert (await store.get_agent("a1")).completion == 0


async def test_memory_sessions_and_documents(db):
    async with mcp_tools(db) as t:
        added = await t.ok("memory_add", namespace="project:abathur/agent:builder", key="db-choice",
                           value={"engine": "sqlite", "why": "embedded"}, memory_type="semantic",
                           created_by="builder-1", metadata={"source": "adr-1"})
        assert added["status"] == "created" and added["version"] == 1
        assert added["entry"]["value"] == {"engine": "sqlite", "why": "embedded"}
        await t.ok("memory_add", namespace="project:abathur/agent:tester", key="flaky",
                   value="the vector test is flaky under load", memory_type="episodic", created_by="tester-3")
        await t.ok("memory_add", namespace="project:other", key="x", value="postgres everywhere",
                   memory_type="semantic", created_by="someone")
        updated = await t.ok("memory_update", namespace="project:abathur/agent:builder", key="db-choice",
                             value={"engine": "postgres", "why": "many machines"}, updated_by="lead", task_id=3)
        assert updated["version"] == 2 and updated["status"] == "updated"
        current = await t.ok("memory_get", namespace="project:abathur/agent:builder", key="db-choice")
        assert current["value"]["engine"] == "postgres" and current["metadata"] == {"source": "adr-1"}
        old = await t.ok("memory_get", namespace="project:abathur/agent:builder", key="db-choice", version=1)
        assert old["value"]["engine"] == "sqlite" and old["is_current"] is False

        under = await t.ok("memory_search", namespace_prefix="project:abathur")
        assert {m["key"] for m in under["memories"]} == {"db-choice", "flaky"} and under["count"] == 2
        episodic = await t.ok("memory_search", namespace_prefix="project:abathur", memory_type="episodic")
        assert [m["key"] for m in episodic["memories"]] == ["flaky"]
        assert len((await t.ok("memory_search", limit=1))["memories"]) == 1
        ranked = await t.ok("memory_search", namespace_prefix="project:", query="postgres")
        # Both keyword matches rank first (whether or not the indexer has embedded them yet: hybrid
        # search may add semantic neighbours below them).
        assert {m["key"] for m in ranked["memories"][:2]} == {"db-choice", "x"}
        assert all(m["score"] > 0 for m in ranked["memories"]) and ranked["mode"] in ("hybrid", "keyword")

        deleted = await t.ok("memory_delete", namespace="project:abathur/agent:tester", key="flaky")
        assert deleted["deleted"] is True
        assert "not_found" in await t.error("memory_get", namespace="project:abathur/agent:tester", key="flaky")
        assert [m["key"] for m in (await t.ok("memory_search", namespace_prefix="project:abathur"))["memories"]] \
            == ["db-choice"]

        session = await t.ok("session_create", session_id="s-1", app_name="abathur", user_id="builder-1",
                             initial_state={"step": 1})
        assert session["session_id"] == "s-1" and session["agent_name"] == "builder-1"
        assert session["state"] == {"step": 1, "app_name": "abathur"} and session["status"] == "created"
        fresh = await t.ok("session_create", agent="tester-3")
        assert len(fresh["session_id"]) >= 16 and fresh["agent_name"] == "tester-3"
        assert "conflict" in await t.error("session_create", session_id="s-1")
        appended = await t.ok("session_append_event", session_id="s-1",
                              event={"event_type": "tool_call", "tool": "grep"}, state_delta={"step": 2, "seen": ["a"]})
        assert appended["event"]["kind"] == "tool_call" and appended["event"]["payload"]["tool"] == "grep"
        state = await t.ok("session_get_state", session_id="s-1")
        assert state["state"] == {"step": 2, "app_name": "abathur", "seen": ["a"]}
        assert await t.ok("session_get_state", session_id="s-1", key="step") == {
            "session_id": "s-1", "key": "step", "present": True, "value": 2}
        assert (await t.ok("session_get_state", session_id="s-1", key="nope"))["present"] is False
        set_ = await t.ok("session_set_state", session_id="s-1", key="plan", value=["a", "b"])
        assert set_["state"]["plan"] == ["a", "b"] and set_["state"]["step"] == 2
        got = await t.ok("session_get", session_id="s-1")
        assert got["status"] == "active" and [e["kind"] for e in got["events"]] == ["tool_call"]

        # A terminated session takes no event, and its state is not touched by the refused call.
        async with opened(db) as store:
            await store.set_session_status("s-1", "terminated")
        text = await t.error("session_append_event", session_id="s-1", event={"event_type": "late"},
                             state_delta={"step": 99})
        assert "invalid_transition: session s-1 is terminated" in text
        assert (await t.ok("session_get_state", session_id="s-1", key="step"))["value"] == 2

        doc = await t.ok("document_index", namespace="docs:design", file_path="design/queue.md",
                         content="The task queue claims work atomically with BEGIN IMMEDIATE transactions.")
        assert doc["status"] == "indexed" and doc["chunk_count"] == 1
        await t.ok("document_index", namespace="docs:design", file_path="design/memory.md",
                   content="Memories are versioned with soft delete and searched with FTS5 and vectors.")
        await t.ok("document_index", namespace="docs:ops", file_path="ops/deploy.md",
                   content="Deploy with a blue green switch; roll back by flipping the router.")

        async def embedded() -> bool:  # the server's background indexer embeds what was written
            async with opened(db) as store:
                s = await store.index_status("hash:64")
                return s.entries > 0 and s.embedded == s.entries

        await until(embedded, "the server's indexer to embed the documents")
        found = await t.ok("document_semantic_search", query_text="how are tasks claimed atomically",
                           namespace="docs:design", limit=5)
        assert found["mode"] == "hybrid" and "keyword results only" not in found.get("note", "")
        assert found["results"][0]["file_path"] == "design/queue.md" and found["results"][0]["chunk"] == 1
        # the memory design says nothing about claims: left out, and counted
        assert [r["file_path"] for r in found["results"]] == ["design/queue.md"] and found["hidden"] == 1
        assert found["results"][0]["relevance_label"] in ("strong", "good")
        assert "BEGIN IMMEDIATE" in found["results"][0]["text"]
        assert {r["namespace"] for r in found["results"]} == {"docs:design"}
        everywhere = await t.ok("document_semantic_search", query_text="roll back the deploy")
        assert everywhere["results"][0]["file_path"] == "ops/deploy.md"


async def test_memory_search_gives_a_relevance_and_leaves_out_the_less_relevant(db):
    async with opened(db) as store:
        for key, value in CHAT_MEMORIES:
            await store.add_memory("project:chat", key, value, memory_type="semantic", created_by="builder")
    async with mcp_tools(db) as t:
        async def embedded() -> bool:  # the server's background indexer embeds what was written
            async with opened(db) as store:
                s = await store.index_status("hash:64")
                return s.entries == len(CHAT_MEMORIES) == s.embedded

        await until(embedded, "the server's indexer to embed the memories")
        found = await t.ok("memory_search", query="how long are backups kept")
        assert found["mode"] == "hybrid" and found["memories"][0]["key"] == "backups"
        top = found["memories"][0]
        assert top["relevance_label"] == "strong" and 75 <= top["relevance"] <= 100 and top["score"] > 0
        assert 0 < top["similarity"] <= 1
        assert found["hidden"] >= 10 and found["count"] + found["hidden"] == len(CHAT_MEMORIES)
        assert f"{found['hidden']} less relevant entries hidden" in found["note"]
        assert {"deploy", "style", "frontend", "websocket-library"}.isdisjoint(m["key"] for m in found["memories"])
        everything = await t.ok("memory_search", query="how long are backups kept", include_less_relevant=True)
        assert everything["count"] == len(CHAT_MEMORIES) and everything["hidden"] == 0 and "note" not in everything
        labels = [m["relevance_label"] for m in everything["memories"]]
        assert labels[0] == "strong" and "weak" in labels


async def test_without_an_embedder_search_says_it_fell_back_to_keywords(db):
    async with mcp_tools(db, "--no-index", env={"SWARMDECK_EMBEDDER": "nonsense"}) as t:
        await t.ok("document_index", namespace="docs", file_path="a.md", content="claims are atomic")
        found = await t.ok("document_semantic_search", query_text="atomic claims")
        assert found["mode"] == "keyword" and "semantic search is off" in found["note"]
        assert [r["file_path"] for r in found["results"]] == ["a.md"]


async def test_gate_reports_are_submitted_by_agents_and_decided_only_by_humans(db):
    async with opened(db) as store:
        await store.register_agent("validator", agent_type="validation")
        await store.add_reviewer("alice", by="alice", public_key=key("alice"))
        await store.add_milestone("Foundation", objective="schema", hour_budget=40)
        await store.add_milestone("Memory", objective="memory service")
        await store.enqueue_task(description="memory work", milestone="Memory")
    async with mcp_tools(db) as t:
        listed = await t.ok("milestone_list")
        assert [(m["name"], m["status"]) for m in listed["milestones"]] == [("Foundation", "open"), ("Memory", "locked")]
        assert listed["milestones"][1]["task_counts"] == {"blocked": 1} and listed["swarm_paused"] is False
        # Nothing to decide yet: an agent polling a gate learns what it waits for (by the start of a name too).
        assert (await t.ok("gate_status", milestone="found"))["waiting_for"] == "no_report"
        assert (await t.ok("gate_status", milestone="memory"))["waiting_for"] == "locked"

        report = await t.ok(
            "gate_submit_report", milestone="Foundation", submitted_by="validator", summary="schema is in",
            criteria=[{"name": "DDL applied", "status": "met", "evidence": "migration 1 ran"}],
            metrics=[{"name": "read p99", "value": 3.1, "target": 50, "comparator": "<", "unit": "ms"}],
            issues=[{"severity": "low", "description": "one unused index"}],
            recommendations=["open milestone 2"], proposed_decision="APPROVE",
        )
        # A report in a reviewer's name would lock that reviewer out of deciding it: refused.
        refused = await t.error("gate_submit_report", milestone="Foundation", submitted_by="Alice", summary="x")
        assert "permission_denied: alice is a reviewer; reports are submitted by agents" in refused
        assert report["version"] == 1 and len(report["content_hash"]) == 64
        assert report["metrics"][0]["met"] is True and report["proposed_decision"] == "APPROVE"
        status = await t.ok("gate_status", milestone="Foundation")
        assert status["awaiting_decision"] is True and status["latest_decision"] is None
        assert status["waiting_for"] == "decision"
        assert status["milestone"]["status"] == "review" and status["unblocks"] == 1
        assert status["next_milestone"] == "Memory"

        async with opened(db) as store:  # a human decides, through their own seat
            await decide(store, "Foundation", decision="APPROVE", rationale="criteria met", reviewer="alice")
        status = await t.ok("gate_status", milestone=1)
        assert status["awaiting_decision"] is False and status["waiting_for"] is None
        assert status["latest_decision"]["decision"] == "APPROVE" and status["latest_decision"]["reviewer"] == "alice"
        assert (await t.ok("milestone_list"))["milestones"][1]["status"] == "open"


async def test_gate_status_lists_acceptance_criteria_not_reported_and_their_evidence(db):
    async with opened(db) as store:
        await store.register_agent("validator", agent_type="validation")
        await store.add_milestone("Foundation", acceptance_criteria=["DDL applied", "Integrity check ok"])
    async with mcp_tools(db) as t:
        report = await t.ok("gate_submit_report", milestone="Foundation", submitted_by="validator",
                            criteria=[{"name": "ddl applied.", "status": "met"}],
                            next_milestone_context="Memory agents: reuse the pool")
        assert report["next_milestone_context"] == "Memory agents: reuse the pool"
        digest = "a" * 64
        added = await t.ok("gate_evidence", milestone="Foundation", recorded_by="validator", criterion=2,
                           command="sqlite3 db 'PRAGMA integrity_check'", exit_code=0, output_sha256=digest)
        assert (added["criterion"], added["exit_code"], added["output_sha256"]) == (2, 0, digest)
        refused = await t.error("gate_evidence", milestone="Foundation", recorded_by="validator", criterion=3,
                                command="x", exit_code=0, output_sha256=digest)
        assert "there is no criterion 3" in refused
        criteria = (await t.ok("gate_status", milestone="Foundation"))["criteria"]
        assert [(c["index"], c["status"]) for c in criteria["checks"]] == [(1, "met"), (2, "not_reported")]
        assert [e["command"] for e in criteria["checks"][1]["evidence"]] == ["sqlite3 db 'PRAGMA integrity_check'"]
        assert [c["index"] for c in criteria["unsettled"]] == [2]


async def test_a_decision_written_around_swarmdeck_is_flagged_and_opens_nothing(db):
    """An agent with the file at hand forges alice's APPROVE and opens the next milestone by raw SQL: the
    MCP server, another seat, shows the decision unverified, counts no approval and hands out no task."""
    import sqlean

    async with opened(db) as store:
        await store.register_agent("validator", agent_type="validation")
        await store.add_reviewer("alice", by="alice", public_key=key("alice"))
        await store.add_milestone("Foundation")
        await store.add_milestone("Memory")
        await store.enqueue_task(description="memory work", milestone="Memory")
        await store.submit_report("Foundation", submitted_by="validator", summary="done")
    conn = sqlean.connect(str(db), isolation_level=None)
    try:
        conn.execute("INSERT INTO gate_decisions (milestone_id, report_id, report_hash, decision, rationale, "
                     "reviewer, decided_at, signature) SELECT 1, id, content_hash, 'APPROVE', 'lgtm', 'alice', 0, "
                     "randomblob(64) FROM validation_reports")
        conn.execute("UPDATE milestones SET status = CASE id WHEN 1 THEN 'approved' ELSE 'open' END")
        conn.execute("UPDATE tasks SET status = 'ready'")
    finally:
        conn.close()
    async with mcp_tools(db) as t:
        status = await t.ok("gate_status", milestone="Foundation")
        [forged] = status["decisions"]
        assert forged["verified"] is False
        assert forged["warning"] == "UNVERIFIED: not signed by alice's key — written around swarmdeck?"
        assert status["approvals"] == [] and status["latest_decision"] is None
        assert status["verified_passed"] is False
        assert (await t.ok("gate_status", milestone="Memory"))["claims_open"] is False
        await t.ok("agent_register", name="worker", agent_type="general")
        assert await t.ok("task_claim", agent="worker") == {"claimed": False, "task": None}


async def test_the_server_refuses_a_missing_database_with_one_clear_line(tmp_path):
    proc = await asyncio.create_subprocess_exec(
        SWARMDECK, "mcp", "--db", str(tmp_path / "nope.db"), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=server_env(),
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 1 and out == b""  # as every CLI command answers a missing database
    assert err.decode().strip().splitlines() == [
        f"swarmdeck: no swarmdeck database at {tmp_path / 'nope.db'}; create one with `swarmdeck init`"]
    assert not (tmp_path / "nope.db").exists()


async def test_agents_read_the_plan_of_each_milestone(db):
    async with opened(db) as store:
        await store.add_reviewer("carol", by="carol", public_key=key("carol"))
        await store.add_milestone("P1")
        await store.add_milestone("P2", after=["P1"], planned_weeks="1-2", starts_on="2026-12-01",
                                  money_budget=76336, hour_rate=120)
        await store.add_milestone("P3", after=["P1"])
        await store.replan_milestone("P3", state="deferred", by="carol", reason="after the release")
    async with mcp_tools(db) as t:
        listed = {m["name"]: m for m in (await t.ok("milestone_list"))["milestones"]}
        p2 = listed["P2"]
        assert p2["plan"]["after"] == ["P1"] and p2["plan"]["money"] == "$0 of $76,336 (0%)"
        assert p2["plan"]["schedule"]["ends"] == "2026-12-14" and p2["starts_on"] == "2026-12-01"
        assert (listed["P3"]["plan_state"], listed["P3"]["in_plan"]) == ("deferred", False)
        gate = await t.ok("gate_status", milestone="P1")
        assert gate["next_milestone"] == "P2"  # P3 is deferred: passing P1 does not open it
        # cutting, deferring and reinstating are a person's acts: no tool does them
        names = [tool.name for tool in (await t.session.list_tools()).tools]
        assert "milestone_list" in names
        assert not [n for n in names if n.startswith("milestone_") and n != "milestone_list"]
