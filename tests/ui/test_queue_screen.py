"""The queue screen's behaviour over time and under fast keys: ages tick with the clock, the detail follows
the cursor, the filters say when nothing matches, the plan respects milestone gates; and its snapshots."""

from __future__ import annotations

from textual import events
from textual.widgets import Input, Select, Static

from support import FakeClock
from swarmdeck.app.modals.cancel import CancelModal
from swarmdeck.app.modals.enqueue import EnqueueModal
from swarmdeck.app.modals.plan import PlanModal
from swarmdeck.store.graph import gated_plan
from swarmdeck.store import ExecutionPlan
from test_screens import SIZE, detail_text, open_queue, select
from ui_support import NOW, db_call, make_app, rows, screen_text, settle, static_text, type_text, wait_for

AGE, DEADLINE = 6, 7


async def test_age_deadline_and_the_details_ago_move_with_the_clock(seeded):
    t = seeded.tasks
    now = FakeClock(NOW)
    app = make_app(seeded.path, clock=now)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        await select(pilot, t["ns_tests"])
        row = rows(screen.table)[str(t["ns_tests"])]
        assert (row[AGE], row[DEADLINE]) == ("2h", "in 2h")
        assert "(in 2h)" in detail_text(screen) and "(2h ago)" in detail_text(screen)

        now.advance(3 * 3600)
        screen.tick()  # what the screen's one-second timer calls
        await pilot.pause()
        row = rows(screen.table)[str(t["ns_tests"])]
        assert (row[AGE], row[DEADLINE]) == ("5h", "1h late")
        detail = detail_text(screen)
        assert "Deadline 2027-01-15 10:00:00 (1h late)" in detail and "(5h ago)" in detail
        # The timer runs while the queue is on screen.
        assert any(timer.name == "queue-ages" for timer in screen._view_timers)


async def test_the_detail_follows_the_cursor_when_its_task_leaves_the_list(seeded):
    t = seeded.tasks
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        await select(pilot, t["ci"])
        await db_call(seeded.path, "cancel_task", t["ci"], reason="elsewhere")  # another seat cancels it
        screen.kick()
        await wait_for(pilot, lambda: str(t["ci"]) not in rows(screen.table), what="the cancelled row to go")
        await settle(pilot)
        under_cursor = screen.table.selected_key
        assert under_cursor is not None and under_cursor != str(t["ci"])
        body = screen.query_one("#task-detail-body", Static)
        await wait_for(pilot, lambda: static_text(body).startswith(f"Task {under_cursor} "),
                       what="the detail of the row under the cursor")
        assert screen.selected == int(under_cursor)


async def test_the_cancel_dialog_starts_on_its_reason(seeded):
    t = seeded.tasks
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        await select(pilot, t["ci"])
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CancelModal), what="the cancel preview")
        await pilot.pause()
        assert app.focused is app.screen.query_one("#cancel-reason", Input)
        await type_text(pilot, "superseded\n")
        await wait_for(pilot, lambda: str(t["ci"]) not in rows(screen.table), what="the cancelled row to go")
        task = await db_call(seeded.path, "get_task", t["ci"])
        assert task.status.value == "cancelled"


def burst(app, key: str, character: str, times: int) -> None:
    """Keys as a fast typist sends them: all queued before the app handles the first (a pilot's press
    waits for each key to be handled, by which time the write it started has landed)."""
    for _ in range(times):
        app.post_message(events.Key(key, character))


async def test_fast_brackets_apply_every_press(seeded):
    t = seeded.tasks
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        await select(pilot, t["ci"])
        assert screen.tasks[t["ci"]].base_priority == 4
        burst(app, "left_square_bracket", "[", 3)
        await wait_for(pilot, lambda: screen.tasks[t["ci"]].base_priority == 1, what="three presses applied")
        await settle(pilot)
        assert (await db_call(seeded.path, "get_task", t["ci"])).base_priority == 1
        burst(app, "right_square_bracket", "]", 2)
        await wait_for(pilot, lambda: screen.tasks[t["ci"]].base_priority == 3, what="two presses applied")
        await settle(pilot)
        assert (await db_call(seeded.path, "get_task", t["ci"])).base_priority == 3


async def test_the_text_filter_searches_milestones_and_says_when_nothing_matches(seeded):
    t = seeded.tasks
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        empty = screen.query_one("#queue-empty", Static)
        assert not empty.display
        await pilot.press("slash")
        await type_text(pilot, "learning loop")
        learning = {str(t[k]) for k in ("lessons", "estimates", "retro")}
        await wait_for(pilot, lambda: set(rows(screen.table)) == learning, what="the Learning loop's tasks")
        assert not empty.display
        await type_text(pilot, " zzz")
        await wait_for(pilot, lambda: not rows(screen.table), what="no row")
        assert empty.display
        message = static_text(empty)
        assert "No task matches “learning loop zzz”" in message
        assert "Esc clears the text filter" in message
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(rows(screen.table)) == 11, what="every row back")
        assert not empty.display


async def test_the_plan_shows_what_waits_for_a_milestone_gate(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        await open_queue(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, PlanModal), what="the plan")
        text = "\n".join(static_text(s) for s in app.screen.query(Static))
        # Learning loop is locked: its three tasks (the retrospective after the lessons) wait for the gate
        # of Memory service, whatever their prerequisites say.
        assert "3 task(s) cannot start before a milestone gate opens" in text
        gate = text.index("After the gate of Memory service opens (locked: Learning loop)")
        for key in ("lessons", "estimates", "retro"):
            assert text.index(seeded_description(key)) > gate
        for key in ("service", "fts", "indexer", "ci"):
            assert text.index(seeded_description(key)) < gate
        assert text.index("Record failure lessons") < text.index("Retrospective template")


def seeded_description(key: str) -> str:
    return {"lessons": "Record failure lessons", "estimates": "Estimate accuracy report",
            "retro": "Retrospective template", "service": "Implement MemoryService",
            "fts": "Add the FTS5 keyword index", "indexer": "Wire the background embedding indexer",
            "ci": "Upgrade the CI runners"}[key]


async def test_gated_plan_holds_a_locked_milestones_tasks_and_what_follows_them(seeded):
    t = seeded.tasks
    tasks = {x.id: x for x in await db_call(seeded.path, "list_tasks", limit=100)}
    milestones = {m.id: m for m in await db_call(seeded.path, "list_milestones")}
    ids = [t[k] for k in ("service", "indexer", "lessons", "retro", "ci")]
    plan: ExecutionPlan = await db_call(seeded.path, "execution_plan", ids)
    gated = gated_plan(plan, tasks, milestones)
    assert gated.now == [sorted([t["service"], t["ci"]]), [t["indexer"]]]
    [(milestone, batches)] = gated.waiting
    assert milestone.name == "Learning loop" and batches == [[t["lessons"]], [t["retro"]]]
    assert gated.waiting_count == 2


async def test_enqueue_offers_the_known_agent_types(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, EnqueueModal), what="the form")
        form = app.screen
        kind = form.query_one("#e-type", Select)
        offered = [value for _, value in kind._options]
        assert offered == ["docs", "general", "implementation", "ops", "research", "testing", "validation"]
        assert kind.value == "general"
        form.query_one("#e-description", Input).focus()
        await type_text(pilot, "Profile the claim loop")
        kind.value = "testing"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen, what="the form to close")
        await wait_for(pilot, lambda: "Profile the claim loop" in [c[8] for c in rows(screen.table).values()],
                       what="the new row")
        tasks = await db_call(seeded.path, "list_tasks", limit=100)
        new = [x for x in tasks if x.description == "Profile the claim loop"]
        assert [x.agent_type for x in new] == ["testing"]


# -- snapshots ------------------------------------------------------------------------------------------


def _snap(seeded, snap_compare, size):
    async def run_before(pilot):
        await open_queue(pilot)
        await select(pilot, seeded.tasks["ns_tests"])
        await settle(pilot)

    return snap_compare(make_app(seeded.path), terminal_size=size, run_before=run_before)


def test_queue_snapshot_80x24(seeded, snap_compare):
    assert _snap(seeded, snap_compare, (80, 24))


def test_queue_snapshot_200x60(seeded, snap_compare):
    assert _snap(seeded, snap_compare, (200, 60))


async def test_the_enqueue_forms_buttons_stay_on_screen_at_80x24(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_queue(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, EnqueueModal), what="the form")
        await pilot.pause()
        form = app.screen
        assert app.focused is form.query_one("#e-description", Input)
        for button in ("#submit", "#cancel"):
            region = form.query_one(button).region
            assert region.height and app.screen.region.contains_region(region), (button, region)
        await type_text(pilot, "Small screens")
        await pilot.click("#submit")
        await wait_for(pilot, lambda: app.screen is screen, what="the form to close")
        await wait_for(pilot, lambda: any(c[8] == "Small screens" for c in rows(screen.table).values()),
                       what="the new row")


async def test_the_plan_names_the_shut_gates_a_milestone_waits_for_a_cut_one_and_the_critical_path(seeded):
    from test_milestones_screen import plan_a_graph

    await plan_a_graph(seeded.path)  # Docker waits for Foundation and Memory service; Learning loop is cut
    app = make_app(seeded.path)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_queue(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, PlanModal), what="the plan")
        text = "\n".join(static_text(s) for s in app.screen.query(Static))
        assert "Critical path: " in text
        # Docker waits for Foundation too, but that gate has passed: only the one still shut is named.
        assert "After the gate of Memory service opens (locked: Docker + Deployment)" in text
        assert "Foundation" not in text
        assert "After it is reinstated (cut: Learning loop)" in text
        assert text.index("(locked: Docker + Deployment)") < text.index("Write the Dockerfiles")


async def test_archived_tasks_leave_the_queue_and_the_filter_brings_them_back(seeded):
    from textual.widgets import Checkbox

    from swarmdeck.app.modals.filters import FilterModal

    t = seeded.tasks
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        assert str(t["bench"]) in rows(screen.table)  # failed for good 1.5 h ago, nothing waiting on it
        report = await db_call(seeded.path, "prune", dry_run=False, tasks_older_than=3600)
        assert report.tasks.count >= 2  # bench, and the cancelled flaky test among them
        screen.kick()
        await wait_for(pilot, lambda: str(t["bench"]) not in rows(screen.table), what="the archived row to go")
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, FilterModal), what="the filters")
        app.screen.query_one("#f-archived", Checkbox).value = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: str(t["bench"]) in rows(screen.table), what="the archived row back")
        assert rows(screen.table)[str(t["bench"])][1] == "archived"
        assert "archived included" in screen_text(app)
