"""A small stacked bar chart in block characters: steady in snapshots, no plotting library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

_EIGHTHS = " ▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Series:
    """One layer of the bars (stacked in the order given, the first at the bottom)."""

    label: str
    values: Sequence[float | None]  # None: no sample in that interval (drawn as a gap)
    style: str


class BarChart(Widget):
    """Bars over time, oldest left: a legend with the largest total on the first line, the
    time axis (`start` … `end`) on the last, the bars in between."""

    DEFAULT_CSS = """
    BarChart {
        height: 1fr;
        min-height: 5;
    }
    """

    def __init__(self, *, start: str = "", end: str = "now", id: str | None = None) -> None:
        super().__init__(id=id)
        self.start = start
        self.end = end
        self.series: list[Series] = []

    def plot(self, series: list[Series]) -> None:
        self.series = series
        self.refresh()

    def render(self) -> Text:
        width, height = self.content_size.width, self.content_size.height
        out = Text(no_wrap=True, overflow="crop")
        if not self.series or width < 4 or height < 3:
            return out
        n = max(len(s.values) for s in self.series)
        totals = [sum(s.values[i] or 0 for s in self.series if i < len(s.values)) for i in range(n)]
        top = max(totals, default=0)
        for s in self.series:
            out.append("■ ", style=s.style)
            out.append(f"{s.label}  ", style="dim")
        out.append(f"max {_number(top)}", style="dim")
        rows = height - 2
        shown = min(n, width)  # the newest buckets, spread over the whole width
        first = n - shown
        edges = [k * width // shown for k in range(shown + 1)]
        scale = rows * 8 / top if top else 0.0
        for row in range(rows, 0, -1):  # the top row first
            out.append("\n")
            for k in range(shown):
                out.append(*self._cell(first + k, row, scale, edges[k + 1] - edges[k]))
        out.append("\n")
        axis = self.start.ljust(max(0, width - len(self.end))) + self.end
        out.append(axis[:width], style="dim")
        return out

    def _cell(self, i: int, row: int, scale: float, column: int) -> tuple[str, str]:
        """The glyph of bucket `i` on `row` (1: the bottom row), and its style: the filled
        part in eighths, coloured by the layer at the middle of that part."""
        low = (row - 1) * 8  # eighths below this row
        tops: list[tuple[float, str]] = []  # (the layer's top in eighths, its style)
        top = 0.0
        for s in self.series:
            value = s.values[i] if i < len(s.values) else None
            if value:
                top += value * scale
                tops.append((top, s.style))
        if not tops:
            return " " * column, ""
        fill = min(top - low, 8)
        eighths = round(fill)
        if row == 1:
            eighths = max(eighths, 1)  # a non-zero bar never vanishes
        if eighths <= 0:
            return " " * column, ""
        middle = low + eighths / 2
        style = next((style for layer_top, style in tops if layer_top >= middle), tops[-1][1])
        return _EIGHTHS[eighths] * column, style


def _number(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:g}" if value == int(value) else f"{value:.1f}"
