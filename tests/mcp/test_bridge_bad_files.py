"""The status bridge on files meant to hurt it: nested too deep for the parser, values past the store's
limits, and paths that are not regular files (a FIFO would block a plain open forever). Each is
reported and skipped, never half-applied; the last good state stays and the bridge keeps going."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest
from mcp_support import opened
from support import run_swarmdeck

from swarmdeck.app.status_bridge import InvalidStatusFile, StatusBridge, parse_status
from swarmdeck.store import AgentStatus

GOOD = {"phase": "1", "agents": {"builder": {"status": "in_progress", "completion": 10}}}


def nested(depth: int) -> object:
    value: object = 1
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


class Reports(list):
    def __call__(self, kind: str, message: str) -> None:
        self.append((kind, message))


@pytest.mark.parametrize("doc, says", [
    ({"agents": {}, "quality_gates": {"g": nested(200)}}, "nested deeper than 32 levels (limit 32)"),
    ({"agents": {"a": {"status": "idle"}}, "critical_issues": [nested(40)]}, "nested deeper than 32 levels"),
    ({"agents": {"a": {"next_milestone": "m" * 5_000}}}, "agents.a.next_milestone: 5000 characters, limit 500"),
    ({"agents": {"a": {"blockers": ["b" * 70_000]}}}, "agents.a.blockers[0]: 70000 characters, limit 65536"),
    ({"agents": {"a": {"current_task": "t" * 70_000}}},  # logged as "current task: ..." (65536 at most)
     "agents.a.current_task: 70000 characters, limit 65522"),
    ({"agents": {"a": {"agent_type": "t" * 300}}}, "agents.a.agent_type: 300 characters, limit 200"),
    ({"agents": {}, "phase": "p" * 2_000}, "phase: 2000 characters, limit 494"),  # logged as "phase ..."
])
def test_what_the_store_would_refuse_is_refused_whole(doc, says):
    with pytest.raises(InvalidStatusFile) as caught:
        parse_status(json.dumps(doc))
    assert says in str(caught.value)


def test_nesting_too_deep_for_pythons_parser_is_refused_not_raised():
    with pytest.raises(InvalidStatusFile, match="nested deeper than 32 levels"):
        parse_status('{"agents": {}, "x": ' + "[" * 100_000 + "]" * 100_000 + "}")


async def test_a_deep_file_is_skipped_and_the_last_good_state_stays(db, tmp_path):
    path = tmp_path / "coordination_status.json"
    path.write_text(json.dumps(GOOD))
    async with opened(db) as store:
        reports = Reports()
        bridge = StatusBridge(store, path, report=reports)
        assert (await bridge.poll()).updated == ["builder"]
        last = await store.latest_event_id()
        path.write_text('{"agents": {"builder": {"status": "failed"}}, "quality_gates": '
                        + "[" * 970 + "]" * 970 + "}")
        assert await bridge.poll() is None
        assert [k for k, _ in reports] == ["applied", "skipped"]
        assert "nested deeper than 32 levels" in reports[-1][1] and "last good state stays" in reports[-1][1]
        assert await store.latest_event_id() == last
        assert (await store.get_agent("builder")).status is AgentStatus.WORKING
        path.write_text(json.dumps({"agents": {"builder": {"status": "idle"}}}))  # and it carries on
        assert (await bridge.poll()).updated == ["builder"]


def unblock(fifo: Path) -> None:
    """Release a reader stuck opening the FIFO (old behaviour), so that no thread outlives the test."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass  # nobody was waiting on it


async def test_a_fifo_is_reported_once_and_never_blocks(db, tmp_path):
    fifo = tmp_path / "coordination_status.json"
    os.mkfifo(fifo)
    async with opened(db) as store:
        reports = Reports()
        bridge = StatusBridge(store, fifo, report=reports)
        try:
            for _ in range(3):
                assert await asyncio.wait_for(bridge.poll(), 5) is None
        finally:
            unblock(fifo)
        assert [k for k, _ in reports] == ["skipped"]
        assert "not a regular file (a FIFO)" in reports[0][1]
        fifo.unlink()
        fifo.write_text(json.dumps(GOOD))  # a regular file there again: applied
        assert (await bridge.poll()).updated == ["builder"]


async def test_other_files_that_are_not_regular_are_skipped(db, tmp_path):
    async with opened(db) as store:
        for path, kind in ((tmp_path, "a directory"), (Path("/dev/zero"), "a character device")):
            reports = Reports()
            assert await asyncio.wait_for(StatusBridge(store, path, report=reports).poll(), 5) is None
            assert [k for k, _ in reports] == ["skipped"] and f"not a regular file ({kind})" in reports[0][1]


def test_watch_status_once_on_a_fifo_exits_at_once(db, tmp_path):
    fifo = tmp_path / "status.fifo"
    os.mkfifo(fifo)
    try:  # in a process of its own: were it to block on the FIFO, the timeout ends it
        done = run_swarmdeck("--db", db, "watch-status", fifo, "--once", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("watch-status --once blocked on the FIFO")
    finally:
        unblock(fifo)
    assert done.returncode == 1 and "not a regular file (a FIFO)" in done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
