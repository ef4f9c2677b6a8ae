"""Every key binding has a stable id, unique in its scope, and a keymap rebinds keys by id."""

from __future__ import annotations

from collections import Counter

from swarmdeck.app.keymap import binding_ids, binding_scopes, keys_of
from swarmdeck.app.modals.help import HelpModal
from swarmdeck.app.screens.queue import QueueScreen
from swarmdeck.app.tui import SwarmdeckApp
from ui_support import loaded, make_app, screen_text, settle, wait_for

SIZE = (120, 40)


def test_every_binding_of_the_app_its_screens_and_its_modals_has_an_id_unique_in_its_scope() -> None:
    scopes = dict(binding_scopes())
    names = {cls.__name__ for cls in scopes}
    # the walk finds them all: the app, every screen, every modal
    assert {"SwarmdeckApp", "MilestonesScreen", "QueueScreen", "AgentsScreen", "MemoryScreen", "ChartsScreen",
            "HelpModal", "DecisionModal", "EnqueueModal", "CancelModal", "PassphraseModal"} <= names
    for cls, bindings in scopes.items():
        assert bindings, f"{cls.__name__} has no bindings of its own"
        missing = [b.key for b in bindings if not b.id]
        assert not missing, f"{cls.__name__}: bindings without an id: {missing}"
        twice = [i for i, n in Counter(b.id for b in bindings).items() if n > 1]
        assert not twice, f"{cls.__name__}: ids used twice: {twice}"
    # The app's keys are active beside every screen's: no id means two things there.
    app_ids = {b.id for b in scopes[SwarmdeckApp]}
    for cls, bindings in scopes.items():
        if cls is not SwarmdeckApp:
            assert not app_ids & {b.id for b in bindings}, cls.__name__
    # Screen ids are named for their screen; only the dialogs share theirs (modal.*).
    for cls in SwarmdeckApp.MODES.values():
        assert {b.id.split(".")[0] for b in scopes[cls]} == {cls.SCREEN_NAME.split(" ", 1)[1].lower()}
    for cls, bindings in scopes.items():
        if cls not in SwarmdeckApp.MODES.values() and cls is not SwarmdeckApp:
            assert all(b.id.startswith("modal.") for b in bindings), cls.__name__


def test_keys_of_reads_the_keymap_by_id() -> None:
    sort = next(b for b in QueueScreen.BINDINGS if b.id == "queue.sort")
    assert keys_of(sort, {}) == "s"
    assert keys_of(sort, {"queue.sort": "o"}) == "o"
    assert "queue.sort" in binding_ids() and "app.quit" in binding_ids()


async def test_set_keymap_rebinds_an_app_key_and_a_screen_key(db) -> None:
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.set_keymap({"app.queue": "w", "queue.enqueue": "a"})
        await pilot.press("w")
        await wait_for(pilot, lambda: app.current_mode == "queue", what="w to open the queue")
        await loaded(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "EnqueueModal", what="a to open enqueue")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen))
        await pilot.press("n")  # the old key no longer enqueues
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)


async def test_the_keymap_given_to_the_app_rebinds_and_help_shows_the_new_keys(db) -> None:
    app = make_app(db, keymap={"app.agents": "g", "app.help": "f1", "modal.close": "x"})
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("3")  # no longer the agents key
        await settle(pilot)
        assert app.current_mode == "milestones"
        await pilot.press("g")
        await wait_for(pilot, lambda: app.current_mode == "agents", what="g to open the agents")
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpModal), what="f1 to open the help")
        await settle(pilot)
        text = screen_text(app)
        assert "Agents and heartbeats" in text
        line = next(line for line in text.splitlines() if "Agents and heartbeats" in line)
        assert " g " in f" {line} " and " 3 " not in f" {line} "
        await pilot.press("x")  # the dialogs' shared close key, rebound
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpModal), what="x to close the help")


async def test_a_keymap_id_that_names_no_binding_is_said_not_ignored(db) -> None:
    app = make_app(db, keymap={"queue.enqueu": "a"})
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: any("queue.enqueu" in str(n.message) for n in app._notifications),
                       what="the unknown id to be said")


def _help_lines(app) -> list[str]:
    """What the help lists: each section's descriptions, from its tables (the modal scrolls)."""
    from rich.table import Table
    from textual.widgets import Static

    tables = [s.content for s in app.screen.query(Static) if isinstance(s.content, Table)]
    return [str(cell) for t in tables for cell in t.columns[1]._cells]


async def test_a_read_only_seat_lists_no_key_it_would_refuse(db) -> None:
    for read_only in (False, True):
        app = make_app(db, read_only=read_only)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpModal), what="the help")
            lines = _help_lines(app)
            assert any(line.startswith("Jump to the next gate awaiting review") for line in lines), lines  # reads stay
            writes = [line for line in lines if line.startswith(("Decide the selected gate", "Close an open condition", "Lift an escalation"))]
            assert bool(writes) is not read_only, writes
