"""The coordination_status.json bridge both ways: the file's timestamp orders versions, agents that
left the file go offline (across runs too), and swarmdeck writes its own section back, atomically,
never over an agent's newer write."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from mcp_support import opened as opened_store
from signing_support import decide, register
from support import invoke

from swarmdeck.app.status_bridge import SECTION, StatusBridge, parse_timestamp
from swarmdeck.store import AgentStatus

STORE_BACKENDS = ("sqlite", "postgres")


def doc(ts: str | None, *names: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"phase": "1", "agents": {n: {"status": "in_progress", "completion": 10} for n in names}}
    if ts is not None:
        out["timestamp"] = ts
    out.update(extra)
    return out


def write(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2))


def bridge_for(store, path: Path, reports: list[tuple[str, str]], **kwargs: Any) -> StatusBridge:
    return StatusBridge(store, path, report=lambda kind, message: reports.append((kind, message)), **kwargs)


def test_timestamps_parse_as_utc():
    assert parse_timestamp("2025-07-18T10:00:00Z") == parse_timestamp("2025-07-18T12:00:00+02:00")
    assert parse_timestamp("2025-07-18T10:00:00").tzinfo is not None  # naive: UTC
    assert parse_timestamp("yesterday") is None and parse_timestamp(None) is None


async def test_an_older_version_is_skipped_saying_so(store, tmp_path):
    path, reports = tmp_path / "coordination_status.json", []
    bridge = bridge_for(store, path, reports, write_back=False)
    write(path, doc("2025-07-18T10:00:00Z", "a1"))
    assert (await bridge.poll()).registered == ["a1"]
    older = doc("2025-07-18T09:00:00Z", "a1")
    older["agents"]["a1"]["completion"] = 99
    write(path, older)
    assert await bridge.poll() is None
    kind, message = reports[-1]
    assert kind == "skipped" and "older than the last version applied" in message
    assert (await store.get_agent("a1")).completion == 10
    # A later bridge (a new run) remembers the order too.
    again: list[tuple[str, str]] = []
    assert await bridge_for(store, path, again, write_back=False).poll() is None
    assert again[-1][0] == "skipped" and "older" in again[-1][1]
    newer = doc("2025-07-18T11:00:00Z", "a1")
    newer["agents"]["a1"]["completion"] = 50
    write(path, newer)
    assert (await bridge.poll()).updated == ["a1"]
    assert (await store.get_agent("a1")).completion == 50


async def test_an_unparseable_timestamp_is_applied_with_a_warning(store, tmp_path):
    path, reports = tmp_path / "coordination_status.json", []
    write(path, doc("teatime", "a1"))
    assert (await bridge_for(store, path, reports, write_back=False).poll()).registered == ["a1"]
    assert any(kind == "warning" and "not ISO 8601" in message for kind, message in reports)


async def test_departed_agents_go_offline_across_runs(store, tmp_path):
    path = tmp_path / "coordination_status.json"
    write(path, doc("2025-07-18T10:00:00Z", "a1", "a2"))
    await bridge_for(store, path, [], write_back=False).poll()
    write(path, doc("2025-07-18T10:05:00Z", "a1"))
    applied = await bridge_for(store, path, [], write_back=False).poll()  # a new run: as --once does
    assert applied.offline == ["a2"]
    assert (await store.get_agent("a2")).status is AgentStatus.OFFLINE
    assert (await store.get_agent("a1")).status is AgentStatus.WORKING


def test_watch_status_once_marks_departed_agents_offline(db, tmp_path):
    path = tmp_path / "coordination_status.json"
    write(path, doc("2025-07-18T10:00:00Z", "a1", "a2"))
    assert invoke("--db", db, "watch-status", path, "--once").returncode == 0
    write(path, doc("2025-07-18T10:05:00Z", "a1"))
    ran = invoke("--db", db, "watch-status", path, "--once")
    assert ran.returncode == 0 and "offline a2" in ran.stdout
    shown = json.loads(invoke("--db", db, "--json", "agent", "get", "a2").stdout)
    assert shown["status"] == "offline"
    assert json.loads(path.read_text())[SECTION]["queue"]["total"] == 0  # written back by default
    write(path, doc("2025-07-18T10:00:00Z", "a1", "a2"))
    older = invoke("--db", db, "watch-status", path, "--once")
    assert older.returncode == 1 and "older than the last version applied" in older.stderr


async def test_write_back_holds_decisions_pause_and_queue_and_keeps_the_agents_keys(store, tmp_path):
    path, reports = tmp_path / "coordination_status.json", []
    await store.register_agent("validator", agent_type="validation")
    await register(store, "alice")
    await store.add_milestone("M1")
    await store.enqueue_task(description="build", milestone="M1")
    await store.submit_report("M1", submitted_by="validator")
    written = doc("2025-07-18T10:00:00Z", "a1", quality_gates={"e2e": "pending"}, extra_key=[1, 2])
    write(path, written)
    os.chmod(path, 0o640)
    bridge = bridge_for(store, path, reports)
    await bridge.poll()
    on_disk = json.loads(path.read_text())
    section = on_disk.pop(SECTION)
    assert on_disk == written  # every key the agents own, untouched
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert section["swarm"]["paused"] is False
    assert section["queue"]["total"] == 1 and section["queue"]["counts"]["ready"] == 1
    assert section["gates"][0]["milestone"] == "M1" and section["gates"][0]["decisions"] == []
    before = os.stat(path).st_mtime_ns
    assert await bridge.poll() is None and os.stat(path).st_mtime_ns == before  # nothing new: not rewritten

    await decide(store, "M1", reviewer="alice", decision="ESCALATE", rationale="security review needed")
    await bridge.poll()
    section = json.loads(path.read_text())[SECTION]
    assert section["swarm"]["paused"] is True and "security review needed" in section["swarm"]["reason"]
    decision = section["gates"][0]["decisions"][-1]
    assert (decision["decision"], decision["reviewer"], decision["verified"]) == ("ESCALATE", "alice", True)
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]  # no temp file left behind
    assert not [r for r in reports if r[0] in ("error", "skipped")]


async def test_a_concurrent_agent_write_is_never_clobbered(store, tmp_path):
    """An agent rewrites the file (another thread, a real write) after the bridge read it and before it
    renames its copy: the bridge sees the change, reads again, and merges its section into the agent's
    new version."""
    path, reports = tmp_path / "coordination_status.json", []
    write(path, doc("2025-07-18T10:00:00Z", "a1"))
    bridge = bridge_for(store, path, reports)
    raced = doc("2025-07-18T10:01:00Z", "a1", "a2", critical_issues=["disk full"])
    races = []

    def agent_writes() -> None:
        if not races:  # the first attempt only: the retry goes through
            races.append(1)
            writer = threading.Thread(target=write, args=(path, raced))
            writer.start()
            writer.join()

    bridge._before_replace = agent_writes
    await bridge.poll()
    on_disk = json.loads(path.read_text())
    section = on_disk.pop(SECTION)
    assert races and on_disk == raced and section["queue"]["total"] == 0  # the agent's version, with ours
    applied = await bridge.poll()  # and the agent's version is applied on the next look
    assert applied is not None and "a2" in applied.registered


async def test_an_agent_that_never_stops_writing_wins(store, tmp_path):
    path, reports = tmp_path / "coordination_status.json", []
    write(path, doc("2025-07-18T10:00:00Z", "a1"))
    bridge = bridge_for(store, path, reports)
    counter = iter(range(1000))

    def agent_writes() -> None:
        write(path, doc(f"2025-07-18T10:{next(counter) % 60:02d}:00Z", "a1", n=next(counter)))

    bridge._before_replace = agent_writes
    await bridge.poll()
    assert SECTION not in json.loads(path.read_text())  # the agent's last version stands, whole
    assert reports[-1][0] == "warning" and "kept changing" in reports[-1][1]
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


async def test_the_milestones_screen_shows_the_files_gates_and_issues_as_plain_text(db, tmp_path):
    from textual.widgets import Static

    from swarmdeck.app.cli._base import Config
    from swarmdeck.app.cli.ui import status_bridge_starter
    from swarmdeck.app.tui import SwarmdeckApp
    from swarmdeck.store import open_store

    path = tmp_path / "coordination_status.json"
    async with opened_store(db) as store:
        await store.add_milestone("M1")
    hostile = "[bold]boom[/bold] [@click=app.quit]x[/] \x1b[31mred"
    write(path, doc("2025-07-18T10:00:00Z", "a1", quality_gates={"unit_tests": "failed", "lint": "passed"},
                    critical_issues=[hostile, {"title": "disk full"}]))
    app = SwarmdeckApp(lambda: open_store(db), title="test", reviewer="alice", poll=True, interval=0.1,
                       on_ready=status_bridge_starter(Config(db=db), path, 0.05))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("1")

        def panel() -> str:
            widget = app.screen.query_one("#swarm-reports", Static)
            return widget.content.plain if widget.display else ""

        for _ in range(400):
            if "disk full" in panel():
                break
            await pilot.pause(0.025)
        shown = panel()
        assert "Swarm quality gates" in shown and "unit_tests: failed" in shown and "lint: passed" in shown
        assert "Critical issues" in shown and "disk full" in shown
        assert "[bold]boom[/bold] [@click=app.quit]x[/]" in shown and "\x1b" not in shown  # as written, inert
        assert app.is_running


async def test_a_folder_it_may_not_write_to_is_said_once_and_the_file_still_applies(store, tmp_path, monkeypatch):
    import tempfile

    def refused(*args: Any, **kwargs: Any):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refused)  # as a read-only folder does (this runs as root)
    path, reports = tmp_path / "coordination_status.json", []
    write(path, doc("2025-07-18T10:00:00Z", "a1"))
    bridge = bridge_for(store, path, reports)
    assert (await bridge.poll()).registered == ["a1"]
    await bridge.poll()
    errors = [message for kind, message in reports if kind == "error"]
    assert len(errors) == 1 and "could not write back" in errors[0] and "Permission denied" in errors[0]
    assert SECTION not in json.loads(path.read_text())
