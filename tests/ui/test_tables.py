"""Every table screen: columns that follow content and terminal width (the free-text column keeps the
room the others leave; what a narrow terminal cannot hold gives way), j/k on every table, and empty
screens that say what to do next."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input, Static

from swarmdeck.app.modals.help import HelpModal
from swarmdeck.app.modals.inbox import InboxModal
from swarmdeck.app.screens.agents import AgentsScreen
from swarmdeck.app.screens.milestones import MilestonesScreen
from swarmdeck.app.screens.queue import QueueScreen
from swarmdeck.store import open_store
from swarmdeck.widgets.live_table import LiveTable, TableColumn
from swarmdeck.widgets.text import cell
from test_screens import open_queue, select
from ui_support import clock, db_call, loaded, make_app, region_text, settle, static_text, wait_for

NARROW, WIDE = (80, 24), (200, 60)
BENCH = "Benchmark search latency on 100k entries"


async def open_agents(pilot) -> AgentsScreen:
    await loaded(pilot)
    await pilot.press("3")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, AgentsScreen), what="the agents")
    await loaded(pilot)
    return pilot.app.screen


def table_lines(app, table: DataTable) -> list[str]:
    """What the table shows on screen, line by line."""
    return region_text(app, table.region)


def fills_its_width(table: LiveTable) -> bool:
    """The columns (with their padding) take the table's whole width: no blank band, no overflow."""
    used = sum(w + 2 * table.cell_padding for w in table.column_widths.values())
    return used == table.scrollable_content_region.width


# -- widths ------------------------------------------------------------------------------------------------


async def test_at_80_columns_the_queue_keeps_its_descriptions_and_widens_them_on_a_resize(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=NARROW) as pilot:
        screen = await open_queue(pilot)
        table = screen.table
        shown = table.shown_columns
        # The description stays; the deadline and the age (in the detail pane) give way to it.
        assert "description" in shown and {"id", "status", "priority", "agent"} <= set(shown)
        assert "deadline" not in shown and "age" not in shown
        assert table.column_widths["description"] >= 30 and fills_its_width(table)
        lines = table_lines(app, table)
        assert any("Implement MemoryService" in line for line in lines)
        bench = next(line for line in lines if BENCH[:20] in line)
        assert BENCH not in bench and bench.rstrip().endswith("…")  # cropped with an ellipsis, on one line
        assert not any(line.startswith(" " * 20) for line in lines[1:table.row_count + 1])  # nothing wrapped

        await pilot.resize_terminal(*WIDE)
        await wait_for(pilot, lambda: table.shown_columns == [c.key for c in screen_columns(QueueScreen)],
                       what="every column back at 200 columns")
        await settle(pilot)
        assert fills_its_width(table)
        assert any(BENCH in line for line in table_lines(app, table))  # whole again

        await pilot.resize_terminal(*NARROW)
        await wait_for(pilot, lambda: "deadline" not in table.shown_columns, what="the narrow fit again")
        await settle(pilot)
        assert fills_its_width(table)


def screen_columns(screen: type) -> list[TableColumn]:
    from swarmdeck.app.screens import agents, queue

    return {QueueScreen: queue.COLUMNS, AgentsScreen: agents.COLUMNS}[screen]


async def test_at_80_columns_the_agents_keep_their_task_and_blockers(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=NARROW) as pilot:
        screen = await open_agents(pilot)
        table = screen.table
        assert {"name", "status", "heartbeat", "task", "blockers"} <= set(table.shown_columns)
        assert fills_its_width(table)
        lines = table_lines(app, table)
        tester = next(line for line in lines if "tester-3" in line)
        assert "waiting for test fixtures" in tester
        builder = next(line for line in lines if "builder-1" in line)
        assert f" {seeded.tasks['service']} " in builder  # its current task
        await pilot.resize_terminal(*WIDE)
        await wait_for(pilot, lambda: table.shown_columns == [c.key for c in screen_columns(AgentsScreen)],
                       what="every column at 200 columns")


async def test_sorting_by_a_column_the_terminal_had_no_room_for_shows_it_and_keeps_the_cursor(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=NARROW) as pilot:
        screen = await open_queue(pilot)
        await select(pilot, seeded.tasks["ns_tests"])
        assert "deadline" not in screen.table.shown_columns
        while screen.table.sort_state[0] != "deadline":
            await pilot.press("s")
        await settle(pilot)
        assert "deadline" in screen.table.shown_columns and "description" in screen.table.shown_columns
        assert screen.table.selected_key == str(seeded.tasks["ns_tests"])
        assert any("in 2h" in line for line in table_lines(app, screen.table))


class OneTable(App):
    def compose(self) -> ComposeResult:
        table = LiveTable(id="t")
        table.set_columns([TableColumn("who", "Who", 12), TableColumn("what", "What", flex=True)])
        yield table


async def test_a_live_table_fits_its_columns_to_content_crops_with_an_ellipsis_and_shows_markup_literally():
    app = OneTable()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(LiveTable)
        hostile = "[bold red]not markup[/] " + "x" * 80
        table.sync({"a": (cell("ann"), cell(hostile)), "b": (cell("a-much-longer-name"), cell("short"))})
        await pilot.pause()
        assert table.column_widths["who"] == 12  # its content, at most its width
        assert fills_its_width(table)
        lines = table_lines(app, table)
        assert lines[1].rstrip().endswith("…") and "[bold red]not markup[/]" in lines[1]
        assert "a-much-long… " in lines[2]  # 12 cells
        assert all(row.height == 1 for row in table.rows.values())
        # The widest name goes: the column narrows to what is left.
        table.apply({}, removals=["b"])
        await pilot.pause()
        assert table.column_widths["who"] == 3 and fills_its_width(table)
        await pilot.resize_terminal(100, 10)
        await wait_for(pilot, lambda: fills_its_width(table), what="the refit after a resize")


# -- j/k ---------------------------------------------------------------------------------------------------


async def test_j_and_k_move_the_cursor_on_every_table_screen(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        for key, kind in (("1", MilestonesScreen), ("2", QueueScreen), ("3", AgentsScreen)):
            await pilot.press(key)
            await wait_for(pilot, lambda: isinstance(app.screen, kind), what=kind.__name__)
            await loaded(pilot)
            table = app.screen.table
            table.move_cursor(row=0)
            await pilot.pause()
            await pilot.press("j")
            await wait_for(pilot, lambda: table.cursor_row == 1, what=f"j on {kind.__name__}")
            await pilot.press("j", "k")
            await wait_for(pilot, lambda: table.cursor_row == 1, what=f"k on {kind.__name__}")


async def test_j_and_k_typed_into_the_queues_filter_are_text(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_queue(pilot)
        row = screen.table.cursor_row
        await pilot.press("slash", "j", "k")
        box = screen.query_one("#queue-filter", Input)
        await wait_for(pilot, lambda: box.value == "jk", what="jk in the box")
        assert screen.table.cursor_row == row


async def test_j_and_k_move_the_inbox_and_help_lists_them_for_every_table(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InboxModal), what="the inbox")
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count > 1, what="its items")
        await pilot.press("j")
        await wait_for(pilot, lambda: table.cursor_row == 1, what="j in the inbox")
        await pilot.press("k")
        await wait_for(pilot, lambda: table.cursor_row == 0, what="k in the inbox")
        await pilot.press("escape")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpModal), what="help")
        sections = [static_text(s) for s in app.screen.query(Static)]
        for title, down in (("1 Milestones", "Next milestone"), ("2 Queue", "Next task"),
                            ("3 Agents", "Next agent"), ("4 Memory", "Down"), ("Inbox", "Down")):
            section = next(s for s in sections if s.lstrip().startswith(title))
            assert any(line.split()[:1] == ["j"] and down in line for line in section.splitlines()), title
            assert any(line.split()[:1] == ["k"] for line in section.splitlines()), title


# -- empty screens -----------------------------------------------------------------------------------------


async def empty_db(tmp_path: Path) -> Path:
    path = tmp_path / "empty.db"
    store = await open_store(path, create=True, clock=clock)
    await store.close()
    return path


async def test_empty_screens_say_what_to_do_and_give_way_to_rows_as_they_arrive(tmp_path):
    db = await empty_db(tmp_path)
    app = make_app(db, poll=True, interval=0.1)
    async with app.run_test(size=NARROW) as pilot:
        await loaded(pilot)
        screen = app.screen
        empty = screen.query_one("#milestones-empty", Static)
        text = static_text(empty)
        assert empty.display and "swarmdeck milestone add NAME" in text and "swarmdeck demo" in text
        assert not screen.query_one("#milestones-body").display
        await db_call(db, "add_milestone", "Foundation", objective="x")
        await wait_for(pilot, lambda: screen.table.row_count == 1, tries=300, step=0.05, what="the milestone")
        assert not empty.display and screen.query_one("#milestones-body").display

        queue = await open_queue(pilot)
        message = queue.query_one("#queue-empty", Static)
        text = static_text(message)
        assert message.display and 'swarmdeck task enqueue "DESCRIPTION" --type TYPE' in text
        assert "swarmdeck demo" in text and "n does it here" in text
        await db_call(db, "enqueue_task", description="First task", agent_type="general")
        await wait_for(pilot, lambda: queue.table.row_count == 1, tries=300, step=0.05, what="the task")
        assert not message.display

        agents = await open_agents(pilot)
        body = agents.query_one("#agents-body")
        text = static_text(agents.query_one("#agents-empty", Static))
        assert body.has_class("empty") and agents.query_one("#agents-empty").display
        assert "swarmdeck agent register NAME --type TYPE" in text and "swarmdeck demo" in text
        assert not agents.query_one("#activity").display
        await db_call(db, "register_agent", "builder-1", agent_type="implementation")
        await wait_for(pilot, lambda: agents.table.row_count == 1, tries=300, step=0.05, what="the agent")
        await pilot.pause()
        assert not body.has_class("empty") and not agents.query_one("#agents-empty").display
        assert agents.query_one("#activity").display


async def test_an_empty_queue_says_whether_nothing_exists_or_nothing_matches(seeded, tmp_path):
    app = make_app(await empty_db(tmp_path), read_only=True)
    async with app.run_test(size=NARROW) as pilot:
        screen = await open_queue(pilot)
        text = static_text(screen.query_one("#queue-empty", Static))
        assert text.startswith("No tasks yet.") and "n does it here" not in text  # a seat that only watches

    app = make_app(seeded.path)
    async with app.run_test(size=NARROW) as pilot:
        screen = await open_queue(pilot)
        await pilot.press("slash", "z", "z", "q")
        message = screen.query_one("#queue-empty", Static)
        await wait_for(pilot, lambda: message.display, what="the empty table")
        text = static_text(message)
        assert text.startswith("No task matches “zzq”") and "No tasks yet" not in text


def test_empty_agents_snapshot_80x24(tmp_path, snap_compare):
    db = asyncio.run(empty_db(tmp_path))

    async def run_before(pilot):
        await open_agents(pilot)

    assert snap_compare(make_app(db), terminal_size=NARROW, run_before=run_before)


def test_empty_queue_snapshot_80x24(tmp_path, snap_compare):
    db = asyncio.run(empty_db(tmp_path))
    assert snap_compare(make_app(db), terminal_size=NARROW, run_before=open_queue)


def test_empty_milestones_snapshot_80x24(tmp_path, snap_compare):
    db = asyncio.run(empty_db(tmp_path))
    assert snap_compare(make_app(db), terminal_size=NARROW, run_before=loaded)


class RankedTable(App):
    def compose(self) -> ComposeResult:
        table = LiveTable(id="t")
        table.set_columns([TableColumn("name", "Name", min_width=6), TableColumn("count", "Count", drop=1),
                           TableColumn("kind", "Kind", 20, min_width=6, drop=2),
                           TableColumn("note", "Note", flex=True, min_width=10)])
        yield table


async def test_what_gives_way_goes_by_rank_and_a_name_is_shortened_only_when_nothing_else_can_go():
    app = RankedTable()
    async with app.run_test(size=(80, 10)) as pilot:
        table = app.query_one(LiveTable)
        table.sync({"a": (cell("a-rather-long-name"), cell(12), cell("implementation"), cell("n"))})
        await pilot.pause()
        assert table.shown_columns == ["name", "count", "kind", "note"]  # all fit
        await pilot.resize_terminal(50, 10)  # name 20 + count 7 + kind 16 + note 12 = 55: the kind narrows,
        # to 6, then gets back what is left over (3)
        await wait_for(pilot, lambda: table.column_widths.get("kind") == 9, what="the kind narrowed")
        assert table.shown_columns == ["name", "count", "kind", "note"] and fills_its_width(table)
        await pilot.resize_terminal(40, 10)  # the kind goes (rank 2), then the count (rank 1): the name stays
        await wait_for(pilot, lambda: table.shown_columns == ["name", "count", "note"],
                       what="the kind dropped")
        assert table.column_widths["name"] == 18
        await pilot.resize_terminal(34, 10)
        await wait_for(pilot, lambda: table.shown_columns == ["name", "note"], what="the count dropped")
        assert table.column_widths["name"] == 18 and fills_its_width(table)
        await pilot.resize_terminal(24, 10)  # nothing left to drop: the name is shortened, never below 6
        await wait_for(pilot, lambda: table.column_widths["name"] < 18, what="the name shortened")
        assert table.column_widths["name"] >= 6 and table.column_widths["note"] >= 10
        table.sort_by("count")  # the column sorted by comes back, whatever the room
        await pilot.pause()
        assert "count" in table.shown_columns
