"""The coordination_status.json bridge: valid, partial, malformed and rapidly rewritten files.

Whatever the file holds when the bridge looks, the store only ever holds whole, valid versions of it.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from mcp_support import SWARMDECK, opened, until
from support import Ran, clean_env, invoke
from textual.css.query import NoMatches
from textual.widgets import DataTable

from swarmdeck.app.cli._base import Config
from swarmdeck.app.cli.ui import status_bridge_starter
from swarmdeck.app.status_bridge import InvalidStatusFile, StatusBridge, parse_status
from swarmdeck.app.tui import SwarmdeckApp
from swarmdeck.store import UNSET, AgentStatus, open_store

NS = "bridge:coordination_status"

#: Seed 002's example, as a file its agents would write (real JSON: the seed's `// ...` line elided).
SEED_002 = {
    "phase": "1",
    "timestamp": "2025-07-18T10:00:00Z",
    "agents": {
        "database_migration": {"status": "in_progress", "current_task": "SQLite schema analysis",
                               "completion": 25, "blockers": [], "next_milestone": "PostgreSQL schema design"},
        "message_protocol": {"status": "in_progress", "current_task": "Message class implementation",
                             "completion": 50, "blockers": [], "next_milestone": "Redis integration testing"},
    },
    "quality_gates": {"message_protocol_tests": "pending", "database_migration_validation": "pending",
                      "e2e_integration_tests": "in_progress"},
    "critical_issues": [],
}


def write(path: Path, doc: Any) -> str:
    text = doc if isinstance(doc, str) else json.dumps(doc, indent=2)
    path.write_text(text)
    return text


def mirrored(agents) -> list[tuple]:
    """What the bridge writes of each agent, and when it last did (not the ever-growing age)."""
    return [(a.name, a.agent_type, a.status, a.completion, a.blockers, a.next_milestone, a.current_task_id,
             a.last_heartbeat) for a in agents]


class Reports(list):
    def __call__(self, kind: str, message: str) -> None:
        self.append((kind, message))

    def kinds(self) -> list[str]:
        return [k for k, _ in self]


# -- parsing ------------------------------------------------------------------------------------------------


def test_seed_002s_file_parses_into_the_dashboards_fields():
    status = parse_status(json.dumps(SEED_002))
    assert status.phase == "1" and status.timestamp == "2025-07-18T10:00:00Z"
    db = status.agents["database_migration"]
    assert db.status is AgentStatus.WORKING and db.raw_status == "in_progress"
    assert db.completion == 25.0 and db.blockers == () and db.next_milestone == "PostgreSQL schema design"
    assert db.current_task == "SQLite schema analysis" and db.agent_type is None
    assert status.quality_gates["e2e_integration_tests"] == "in_progress" and status.critical_issues == []


@pytest.mark.parametrize(("raw", "mapped"), [
    ("in_progress", AgentStatus.WORKING), ("In Progress", AgentStatus.WORKING), ("active", AgentStatus.WORKING),
    ("blocked", AgentStatus.BLOCKED), ("waiting", AgentStatus.BLOCKED),
    ("complete", AgentStatus.IDLE), ("completed", AgentStatus.IDLE), ("idle", AgentStatus.IDLE),
    ("pending", AgentStatus.IDLE), ("failed", AgentStatus.FAILED), ("error", AgentStatus.FAILED),
    ("offline", AgentStatus.OFFLINE), ("reviewing", AgentStatus.WORKING),
])
def test_seed_002_statuses_map_to_the_dashboards(raw, mapped):
    status = parse_status(json.dumps({"agents": {"a": {"status": raw}}}))
    assert status.agents["a"].status is mapped
    assert status.unknown_statuses == ((("a", raw),) if raw == "reviewing" else ())


def test_a_partial_entry_leaves_what_it_omits_unset():
    status = parse_status('{"agents": {"tester": {"completion": 80, "role": "testing"}, "bare": {}}}')
    tester, bare = status.agents["tester"], status.agents["bare"]
    assert tester.completion == 80.0 and tester.agent_type == "testing"
    assert tester.status is UNSET and tester.blockers is UNSET and tester.next_milestone is UNSET
    assert tester.current_task is UNSET
    assert bare.status is bare.completion is bare.blockers is bare.next_milestone is bare.current_task is UNSET
    assert status.phase is None and status.quality_gates is None and status.critical_issues is None
    nulls = parse_status('{"agents": {"a": {"blockers": null, "next_milestone": null, "current_task": "7"}}}')
    assert nulls.agents["a"].blockers == () and nulls.agents["a"].next_milestone is None
    assert nulls.agents["a"].current_task == 7  # an id, as digits


SEED_TEXT = json.dumps(SEED_002, indent=2)


@pytest.mark.parametrize(("text", "says"), [
    ("", "the file is empty"),
    ("   \n", "the file is empty"),
    (SEED_TEXT[: len(SEED_TEXT) // 2], "not valid JSON"),
    (SEED_TEXT[:-2], "not valid JSON"),
    (SEED_TEXT.replace('"critical_issues": []', '"critical_issues": [] // ... other agents'), "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    ("[]", "the top level must be an object, not a list"),
    ('{"phase": "1"}', 'there is no "agents" object'),
    ('{"agents": []}', "agents must be an object"),
    ('{"agents": {"a": "busy"}}', "agents.a must be an object, not text"),
    ('{"agents": {"a": {"completion": "25%"}}}', "agents.a.completion must be a number from 0 to 100, not '25%'"),
    ('{"agents": {"a": {"completion": 150}}}', "agents.a.completion must be a number from 0 to 100"),
    ('{"agents": {"a": {"completion": true}}}', "agents.a.completion"),
    ('{"agents": {"a": {"blockers": "redis"}}}', "agents.a.blockers must be a list of text"),
    ('{"agents": {"a": {"blockers": [1]}}}', "agents.a.blockers must be a list of text"),
    ('{"agents": {"a": {"status": 3}}}', "agents.a.status must be text, not a number"),
    ('{"agents": {"a": {"next_milestone": ["x"]}}}', "agents.a.next_milestone must be text"),
    ('{"agents": {"a": {"current_task": {"id": 1}}}}', "agents.a.current_task must be text or a task id"),
    ('{"agents": {"a": {"agent_type": 1}}}', "agents.a.agent_type must be text"),
    ('{"agents": {"": {}}}', "must be 1 to 200 characters"),
    ('{"agents": {}, "quality_gates": ["x"]}', "quality_gates must be an object"),
    ('{"agents": {}, "critical_issues": "none"}', "critical_issues must be a list"),
    ('{"agents": {}, "phase": {"n": 1}}', "phase must be text or a number"),
])
def test_malformed_files_are_refused_whole_saying_why(text, says):
    with pytest.raises(InvalidStatusFile) as caught:
        parse_status(text)
    assert says in str(caught.value)


# -- applying -------------------------------------------------------------------------------------------------


async def test_a_valid_file_is_mirrored_into_the_store(db, tmp_path):
    path = tmp_path / "coordination_status.json"
    doc = json.loads(json.dumps(SEED_002))
    doc["agents"]["message_protocol"].update(status="blocked", blockers=["redis is down"], agent_type="protocol")
    async with opened(db) as store:
        task = await store.enqueue_task(description="Migrate the schema", agent_type="db")
        doc["agents"]["tester"] = {"status": "completed", "current_task": task.id, "completion": 100}
        write(path, doc)
        reports = Reports()
        bridge = StatusBridge(store, path, report=reports)
        applied = await bridge.poll()
        assert applied is not None and set(applied.registered) == set(doc["agents"])
        assert set(applied.updated) == set(doc["agents"]) and applied.memory == ["phase", "quality_gates",
                                                                                   "critical_issues"]
        assert reports.kinds() == ["applied"] and "phase 1" in reports[0][1]

        agents = {a.name: a for a in await store.list_agents()}
        db_agent = agents["database_migration"]
        assert db_agent.status is AgentStatus.WORKING and db_agent.completion == 25
        assert db_agent.next_milestone == "PostgreSQL schema design" and db_agent.blockers == ()
        assert db_agent.agent_type == "agent" and db_agent.current_task_id is None
        assert db_agent.stale_after_seconds == 600  # file-driven agents report on change, not every minute
        proto = agents["message_protocol"]
        assert proto.status is AgentStatus.BLOCKED and proto.blockers == ("redis is down",)
        assert proto.agent_type == "protocol"
        tester = agents["tester"]
        assert tester.status is AgentStatus.IDLE and tester.current_task_id == task.id and tester.completion == 100

        # Free-text current tasks show in each agent's activity, once per change.
        actions = [e.payload["action"] for e in await store.events(kind="agent.action")]
        assert sorted(actions) == ["current task: Message class implementation",
                                   "current task: SQLite schema analysis"]
        gates = await store.get_memory(NS, "quality_gates")
        assert gates.value == SEED_002["quality_gates"] and gates.created_by == "status-bridge"
        assert (await store.get_memory(NS, "phase")).value == "1"
        assert (await store.get_memory(NS, "critical_issues")).value == []

        # The same file again changes nothing; so does a new bridge on it (e.g. after a restart).
        last = await store.latest_event_id()
        assert await bridge.poll() is None
        again = await StatusBridge(store, path, report=reports).poll()
        assert again is not None and not again.changed
        assert await store.latest_event_id() == last


async def test_partial_versions_change_only_what_they_say(db, tmp_path):
    path = tmp_path / "coordination_status.json"
    async with opened(db) as store:
        reports = Reports()
        bridge = StatusBridge(store, path, report=reports)
        write(path, SEED_002)
        await bridge.poll()
        before = await store.latest_event_id()

        # One agent moves on and no longer says what blocks it; the other drops out of the file.
        write(path, {"phase": 2, "agents": {"database_migration": {"status": "reviewing", "completion": 60,
                                                                    "current_task": "PostgreSQL schema design"}},
                     "critical_issues": ["staging is down"]})
        applied = await bridge.poll()
        assert applied.updated == ["database_migration"] and applied.offline == ["message_protocol"]
        assert applied.memory == ["phase", "critical_issues"]  # quality_gates were not given: kept
        agent = await store.get_agent("database_migration")
        assert agent.status is AgentStatus.WORKING and agent.completion == 60
        assert agent.next_milestone == "PostgreSQL schema design"  # omitted: left as it was
        assert (await store.get_agent("message_protocol")).status is AgentStatus.OFFLINE
        assert ("warning", "agent database_migration: status 'reviewing' is not one swarmdeck knows; "
                           "shown as working") in reports
        assert (await store.get_memory(NS, "phase")).value == "2"
        assert (await store.get_memory(NS, "critical_issues")).value == ["staging is down"]
        assert (await store.get_memory(NS, "quality_gates")).version == 1
        new = await store.changes_since(before)
        heartbeats = [e for e in new if e.kind == "agent.heartbeat"]
        assert [e.entity_id for e in heartbeats] == ["database_migration"]
        assert set(heartbeats[0].payload) == {"status", "completion", "current_task_id"}
        assert [e.payload["action"] for e in new if e.kind == "agent.action"] == [
            "current task: PostgreSQL schema design"]


async def test_a_malformed_or_half_written_file_changes_nothing_and_the_last_good_state_stays(db, tmp_path):
    path = tmp_path / "coordination_status.json"
    async with opened(db) as store:
        reports = Reports()
        bridge = StatusBridge(store, path, report=reports)
        assert await bridge.poll() is None  # no file yet: reported once, then waited for
        assert await bridge.poll() is None
        assert reports.kinds() == ["skipped"] and "does not exist" in reports[0][1]
        good = write(path, SEED_002)
        assert (await bridge.poll()).changed
        snapshot = mirrored(await store.list_agents())
        last = await store.latest_event_id()

        broken = json.loads(good)
        broken["agents"]["database_migration"]["completion"] = 99
        broken["agents"]["message_protocol"]["completion"] = "half"  # the second agent spoils the file
        for bad in (good[: len(good) // 3], "", json.dumps(broken), "{not json", good[:-1]):
            reports.clear()
            write(path, bad)
            assert await bridge.poll() is None
            assert reports.kinds() == ["skipped"] and "the last good state stays" in reports[0][1]
            assert await bridge.poll() is None and len(reports) == 1  # the same bad content: said once
            assert await store.latest_event_id() == last, f"a bad file wrote something: {bad[:40]!r}"
            assert mirrored(await store.list_agents()) == snapshot
        assert bridge.current is not None and bridge.current.agents["database_migration"].completion == 25

        good2 = json.loads(good)
        good2["agents"]["database_migration"]["completion"] = 30
        write(path, good2)
        assert (await bridge.poll()).updated == ["database_migration"]
        assert (await store.get_agent("database_migration")).completion == 30


async def test_watch_status_once_from_the_cli(db, tmp_path):
    path = tmp_path / "coordination_status.json"

    def run(*args: str) -> Ran:
        return invoke("--db", db, "watch-status", path, *args)

    missing = run("--once")
    assert missing.returncode == 3 and "does not exist" in missing.stderr
    write(path, SEED_002)
    ok = run("--once")
    assert ok.returncode == 0 and ok.stderr == ""
    assert ok.stdout.startswith(f"applied {path} (phase 1): updated database_migration, message_protocol")
    assert run("--once").stdout == ""  # nothing changed
    write(path, '{"agents": {"database_migration": {"completion": 101}}}')
    bad = run("--once", "--json")
    assert bad.returncode == 1 and bad.stdout == ""
    report = json.loads(bad.stderr)
    assert report["event"] == "skipped" and "agents.database_migration.completion" in report["message"]
    async with opened(db) as store:
        assert (await store.get_agent("database_migration")).completion == 25


async def test_rapid_rewrites_only_ever_apply_whole_valid_versions(db, tmp_path):
    """The writer rewrites the file in place (truncate, then two writes) while the bridge polls every
    2 ms in its own process; some versions are left half-written, or invalid, until the bridge has
    seen and refused them. Every state the store ever held must be one whole valid version."""
    path = tmp_path / "coordination_status.json"
    names = ["db_migration", "protocol", "testing"]

    def version(i: int) -> dict[str, Any]:
        return {"phase": str(i), "agents": {n: {"status": "in_progress", "completion": i, "blockers": [f"v{i}"],
                                                 "next_milestone": f"m{i}"} for n in names},
                "quality_gates": {"e2e": f"v{i}"}}

    def invalid(i: int) -> dict[str, Any]:
        doc = version(i)
        for entry in doc["agents"].values():
            entry["blockers"] = [f"invalid {i}"]  # would show if any part of this version were applied
        doc["agents"]["testing"]["completion"] = 100 + i  # out of range: the whole version is refused
        return doc

    def rewrite(text: str, *, stop_half_way: bool = False) -> None:
        with open(path, "w") as f:
            f.write(text[: len(text) // 2])
            f.flush()
            if not stop_half_way:
                f.write(text[len(text) // 2:])

    write(path, version(0))
    env = clean_env(every_setting=True)
    proc = await asyncio.create_subprocess_exec(
        SWARMDECK, "--db", str(db), "--json", "watch-status", str(path), "--interval", "0.002",
        "--no-write-back",  # this writer rewrites in place every few ms: the read path alone is tested here
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    skipped: list[str] = []
    applied: list[str] = []

    async def read(stream, into: list[str]) -> None:
        async for line in stream:
            into.append(json.loads(line)["message"])

    readers = [asyncio.create_task(read(proc.stdout, applied)), asyncio.create_task(read(proc.stderr, skipped))]

    async def refused(n: int) -> bool:
        return len(skipped) >= n

    async def phase_applied(i: int) -> bool:
        return any(f"(phase {i})" in line for line in applied)

    try:
        valid, last = [0], 60
        for i in range(1, last + 1):
            if i % 10 == 3:  # left half-written until the bridge has looked at it
                rewrite(json.dumps(version(i), indent=2), stop_half_way=True)
                await until(lambda n=len(skipped) + 1: refused(n), f"the half-written version {i} to be skipped")
            if i % 10 == 7:  # whole, but invalid
                rewrite(json.dumps(invalid(i), indent=2))
                await until(lambda n=len(skipped) + 1: refused(n), f"the invalid version {i} to be skipped")
            rewrite(json.dumps(version(i), indent=2))
            valid.append(i)
            if i % 5 == 0:  # and now and then, until the bridge has applied it
                await until(lambda i=i: phase_applied(i), f"version {i} to be applied")

        async with opened(db) as store:
            async def at_last() -> bool:
                agents = await store.agents_by_names(names)
                return len(agents) == 3 and all(a.blockers == (f"v{last}",) for a in agents)

            await until(at_last, "the last version to be applied")
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), timeout=30)
        await asyncio.gather(*readers)
    assert proc.returncode == 0
    assert len(skipped) >= 12 and all("the last good state stays" in s for s in skipped)
    assert applied

    async with opened(db) as store:
        events = await store.events(kind="agent.heartbeat", limit=100_000)
        seen: dict[str, list[int]] = {n: [] for n in names}
        for e in reversed(events):  # oldest first
            k = int(e.payload["completion"])
            assert k in valid, f"{e.entity_id} got completion {k}, from no valid version"
            assert e.payload["blockers"] == [f"v{k}"] and e.payload["next_milestone"] == f"m{k}", e.payload
            seen[e.entity_id].append(k)
        for name, ks in seen.items():
            assert ks == sorted(set(ks)), f"{name} went back to an older version: {ks}"
            assert set(range(5, last + 1, 5)) <= set(ks) and ks[-1] == last
        gates = [e.value for e in await store.memory_history(NS, "quality_gates")]
        assert all(g in [{"e2e": f"v{k}"} for k in valid] for g in gates)
        assert gates[-1] == {"e2e": f"v{last}"}
        assert (await store.get_memory(NS, "phase")).value == str(last)


# -- the dashboard option ----------------------------------------------------------------------------------------


async def test_the_dashboard_can_follow_a_status_file_but_not_from_a_read_only_seat(db, tmp_path):
    path = tmp_path / "coordination_status.json"
    app = SwarmdeckApp(lambda: open_store(db), title="test", reviewer="alice", poll=True, interval=0.1,
                       on_ready=status_bridge_starter(Config(db=db), path, 0.05))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")  # the agents

        def agents() -> DataTable | None:
            try:
                return app.screen.query_one("#agents-table", DataTable)
            except NoMatches:
                return None

        write(path, SEED_002)
        for _ in range(400):
            if agents() is not None and {"database_migration", "message_protocol"} <= set(
                    k.value for k in agents().rows):
                break
            await pilot.pause(0.025)
        assert agents() is not None and "database_migration" in {k.value for k in agents().rows}
        write(path, "{half")
        for _ in range(400):  # a bad version is a warning on screen, not a crash; the rows stay
            if any("skipped" in str(n.message) for n in app._notifications):
                break
            await pilot.pause(0.025)
        assert any("skipped" in str(n.message) for n in app._notifications)
        assert "database_migration" in {k.value for k in agents().rows}

    refused = invoke("--db", db, "--read-only", "--watch-status", path)
    assert refused.returncode == 2 and "cannot run on a --read-only seat" in refused.stderr
