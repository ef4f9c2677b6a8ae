"""Text written by agents is shown as plain text: no markup, links, actions or terminal escapes get through.

The hostile text goes in the way an agent would put it there: through the real `swarmdeck` CLI.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from rich.style import Style
from rich.text import Text
from textual.widgets import RichLog, Static

from swarmdeck.app.modals.cancel import CancelModal
from swarmdeck.app.modals.decision import DecisionModal
from swarmdeck.app.screens.agents import AgentsScreen
from swarmdeck.app.screens.milestones import MilestonesScreen
from swarmdeck.app.screens.queue import QueueScreen
from signing_support import decide, key
from ui_support import (
    cli,
    cli_async,
    db_act,
    db_call,
    loaded,
    make_app,
    plain,
    screen_segments,
    screen_text,
    settle,
    type_text,
    wait_for,
)

SIZE = (120, 40)
PAYLOADS = ("[bold red]x[/]", "[@click=app.quit]q[/]", "[link=http://x]y[/link]", "\x1b[31mred\x1b[0m")
#: How each payload must appear: as written, the escape character spelled out.
SHOWN = ("[bold red]x[/]", "[@click=app.quit]q[/]", "[link=http://x]y[/link]", "\\x1b[31mred\\x1b[0m")


#: The agent's name: the markup payloads, but no control character (a name holding one is refused:
#: store/identity.py), so it is shown exactly as written.
AGENT = " ".join(("agent", *PAYLOADS[:3]))


def evil(label: str) -> str:
    return " ".join((label, *PAYLOADS))


def shown(label: str) -> str:
    return AGENT if label == "agent" else " ".join((label, *SHOWN))


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory) -> Path:
    """A swarm whose agents wrote hostile text into every field they can reach."""
    folder = tmp_path_factory.mktemp("hostile")
    db = folder / "swarm.db"
    cli(db, "init")
    cli(db, "milestone", "add", "Gate one", "--criterion", evil("acceptance"))
    cli(db, "milestone", "add", evil("milestone"))
    cli(db, "agent", "register", AGENT, "--type", "research")
    cli(db, "agent", "heartbeat", AGENT, "--status", "working", "--blocker", evil("blocker"))
    cli(db, "agent", "log", AGENT, "--phase", PAYLOADS[3], "--action", "escape")  # short: on screen whole
    cli(db, "task", "enqueue", evil("desc"), "--type", "research", "--milestone", "1")
    cli(db, "task", "claim", "--agent", AGENT)
    cli(db, "task", "fail", "1", "--agent", AGENT, "--error", evil("error"))
    report = {
        "summary": evil("summary"),
        "criteria": [{"name": evil("crit"), "status": "met", "evidence": evil("evidence")}],
        "metrics": [{"name": evil("metric"), "value": 1, "target": 2, "comparator": "<=", "unit": "ms"}],
        "issues": [{"severity": "high", "description": evil("issue")}],
        "recommendations": [evil("rec")],
        "proposed_decision": "APPROVE",
    }
    (folder / "r1.json").write_text(json.dumps(report))
    cli(db, "gate", "submit", "1", "--by", AGENT, "--file", folder / "r1.json")
    # People decide (alice is the test apps' reviewer), at their own seats.
    for name in ("alice", "carol"):
        asyncio.run(db_call(db, "add_reviewer", name, by="alice", public_key=key(name)))
    asyncio.run(db_act(db, decide, 1, decision="CONDITIONAL", rationale=evil("rationale"),
                       reviewer="carol", conditions=[evil("condition")]))
    (folder / "r2.json").write_text(json.dumps({"summary": "second", "proposed_decision": "REVISE"}))
    cli(db, "gate", "submit", "2", "--by", AGENT, "--file", folder / "r2.json")
    return db


def assert_inert(app) -> str:
    """Nothing on screen is a link or an action, no escape reached the terminal; returns the screen text."""
    for line in screen_segments(app):
        for segment in line:
            assert "\x1b" not in segment.text and "\x9b" not in segment.text, repr(segment.text)
            style = segment.style or Style()
            assert not style.link, f"a link reached the screen: {segment!r}"
            assert "@click" not in style.meta, f"an action reached the screen: {segment!r}"
    text = screen_text(app)
    for fragment in SHOWN:
        assert fragment in text, f"{fragment!r} is not shown literally"
    assert app.is_running
    return text


def assert_plain_cell(cell: object, label: str) -> None:
    assert isinstance(cell, Text)
    assert cell.plain == shown(label)
    assert not cell.spans, cell.spans  # nothing was parsed into styles
    style = cell.style if isinstance(cell.style, Style) else Style.parse(cell.style or "none")
    assert not style.link and not style.meta


async def click_the_action(pilot) -> None:
    """Click on the `q` of `[@click=app.quit]q[/]`: had the markup been parsed, that would quit."""
    for y, line in enumerate(screen_text(pilot.app).splitlines()):
        x = line.find("[@click=app.quit]q[/]")
        if x >= 0:
            await pilot.click(offset=(x + len("[@click=app.quit]"), y))
            await settle(pilot)
            assert pilot.app.is_running and pilot.app.return_code is None
            return
    raise AssertionError("the action text is not on screen")


async def test_milestones_and_the_decision_modal_show_agent_text_plainly(hostile_db):
    app = make_app(hostile_db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert isinstance(app.screen, MilestonesScreen)
        # The milestone in review (named by an agent) is selected first.
        assert_plain_cell(rows_cells(app.screen.table)["2"][1], "milestone")
        panel = plain(app.screen.query_one("#gate-panel").content, width=400)
        assert shown("milestone") in panel and shown("agent") in panel
        assert_inert(app)

        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DecisionModal), what="the decision modal")
        modal_text = "\n".join(plain(s.content, width=400) for s in app.screen.query(Static))
        assert shown("milestone") in modal_text and f"submitted by {shown('agent')}" in modal_text
        assert_inert(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MilestonesScreen))

        await pilot.press("up")
        await wait_for(pilot, lambda: "Gate one" in plain(app.screen.query_one("#gate-panel").content))
        await settle(pilot)
        panel = plain(app.screen.query_one("#gate-panel").content, width=400)
        for label in ("summary", "crit", "evidence", "metric", "issue", "rec", "rationale", "condition", "agent"):
            assert shown(label) in panel, label
        assert shown("acceptance") in plain(app.screen.query_one("#milestone-objective").content, width=400)
        assert_inert(app)
        await click_the_action(pilot)


async def test_the_queue_shows_descriptions_and_errors_plainly(hostile_db):
    app = make_app(hostile_db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen))
        await loaded(pilot)
        cells = rows_cells(app.screen.table)["1"]
        assert_plain_cell(cells[8], "desc")
        detail = (plain(app.screen.query_one("#task-detail-body").content, width=400)
                  + plain(app.screen.query_one("#task-detail-facts").content, width=400))
        assert shown("desc") in detail and f"Last error: {shown('error')}" in detail
        assert_inert(app)
        await click_the_action(pilot)

        # The cancel preview shows the description too (a dry run: nothing is written).
        before = await db_call(hostile_db, "latest_event_id")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CancelModal), what="the cancel preview")
        assert shown("desc") in "\n".join(plain(s.content, width=400) for s in app.screen.query(Static))
        assert_inert(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen))
        assert await db_call(hostile_db, "latest_event_id") == before


async def test_agents_show_names_blockers_and_activity_plainly(hostile_db):
    app = make_app(hostile_db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, AgentsScreen))
        await loaded(pilot)
        [(key, cells)] = rows_cells(app.screen.table).items()
        assert key == AGENT
        assert_plain_cell(cells[1], "agent")
        assert_plain_cell(cells[9], "blocker")
        title = app.screen.query_one("#activity-title")
        await wait_for(pilot, lambda: shown("agent") in plain(title.content, width=400), what="the activity")
        await settle(pilot)
        log = "\n".join(line.text for line in app.screen.query_one("#activity", RichLog).lines)
        assert "task.retried" in log and "\\x1b[31mred" in log and "\x1b" not in log
        assert_inert(app)
        await click_the_action(pilot)


def rows_cells(table) -> dict[str, list[object]]:
    """Row key -> the cell objects themselves (to check their styles, not only their text)."""
    return {table.coordinate_to_cell_key((i, 0)).row_key.value: list(table.get_row_at(i))
            for i in range(table.row_count)}


async def test_messages_about_agent_named_things_stay_plain(hostile_db, tmp_path):
    """The decision's consequence and the notifications quote the milestone's name: plainly too."""
    db = tmp_path / "swarm.db"
    for suffix in ("", "-wal", "-shm"):  # a copy of its own: this test writes
        source = hostile_db.with_name(hostile_db.name + suffix)
        if source.exists():
            shutil.copy(source, db.with_name(db.name + suffix))
    app = make_app(db)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DecisionModal), what="the decision modal")
        modal = app.screen
        assert modal.decision.value == "REVISE"
        assert f"What happens: {shown('milestone')} returns to work" in plain(modal.query_one("#consequence").content,
                                                                              width=400)
        assert_inert(app)
        await type_text(pilot, "again")
        # The agent submits a new version while the reviewer reads: the decision is refused, naming it.
        await cli_async(db, "gate", "submit", "2", "--by", AGENT, "--summary", "third")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "changed since it was read" in screen_text(app), what="the refusal")
        await settle(pilot)
        assert_inert(app)
        assert (await db_call(db, "gate_status", 2)).decisions == ()

        # Read again (version 2 proposes nothing, so the modal starts on APPROVE), decide, and be told so.
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DecisionModal), what="the decision modal")
        await type_text(pilot, "again")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "APPROVE recorded for" in screen_text(app), what="the confirmation")
        await settle(pilot)
        assert_inert(app)
        assert [d.decision.value for d in (await db_call(db, "gate_status", 2)).decisions] == ["APPROVE"]
