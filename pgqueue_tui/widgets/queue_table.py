"""The overview's queue table: counts per status, throughput sparkline, oldest waiting age."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.text import Text

from pgqueue_core.models import QueueSummary, Status

from ..theme import Palette
from . import cells
from .live_table import LiveTable
from .throughput import Throughput

COUNTED = (
    Status.NEW,
    Status.RETRY,
    Status.RETAINED,
    Status.RELEASED,
    Status.FAILED,
    Status.EXPIRED,
    Status.CANCELLED,
)
# Narrow terminals (80 columns) get short labels so that every column still fits.
_SHORT = {
    Status.NEW: "new",
    Status.RETRY: "retry",
    Status.RETAINED: "run",
    Status.RELEASED: "done",
    Status.FAILED: "fail",
    Status.EXPIRED: "exp",
    Status.CANCELLED: "cxl",
}
COMPACT_BELOW = 110  # terminal columns


class QueueTable(LiveTable):
    """One row per queue, keyed by name. Each `show()` is also a throughput sample."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.throughput = Throughput()
        self.compact = False

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        self.add_column("queue", key="queue")
        for status in COUNTED:
            label = _SHORT[status] if self.compact else status.value
            self.add_column(Text(label, justify="right"), key=status.value)
        span = int(self.throughput.span)
        window = f"{span // 60}m" if span % 60 == 0 else f"{span}s"
        self.add_column("done/s" if self.compact else f"done/s ({window})", key="rate")
        self.add_column(Text("oldest", justify="right"), key="oldest")

    def set_compact(self, compact: bool) -> None:
        """Switch between full and short column labels (rebuilds the rows once)."""
        if compact == self.compact and self.columns:
            return
        self.compact = compact
        if not self.columns:
            return
        self.clear(columns=True)
        self._shown.clear()
        self._add_columns()

    def _row(
        self, summary: QueueSummary, now: datetime, mono: float, palette: Palette
    ) -> list[Any]:
        name = Text(summary.queue, no_wrap=True)
        if summary.paused:
            name.stylize(palette.warning)
            name.append(" ‖", style=f"bold {palette.warning}")
        if (mark := cells.BREAKER_MARKS.get(summary.breaker)) is not None:
            colour = palette.error if summary.breaker == "open" else palette.warning
            name.append(f" {mark}", style=f"bold {colour}")
        row: list[Any] = [name]
        growing = self.throughput.growing(summary.queue)
        for status in COUNTED:
            value = summary.counts.get(status, 0)
            if status is Status.NEW and growing and value:
                row.append(Text(f"{value:,}↑", style=f"bold {palette.warning}", justify="right"))
            else:
                row.append(cells.count(value, palette.attention(status)))
        history = self.throughput.history(summary.queue, mono)
        if self.compact:
            history = history[-6:]
        rate = cells.rate(self.throughput.rate(summary.queue, mono))
        spark = Text(cells.sparkline(history), style=palette.primary, no_wrap=True)
        spark.append(" " + rate.rjust(5), style="")
        row.append(spark)
        row.append(cells.oldest(summary.oldest, now, palette))
        return row

    def show(
        self,
        summaries: Sequence[QueueSummary],
        *,
        now: datetime,
        mono: float,
        palette: Palette,
        needle: str = "",
        sample: bool = True,
    ) -> None:
        """Show the queues whose name contains `needle`; with `sample`, the counts are a
        new throughput sample (not when only the filter changed)."""
        for summary in summaries if sample else ():
            done = summary.counts.get(Status.RELEASED, 0) + summary.counts.get(Status.FAILED, 0)
            self.throughput.record(summary.queue, done, summary.waiting, mono)
        if sample:
            self.throughput.forget({summary.queue for summary in summaries})
        needle = needle.strip().lower()
        self.sync(
            [
                (summary.queue, self._row(summary, now, mono, palette))
                for summary in summaries
                if needle in summary.queue
            ]
        )

    def forget(self) -> None:
        super().forget()
        t = self.throughput
        self.throughput = Throughput(t.buckets, t.bucket_seconds, t.window)
