"""A DataTable whose rows are kept in step with fresh data in place, never cleared."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.coordinate import Coordinate
from textual.geometry import Size
from textual.widgets import DataTable

Row = tuple[str, list[Any]]


def signature(cell: Any) -> Any:
    """What makes two renderings of a cell look the same (Text equality ignores style)."""
    if isinstance(cell, Text):
        return (cell.plain, str(cell.style), tuple(cell.spans))
    return cell


def _width(cell: Any) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(str(cell))


class LiveTable(DataTable[Any]):
    """Rows keyed by a string. `sync()` removes rows that are gone, touches only the cells
    that changed, adds new rows and reorders only when rows were added, all in one batch;
    the highlighted row stays on the same key. Refilling would flicker and, at hundreds of
    rows, block the UI (STACK-NOTES)."""

    DEFAULT_CSS = """
    .-stale LiveTable {
        text-opacity: 50%;
    }
    """

    def __init__(self, *, id: str | None = None, follow_top: bool = False) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, id=id)
        self._shown: dict[str, list[Any]] = {}
        # A newest-first list: while the first row is highlighted, new rows arriving above
        # take the highlight (following the head) instead of pushing it down.
        self.follow_top = follow_top

    @property
    def selected(self) -> str | None:
        """The key of the highlighted row."""
        if self.row_count == 0:
            return None
        row = min(max(self.cursor_row, 0), self.row_count - 1)
        key = self.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value
        return None if key is None else str(key)

    def select(self, key: str | None) -> None:
        if key is not None and key in self._shown:
            self.move_cursor(row=self.get_row_index(key), animate=False)

    def sync(self, rows: Sequence[Row]) -> None:
        """Show exactly `rows`, in their order."""
        wanted = {key for key, _ in rows}
        selected = None if self.follow_top and self.cursor_row <= 0 else self.selected
        added = False
        gone = [key for key in self._shown if key not in wanted]
        with self.app.batch_update():
            if len(gone) > 20 and len(gone) * 2 > len(self._shown):
                # Another page: removing row by row costs O(rows) each; start afresh.
                self.clear()
                self._shown.clear()
                gone = []
            for key in gone:
                self.remove_row(key)
                del self._shown[key]
            columns = list(self.columns)
            for key, cells in rows:
                old = self._shown.get(key)
                if old is None:
                    self.add_row(*cells, key=key)
                    self._shown[key] = list(cells)
                    added = True
                    continue
                for i, (column, before, after) in enumerate(zip(columns, old, cells, strict=True)):
                    if signature(before) != signature(after):
                        wider = _width(after) > _width(before)
                        self.update_cell(key, column, after, update_width=wider)
                        old[i] = after  # the table holds `after` now
            if added and len(rows) > 1:
                self._reorder([key for key, _ in rows], columns[0])
            self.select(selected)

    def _reorder(self, keys: list[str], first_column: Any) -> None:
        # DataTable sorts by cell values: rank each row by the identity of its first cell,
        # which is the object this table handed to add_row/update_cell.
        rank = {id(self._shown[key][0]): i for i, key in enumerate(keys)}
        self.sort(first_column, key=lambda cell: rank.get(id(cell), len(rank)))

    def watch_virtual_size(self, old: Size, new: Size) -> None:
        # DataTable measures new cells when idle, and may have drawn (and cached) rows at
        # the old column widths by then; nothing else would redraw an unchanging table.
        if old.width != new.width:
            self.notify_style_update()
            self.refresh()

    def forget(self) -> None:
        """Remove every row (another namespace is shown next)."""
        self.clear()
        self._shown.clear()
