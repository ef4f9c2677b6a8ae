"""The MCP server shares one state with the dashboard and the CLI: what it writes shows, claims stay exclusive."""

from __future__ import annotations

import asyncio
import json

from mcp_support import mcp_tools, opened, until
from support import run_swarmdeck_async, wait_for
from textual.css.query import NoMatches
from textual.widgets import DataTable

from swarmdeck.app.tui import SwarmdeckApp
from swarmdeck.store import open_store

STORE_BACKENDS = ("sqlite", "postgres")


def _cells(table: DataTable, key: str) -> list[str]:
    return [getattr(c, "plain", str(c)) for c in table.get_row(key)]


async def test_a_task_enqueued_over_mcp_appears_on_the_dashboard(db):
    app = SwarmdeckApp(lambda: open_store(db), title="test", reviewer="alice", poll=True, interval=0.1)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")  # the queue

        def table() -> DataTable | None:
            try:
                return app.screen.query_one("#queue-table", DataTable)
            except NoMatches:
                return None

        async with mcp_tools(db) as t:
            created = await t.ok("task_enqueue", description="Ship the MCP server", source="agent_planner",
                                 agent_type="ops", base_priority=9)
            key = str(created["task_id"])
            # the poller's 0.1 s ticks; bounded, so a regression fails rather than hangs
            await wait_for(lambda: table() is not None and key in table().rows, "the MCP task on the queue screen",
                           tries=400, step=0.025, pause=pilot.pause)
            assert table() is not None and key in table().rows, "the MCP task never reached the queue screen"
            cells = _cells(table(), key)
            assert "Ship the MCP server" in cells and "ready" in cells and "ops" in cells

            # A claim over MCP changes the same row in place.
            await t.ok("agent_register", name="ops-1", agent_type="ops")
            await t.ok("task_claim", agent="ops-1")
            await wait_for(lambda: "running" in _cells(table(), key), "the claim on the dashboard", tries=400,
                           step=0.025, pause=pilot.pause)
            assert "running" in _cells(table(), key) and "ops-1" in _cells(table(), key)


async def test_a_claim_over_mcp_is_exclusive_against_cli_claims_racing_it(db):
    n_cli, n_tasks = 4, 8
    async with opened(db) as store:
        await store.register_agent("mcp-agent", agent_type="build")
        for i in range(n_cli):
            await store.register_agent(f"cli-{i}", agent_type="build")
        task_ids = [(await store.enqueue_task(description=f"job {i}", agent_type="build")).id for i in range(n_tasks)]

    async with mcp_tools(db) as t, opened(db) as store:
        finished = [
            asyncio.create_task(run_swarmdeck_async("--db", db, "--json", "task", "claim", "--agent", f"cli-{i}",
                                                    "--type", "build"))
            for i in range(n_cli)
        ]

        async def a_cli_claim_landed() -> bool:
            return bool(await store.list_tasks(status="running"))

        # Start hammering only once the CLI claimers are live, so the two really contend for the lock;
        # each CLI process claims at most one task, so at least n_tasks - n_cli are left for MCP.
        await until(a_cli_claim_landed, "the first CLI claim")
        mcp_claimed: list[int] = []
        while True:
            result = await t.ok("task_claim", agent="mcp-agent", agent_type="build")
            if result["claimed"]:
                mcp_claimed.append(result["task"]["id"])
            elif all(f.done() for f in finished):
                break
        outputs = await asyncio.gather(*finished)

        cli_claimed: dict[str, int] = {}
        for i, ran in enumerate(outputs):
            assert ran.returncode == 0, ran.stderr
            task = json.loads(ran.stdout)
            if task is not None:
                cli_claimed[f"cli-{i}"] = task["id"]

        every_claim = mcp_claimed + list(cli_claimed.values())
        assert len(every_claim) == len(set(every_claim)), f"a task was claimed twice: {every_claim}"
        assert sorted(every_claim) == task_ids
        assert cli_claimed and len(mcp_claimed) >= n_tasks - n_cli
        for task in await store.tasks_by_ids(task_ids):
            owner = "mcp-agent" if task.id in mcp_claimed else next(a for a, i in cli_claimed.items() if i == task.id)
            assert task.status == "running" and task.assigned_agent == owner
        # Another process's events reach the feed when its seal commits (on PostgreSQL a few ms after its
        # write: store/postgres/base.py), so the feed is waited for, bounded: every claim must arrive.
        async def every_claim_in_the_feed() -> bool:
            return len(await store.events(kind="task.claimed", limit=100)) == n_tasks

        await until(every_claim_in_the_feed, "every claim in the event feed")
        assert len(await store.events(kind="task.claimed", limit=100)) == n_tasks
