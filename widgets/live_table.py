"""A DataTable that applies changes in place: rows are diffed by key, never cleared and refilled."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowKey

from .text import sort_key

Cells = Sequence[Any]


class LiveTable(DataTable):
    """Rows keyed by a string; `upsert`, `discard` and `sync` touch only what changed.

    The selected row (by key) and the scroll position survive every update, and an active
    sort is re-applied after rows are added or a sort column changes.
    """

    DEFAULT_CSS = """
    LiveTable { height: 1fr; }
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(*args, **kwargs)
        self._shadow: dict[str, tuple[Any, ...]] = {}
        self._column_keys: list[str] = []
        #: Columns sized by their content: an update re-measures them (a longer value widens the column).
        self._auto_width: set[str] = set()
        self._sort: tuple[str, Callable[[Any], Any] | None, bool] | None = None

    # -- columns ------------------------------------------------------------------------------

    def set_columns(self, columns: Iterable[tuple[str, str] | tuple[str, str, int | None]]) -> None:
        """(key, label) or (key, label, width) tuples, once; a width crops the column's cells."""
        for key, label, *width in columns:
            self.add_column(label, key=key, width=width[0] if width else None)
            self._column_keys.append(key)
            if not width or width[0] is None:
                self._auto_width.add(key)

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

    def upsert(self, key: str, cells: Cells) -> bool:
        """Add the row or update the cells that differ. True if the row order may have changed."""
        cells = tuple(cells)
        old = self._shadow.get(key)
        if old is None:
            self.add_row(*cells, key=key)
            self._shadow[key] = cells
            return True
        if old == cells:
            return False
        resort = False
        for index, (before, after) in enumerate(zip(old, cells)):
            if before != after:
                column = self._column_keys[index]
                self.update_cell(key, column, after, update_width=column in self._auto_width)
                if self._sort and self._sort[0] == column:
                    resort = True
        self._shadow[key] = cells
        return resort

    def discard(self, key: str) -> None:
        if self._shadow.pop(key, None) is not None:
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

    # -- sorting and view preservation ------------------------------------------------------------

    def sort_by(self, column: str, key: Callable[[Any], Any] | None = None, reverse: bool = False) -> None:
        self._sort = (column, key, reverse)
        with self.preserve_view():
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
