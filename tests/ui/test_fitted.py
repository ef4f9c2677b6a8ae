"""Fitted panes keep the height of their newest text (widgets/fitted.py).

The interleaving that cuts a ``height: auto`` pane short is forced here with two of Textual's private
calls, standing in for another widget's layout pass that, on a loaded machine, runs between a pane's
two updates and before the pane's own turn.
"""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from swarmdeck.widgets.fitted import Fitted

THREE_LINES = "one\ntwo\nthree"


class Panes(App):
    CSS = """
    #pane { height: auto; max-height: 8; border-top: solid red; padding: 0 1; }
    #other { height: 1fr; }
    """

    def __init__(self, pane: Static) -> None:
        super().__init__()
        self.pane = pane

    def compose(self) -> ComposeResult:
        with Vertical():
            yield self.pane
            yield Static("the rest", id="other")


async def updated_twice_around_another_layout(pane: Static, text: str) -> int:
    app = Panes(pane)
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        pane.update("first")
        app.query_one(Vertical)._clear_arrangement_cache()  # another child of the Vertical asked for a layout
        app.screen._refresh_layout()  # ... and the screen's pass ran before the pane's turn
        pane.update(text)
        for _ in range(5):
            await pilot.pause()
        return pane.content_size.height


async def test_without_it_textual_keeps_the_first_text_s_height():
    """The control: when this fails, Textual lays such a pane out right, and widgets/fitted.py can go."""
    assert await updated_twice_around_another_layout(Static(id="pane"), THREE_LINES) == 1


async def test_a_fitted_pane_takes_the_second_text_s_height():
    assert await updated_twice_around_another_layout(Fitted(id="pane"), THREE_LINES) == 3


async def test_the_css_max_height_still_caps_it():
    text = "\n".join(f"line {n}" for n in range(20))
    assert await updated_twice_around_another_layout(Fitted(id="pane"), text) == 7  # 8 less the border


@pytest.mark.parametrize(("width", "lines"), [(40, 2), (20, 4)])
async def test_a_long_line_is_as_tall_as_it_wraps_at_the_pane_s_width(width, lines):
    app = Panes(Fitted(id="pane"))
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        app.pane.update("word " * 12)  # 60 columns of text
        await pilot.resize_terminal(width, 12)
        for _ in range(5):
            await pilot.pause()
        assert app.pane.content_size.height == lines
