"""The attention inbox: `i` from any screen lists what waits on a person, Enter goes to it, and a new
item while the dashboard runs is a toast and one bell."""

from __future__ import annotations

from textual.widgets import DataTable

from swarmdeck.app.modals.inbox import InboxModal
from swarmdeck.app.screens.milestones import MilestonesScreen
from swarmdeck.app.screens.queue import QueueScreen
from ui_support import db_call, loaded, make_app, wait_for

SIZE = (120, 40)


def _titles(modal: InboxModal) -> list[str]:
    table = modal.query_one(DataTable)
    return [str(table.get_row_at(i)[2]) for i in range(table.row_count)]


async def test_i_lists_what_waits_and_enter_goes_to_it(seeded):
    t, m = seeded.tasks, seeded.milestones
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), what="the queue")
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InboxModal), what="the inbox")
        modal = app.screen
        await wait_for(pilot, lambda: modal.query_one(DataTable).row_count > 0, what="its items")
        titles = _titles(modal)
        assert any(title.startswith("Memory service: report v1 by validator awaits review") for title in titles)
        assert any(title.startswith(f"task {t['bench']} failed for good") for title in titles)
        # Enter on the gate's item: the milestones screen, on that milestone.
        row = next(i for i, title in enumerate(titles) if title.startswith("Memory service"))
        modal.query_one(DataTable).move_cursor(row=row)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MilestonesScreen), what="the milestones screen")
        screen = app.screen
        await wait_for(pilot, lambda: screen.table.selected_key == str(m["Memory service"]), what="the gate")


async def test_a_new_item_is_a_toast_and_one_bell(seeded, monkeypatch):
    app = make_app(seeded.path)
    bells: list[int] = []
    toasts: list[str] = []
    monkeypatch.setattr(app, "bell", lambda: bells.append(1))
    real_notify = app.notify
    monkeypatch.setattr(app, "notify", lambda message, **kw: (toasts.append(message), real_notify(message, **kw)))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: app.attention_keys, what="the first look")
        assert bells == []  # what was already waiting at start is counted, not rung
        task = await db_call(seeded.path, "enqueue_task", description="Flaky \x1b[31m[bold]build",
                             agent_type="flaky", max_retries=0)
        await db_call(seeded.path, "claim_task", agent="builder-1", agent_type="flaky")
        await db_call(seeded.path, "fail_task", task.id, agent="builder-1", error="it broke [@click=app.quit]",
                      retry=False)
        await app.refresh_attention()
        assert bells == [1]
        assert any(f"task {task.id} failed for good: it broke [@click=app.quit]" in message for message in toasts)
        await app.refresh_attention()  # the same item again: no second bell, no second toast
        assert bells == [1]
        assert len([message for message in toasts if f"task {task.id}" in message]) == 1
        assert app.is_running  # the markup in the agent's text did nothing
