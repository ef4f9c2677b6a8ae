"""Keys read together (app/key_order.py): each goes where the keys before it left the focus."""

from __future__ import annotations

from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Checkbox, Input

from swarmdeck.app.key_order import KeysInOrder
from ui_support import wait_for


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
