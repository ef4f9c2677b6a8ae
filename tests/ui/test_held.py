"""Tasks held by a failed task stand out in the queue, and one key frees them."""

from __future__ import annotations

from textual.widgets import Static

from swarmdeck.app.screens.queue import QueueScreen
from ui_support import db_call, loaded, make_app, rows, static_text, wait_for

SIZE = (120, 40)


async def test_held_tasks_are_marked_counted_and_r_retries_their_failure(seeded):
    t = seeded.tasks
    publish = await db_call(seeded.path, "enqueue_task", description="Publish the benchmark results",
                            agent_type="docs", prerequisites=[t["bench"]])
    assert publish.held_by == t["bench"]
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), what="the queue")
        await loaded(pilot)
        screen = app.screen
        summary = screen.query_one("#queue-summary", Static)
        assert static_text(summary).startswith("1 held by failed tasks (r on one retries its failure")
        assert rows(screen.table)[str(publish.id)][1] == "held"

        screen.table.move_cursor(row=screen.table.get_row_index(str(publish.id)))
        detail = screen.query_one("#task-detail-body", Static)
        await wait_for(pilot, lambda: static_text(detail).startswith(f"Task {publish.id} "), what="the detail")
        assert f"held by task {t['bench']}, which failed for good: retry or cancel it" in static_text(detail)

        await pilot.press("r")
        await wait_for(pilot, lambda: rows(screen.table)[str(t["bench"])][1] == "ready", what="the retried failure")
        await wait_for(pilot, lambda: rows(screen.table)[str(publish.id)][1] == "blocked", what="the freed task")
        await wait_for(pilot, lambda: not static_text(summary).startswith("1 held"), what="the count to go")
        assert (await db_call(seeded.path, "get_task", t["bench"])).retry_count == 1
