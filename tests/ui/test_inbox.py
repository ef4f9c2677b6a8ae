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


async def test_every_screen_s_header_counts_what_waits_by_kind(seeded):
    """The status bar on each of the five screens says how many items of each kind wait (beside the gates
    awaiting review), the critical kinds first; a new kind shows once the app has looked again."""
    from swarmdeck.widgets.status_bar import StatusBar
    from ui_support import plain

    t = seeded.tasks
    app = make_app(seeded.path)
    async with app.run_test(size=(160, 40)) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: app.attention, what="the first look")
        expected = "1 failed"  # the seeded swarm's bench task failed for good
        for key in "12345":
            await pilot.press(key)
            await pilot.pause()
            bar = plain(app.screen.query_one(StatusBar).render())
            assert expected in bar and "(i)" in bar, (key, bar)
        await db_call(seeded.path, "retry_task", t["bench"])
        await app.refresh_attention()
        await pilot.pause()
        assert "failed" not in plain(app.screen.query_one(StatusBar).render())


async def test_desktop_notifications_are_opt_in_and_carry_only_plain_text(seeded, tmp_path):
    """With desktop notifications on, a new item is also an OSC 9 notification written to the terminal;
    the agent's escape sequences in it are made plain (one ESC: the notification's own). The palette's
    command turns them off and the choice is remembered."""
    from swarmdeck.app import preferences

    prefs = tmp_path / "dashboard.json"
    app = make_app(seeded.path, desktop_notify=True, preferences_path=prefs)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: app.attention_keys, what="the first look")
        written: list[str] = []
        app._driver.write = written.append  # what goes to the terminal
        task = await db_call(seeded.path, "enqueue_task", description="x", agent_type="flaky", max_retries=0)
        await db_call(seeded.path, "claim_task", agent="builder-1", agent_type="flaky")
        await db_call(seeded.path, "fail_task", task.id, agent="builder-1", retry=False,
                      error="boom \x1b]52;c;ZXZpbA==\x07[bold]x")
        await app.refresh_attention()
        osc = [w for w in written if w.startswith("\x1b]")]
        assert len(osc) == 1 and osc[0].count("\x1b") == 1 and osc[0].count("\x07") == 1
        assert f"task {task.id} failed for good: boom ]52;c;ZXZpbA== [bold]x" in osc[0]

        app.action_toggle_desktop_notify()
        assert app.desktop_notify is False
        assert preferences.load(prefs)[0].desktop_notifications is False
    # The next run remembers the choice (no --notify given).
    again = make_app(seeded.path, preferences_path=prefs)
    async with again.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert again.desktop_notify is False


async def test_a_swarm_s_critical_issue_goes_to_its_memory_entry(seeded, tmp_path):
    from textual.widgets import Input

    from swarmdeck.app.screens.memory import MemoryScreen
    from swarmdeck.app.status_bridge import StatusBridge
    from swarmdeck.store import open_store

    path = tmp_path / "coordination_status.json"
    path.write_text('{"agents": {}, "critical_issues": ["broker loses messages"]}')
    store = await open_store(seeded.path)
    try:
        await StatusBridge(store, path).poll()
    finally:
        await store.close()
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InboxModal), what="the inbox")
        modal = app.screen
        titles = _titles(modal)
        row = next(i for i, title in enumerate(titles) if "broker loses messages" in title)
        modal.query_one(DataTable).move_cursor(row=row)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MemoryScreen), what="the memory screen")
        await wait_for(pilot, lambda: app.screen.query_one("#memory-query", Input).value == "critical_issues",
                       what="the search for the entry")


def _inbox_snapshot(seeded, snap_compare, size):
    async def run_before(pilot):
        await loaded(pilot)
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, InboxModal), what="the inbox")
        await wait_for(pilot, lambda: pilot.app.screen.query_one(DataTable).row_count > 0, what="its items")

    return snap_compare(make_app(seeded.path), terminal_size=size, run_before=run_before)


def test_snapshot_of_the_inbox_at_80x24(seeded, snap_compare):
    assert _inbox_snapshot(seeded, snap_compare, (80, 24))


def test_snapshot_of_the_inbox_at_200x60(seeded, snap_compare):
    assert _inbox_snapshot(seeded, snap_compare, (200, 60))


async def test_at_80_columns_the_header_keeps_what_waits_and_cuts_the_title_from_the_left(seeded):
    """A long database path gives way first (its file name stays), then the key hint: the gates awaiting
    review and the counts by kind are still on the line at 80 columns."""
    from ui_support import screen_text

    title = "demo · /tmp/swarmdeck-demo-k2j3h4g5/a/very/long/folder/swarm.db"
    for width in (80, 100):
        app = make_app(seeded.path, title=title)
        async with app.run_test(size=(width, 24)) as pilot:
            await loaded(pilot)
            await wait_for(pilot, lambda: app.attention, what="the first look")
            await pilot.pause()
            top = screen_text(app).splitlines()[0]
            assert "⚑ 1 gate awaits review" in top and "1 failed (i)" in top, top
            assert "1-5 screens" not in top and "/tmp/swarmdeck" not in top
            if width == 100:  # room for the end of the title
                assert "…" in top and "folder/swarm.db · 1 Milestones" in top, top
    wide = make_app(seeded.path, title="short.db")
    async with wide.run_test(size=(200, 24)) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: wide.attention, what="the first look")
        await pilot.pause()
        top = screen_text(wide).splitlines()[0]
        assert "short.db" in top and "1-5 screens · ? keys · ^p commands" in top and "…" not in top


async def test_at_80_columns_an_inbox_item_wraps_whole(seeded):
    """No item's words are cut off in the inbox: a long one wraps onto more lines of its row."""
    from ui_support import screen_text

    app = make_app(seeded.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InboxModal), what="the inbox")
        await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count > 0, what="its items")
        await pilot.pause()
        text = " ".join(" ".join(screen_text(app).split()).split("█"))
        assert "…" not in text.split("What needs a person")[1].split("enter: go to it")[0]
        assert "(0/1 approvals)" in text and "took 40 minutes" in text


async def test_changes_from_many_polls_are_one_look_not_one_each(seeded, monkeypatch):
    """The feed brings changes every poll in a busy swarm: they mark the attention stale, and the next
    look (within a second) is one look for all of them, not a round of queries per poll."""
    from swarmdeck.app.poller import StoreChanged

    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        looks: list[int] = []
        monkeypatch.setattr(app, "look_for_attention", lambda: looks.append(1))
        for _ in range(3):
            await app._forward_changes(StoreChanged([]))
        app._look_if_changed()
        app._look_if_changed()
        assert looks == [1]
