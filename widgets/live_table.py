"""A DataTable that applies changes in place: rows are diffed by key, never cleared and refilled;
and whose columns fit the terminal: sized by their content, the one free-text column taking what the
others leave, the least needed dropped or narrowed when the terminal is narrow."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.geometry import Size
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowKey

from .text import sort_key

Cells = Sequence[Any]

#: The least a free-text column keeps before other columns are narrowed or dropped for it.
FLEX_MIN = 20


@dataclass(frozen=True, slots=True)
class TableColumn:
    """How a column takes its width.

    A column is as wide as its content (and its label), at most ``width`` cells. The one ``flex``
    column (free text: a description, blockers) takes the width the others leave, at least
    ``min_width`` (FLEX_MIN if unset). On a terminal too narrow for that, the other columns give way
    by rank, the highest first, until the rest fit: a column with a ``min_width`` is narrowed to it at
    its ``narrow`` rank (its ``drop`` rank if unset), a column with a ``drop`` rank is hidden at that
    rank (narrowed first, at the same rank); what a drop leaves over goes back to the narrowed columns.
    The column the table is sorted by is never hidden. Cells too long for their column end with an
    ellipsis, never wrap.
    """

    key: str
    label: str | Text
    width: int | None = None
    min_width: int | None = None
    drop: int = 0
    narrow: int | None = None
    flex: bool = False


ColumnLike = TableColumn | tuple[str, str] | tuple[str, str, int | None]


def _cell_width(value: Any) -> int:
    return value.cell_len if isinstance(value, Text) else cell_len(str(value))


class LiveTable(DataTable):
    """Rows keyed by a string; `upsert`, `discard` and `sync` touch only what changed.

    The selected row (by key) and the scroll position survive every update, and an active
    sort is re-applied after rows are added or a sort column changes.

    The table owns its column widths (see `TableColumn`): they are fitted again after every batch of
    changes and on every resize. ``fill`` (the default) lets the flex column reach the table's right
    edge; without it the flex column is as wide as its content, within the room (a table as wide as its
    content, beside another pane). ``room`` says how many cells the table may take when that is not
    its own width (a ``width: auto`` table is as wide as what it holds).
    """

    DEFAULT_CSS = """
    LiveTable { height: 1fr; }
    """

    def __init__(self, *args: Any, fill: bool = True, room: Callable[[], int] | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(*args, **kwargs)
        self.fill = fill
        self.room = room
        self._shadow: dict[str, tuple[Any, ...]] = {}
        self._specs: list[TableColumn] = []
        self._index: dict[str, int] = {}
        #: Per column, how many cells have each width: the widest is known without a pass over the rows.
        self._cell_widths: list[Counter[int]] = []
        #: The columns the DataTable holds now, in order, and the width each was given.
        self._shown: list[str] = []
        self._widths: dict[str, int] = {}
        self._sort: tuple[str, Callable[[Any], Any] | None, bool] | None = None

    # -- columns ------------------------------------------------------------------------------

    def set_columns(self, columns: Iterable[ColumnLike]) -> None:
        """The table's columns, once: `TableColumn`s, or (key, label[, width]) tuples."""
        for column in columns:
            spec = column if isinstance(column, TableColumn) else TableColumn(*column)
            self._index[spec.key] = len(self._specs)
            self._specs.append(spec)
            self._cell_widths.append(Counter())
        layout = self._layout(None)
        self._shown = list(layout)
        for key in self._shown:
            self._add_column(key, layout[key])
        self._widths = layout

    @property
    def shown_columns(self) -> list[str]:
        """The keys of the columns on screen now, in order (narrow terminals drop some)."""
        return list(self._shown)

    @property
    def column_widths(self) -> dict[str, int]:
        """Each shown column's width in cells, without its padding."""
        return dict(self._widths)

    def _add_column(self, key: str, width: int) -> None:
        self.add_column(_label(self._specs[self._index[key]].label), key=key, width=width)

    def _content_width(self, index: int) -> int:
        spec = self._specs[index]
        widest = max(self._cell_widths[index], default=0)
        width = max(_label(spec.label).cell_len, widest)
        return width if spec.width is None else min(width, spec.width)

    def _room(self) -> int | None:
        """Cells the columns may take, padding included; None before the table has a size."""
        if self.room is not None:
            return self.room()
        return self.scrollable_content_region.width or None

    def _layout(self, room: int | None) -> dict[str, int]:
        """The columns to show, in order, and the width of each (without padding)."""
        widths = {spec.key: self._content_width(i) for i, spec in enumerate(self._specs)}
        flex = next((spec for spec in self._specs if spec.flex), None)
        flex_min = 0
        if flex is not None:
            flex_min = flex.min_width if flex.min_width is not None else FLEX_MIN
            if not self.fill:
                flex_min = min(flex_min, widths[flex.key])
        if room is None:
            return widths
        pad = 2 * self.cell_padding
        shown = dict(widths)

        def needed() -> int:
            return sum(w + pad for k, w in shown.items() if flex is None or k != flex.key) + (
                flex_min + pad if flex is not None else 0)

        sorted_by = self._sort[0] if self._sort else None
        # What gives way, the highest rank first; at one rank a column is narrowed before it is dropped.
        steps = []
        for spec in self._specs:
            if spec.flex:
                continue
            if spec.min_width is not None:
                steps.append((spec.drop if spec.narrow is None else spec.narrow, 0, spec))
            if spec.drop > 0 and spec.key != sorted_by:
                steps.append((spec.drop, 1, spec))
        narrowed = []
        for _, dropping, spec in sorted(steps, key=lambda step: (-step[0], step[1])):
            if needed() <= room:
                break
            if dropping:
                del shown[spec.key]
            elif shown[spec.key] > spec.min_width:
                shown[spec.key] = spec.min_width
                narrowed.append(spec)
        for spec in reversed(narrowed):  # what a later drop left over goes back to the narrowed
            spare = room - needed()
            if spare <= 0:
                break
            if spec.key in shown:
                shown[spec.key] = min(widths[spec.key], shown[spec.key] + spare)
        if flex is not None:
            others = sum(w + pad for k, w in shown.items() if k != flex.key)
            left = max(flex_min, room - others - pad)
            shown[flex.key] = left if self.fill else min(widths[flex.key], left)
        return shown

    def refit(self) -> None:
        """Fit the columns to their content and the room again (after a resize, a batch of rows)."""
        if not self._specs:
            return
        layout = self._layout(self._room())
        shown = list(layout)
        if shown != self._shown:
            self._rebuild(shown, layout)
            return
        if layout == self._widths:
            return
        for key, width in layout.items():
            self.columns[ColumnKey(key)].width = width
        self._widths = layout
        pad = 2 * self.cell_padding
        self.virtual_size = Size(sum(w + pad for w in layout.values()), self.virtual_size.height)
        # Cells are rendered and cached at their column's width: the widths changed, so must they.
        self.notify_style_update()

    def _rebuild(self, shown: list[str], layout: dict[str, int]) -> None:
        """Show another set of columns: the one change that re-adds the rows. It is rare: a resize across
        a threshold, a sort by a column that was hidden, content that no longer fits beside the rest."""
        with self.preserve_view():
            self.clear(columns=True)
            self._shown = shown
            self._widths = layout
            for key in shown:
                self._add_column(key, layout[key])
            for key, cells in self._shadow.items():
                self.add_row(*self._visible(cells), key=key)
            self._apply_sort()

    def _visible(self, cells: tuple[Any, ...]) -> list[Any]:
        return [cells[self._index[key]] for key in self._shown]

    def on_mount(self) -> None:
        # A vertical scrollbar that comes or goes changes the room without a resize.
        self.watch(self, "show_vertical_scrollbar", lambda _: self.refit(), init=False)

    def on_resize(self) -> None:
        self.refit()

    # -- rows -----------------------------------------------------------------------------------

    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None

    def has(self, key: str) -> bool:
        return key in self._shadow

    def keys(self) -> list[str]:
        return list(self._shadow)

    def cells_of(self, key: str) -> tuple[Any, ...]:
        """Every cell of a row, in column order: those a narrow terminal hides too."""
        return self._shadow[key]

    def upsert(self, key: str, cells: Cells) -> bool:
        """Add the row or update the cells that differ. True if the row order may have changed.
        Call `refit` after a batch (`sync` and `apply` do)."""
        cells = tuple(cells)
        old = self._shadow.get(key)
        if old is None:
            self.add_row(*self._visible(cells), key=key)
            self._shadow[key] = cells
            for counter, value in zip(self._cell_widths, cells):
                counter[_cell_width(value)] += 1
            return True
        if old == cells:
            return False
        resort = False
        shown = set(self._shown)
        for index, (before, after) in enumerate(zip(old, cells)):
            if before != after:
                column = self._specs[index].key
                self._count(index, before, -1)
                self._count(index, after, +1)
                if column in shown:
                    self.update_cell(key, column, after)
                if self._sort and self._sort[0] == column:
                    resort = True
        self._shadow[key] = cells
        return resort

    def _count(self, index: int, value: Any, delta: int) -> None:
        counter = self._cell_widths[index]
        width = _cell_width(value)
        counter[width] += delta
        if counter[width] <= 0:
            del counter[width]

    def discard(self, key: str) -> None:
        cells = self._shadow.pop(key, None)
        if cells is not None:
            for index, value in enumerate(cells):
                self._count(index, value, -1)
            self.remove_row(key)

    def sync(self, rows: Mapping[str, Cells]) -> None:
        """Make the table hold exactly ``rows``, touching only what differs."""
        with self.preserve_view():
            for key in [k for k in self._shadow if k not in rows]:
                self.discard(key)
            resort = False
            for key, cells in rows.items():
                resort |= self.upsert(key, cells)
            if resort:
                self._apply_sort()
            self.refit()

    def apply(self, upserts: Mapping[str, Cells], removals: Iterable[str] = ()) -> None:
        """Apply a batch of changes: the live-update path."""
        with self.preserve_view():
            for key in removals:
                self.discard(key)
            resort = False
            for key, cells in upserts.items():
                resort |= self.upsert(key, cells)
            if resort:
                self._apply_sort()
            self.refit()

    # -- sorting and view preservation ------------------------------------------------------------

    def sort_by(self, column: str, key: Callable[[Any], Any] | None = None, reverse: bool = False) -> None:
        self._sort = (column, key, reverse)
        with self.preserve_view():
            self.refit()  # the column sorted by is always shown
            self._apply_sort()

    @property
    def sort_state(self) -> tuple[str, bool] | None:
        return None if self._sort is None else (self._sort[0], self._sort[2])

    def _apply_sort(self) -> None:
        if self._sort is None or not self.row_count:
            return
        column, key, reverse = self._sort
        self.sort(column, key=key or sort_key, reverse=reverse)

    def preserve_view(self) -> _PreservedView:
        return _PreservedView(self)


class _PreservedView:
    """Keep the cursor on the same row key and the scroll offset where it was."""

    def __init__(self, table: LiveTable) -> None:
        self.table = table

    def __enter__(self) -> None:
        self.key = self.table.selected_key
        self.scroll = (self.table.scroll_x, self.table.scroll_y)

    def __exit__(self, *exc: object) -> None:
        table = self.table
        if self.key is not None and self.key in table._shadow:
            row = table.get_row_index(RowKey(self.key))
            if row != table.cursor_row:
                table.move_cursor(row=row, animate=False, scroll=False)
        if (table.scroll_x, table.scroll_y) != self.scroll:
            table.scroll_to(*self.scroll, animate=False, immediate=True)


def _label(label: str | Text) -> Text:
    """A column's heading as one line that ends in an ellipsis when cut (a Text keeps its own style and
    justification)."""
    if isinstance(label, Text):
        label = label.copy()
        label.no_wrap, label.overflow, label.end = True, "ellipsis", ""
        return label
    return Text(label, no_wrap=True, overflow="ellipsis", end="")
