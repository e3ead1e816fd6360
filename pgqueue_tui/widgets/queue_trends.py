"""A queue's last minutes from the watch stream: throughput and backlog charts, wait p50/p99."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from ..live import BUCKET_SECONDS, BUCKETS, LiveState, percentile
from ..theme import Palette
from .cells import age
from .chart import BarChart, Series

SPAN = f"{int(BUCKETS * BUCKET_SECONDS // 60)} min"


def seconds(value: float | None) -> str:
    """A wait as people read it: 840ms, 3.2s, 4m 10s."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 60:
        return f"{value:.1f}s"
    return age(value)


class QueueTrends(Horizontal):
    """Completed and failed per interval, the backlog at the end of each interval, and how
    long retained tasks waited (ready → retained) over the same span."""

    DEFAULT_CSS = """
    QueueTrends {
        height: 12;
    }
    QueueTrends > BarChart, QueueTrends > #wait {
        border: round $panel;
        border-title-color: $primary;
        border-title-style: bold;
        border-subtitle-color: $foreground-muted;
        padding: 0 1;
        height: 100%;
    }
    QueueTrends > BarChart {
        width: 1fr;
    }
    QueueTrends > #wait {
        width: 26;
    }
    """

    def compose(self) -> ComposeResult:
        start = f"-{SPAN}"
        throughput = BarChart(start=start, id="throughput")
        throughput.border_title = "Throughput"
        throughput.border_subtitle = f"tasks per {BUCKET_SECONDS:g} s"
        yield throughput
        backlog = BarChart(start=start, id="backlog")
        backlog.border_title = "Backlog"
        backlog.border_subtitle = "new + retry"
        yield backlog
        wait = Static(id="wait")
        wait.border_title = "Wait"
        wait.border_subtitle = f"last {SPAN}"
        yield wait

    def show(self, live: LiveState, queue: str, palette: Palette, watching: str) -> None:
        completed, failed, backlog = live.series(queue)
        self.query_one("#throughput", BarChart).plot(
            [
                Series("completed", completed, palette.success),
                Series("failed", failed, palette.error),
            ]
        )
        self.query_one("#backlog", BarChart).plot([Series("waiting", backlog, palette.warning)])
        waits = live.waited(queue)
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(justify="right", no_wrap=True)
        grid.add_row("p50", Text(seconds(percentile(waits, 50)), style="bold"))
        grid.add_row("p99", Text(seconds(percentile(waits, 99)), style="bold"))
        grid.add_row("max", seconds(max(waits, default=None)))
        grid.add_row("retained", f"{len(waits):,}")
        if watching == "off":
            grid.add_row("", Text("no live updates", style=palette.warning))
        elif watching != "live":
            grid.add_row("", Text("connecting…", style="dim"))
        self.query_one("#wait", Static).update(grid)
