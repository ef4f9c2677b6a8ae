"""Live updates: another process writes to the database and the screen follows, with no key pressed.

The writer is the real `swarmdeck` CLI in a subprocess. The app polls every 0.1 s; the tests wait on the
condition they expect (bounded), never on a fixed sleep.
"""

from __future__ import annotations

import json

from swarmdeck.app.screens.agents import AgentsScreen
from swarmdeck.app.screens.queue import QueueScreen
from swarmdeck.widgets.live_table import LiveTable
from swarmdeck.widgets.status_bar import StatusBar
from signing_support import decide
from ui_support import cli_async, db_act, loaded, make_app, plain, rows, wait_for

SIZE = (120, 40)
#: Up to 10 s at 0.05 s a step: far beyond a 0.1 s poll plus a CLI start, short enough to fail fast.
TRIES = 200


async def until(pilot, condition, what: str) -> None:
    await wait_for(pilot, condition, tries=TRIES, step=0.05, what=what)


def never_cleared(monkeypatch) -> list[str]:
    """Record any clear() of a LiveTable: live updates must be applied in place."""
    calls: list[str] = []
    original = LiveTable.clear

    def clear(self, *args, **kwargs):
        calls.append(self.id or "?")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LiveTable, "clear", clear)
    return calls


async def test_a_task_enqueued_by_another_process_appears_in_place(seeded, monkeypatch):
    t = seeded.tasks
    cleared = never_cleared(monkeypatch)
    app = make_app(seeded.path, poll=True, interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("2")
        await until(pilot, lambda: isinstance(app.screen, QueueScreen), "the queue")
        await loaded(pilot)
        table = app.screen.table
        table.move_cursor(row=table.get_row_index(str(t["ci"])))
        await until(pilot, lambda: app.screen.selected == t["ci"], "the selection")
        before = rows(table)

        out = await cli_async(seeded.path, "--json", "task", "enqueue", "Ship the live view", "--priority", "10",
                              "--type", "ops")
        new_id = str(json.loads(out)["id"])
        await until(pilot, lambda: new_id in rows(table), "the new task's row")
        assert rows(table)[new_id][8] == "Ship the live view" and rows(table)[new_id][1] == "ready"
        # The other rows are untouched, the cursor stays on the row it was on.
        after = rows(table)
        assert {k: v for k, v in after.items() if k != new_id} == before
        assert table.selected_key == str(t["ci"]) and app.screen.selected == t["ci"]

        # A change to another row is applied to that row's cells only.
        old = after[str(t["cleanup"])][2]
        await cli_async(seeded.path, "task", "priority", t["cleanup"], "10")
        await until(pilot, lambda: rows(table)[str(t["cleanup"])][2] != old, "the re-prioritised row")
        assert table.selected_key == str(t["ci"])
        # Priority order is kept live: the re-prioritised row moved up past the selected one.
        order = list(rows(table))
        assert order.index(str(t["cleanup"])) < order.index(str(t["ci"]))
    assert cleared == []


async def test_a_heartbeat_from_another_process_updates_the_agents_row(seeded, monkeypatch):
    cleared = never_cleared(monkeypatch)
    app = make_app(seeded.path, poll=True, interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("3")
        await until(pilot, lambda: isinstance(app.screen, AgentsScreen), "the agents")
        await loaded(pilot)
        table = app.screen.table
        table.move_cursor(row=table.get_row_index("tester-3"))
        await until(pilot, lambda: app.screen.selected == "tester-3", "the selection")
        assert rows(table)["builder-1"][5] == " 40%"

        await cli_async(seeded.path, "agent", "heartbeat", "builder-1", "--completion", "75",
                        "--blocker", "waiting for review")
        await until(pilot, lambda: rows(table)["builder-1"][5] == " 75%", "builder-1 at 75%")
        assert rows(table)["builder-1"][10] == "waiting for review"
        assert table.selected_key == "tester-3"
        assert list(rows(table)) == ["builder-1", "researcher-2", "tester-3", "validator"]
    assert cleared == []


async def test_a_running_task_cancelled_elsewhere_shows_its_agent_idle(seeded):
    """The cancel releases the agent without an agent event: the task's `task.cancelled` names it."""
    app = make_app(seeded.path, poll=True, interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("3")
        await until(pilot, lambda: isinstance(app.screen, AgentsScreen), "the agents")
        await loaded(pilot)
        table = app.screen.table
        service = str(seeded.tasks["service"])
        assert (rows(table)["builder-1"][2], rows(table)["builder-1"][4]) == ("working", service)

        await cli_async(seeded.path, "task", "cancel", service, "--reason", "descoped")
        await until(pilot, lambda: rows(table)["builder-1"][2] == "idle", "builder-1 idle")
        assert rows(table)["builder-1"][4] == "-"


async def test_a_gate_decided_elsewhere_updates_the_status_bar(seeded):
    app = make_app(seeded.path, poll=True, interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        bar = app.screen.query_one(StatusBar)
        assert "⚑ 1 gate awaits review" in plain(bar.render())
        # Another reviewer's seat (a person's act: not a script's CLI call) decides meanwhile.
        await db_act(seeded.path, decide, "Memory service", decision="REVISE",
                     rationale="latency first", reviewer="carol")
        await until(pilot, lambda: "await" not in plain(bar.render()), "the review count to drop")
        await until(pilot, lambda: "REVISE" in plain(app.screen.query_one("#gate-panel").content),
                    "the decision in the history")
        assert [c[2] for c in rows(app.screen.table).values()] == ["approved", "open", "locked"]


async def test_hours_booked_by_a_completion_elsewhere_show_on_the_milestone(seeded):
    """Completing a task books hours on its milestone without any milestone event: the row follows."""
    app = make_app(seeded.path, poll=True, interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        key = str(seeded.milestones["Memory service"])
        spent, budget = rows(app.screen.table)[key][4].split("/")
        await cli_async(seeded.path, "task", "complete", str(seeded.tasks["service"]), "--agent", "builder-1",
                        "--hours", "12")
        await until(pilot, lambda: rows(app.screen.table)[key][4] == f"{float(spent) + 12:.0f}/{budget}",
                    "the milestone's hours")


async def test_a_change_that_arrives_while_the_app_closes_is_dropped_not_a_crash(seeded):
    """The poller can post a change just before the app stops; by the time it is handled the screens are
    gone. Handling it then must do nothing, not raise (which would turn a clean quit into a traceback)."""
    from swarmdeck.app.poller import StoreChanged

    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
    assert not app.screen_stack  # closed: no screen left to forward to
    await app._forward_changes(StoreChanged([]))


async def test_at_a_long_interval_a_write_in_this_process_is_read_at_once(seeded):
    """The poller waits on the store's wake-up, not a fixed tick: at a 10 s interval, a commit by
    another store on the file in this process (as the demo's swarm makes) is read long before it.
    (Another process's write waits for the interval on SQLite; on PostgreSQL its NOTIFY wakes it.)"""
    import time

    from ui_support import db_call

    app = make_app(seeded.path, poll=True, interval=10.0)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        # The loop has polled once and is waiting on the store.
        await until(pilot, lambda: app.store.db._wakeups.waiting, "the poller to wait on the store")
        cursor = app.poller.cursor
        began = time.monotonic()
        await db_call(seeded.path, "heartbeat", "builder-1")
        await until(pilot, lambda: app.poller.cursor > cursor, "the poller to read the heartbeat")
        assert time.monotonic() - began < 5


async def test_a_poll_that_fails_is_shown_and_the_next_one_reads_on(seeded):
    """A poll the store refuses is a notification, as a failed tick's was, and polling goes on."""
    from swarmdeck.store.errors import StorageError

    from ui_support import db_call

    app = make_app(seeded.path, poll=True, interval=0.25)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        reads = app.store.changes_since
        failures = []

        async def failing_once(*args, **kwargs):
            if not failures:
                failures.append(True)
                raise StorageError("the disk went away for a moment")
            return await reads(*args, **kwargs)

        app.store.changes_since = failing_once
        await until(pilot, lambda: any("the disk went away for a moment" in n.message for n in app._notifications),
                    "the refusal")
        cursor = app.poller.cursor
        await db_call(seeded.path, "heartbeat", "builder-1")
        await until(pilot, lambda: app.poller.cursor > cursor, "the poller to read on")
