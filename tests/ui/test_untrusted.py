"""Text written by agents is shown as plain text: no markup, links, actions or terminal escapes get through,
and bidi overrides and invisible characters show as visible escapes.

The hostile text goes in the way an agent would put it there: through the real `swarmdeck` CLI (and the
coordination-status bridge), into every text field an agent can write. Then every screen, modal, toast and
dropdown is walked, checking that each payload shows literally and that nothing on screen is a link, an
action, a raw control, bidi or zero-width character.
"""

from __future__ import annotations

import asyncio
import json
import unicodedata
from pathlib import Path

import pytest
from rich.style import Style
from rich.text import Text
from textual.command import CommandPalette
from textual.widgets import OptionList, RichLog, Select, SelectionList, Static

from swarmdeck.app.cli._base import Config
from swarmdeck.app.cli.ui import status_bridge_starter
from swarmdeck.app.modals.cancel import CancelModal
from swarmdeck.app.modals.decision import DecisionModal
from swarmdeck.app.modals.enqueue import EnqueueModal
from swarmdeck.app.modals.error import ErrorModal
from swarmdeck.app.modals.filters import FilterModal
from swarmdeck.app.modals.help import HelpModal
from swarmdeck.app.modals.memory_filters import SearchFilterModal
from swarmdeck.app.modals.plan import PlanModal
from swarmdeck.app.screens.agents import AgentsScreen
from swarmdeck.app.screens.charts import ChartsScreen
from swarmdeck.app.screens.memory import MemoryScreen
from swarmdeck.app.screens.milestones import MilestonesScreen
from swarmdeck.app.screens.queue import QueueScreen
from swarmdeck.widgets.status_bar import StatusBar
from signing_support import close as close_condition, decide, key
from ui_support import (
    cli,
    cli_async,
    copy_db,
    db_act,
    db_call,
    loaded,
    make_app,
    plain,
    region_text,
    screen_segments,
    screen_text,
    settle,
    type_text,
    wait_for,
)

SIZE = (120, 40)
#: Markup (a style, an action, a malformed link), a terminal escape, a bidi override, invisible characters.
PAYLOADS = ("[bold red]x[/]", "[@click=app.quit]q[/]", "[link=http://x]y[/link]", "\x1b[31mred\x1b[0m",
            "\u202eevil\u202c", "zero\u200bwidth\u2060\ufeff\xad")
#: How each payload must appear: as written, every control, bidi and invisible character spelled out.
SHOWN = ("[bold red]x[/]", "[@click=app.quit]q[/]", "[link=http://x]y[/link]", "\\x1b[31mred\\x1b[0m",
         "\\u202eevil\\u202c", "zero\\u200bwidth\\u2060\\ufeff\\xad")
#: Characters that must never reach the terminal raw.
RAW = ("Cc", "Cf", "Cs", "Zl", "Zp")


def evil(label: str) -> str:
    return " ".join((label, *PAYLOADS))


def shown(label: str) -> str:
    return {"agent": AGENT, "bridged": BRIDGED}.get(label) or " ".join((label, *SHOWN))


def ns(label: str) -> str:
    """A hostile namespace: every payload, the link without `//` (a namespace has no empty segment)."""
    return evil(label).replace("http://x", "http:x")


def shown_value(value: str) -> str:
    for payload, literal in zip(PAYLOADS, SHOWN):
        value = value.replace(payload, literal)
    return value


#: The agent's name: the markup payloads, but no control, bidi or invisible character (a name holding
#: one is refused or loses it: store/identity.py), so it is shown exactly as written.
AGENT = " ".join(("agent", *PAYLOADS[:3]))
BRIDGED = " ".join(("bridged", *PAYLOADS[:3]))


def compact(text: str) -> str:
    """Text without whitespace: a payload wrapped over lines still matches."""
    return "".join(text.split())


def assert_shows(text: str, *labels: str) -> None:
    """Each label's hostile text is in ``text``, literally (namespaces: labels ending in `ns`)."""
    for label in labels:
        expected = shown_value(ns(label)) if label.endswith("ns") else shown(label)
        assert compact(expected) in compact(text), f"{label!r} is not shown literally in {text!r}"


def assert_shows_json(text: str, *labels: str) -> None:
    """Each label's hostile text is in ``text`` as a JSON string shows it (JSON spells the escape character
    itself, as \\u001b; the bidi and invisible characters still show as escapes)."""
    for label in labels:
        expected = shown_value(json.dumps(evil(label), ensure_ascii=False))
        assert "\\u001b[31mred" in expected and "\\u202e" in expected
        assert compact(expected) in compact(text), f"{label!r} is not shown as JSON in {text!r}"


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory) -> Path:
    """A swarm whose agents wrote hostile text into every field they can reach."""
    folder = tmp_path_factory.mktemp("hostile")
    db = folder / "swarm.db"
    cli(db, "init")
    cli(db, "milestone", "add", "Gate one", "--criterion", evil("acceptance"), "--objective", evil("objective"),
        "--weeks", evil("weeks"), "--deliverable", evil("deliverable"), "--budget", "1")
    cli(db, "milestone", "add", evil("milestone"), "--objective", evil("objective2"))
    cli(db, "milestone", "add", evil("third"))
    cli(db, "agent", "register", AGENT, "--type", evil("type"), "--colour", "[link=http://x]c[/link]",
        "--model", evil("model"))
    cli(db, "agent", "heartbeat", AGENT, "--status", "working", "--blocker", evil("blocker"),
        "--next-milestone", evil("next"), "--completion", "30")
    cli(db, "agent", "log", AGENT, "--phase", evil("phase"), "--action", evil("action"), "--duration-ms", "5",
        "--failed", "--error", evil("actionerror"))
    # Task 1: enqueued under a hostile actor name, claimed, failed (and so queued again).
    cli(db, "--actor", evil("actor"), "task", "enqueue", evil("desc"), "--type", evil("type"), "--milestone", "1",
        "--summary", evil("tasksummary"), "--input", json.dumps({evil("inkey"): evil("input")}),
        "--session", evil("tasksession"))
    cli(db, "task", "claim", "--agent", AGENT)
    cli(db, "task", "fail", "1", "--agent", AGENT, "--error", evil("error"))
    # Task 2: done, with a result; task 3: cancelled, with a reason.
    cli(db, "task", "enqueue", evil("done"), "--type", evil("type"), "--milestone", "1", "--priority", "9")
    cli(db, "task", "claim", "--agent", AGENT)
    cli(db, "task", "complete", "2", "--agent", AGENT, "--result", json.dumps({"r": evil("result")}))
    cli(db, "task", "enqueue", evil("gone"), "--type", evil("type"))
    cli(db, "task", "cancel", "3", "--reason", evil("reason"))
    report = {
        "summary": evil("summary"),
        "criteria": [{"name": evil("crit"), "status": "met", "evidence": evil("evidence")}],
        "metrics": [{"name": evil("metric"), "value": 1, "target": 2, "comparator": "<=", "unit": "ms"}],
        "issues": [{"severity": "high", "description": evil("issue")}],
        "recommendations": [evil("rec")],
        "proposed_decision": "APPROVE",
        "next_milestone_context": evil("nextcontext"),
    }
    (folder / "r1.json").write_text(json.dumps(report))
    cli(db, "gate", "submit", "1", "--by", AGENT, "--file", folder / "r1.json")
    # A command attached as evidence for the (not reported) acceptance criterion.
    cli(db, "gate", "evidence", "1", "--criterion", "1", "--by", AGENT, "--command", evil("command"),
        "--exit-code", "1", "--digest", "ab" * 32)
    # People decide (alice is the test apps' reviewer), at their own seats.
    for name in ("alice", "carol"):
        asyncio.run(db_call(db, "add_reviewer", name, by="alice", public_key=key(name)))
    asyncio.run(db_act(db, decide, 1, decision="CONDITIONAL", rationale=evil("rationale"),
                       reviewer="carol", conditions=[evil("condition"), evil("closed")],
                       accept_unmet=[evil("acceptance")]))
    asyncio.run(db_act(db, close_condition, 2, closed_by="carol", note=evil("note")))
    (folder / "r2.json").write_text(json.dumps({"summary": "second", "proposed_decision": "REVISE"}))
    cli(db, "gate", "submit", "2", "--by", AGENT, "--file", folder / "r2.json")
    # Task 4 belongs to the agent-named milestone, and the agent is working on it.
    cli(db, "task", "enqueue", evil("later"), "--type", evil("type"), "--milestone", "2", "--priority", "10")
    assert json.loads(cli(db, "--json", "task", "claim", "--agent", AGENT).stdout)["id"] == 4
    # Memory: an entry, learning records, a document, a session.
    cli(db, "session", "create", "--agent", AGENT, "--id", evil("session"), "--state",
        json.dumps({"s": evil("state")}))
    cli(db, "session", "event", evil("session"), "--kind", evil("kind"), "--payload", json.dumps({"p": evil("p")}))
    cli(db, "memory", "add", ns("memns"), evil("memkey"), evil("memvalue"), "--by", AGENT,
        "--meta", json.dumps({"m": evil("meta")}), "--session", evil("session"), "--task", "1")
    cli(db, "memory", "update", ns("memns"), evil("memkey"), evil("memvalue2"), "--by", AGENT)
    cli(db, "failure", "log", "--feature", evil("feature"), "--approach", evil("approach"), "--why", evil("why"),
        "--lesson", evil("lesson"), "--error", evil("failerror"), "--namespace", ns("recordns"),
        "--agent", AGENT, "--task", "1", "--milestone", "1", "--session", evil("session"))
    cli(db, "decision", "log", "--decision", evil("decided"), "--rationale", evil("because"),
        "--alternatives", evil("alternative"), "--consequences", evil("consequence"), "--status", evil("status"),
        "--agent", AGENT)
    cli(db, "document", "index", "-", "--as", evil("docname"), "--namespace", ns("docns"),
        input=evil("docbody") + "\n")
    return db


# -- what every check shares ------------------------------------------------------------------------------


def raw_characters(text: str) -> set[str]:
    return {ch for ch in text if unicodedata.category(ch) in RAW}


def assert_inert(app, *, literal: bool = True) -> str:
    """Nothing on screen is a link or an action, no control/bidi/invisible character reached the terminal,
    and (with ``literal``) every payload is on screen as written. Returns the screen text."""
    for line in screen_segments(app):
        for segment in line:
            assert not raw_characters(segment.text), f"a raw character reached the screen: {segment.text!r}"
            style = segment.style or Style()
            assert not style.link, f"a link reached the screen: {segment!r}"
            assert "@click" not in style.meta, f"an action reached the screen: {segment!r}"
    text = screen_text(app)
    if literal:
        for fragment in SHOWN:
            assert fragment in text, f"{fragment!r} is not shown literally"
    assert app.is_running and app.return_code is None
    return text


def assert_plain_cell(cell: object, label: str) -> None:
    assert isinstance(cell, Text)
    assert cell.plain == shown(label)
    assert not cell.spans, cell.spans  # nothing was parsed into styles
    style = cell.style if isinstance(cell.style, Style) else Style.parse(cell.style or "none")
    assert not style.link and not style.meta


def content_of(widget) -> str:
    """Everything a Static holds, unwrapped."""
    return plain(widget.content, width=1000)


def statics(screen) -> str:
    return "\n".join(content_of(s) for s in screen.query(Static))


def toasts(app) -> list[str]:
    return [toast.render().plain for toast in app.screen.query("Toast")]


async def click_text(pilot, text: str, region=None, at: int = 0) -> None:
    """Click the ``at``-th character of the first ``text`` on screen (or in ``region``)."""
    app = pilot.app
    region = region or app.screen.region
    for y, line in enumerate(region_text(app, region), start=region.y):
        x = line.find(text)
        if x >= 0:
            await pilot.click(offset=(region.x + x + at, y))
            await settle(pilot)
            return
    raise AssertionError(f"{text!r} is not on screen")


async def click_the_action(pilot, region=None) -> None:
    """Click on the `q` of `[@click=app.quit]q[/]` (the first on screen, or in ``region``): had the markup
    been parsed, that would quit."""
    await click_text(pilot, "[@click=app.quit]q[/]", region, at=len("[@click=app.quit]"))
    assert pilot.app.is_running and pilot.app.return_code is None


def rows_cells(table) -> dict[str, list[object]]:
    """Row key -> the cell objects themselves (to check their styles, not only their text): every
    column, also those a narrow terminal hides."""
    keys = [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]
    return {key: list(table.cells_of(key)) for key in keys}


async def open_dropdown(pilot, select: Select, *, agent_text: bool = True) -> str:
    """Open a Select's list, check it is inert, and return the text its options show. Options that
    hold ``agent_text`` must be Text, never a str (which Textual parses as markup)."""
    select.focus()
    await pilot.pause()
    await pilot.press("enter")
    await wait_for(pilot, lambda: select.expanded, what="the dropdown to open")
    await pilot.pause()
    overlay = select.query_one(OptionList)
    for option in overlay.options:
        prompt = option.prompt
        assert not (agent_text and isinstance(prompt, str)), f"an option is a str Textual parses as markup: {prompt!r}"
        assert not raw_characters(getattr(prompt, "plain", "")), prompt
    assert_inert(pilot.app, literal=False)
    return "\n".join(region_text(pilot.app, overlay.content_region))


async def choose(pilot, select: Select, label: str) -> None:
    """Open the dropdown, click the hostile option on its `[@click=app.quit]` text; nothing but a choice happens."""
    options = await open_dropdown(pilot, select)
    assert_shows(options, label)
    await click_the_action(pilot, select.query_one(OptionList).content_region)
    await wait_for(pilot, lambda: not select.expanded, what="the dropdown to close")
    assert_shows(plain(select.query_one("#label", Static).content, width=1000), label)
    assert_inert(pilot.app, literal=False)


async def switch(pilot, key: str, screen_type: type) -> None:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen_type), what=screen_type.__name__)
    await loaded(pilot)


async def modal(pilot, key: str, modal_type: type) -> None:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, modal_type), what=modal_type.__name__)
    await settle(pilot)


async def close(pilot, back_to: type, key: str = "escape") -> None:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, back_to), what=f"back to {back_to.__name__}")


# -- screen 1: milestones, gates and the decision ------------------------------------------------------------


async def test_milestones_gates_and_the_decision_modal_show_agent_text_plainly(hostile_db):
    app = make_app(hostile_db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert isinstance(app.screen, MilestonesScreen)
        # The milestone in review (named by an agent) is selected first.
        cells = rows_cells(app.screen.table)
        assert_plain_cell(cells["2"][1], "milestone")
        assert_plain_cell(cells["1"][3], "weeks")
        panel = content_of(app.screen.query_one("#gate-panel"))
        assert_shows(panel, "milestone", "objective2", "agent")
        assert f"Approving opens {shown('third')}" in panel
        assert_inert(app)

        await modal(pilot, "d", DecisionModal)
        modal_text = statics(app.screen)
        assert_shows(modal_text, "milestone", "agent")
        await pilot.click("#decision RadioButton")  # APPROVE: the consequence names the next milestone
        await wait_for(pilot, lambda: shown("third") in content_of(app.screen.query_one("#consequence")),
                       what="the consequence of approving")
        assert f"submitted by {shown('agent')}" in modal_text
        assert_inert(app)
        await close(pilot, MilestonesScreen)

        await pilot.press("up")
        await wait_for(pilot, lambda: "Gate one" in content_of(app.screen.query_one("#gate-panel")))
        await settle(pilot)
        panel = content_of(app.screen.query_one("#gate-panel"))
        assert_shows(panel, "objective", "summary", "crit", "evidence", "metric", "issue", "rec", "rationale",
                     "condition", "closed", "note", "agent", "acceptance", "nextcontext", "command")
        assert "not reported" in panel and "accepted unmet:" in panel
        assert_shows(content_of(app.screen.query_one("#milestone-objective")), "acceptance")
        assert_inert(app)
        await click_the_action(pilot)


async def test_the_inbox_shows_what_agents_named_plainly(hostile_db):
    """The attention inbox quotes the milestone and agent an item is about, as agents wrote them."""
    from textual.widgets import DataTable

    from swarmdeck.app.modals.inbox import InboxModal

    app = make_app(hostile_db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await modal(pilot, "i", InboxModal)
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count > 0, what="the inbox's items")
        await settle(pilot)
        titles = " ".join(str(table.get_row_at(i)[2]) for i in range(table.row_count))
        assert_shows(titles, "milestone", "agent")
        assert_inert(app)


async def test_an_escalation_naming_an_agents_milestone_stays_plain_in_the_status_bar(hostile_db, tmp_path):
    db = copy_db(hostile_db, tmp_path)
    await db_act(db, decide, 2, decision="ESCALATE", rationale=evil("escalated"), reviewer="carol")
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        bar = plain(app.screen.query_one(StatusBar).render(), width=1000)
        assert "SWARM PAUSED" in bar and compact(shown("milestone")) in compact(bar)
        assert_inert(app, literal=False)
        await click_the_action(pilot)


# -- screen 2: the queue, its filters and its modals -------------------------------------------------------


async def test_the_queue_its_detail_and_its_modals_show_agent_text_plainly(hostile_db):
    app = make_app(hostile_db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await switch(pilot, "2", QueueScreen)
        cells = rows_cells(app.screen.table)["1"]
        for index, label in ((3, "type"), (8, "desc")):
            assert_plain_cell(cells[index], label)
        for index, label in ((4, "agent"), (5, "milestone"), (8, "later")):
            assert_plain_cell(rows_cells(app.screen.table)["4"][index], label)
        app.screen.table.move_cursor(row=app.screen.table.get_row_index("1"))
        await wait_for(pilot, lambda: "Task 1" in content_of(app.screen.query_one("#task-detail-body")))
        await settle(pilot)
        detail = content_of(app.screen.query_one("#task-detail-body"))
        facts = content_of(app.screen.query_one("#task-detail-facts"))
        assert_shows(detail, "desc", "tasksummary")
        assert f"Last error: {shown('error')}" in detail
        assert_shows(facts, "agent", "type", "actor", "error")
        assert_shows_json(facts, "inkey", "input")
        assert_inert(app)
        await click_the_action(pilot)

        app.screen.table.move_cursor(row=app.screen.table.get_row_index("4"))
        await wait_for(pilot, lambda: "Task 4" in content_of(app.screen.query_one("#task-detail-body")))
        await settle(pilot)
        assert_shows(content_of(app.screen.query_one("#task-detail-facts")), "milestone", "agent")
        assert_inert(app, literal=False)
        app.screen.table.move_cursor(row=app.screen.table.get_row_index("1"))
        await wait_for(pilot, lambda: "Task 1" in content_of(app.screen.query_one("#task-detail-body")))
        await settle(pilot)

        # The cancel preview shows the description too (a dry run: nothing is written).
        before = await db_call(hostile_db, "latest_event_id")
        await modal(pilot, "c", CancelModal)
        assert_shows(statics(app.screen), "desc")
        assert_inert(app)
        await close(pilot, QueueScreen)
        assert await db_call(hostile_db, "latest_event_id") == before

        await modal(pilot, "e", PlanModal)
        assert_shows(statics(app.screen), "desc")
        assert_inert(app)
        await close(pilot, QueueScreen)

        # The enqueue form offers the milestones by name: the agent's name is an option, literally.
        await modal(pilot, "n", EnqueueModal)
        await choose(pilot, app.screen.query_one("#e-milestone", Select), "milestone")
        await close(pilot, QueueScreen)
        assert await db_call(hostile_db, "latest_event_id") == before


async def test_the_queue_filter_dropdowns_show_agent_types_and_milestone_names_literally(hostile_db):
    """On a read-only seat, where an action run from an option once quit the app; a malformed link crashed it."""
    app = make_app(hostile_db, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await switch(pilot, "2", QueueScreen)
        await modal(pilot, "f", FilterModal)
        assert_inert(app, literal=False)
        await choose(pilot, app.screen.query_one("#f-type", Select), "type")
        await choose(pilot, app.screen.query_one("#f-milestone", Select), "milestone")
        statuses = app.screen.query_one(SelectionList)
        statuses.select("completed")
        statuses.select("cancelled")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), what="the filters to apply")
        await wait_for(pilot, lambda: set(rows_cells(app.screen.table)) == {"4"}, what="the filtered rows")
        await settle(pilot)
        summary = content_of(app.screen.query_one("#queue-summary"))
        assert f"type {shown('type')}" in summary
        assert_inert(app, literal=False)

        # Reopened, the dropdowns show the chosen agent text literally, as their current value.
        await modal(pilot, "f", FilterModal)
        for selector in ("#f-type", "#f-milestone"):
            label = content_of(app.screen.query_one(selector).query_one("#label", Static))
            assert_shows(label, "type" if selector == "#f-type" else "milestone")
        assert_inert(app, literal=False)
        await click_the_action(pilot)
        app.screen.query_one("#f-milestone", Select).clear()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), what="the filters to apply")
        await wait_for(pilot, lambda: set(rows_cells(app.screen.table)) == {"1", "2", "3", "4"},
                       what="every task of the agent's type")

        # The finished tasks' detail: a result, and a cancellation reason in the history, plainly.
        for task, label in (("2", "result"), ("3", "reason")):
            app.screen.table.move_cursor(row=app.screen.table.get_row_index(task))
            await wait_for(pilot, lambda: f"Task {task}" in content_of(app.screen.query_one("#task-detail-body")))
            await settle(pilot)
            facts = content_of(app.screen.query_one("#task-detail-facts"))
            assert_shows_json(facts, label) if label == "result" else assert_shows(facts, label)
            assert_inert(app, literal=False)


async def test_a_malformed_link_or_an_action_in_a_dropdown_neither_crashes_nor_runs(tmp_path):
    """Markup alone (no escapes): a malformed `[link=...]` option once crashed the dashboard, and
    `[@click=app.quit]` in an option quit a read-only seat when clicked."""
    db = tmp_path / "swarm.db"
    cli(db, "init")
    cli(db, "milestone", "add", "[link=https://x]")
    cli(db, "task", "enqueue", "one", "--type", "[link=https://x]", "--milestone", "1")
    cli(db, "task", "enqueue", "two", "--type", "[@click=app.quit]q[/]")
    app = make_app(db, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await switch(pilot, "2", QueueScreen)
        await modal(pilot, "f", FilterModal)
        types = await open_dropdown(pilot, app.screen.query_one("#f-type", Select))
        assert "[link=https://x]" in types and "[@click=app.quit]q[/]" in types
        await click_the_action(pilot, app.screen.query_one("#f-type").query_one(OptionList).content_region)
        await wait_for(pilot, lambda: app.screen.query_one("#f-type", Select).value == "[@click=app.quit]q[/]")
        milestones = app.screen.query_one("#f-milestone", Select)
        assert "[link=https://x]" in await open_dropdown(pilot, milestones)
        await click_text(pilot, "[link=https://x]", milestones.query_one(OptionList).content_region)
        await wait_for(pilot, lambda: milestones.value == 1, what="the milestone chosen")
        await settle(pilot)
        assert_inert(app, literal=False)


# -- screen 3: agents and their activity -----------------------------------------------------------------------


async def test_agents_show_names_types_blockers_and_activity_plainly(hostile_db):
    app = make_app(hostile_db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await switch(pilot, "3", AgentsScreen)
        [(key, cells)] = rows_cells(app.screen.table).items()
        assert key == AGENT
        assert cells[0].style == "dim"  # a hostile colour is no style
        for index, label in ((1, "agent"), (8, "type"), (9, "next"), (10, "blocker")):
            assert_plain_cell(cells[index], label)
        title = app.screen.query_one("#activity-title")
        await wait_for(pilot, lambda: shown("agent") in content_of(title), what="the activity")
        await settle(pilot)

        def log() -> str:
            return "\n".join(line.text for line in app.screen.query_one("#activity", RichLog).lines)

        assert "task.retried" in log() and "\x1b" not in log()
        assert_shows(log(), "phase", "action", "actionerror", "error")
        assert_inert(app, literal=False)  # rows and log lines are cropped at the edge; their text is checked above
        await click_the_action(pilot)

        await pilot.press("a")  # heartbeats too: their payload quotes blockers and the next milestone
        await wait_for(pilot, lambda: "agent.heartbeat" in log(), what="the heartbeats")
        assert_shows(log(), "blocker", "next")
        assert_inert(app, literal=False)


# -- screen 4: memory search and its filters --------------------------------------------------------------


async def search(pilot, query: str) -> str:
    screen = pilot.app.screen
    box = screen.query_one("#memory-query")
    box.value = ""
    box.focus()
    await type_text(pilot, query)
    await wait_for(pilot, lambda: screen.results_for == query and screen.hits, what=f"results for {query!r}")
    await settle(pilot)
    results = screen.query_one("#memory-results", OptionList)
    for option in results.options:
        assert not isinstance(option.prompt, str)
    await wait_for(pilot, lambda: screen.preview_text, what="the preview")
    await settle(pilot)
    return content_of(screen.query_one("#memory-preview-body"))


async def test_memory_results_and_previews_show_agent_text_plainly(hostile_db):
    app = make_app(hostile_db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await switch(pilot, "4", MemoryScreen)
        screen = app.screen

        preview = await search(pilot, "memvalue2")
        assert_shows(preview, "memns", "memkey", "memvalue2", "agent")
        assert_shows_json(preview, "meta")
        results = "\n".join(plain(o.prompt, width=1000) for o in screen.query_one(OptionList).options)
        assert_shows(results, "memns")
        assert_inert(app)
        await click_the_action(pilot)

        preview = await search(pilot, "lesson")
        assert_shows(preview, "feature", "approach", "why", "lesson", "failerror", "recordns", "agent")
        assert_inert(app)

        preview = await search(pilot, "because")
        assert_shows(preview, "decided", "because", "alternative", "consequence", "status")
        assert_inert(app)

        preview = await search(pilot, "docbody")
        assert_shows(preview, "docname", "docns", "docbody")
        assert_inert(app)

        await pilot.press("enter")  # from the search box to the results, where f opens the filters
        await modal(pilot, "f", SearchFilterModal)
        for selector in ("#sf-type", "#sf-range"):
            await open_dropdown(pilot, app.screen.query_one(selector, Select), agent_text=False)  # swarmdeck's own
            await pilot.press("escape")
        assert_inert(app, literal=False)
        await close(pilot, MemoryScreen)


# -- screen 5: charts ------------------------------------------------------------------------------------------


async def test_charts_and_their_filters_show_agent_names_plainly(hostile_db):
    app = make_app(hostile_db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await switch(pilot, "5", ChartsScreen)
        screen = app.screen
        await wait_for(pilot, lambda: screen.charts is not None, what="the charts")
        assert_inert(app, literal=False)

        def header() -> str:
            return content_of(screen.query_one("#charts-header"))

        await pilot.press("t", "t", "t", "t")  # everything, so the completed task and the review count
        for _ in range(3):  # step to the agent-named milestone
            if shown("milestone") in header():
                break
            await pilot.press("m")
            await settle(pilot)
        assert shown("milestone") in header()
        await pilot.press("a")
        await wait_for(pilot, lambda: shown("type") in header(), what="the agent-type filter")
        await settle(pilot)
        assert_inert(app, literal=False)


# -- the modals with no agent text of their own, toasts and the error modal ---------------------------------


async def test_help_the_palette_and_an_unexpected_error_quoting_agent_text_stay_plain(hostile_db):
    app = make_app(hostile_db)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        # Every toast is plain text, Textual's own reminder of how to quit (ctrl+c) too: worded without markup.
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: any("to quit the app" in t for t in toasts(app)), what="the reminder")
        assert any(t.endswith("Press ctrl+q to quit the app") for t in toasts(app)), toasts(app)
        await modal(pilot, "question_mark", HelpModal)
        assert_inert(app, literal=False)
        await close(pilot, MilestonesScreen)

        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
        await type_text(pilot, "queue")
        await settle(pilot)
        assert_inert(app, literal=False)
        await close(pilot, MilestonesScreen)

        async def boom() -> None:
            raise RuntimeError(evil("boom"))

        app.run_worker(boom(), exit_on_error=False)
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), what="the error modal")
        await settle(pilot)
        assert_shows(statics(app.screen), "boom")
        assert_inert(app)
        await click_the_action(pilot)


async def test_messages_about_agent_named_things_stay_plain(hostile_db, tmp_path):
    """The decision's consequence and the notifications quote the milestone's name: plainly too."""
    db = copy_db(hostile_db, tmp_path)
    app = make_app(db)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        await modal(pilot, "d", DecisionModal)
        dialog = app.screen
        assert dialog.decision.value == "REVISE"
        assert f"What happens: {shown('milestone')} returns to work" in content_of(dialog.query_one("#consequence"))
        assert_inert(app)
        await type_text(pilot, "again")
        # The agent submits a new version while the reviewer reads: the decision is refused, naming it.
        await cli_async(db, "gate", "submit", "2", "--by", AGENT, "--summary", "third")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("changed since it was read" in t for t in toasts(app)), what="the refusal")
        await settle(pilot)
        assert_shows("\n".join(toasts(app)), "milestone")
        assert_inert(app, literal=False)
        assert (await db_call(db, "gate_status", 2)).decisions == ()
        # The dialog stays on a refusal, with the rationale as typed: step back to read the new version.
        await close(pilot, MilestonesScreen)

        # Read again (version 2 proposes nothing, so the modal starts on APPROVE), decide, and be told so.
        await modal(pilot, "d", DecisionModal)
        await type_text(pilot, "again")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("APPROVE recorded for" in t for t in toasts(app)), what="the confirmation")
        await settle(pilot)
        assert_shows("\n".join(toasts(app)), "milestone")
        assert_inert(app, literal=False)
        await click_the_action(pilot)
        assert [d.decision.value for d in (await db_call(db, "gate_status", 2)).decisions] == ["APPROVE"]


async def test_status_bridge_toasts_and_what_it_mirrors_stay_plain(hostile_db, tmp_path):
    """`--watch-status`: the bridge's reports quote the file's agent names and words in toasts."""
    db = copy_db(hostile_db, tmp_path)
    path = tmp_path / "coordination_status.json"
    path.write_text(json.dumps({
        "phase": evil("bphase"),
        "agents": {BRIDGED: {"status": evil("bstatus"), "agent_type": evil("btype"), "completion": 10,
                             "blockers": [evil("bblocker")], "next_milestone": evil("bnext"),
                             "current_task": evil("bcurrent")}},
        "quality_gates": {evil("bgate"): evil("bgatestatus")},
        "critical_issues": [evil("bissue")],
    }))
    app = make_app(db, poll=True, interval=0.1, on_ready=status_bridge_starter(Config(db=db), path, 0.05))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: any("is not one swarmdeck knows" in t for t in toasts(app)),
                       what="the unknown-status warning")
        await settle(pilot)
        warning = next(t for t in toasts(app) if "is not one swarmdeck knows" in t)
        assert_shows(warning, "bridged", "bstatus")
        assert_inert(app, literal=False)
        await click_the_action(pilot)

        await switch(pilot, "3", AgentsScreen)
        await wait_for(pilot, lambda: BRIDGED in rows_cells(app.screen.table), what="the bridged agent")
        cells = rows_cells(app.screen.table)[BRIDGED]
        for index, label in ((1, "bridged"), (8, "btype"), (9, "bnext"), (10, "bblocker")):
            assert_plain_cell(cells[index], label)
        app.screen.table.move_cursor(row=app.screen.table.get_row_index(BRIDGED))
        log = app.screen.query_one("#activity", RichLog)
        await wait_for(pilot, lambda: "bcurrent" in "\n".join(line.text for line in log.lines), what="the activity")
        assert_shows("\n".join(line.text for line in log.lines), "bcurrent")
        assert_inert(app, literal=False)

        # A version that is refused quotes the agent's name in its reason: still plain.
        path.write_text(json.dumps({"agents": {evil("broken"): 5}}))
        await wait_for(pilot, lambda: any("skipped" in t for t in toasts(app)), what="the skip report")
        await settle(pilot)
        assert_shows(next(t for t in toasts(app) if "skipped" in t), "broken")
        assert_inert(app, literal=False)

        # What the bridge keeps as memory (phase, quality gates, critical issues) reads plainly too.
        await switch(pilot, "4", MemoryScreen)
        assert_shows_json(await search(pilot, "bissue"), "bissue")
        assert_inert(app, literal=False)
