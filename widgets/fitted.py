"""A Static as tall as its text, for panes whose text changes while the screen is up.

Textual (8.2.x) lays a ``height: auto`` widget out from a box model it caches under a count of the
layout requests the widget made, and a request made while another is pending is not counted. So a pane
updated twice before its own turn to ask for a layout, with another widget's layout pass in between
(the usual order on a loaded machine), keeps the height of the first text: the second text's last
lines are cut off, until something else changes its size. The agent's detail lost its blockers' line
that way; so can any pane whose text changes while its screen is up (a task's detail, a memory's
preview, the charts' header, what a decision will do). A height set in its styles is part of that
cache's key, so :class:`Fitted` sets its own, from its text at its width, on every update and every
resize. ``max-height`` in the CSS still caps it.

tests/ui/test_fitted.py holds a control test that fails once plain Textual no longer does this; then
this module can go.
"""

from __future__ import annotations

from textual.visual import VisualType
from textual.widgets import Static


class Fitted(Static):
    """A Static whose height is its text's at its width, set explicitly (module docstring)."""

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        super().update(content, layout=layout)
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        width = self.content_size.width
        if not width:  # not laid out yet: the CSS's height (auto) gives the first one
            return
        lines = self.get_content_height(self.container_size, self.app.size, width)
        self.styles.height = lines + self.styles.gutter.height
