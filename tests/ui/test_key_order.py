"""Keys read together (app/key_order.py): each goes where the keys before it left the focus, also into a
modal the key before it opened (at once, or after a look-up in a worker)."""

from __future__ import annotations

import asyncio
from typing import TypeVar

import pytest
from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, TextArea

from swarmdeck.app import key_order
from swarmdeck.app.key_order import KeysInOrder, opens_screen
from swarmdeck.app.modals.decision import DecisionModal
from swarmdeck.app.modals.enqueue import EnqueueModal
from test_screens import SIZE, open_queue
from ui_support import db_call, loaded, make_app, wait_for

S = TypeVar("S", bound=ModalScreen)


class Form(KeysInOrder[None]):
    def compose(self) -> ComposeResult:
        yield Input(id="first")
        yield Input(id="second")
        yield Checkbox("tick", id="tick")


class PlainForm(App[None]):
    compose = Form.compose


def burst(app: App, *keys: tuple[str, str | None]) -> None:
    """Keys as one read from the terminal brings them: all queued before the app handles the first."""
    for key, character in keys:
        app.post_message(events.Key(key, character))


def letters(text: str) -> list[tuple[str, str]]:
    return [(c if c.isalnum() else "space", c) for c in text]


async def test_keys_after_tab_land_in_the_widget_tab_reached():
    app = Form()
    async with app.run_test() as pilot:
        app.query_one("#first", Input).focus()
        await pilot.pause()
        burst(app, *letters("abc"), ("tab", "\t"), *letters("typed at once, all of it"), ("tab", "\t"),
              ("space", " "))
        tick = app.query_one("#tick", Checkbox)
        await wait_for(pilot, lambda: tick.value, what="the checkbox ticked by the last space")
        assert app.query_one("#first", Input).value == "abc"
        assert app.query_one("#second", Input).value == "typed at once, all of it"


async def test_a_paste_after_tab_lands_in_the_widget_tab_reached():
    app = Form()
    async with app.run_test() as pilot:
        app.query_one("#first", Input).focus()
        await pilot.pause()
        burst(app, ("tab", "\t"))
        app.post_message(events.Paste("pasted"))
        second = app.query_one("#second", Input)
        await wait_for(pilot, lambda: second.value == "pasted", what="the paste in the second input")
        assert app.query_one("#first", Input).value == ""


async def test_without_it_textual_routes_them_to_the_old_focus():
    """What KeysInOrder is for: Textual alone sends keys read with Tab to the widget Tab leaves (when
    this fails, Textual routes keys in order itself, and app/key_order.py can go)."""
    app = PlainForm()
    async with app.run_test() as pilot:
        app.query_one("#first", Input).focus()
        await pilot.pause()
        burst(app, *letters("abc"), ("tab", "\t"), *letters("xyz"))
        await pilot.pause(0.2)
        assert app.query_one("#second", Input).value != "xyz"


# -- keys typed ahead into a modal that is still opening ---------------------------------------------------


class Gate(ModalScreen[None]):
    """A modal whose input takes the focus once mounted (as the decision dialog's rationale does)."""

    def compose(self) -> ComposeResult:
        yield Checkbox("first focusable", id="box")
        yield Input(id="typed")

    def on_mount(self) -> None:
        self.query_one("#typed", Input).focus()


class Opening(KeysInOrder[None]):
    """An app whose keys open a modal: at once (``o``), or after a look-up in a worker (``w``), which
    may find nothing to open (``x``). Letters that leak past the modal run these, or tick the box."""

    BINDINGS = [Binding("o", "open"), Binding("w", "look_up(True)"), Binding("x", "look_up(False)")]

    def __init__(self) -> None:
        super().__init__()
        self.looked_up = asyncio.Event()
        self.ran: list[str] = []

    def compose(self) -> ComposeResult:
        yield Checkbox("underneath", id="under")

    def action_open(self) -> None:
        self.ran.append("open")
        self.push_screen(Gate())

    @opens_screen
    @work(exclusive=True)
    async def action_look_up(self, found: bool) -> None:
        self.ran.append(f"look_up({found})")
        await self.looked_up.wait()  # the store call before the modal
        if found:
            self.push_screen(Gate())


@pytest.fixture
def patient(monkeypatch):
    """Held keys wait as long as it takes: a test passes only if they are let go by what they waited for."""
    monkeypatch.setattr(key_order, "PATIENCE", 60.0)


async def opened(pilot, modal: type[S]) -> S:
    """The modal, once it is the screen and mounted (its inputs there to read)."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, modal) and app.screen.is_mounted, what=modal.__name__)
    return app.screen


async def typed_in_modal(pilot, app: App, text: str) -> None:
    typed = (await opened(pilot, Gate)).query_one("#typed", Input)
    await wait_for(pilot, lambda: typed.value == text, what=f"{text!r} in the modal's input")
    assert not app.screen.query_one("#box", Checkbox).value
    assert len(app.screen_stack) == 2 and not app.query_one("#under", Checkbox).value


async def test_keys_after_one_that_opens_a_modal_land_in_its_input(patient):
    app = Opening()
    async with app.run_test() as pilot:
        await pilot.pause()
        burst(app, ("o", "o"), *letters("xo typed at once"))
        await typed_in_modal(pilot, app, "xo typed at once")
        assert app.ran == ["open"]


async def test_keys_after_one_whose_worker_opens_a_modal_wait_for_it(patient):
    app = Opening()
    async with app.run_test() as pilot:
        await pilot.pause()
        burst(app, ("w", "w"), *letters("xo typed"))
        await wait_for(pilot, lambda: app.ran, what="the look-up")
        await pilot.pause()
        app.looked_up.set()
        await typed_in_modal(pilot, app, "xo typed")
        assert app.ran == ["look_up(True)"]


async def test_keys_after_a_worker_that_opens_nothing_go_on_at_once(patient):
    app = Opening()
    async with app.run_test() as pilot:
        app.looked_up.set()
        await pilot.pause()
        burst(app, ("x", "x"), ("o", "o"), *letters("typed"))
        await typed_in_modal(pilot, app, "typed")
        assert app.ran == ["look_up(False)", "open"]


async def test_a_task_typed_straight_after_n_lands_in_the_enqueue_form(seeded, patient):
    """On the queue, `n` looks up the agent types before its form opens: the description typed with it
    is the form's, and none of its letters runs the queue's keys (filters, sort, retry, plan, pause)."""
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        cursor, sort = screen.table.cursor_row, screen.table.sort_state
        burst(app, ("n", "n"), *letters("profile the slow sort first"))
        description = (await opened(pilot, EnqueueModal)).query_one("#e-description", Input)
        await wait_for(pilot, lambda: description.value == "profile the slow sort first",
                       what="the description typed with n")
        assert app.screen_stack[-2:] == [screen, app.screen] and app.live
        assert (screen.table.cursor_row, screen.table.sort_state) == (cursor, sort)


async def test_a_rationale_typed_straight_after_d_lands_in_the_decision_dialog(seeded, patient):
    """On the milestones, `d` reads the gate before its dialog opens: the rationale typed with it is the
    dialog's, and none of its letters runs the screen's keys (next review, cut, close condition)."""
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        screen = app.screen
        selected = screen.selected
        burst(app, ("d", "d"), *letters("checked the index next week"))
        rationale = (await opened(pilot, DecisionModal)).query_one("#rationale", TextArea)
        await wait_for(pilot, lambda: rationale.text == "checked the index next week",
                       what="the rationale typed with d")
        assert app.screen_stack[-2:] == [screen, app.screen] and screen.selected == selected and app.live


async def test_keys_typed_with_the_replay_key_act_in_the_replay(seeded, patient):
    """ctrl+r opens replay in a worker (it opens the history first): a step back typed with it steps
    the replay back, rather than reaching the live dashboard, where it means nothing."""
    from test_replay_mode import replay_app

    app, _ = replay_app(seeded.path, False)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        last = await db_call(seeded.path, "latest_event_id")
        burst(app, ("ctrl+r", None), ("comma", ","))
        await wait_for(pilot, lambda: app.replay_point is not None and app.replay_point.event_id == last - 1,
                       what="the step back typed with ctrl+r")
