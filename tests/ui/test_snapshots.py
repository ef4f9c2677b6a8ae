"""What a user sees, pinned as SVG snapshots: seeded data, frozen clock, poller off, 120x40.

Review the SVGs in __snapshots__/ (or the HTML report of a failing run) before `--snapshot-update`.
"""

from __future__ import annotations

from textual.widgets import TextArea

from swarmdeck.app.modals.decision import DecisionModal
from swarmdeck.app.modals.help import HelpModal
from swarmdeck.app.screens.agents import AgentsScreen
from swarmdeck.app.screens.queue import QueueScreen
from ui_support import laid_out, loaded, make_app, static_text, wait_for

SIZE = (120, 40)


def test_milestones_with_the_report_in_review(seeded, snap_compare):
    assert snap_compare(make_app(seeded.path), terminal_size=SIZE, run_before=loaded)


def test_queue_with_a_task_selected(seeded, snap_compare):
    task = seeded.tasks["ns_tests"]

    async def run_before(pilot):
        await loaded(pilot)
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, QueueScreen))
        await loaded(pilot)
        screen = pilot.app.screen
        while screen.table.selected_key != str(task):
            await pilot.press("down")
        detail = screen.query_one("#task-detail-body")
        await wait_for(pilot, lambda: static_text(detail).startswith(f"Task {task} "), what="the detail")
        await loaded(pilot)

    assert snap_compare(make_app(seeded.path), terminal_size=SIZE, run_before=run_before)


def test_agents_with_a_stale_agent(seeded, snap_compare):
    async def run_before(pilot):
        await loaded(pilot)
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, AgentsScreen))
        await loaded(pilot)
        await laid_out(pilot, pilot.app.screen.query_one("#agent-detail"))

    assert snap_compare(make_app(seeded.path), terminal_size=SIZE, run_before=run_before)


def test_decision_modal(seeded, snap_compare):
    async def run_before(pilot):
        await loaded(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DecisionModal), what="the decision modal")
        for area in pilot.app.screen.query(TextArea):
            area.cursor_blink = False  # a blinking cursor would make the picture depend on timing

    assert snap_compare(make_app(seeded.path), terminal_size=SIZE, run_before=run_before)


def test_help_modal(seeded, snap_compare):
    async def run_before(pilot):
        await loaded(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpModal), what="help")

    assert snap_compare(make_app(seeded.path), terminal_size=SIZE, run_before=run_before)


def test_milestones_with_a_plan(seeded, snap_compare):
    """Prerequisites, schedule variance beside the hour burn, money, and a cut milestone."""
    import asyncio

    from test_milestones_screen import plan_a_graph, select

    asyncio.run(plan_a_graph(seeded.path))

    async def run_before(pilot):
        await loaded(pilot)
        await select(pilot, "Docker + Deployment")

    assert snap_compare(make_app(seeded.path), terminal_size=SIZE, run_before=run_before)
