"""Tickers with interval, last firing and a live countdown to the next one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text

from pgqueue_core.models import Ticker

from ..output import duration
from ..theme import Palette
from . import cells
from .live_table import LiveTable

if TYPE_CHECKING:
    from ..app import ConsoleApp


class TickerTable(LiveTable):
    """One row per ticker, keyed by name. The countdown ticks every second from the last
    data, without asking the server; `compact` (the overview) leaves out payload and last."""

    def __init__(self, *, compact: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.compact = compact
        self.tickers: list[Ticker] = []

    def on_mount(self) -> None:
        self.add_column("ticker", key="ticker")
        self.add_column(Text("every", justify="right"), key="interval")
        if not self.compact:
            self.add_column("payload", key="payload")
            self.add_column("last fired", key="last")
        self.add_column("next", key="next")
        self.set_interval(1.0, self._tick)

    @property
    def selected_ticker(self) -> Ticker | None:
        name = self.selected
        return next((t for t in self.tickers if t.ticker == name), None)

    def show(self, tickers: Sequence[Ticker]) -> None:
        self.tickers = list(tickers)
        self._tick()

    def _tick(self) -> None:
        app = cast("ConsoleApp", self.app)
        now = app.now()
        palette = Palette.of(app.current_theme)
        rows = []
        for t in self.tickers:
            row: list[Any] = [
                Text(t.ticker, no_wrap=True),
                Text(duration(t.interval), justify="right"),
            ]
            if not self.compact:
                row.append(cells.json_line(t.payload, 30))
                row.append(cells.since(t.timestamp, now) if t.timestamp else "never")
            due = t.next_at(now)
            if due <= now:
                row.append(Text("due now", style=palette.warning))
            else:
                row.append(cells.since(due, now))
            rows.append((t.ticker, row))
        self.sync(rows)
