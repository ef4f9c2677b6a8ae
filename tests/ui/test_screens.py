"""Each screen against a seeded database: what it shows, the global keys, the palette, the queue's actions."""

from __future__ import annotations

from textual.command import CommandList, CommandPalette
from textual.widgets import Footer, Input, RichLog, SelectionList, Static
from textual.widgets._footer import FooterKey

from swarmdeck.app.modals.cancel import CancelModal
from swarmdeck.app.modals.enqueue import EnqueueModal
from swarmdeck.app.modals.filters import FilterModal
from swarmdeck.app.modals.help import HelpModal
from swarmdeck.app.modals.plan import PlanModal
from swarmdeck.app.screens.agents import AgentsScreen
from swarmdeck.app.screens.milestones import MilestonesScreen
from swarmdeck.app.screens.queue import QueueScreen
from swarmdeck.widgets.live_table import LiveTable
from swarmdeck.widgets.status_bar import StatusBar
from ui_support import (
    db_call,
    loaded,
    make_app,
    plain,
    rows,
    settle,
    static_text,
    type_text,
    wait_for,
)

SIZE = (120, 40)
ACTIVE = ("service", "fts", "indexer", "api_docs", "bench", "ns_tests", "lessons", "estimates", "retro", "ci",
          "cleanup")


def status_bar(app) -> str:
    return plain(app.screen.query_one(StatusBar).render())


def table(app) -> LiveTable:
    return app.screen.query_one(LiveTable)


async def open_queue(pilot):
    await loaded(pilot)
    await pilot.press("2")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, QueueScreen), what="the queue")
    await loaded(pilot)
    return pilot.app.screen


def detail_text(screen) -> str:
    """The task detail: what it is and its priority breakdown, then its facts and history."""
    return static_text(screen.query_one("#task-detail-body")) + static_text(screen.query_one("#task-detail-facts"))


async def select(pilot, task_id: int) -> None:
    """Put the queue's cursor on a task and wait for its detail."""
    screen = pilot.app.screen
    screen.table.move_cursor(row=screen.table.get_row_index(str(task_id)))
    detail = screen.query_one("#task-detail-body", Static)
    await wait_for(pilot, lambda: static_text(detail).startswith(f"Task {task_id} "), what=f"task {task_id} detail")


# -- milestones ------------------------------------------------------------------------------------------


async def test_milestones_screen_shows_every_gate_and_the_report_in_review(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert isinstance(app.screen, MilestonesScreen)
        shown = rows(table(app))
        assert list(shown) == [str(seeded.milestones[n]) for n in ("Foundation", "Memory service", "Learning loop")]
        assert [cells[2] for cells in shown.values()] == ["approved", "review", "locked"]
        assert shown[str(seeded.milestones["Foundation"])][5:] == ["█████", "2/2"]  # the bar, the counts
        # The milestone awaiting review is the one selected first.
        assert table(app).selected_key == str(seeded.milestones["Memory service"])
        panel = static_text(app.screen.query_one("#gate-panel"))
        assert "Memory service  gate: review" in panel
        assert "Approving opens Learning loop: 3 tasks, 2 ready now." in panel
        assert "Acceptance criteria (1/2 met)" in panel and "Report entries naming no acceptance criterion" in panel
        assert "✘ not met" in panel and "p95 is 71 ms on 100k entries" in panel
        assert "✘ MISS" in panel and "✔ met" in panel
        # Issues are listed most severe first.
        order = [panel.index(s) for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW")]
        assert order == sorted(order)
        assert "• Fix the soft-delete leak before M3" in panel
        assert "Proposed decision: CONDITIONAL" in panel
        assert "none yet" in panel
        assert "Search p95 under 50 ms" in static_text(app.screen.query_one("#milestone-objective"))
        assert "⚑ 1 gate awaits review" in status_bar(app)

        # Moving to an approved milestone shows who decided it.
        await pilot.press("up")
        await wait_for(pilot, lambda: "Foundation  gate: approved" in static_text(app.screen.query_one("#gate-panel")))
        panel = static_text(app.screen.query_one("#gate-panel"))
        assert "APPROVE" in panel and "bob" in panel and "Everything checked" in panel


async def test_mode_keys_switch_screens_and_q_quits(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        for key, screen_type, name in (("2", QueueScreen, "2 Queue"), ("3", AgentsScreen, "3 Agents"),
                                       ("1", MilestonesScreen, "1 Milestones")):
            await pilot.press(key)
            await wait_for(pilot, lambda: isinstance(app.screen, screen_type), what=name)
            await loaded(pilot)
            assert name in status_bar(app)
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, what="the app to quit")
    assert app.return_code == 0


async def test_help_lists_every_screens_keys(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpModal), what="help")
        text = "\n".join(static_text(s) for s in app.screen.query(Static))
        for line in ("Milestones and gate review", "Pause or resume the live view", "Decide the selected gate",
                     "Add a task", "Cancel the task and its dependents", "Show or hide heartbeats",
                     "ctrl+p opens the command palette"):
            assert line in text, line
        assert "?" in text and "]" in text and "esc" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MilestonesScreen), what="help to close")


async def test_p_pauses_and_resumes_the_live_indicator(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert "● LIVE 1s" in status_bar(app)
        await pilot.press("p")
        await wait_for(pilot, lambda: "PAUSED" in status_bar(app), what="PAUSED")
        assert app.live is False and app.poller.live is False
        assert "LIVE" not in status_bar(app)
        await pilot.press("p")
        await wait_for(pilot, lambda: "● LIVE" in status_bar(app), what="LIVE")
        assert app.live is True and app.poller.live is True


async def test_plus_and_minus_step_the_poll_interval(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert app.interval == 1.0
        await pilot.press("plus")
        await wait_for(pilot, lambda: app.interval == 0.5)
        assert "LIVE 0.5s" in status_bar(app)
        await pilot.press("minus", "minus")
        await wait_for(pilot, lambda: app.interval == 2.0)
        assert "LIVE 2s" in status_bar(app)
        # A seat opened without polling stays without polling: stepping the interval does not start it.
        assert app.poller._loop is None


async def palette_hits(pilot, query: str, expect: str) -> list[str]:
    """Type ``query`` into the open palette; wait until ``expect`` is among the hits; return them all."""
    palette = pilot.app.screen
    assert isinstance(palette, CommandPalette)
    box = palette.query_one(Input)
    box.value = ""
    await type_text(pilot, query)
    commands = palette.query_one(CommandList)

    def hits() -> list[str]:
        return [str(commands.get_option_at_index(i).prompt).strip().splitlines()[0] for i in range(commands.option_count)]

    await wait_for(pilot, lambda: any(expect in h for h in hits()), what=f"{expect!r} in the palette")
    await settle(pilot)
    return hits()


async def test_palette_has_every_area_and_keeps_the_system_commands(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
        hits = await palette_hits(pilot, "add a task", "Queue: Add a task")
        assert "Queue: Add a task" in hits
        hits = await palette_hits(pilot, "decide", "Milestones: Decide the selected gate")
        assert any(h.startswith("Milestones: Decide") for h in hits)
        hits = await palette_hits(pilot, "theme", "Theme")
        assert any(h.startswith("Theme") for h in hits)

        # A palette command runs the same action as its key, switching to its screen first.
        await palette_hits(pilot, "add a task", "Queue: Add a task")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, EnqueueModal), what="the enqueue form")
        assert app.current_mode == "queue"


# -- queue -----------------------------------------------------------------------------------------------------


async def test_queue_shows_the_active_tasks_and_the_selected_ones_detail(seeded):
    t = seeded.tasks
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        shown = rows(screen.table)
        assert set(shown) == {str(t[k]) for k in ACTIVE}
        # Ordered by priority, highest first.
        priorities = [float(cells[2]) for cells in shown.values()]
        assert priorities == sorted(priorities, reverse=True)
        assert shown[str(t["bench"])][1] == "failed"
        assert shown[str(t["service"])][1:5] == ["running", shown[str(t["service"])][2], "implementation", "builder-1"]
        assert shown[str(t["ns_tests"])][7] == "in 2h"
        assert shown[str(t["lessons"])][5] == "Learning loop"
        assert shown[str(t["ci"])][8] == "Upgrade the CI runners"
        assert "11 task(s) shown · active" in static_text(screen.query_one("#queue-summary"))

        # The first row is selected and detailed; the arrow keys move the selection and the detail follows.
        first, second = list(shown)[:2]
        body = screen.query_one("#task-detail-body")
        await wait_for(pilot, lambda: static_text(body).startswith(f"Task {first} "), what="the first detail")
        await pilot.press("down")
        await wait_for(pilot, lambda: static_text(body).startswith(f"Task {second} "), what="the second detail")
        assert screen.selected == int(second)

        await select(pilot, t["ns_tests"])
        detail = detail_text(screen)
        breakdown = await db_call(seeded.path, "priority_breakdown", t["ns_tests"])
        assert "Write namespace isolation tests" in detail
        assert "Priority breakdown" in detail
        for name, weight in (("base", 0.30), ("depth", 0.25), ("urgency", 0.25), ("blocking", 0.15),
                             ("source", 0.05)):
            value = getattr(breakdown, name)
            assert f"{name:<9}{value:6.1f} × {weight:.2f} = {value * weight:5.1f}" in detail
        assert f"total{breakdown.total:28.1f}" in detail
        assert "Deadline 2027-01-15 10:00:00 (in 2h)" in detail
        assert "estimate 1800s" in detail

        await select(pilot, t["indexer"])
        detail = detail_text(screen)
        assert f"Prerequisites: {t['service']}, {t['fts']}" in detail
        assert f"Unblocks: {t['api_docs']}" in detail
        assert "Blocked: " in detail


async def test_slash_filters_rows_as_you_type_and_escape_clears(seeded):
    t = seeded.tasks
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        box = screen.query_one("#queue-filter", Input)
        assert not box.display
        await pilot.press("slash")
        await wait_for(pilot, lambda: box.has_focus, what="the filter box")
        await type_text(pilot, "index")
        await wait_for(pilot, lambda: set(rows(screen.table)) == {str(t["fts"]), str(t["indexer"])},
                       what="two matching rows")
        assert "text “index”" in static_text(screen.query_one("#queue-summary"))
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(rows(screen.table)) == len(ACTIVE), what="every row back")
        assert box.value == "" and not box.display
        assert screen.table.has_focus


async def test_filter_modal_chooses_statuses_and_reloads(seeded):
    t = seeded.tasks
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, FilterModal), what="the filter modal")
        statuses = app.screen.query_one(SelectionList)
        # Show completed and cancelled tasks too, and drop the blocked ones.
        statuses.select("completed")
        statuses.select("cancelled")
        statuses.deselect("blocked")
        await pilot.click("#apply")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), what="the modal to close")
        expected = {str(t[k]) for k in ("schema", "migrations", "hotfix", "flaky", "service", "fts", "bench",
                                         "ns_tests", "ci", "cleanup")}
        await wait_for(pilot, lambda: set(rows(screen.table)) == expected, what="the reloaded rows")
        summary = static_text(screen.query_one("#queue-summary"))
        assert "pending/ready/running/completed/failed/cancelled" in summary


async def test_s_sorts_by_the_next_column(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        # Priority order (highest first) is the default; `s` moves on to the next column.
        assert screen.table.sort_state == ("priority", True)
        await pilot.press("s")
        await wait_for(pilot, lambda: screen.table.sort_state == ("type", False))
        types = [c[3] for c in rows(screen.table).values()]
        assert types == sorted(types) and len(set(types)) > 1
        assert "sorted by type ↑" in static_text(screen.query_one("#queue-summary"))
        await pilot.press("S")
        await wait_for(pilot, lambda: screen.table.sort_state == ("type", True))
        assert [c[3] for c in rows(screen.table).values()] == sorted(types, reverse=True)
        await pilot.press("s")
        await wait_for(pilot, lambda: screen.table.sort_state == ("agent", False))
        agents = [c[4] for c in rows(screen.table).values()]
        assert agents == sorted(agents)


async def test_enqueue_form_validates_then_creates_the_task(seeded):
    t = seeded.tasks
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        before = await db_call(seeded.path, "latest_event_id")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, EnqueueModal), what="the form")
        form = app.screen
        await pilot.press("ctrl+s")
        error = form.query_one("#e-error", Static)
        await wait_for(pilot, lambda: "A description is required." in static_text(error))
        assert app.screen is form and form.query_one("#e-description").has_focus
        assert await db_call(seeded.path, "latest_event_id") == before

        await type_text(pilot, "Bench harness")
        priority = form.query_one("#e-priority", Input)
        priority.value = ""
        priority.focus()
        await type_text(pilot, "8")
        form.query_one("#e-after", Input).focus()
        await type_text(pilot, f"{t['fts']}")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen, what="the form to close")

        def created():
            return [cells for cells in rows(screen.table).values()
                    if cells[8] == "Bench harness"]

        await wait_for(pilot, created, what="the new row")
        tasks = await db_call(seeded.path, "list_tasks", limit=100)
        new = [task for task in tasks if task.description == "Bench harness"]
        assert len(new) == 1
        assert new[0].base_priority == 8 and new[0].prerequisites == (t["fts"],)
        assert new[0].status.value == "blocked" and new[0].source.value == "human"
        assert created()[0][1] == "blocked"


async def test_cancel_previews_the_cascade_and_keep_changes_nothing(seeded):
    t = seeded.tasks
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        await select(pilot, t["fts"])
        before = await db_call(seeded.path, "latest_event_id")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CancelModal), what="the cancel preview")
        text = "\n".join(static_text(s) for s in app.screen.query(Static))
        assert "This also cancels 2 dependent task(s)" in text
        assert "Wire the background embedding indexer" in text and "Document the memory API" in text
        assert "Cancel 3 task(s)" in plain(app.screen.query_one("#confirm").label)
        await pilot.click("#keep")
        await wait_for(pilot, lambda: app.screen is screen, what="the preview to close")
        await settle(pilot)
        assert await db_call(seeded.path, "latest_event_id") == before
        assert {x.status.value for x in await db_call(seeded.path, "tasks_by_ids", [t["fts"], t["indexer"],
                                                                                     t["api_docs"]])} \
            == {"ready", "blocked"}

        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CancelModal), what="the cancel preview")
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: str(t["fts"]) not in rows(screen.table), what="the cancelled rows to go")
        tasks = await db_call(seeded.path, "tasks_by_ids", [t["fts"], t["indexer"], t["api_docs"], t["service"]])
        assert [x.status.value for x in tasks] == ["running", "cancelled", "cancelled", "cancelled"]
        assert not {str(t["indexer"]), str(t["api_docs"])} & set(rows(screen.table))


async def test_r_retries_a_failed_task(seeded):
    t = seeded.tasks
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        await select(pilot, t["bench"])
        await pilot.press("r")
        await wait_for(pilot, lambda: rows(screen.table)[str(t["bench"])][1] == "ready", what="the retried row")
        task = await db_call(seeded.path, "get_task", t["bench"])
        assert task.status.value == "ready" and task.retry_count == 1
        # Retrying a task that has not failed is refused by the store, shown as a notification.
        await select(pilot, t["ci"])
        await pilot.press("r")
        await wait_for(pilot, lambda: any("only failed tasks, and tasks held by failed ones, can be retried" in n.message
                                          for n in app._notifications), what="the refusal")
        assert (await db_call(seeded.path, "get_task", t["ci"])).status.value == "ready"


async def test_brackets_change_the_base_priority(seeded):
    t = seeded.tasks
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        await select(pilot, t["ci"])
        old_cell = rows(screen.table)[str(t["ci"])][2]
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: screen.tasks[t["ci"]].base_priority == 5, what="the new base priority")
        assert (await db_call(seeded.path, "get_task", t["ci"])).base_priority == 5
        assert float(rows(screen.table)[str(t["ci"])][2]) > float(old_cell)
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: screen.tasks[t["ci"]].base_priority == 4)
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: screen.tasks[t["ci"]].base_priority == 3)
        assert (await db_call(seeded.path, "get_task", t["ci"])).base_priority == 3
        assert screen.table.selected_key == str(t["ci"])


async def test_e_shows_the_execution_plan(seeded):
    t = seeded.tasks
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        await open_queue(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, PlanModal), what="the plan")
        text = "\n".join(static_text(s) for s in app.screen.query(Static))
        plan = await db_call(seeded.path, "execution_plan", [t[k] for k in ACTIVE if k != "bench"])
        assert f"Execution plan: {plan.total_batches} batch(es), max parallelism {plan.max_parallelism}" in text
        assert plan.total_batches >= 3
        # The indexer waits for the service: it is in a later batch.
        assert text.index("Implement MemoryService") < text.index("Wire the background embedding indexer")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen))


# -- agents ------------------------------------------------------------------------------------------------------


async def test_agents_show_stale_not_idle_heartbeat_ages_and_activity(seeded):
    t = seeded.tasks
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, AgentsScreen))
        await loaded(pilot)
        shown = rows(app.screen.table)
        assert list(shown) == ["builder-1", "researcher-2", "tester-3", "validator"]
        status, heartbeat = 2, 3
        assert shown["researcher-2"][status] == "STALE"
        assert (await db_call(seeded.path, "get_agent", "researcher-2")).status.value == "idle"
        assert shown["builder-1"][status] == "working" and shown["builder-1"][4] == str(t["service"])
        assert shown["builder-1"][5] == " 40%"
        assert shown["tester-3"][status] == "idle"
        assert [shown[n][heartbeat] for n in shown] == ["5s ago", "10m ago", "30s ago", "30s ago"]
        assert shown["tester-3"][10] == "waiting for test fixtures"
        assert shown["builder-1"][6] == "3" and shown["tester-3"][7] == "1"

        log = app.screen.query_one("#activity", RichLog)
        assert "Activity of builder-1" in static_text(app.screen.query_one("#activity-title"))
        assert any("implement/write MemoryService.get 1.2s" in line.text for line in log.lines)

        app.screen.table.move_cursor(row=2)
        title = app.screen.query_one("#activity-title")
        await wait_for(pilot, lambda: "Activity of tester-3" in static_text(title), what="tester-3's activity")
        await settle(pilot)
        lines = [line.text for line in log.lines]
        assert any("task.failed" in line and f"task {t['bench']}" in line
                   and "timeout: index build took 40 minutes" in line for line in lines), lines
        assert not any("heartbeat" in line for line in lines)
        await pilot.press("a")
        await wait_for(pilot, lambda: any("agent.heartbeat" in line.text for line in log.lines),
                       what="heartbeats shown")


# -- a read-only seat -----------------------------------------------------------------------------------------

MUTATING_KEYS = {
    "1": (["d", "x", "R"], {"Decide", "Close condition", "Resume swarm"}),
    "2": (["n", "c", "r", "right_square_bracket", "left_square_bracket"], {"Enqueue", "Cancel", "Retry", "Prio+",
                                                                           "Prio-"}),
}


def footer_keys(app) -> dict[str, bool]:
    """Description -> enabled, for every key the footer shows."""
    return {k.description: not k.has_class("-disabled") for k in app.screen.query_one(Footer).query(FooterKey)}


async def test_read_only_seat_hides_and_refuses_every_change(seeded):
    app = make_app(seeded.path, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert "read-only" in status_bar(app)
        before = await db_call(seeded.path, "latest_event_id")
        for mode_key, (keys, descriptions) in MUTATING_KEYS.items():
            await pilot.press(mode_key)
            await loaded(pilot)
            screen = app.screen
            shown = footer_keys(app)
            assert shown, "the footer shows keys"
            assert not descriptions & set(shown), f"mutating keys shown: {descriptions & set(shown)}"
            for key in keys:
                await pilot.press(key)
                await settle(pilot)
                assert app.screen is screen, f"{key} opened {app.screen}"
        assert await db_call(seeded.path, "latest_event_id") == before

        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        hits = await palette_hits(pilot, "queue", "Queue: Filter the rows by text")
        assert not [h for h in hits if "Add a task" in h or "Cancel the task" in h or "Retry" in h], hits
        hits = await palette_hits(pilot, "milestones", "Milestones: Jump to the next gate")
        assert not [h for h in hits if "Decide" in h or "Resume" in h], hits
