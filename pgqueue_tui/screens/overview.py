"""The overview (default screen): every queue at a glance, tickers and their firings."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.message import Message
from textual.widgets import DataTable, Footer, Input, Static

from pgqueue_core.models import QueueChange, QueueSummary, Status, Ticker, TickerChange

from ..events import Stats, WatchEvent
from ..widgets.firing_log import FiringLog
from ..widgets.header import ConsoleHeader
from ..widgets.queue_table import COMPACT_BELOW, QueueTable
from ..widgets.ticker_table import TickerTable
from .queue_actions import QueueActionsScreen

TICKERS_BELOW = 20  # terminal rows under which the tickers pane is left out


class OverviewScreen(QueueActionsScreen):
    """Counts arrive with the watch stream's stats (at most once a second) and firings with
    its ticker events; /stats is polled only while the stream is not delivering. The
    tickers are polled every refresh. It stays at the bottom of the screen stack and keeps
    polling under other screens, so the header always knows whether the server answers."""

    CSS_PATH = "overview.tcss"
    BINDINGS = [
        Binding("enter", "open_queue", "Open", show=False),
        Binding("c", "create_task", "New task"),
        Binding("p", "toggle_pause", "Pause/resume"),
        Binding("a", "new_queue", "New queue", show=False),
        Binding("e", "edit_queue", "Edit queue", show=False),
        Binding("d", "delete_queue", "Delete queue", show=False),
        Binding("r", "requeue", "Requeue failed/expired/cancelled", show=False),
        Binding("b", "reset_breaker", "Reset breaker", show=False),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("escape", "back", "Clear filter", show=False),
    ]

    context = "queues"
    interval = 1.0
    poll_hidden = True

    @dataclass
    class Loaded(Message):
        summaries: list[QueueSummary] | None  # None: the watch stream delivers them
        tickers: list[Ticker]
        mono: float

    def __init__(self) -> None:
        super().__init__()
        self.summaries: list[QueueSummary] = []
        self.tickers: list[Ticker] = []
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(self.context)
        yield Input(placeholder="filter queues by name (enter: keep, esc: clear)", id="filter")
        with Container(id="main"):
            table = QueueTable(id="queues")
            table.border_title = "Queues"
            yield table
            yield Static(id="empty")
        with Horizontal(id="bottom"):
            tickers = TickerTable(compact=True, id="tickers")
            tickers.border_title = "Tickers"
            yield tickers
            firings = FiringLog(id="firings")
            firings.border_title = "Firings"
            yield firings
        yield Footer()

    def on_mount(self) -> None:
        self._fit()
        self.query_one(QueueTable).focus()
        self.start_polling()

    def on_resize(self) -> None:
        super().on_resize()
        self._fit()

    def _fit(self) -> None:
        size = self.app.size
        self.query_one(QueueTable).set_compact(size.width < COMPACT_BELOW)
        self.query_one("#bottom").display = size.height >= TICKERS_BELOW
        if self.loaded:
            self._show(sample=False)

    async def fetch(self) -> Message:
        if self.console.live.summaries is not None:
            tickers = await self.client.list_tickers(limit=100)
            return self.Loaded(None, tickers.items, time.monotonic())
        summaries, tickers = await asyncio.gather(
            self.client.queue_summaries(), self.client.list_tickers(limit=100)
        )
        return self.Loaded(summaries, tickers.items, time.monotonic())

    def on_overview_screen_loaded(self, message: Loaded) -> None:
        self.tickers = message.tickers
        if message.tickers:
            self.console.learn_namespace(message.tickers[0].namespace)
        self.query_one(TickerTable).show(message.tickers)
        self.query_one(FiringLog).observe(message.tickers)
        if message.summaries is not None:
            self._counts(message.summaries, message.mono)
        self.refresh_bindings()

    def _counts(self, summaries: list[QueueSummary], mono: float) -> None:
        self.summaries = summaries
        self.loaded = True
        if summaries:
            self.console.learn_namespace(summaries[0].namespace)
        self._show(mono=mono)
        self.refresh_bindings()

    def watched(self, event: WatchEvent) -> None:
        match event:
            case Stats():
                self._counts(event.queues, time.monotonic())
            case TickerChange(change="fired"):
                known = next((t for t in self.tickers if t.ticker == event.ticker), None)
                payload = known.payload if known is not None else None
                self.query_one(FiringLog).add(event.ticker, event.timestamp, payload)
                self.wake()  # its last and next firing moved
            case TickerChange() | QueueChange():
                self.wake()

    def _show(self, mono: float | None = None, sample: bool = True) -> None:
        table = self.query_one(QueueTable)
        needle = self.query_one("#filter", Input).value
        table.show(
            self.summaries,
            now=self.console.now(),
            mono=time.monotonic() if mono is None else mono,
            palette=self.palette,
            needle=needle,
            sample=sample and mono is not None,
        )
        waiting = sum(s.waiting for s in self.summaries)
        failed = sum(s.counts.get(Status.FAILED, 0) for s in self.summaries)
        paused = sum(1 for s in self.summaries if s.paused)
        tripped = sum(1 for s in self.summaries if s.breaker != "closed")
        parts = [f"{len(self.summaries)} queue{'s' if len(self.summaries) != 1 else ''}"]
        parts.append(f"{waiting:,} waiting")
        if failed:
            parts.append(f"{failed:,} failed")
        if paused:
            parts.append(f"{paused} paused")
        if tripped:
            parts.append(f"{tripped} breaker{'s' if tripped != 1 else ''} not closed")
        if needle:
            parts.append(f"filter: {needle!r}")
        table.border_subtitle = " · ".join(parts)
        empty = self.query_one("#empty", Static)
        empty.display = not table.row_count
        if not self.summaries:
            empty.update("No queues in this namespace yet. Press a to create one.")
        elif not table.row_count:
            empty.update(f"No queue matches {needle!r}. Press esc to clear the filter.")

    def reset(self) -> None:
        """Forget what was shown (another namespace is next)."""
        self.summaries = []
        self.tickers = []
        self.loaded = False
        self.query_one(QueueTable).forget()
        self.query_one(TickerTable).show([])
        self.query_one(FiringLog).reset()
        self.wake()

    # ---- queue selection ----------------------------------------------------------

    def current_summary(self) -> QueueSummary | None:
        name = self.query_one(QueueTable).selected
        return next((s for s in self.summaries if s.queue == name), None)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if isinstance(event.data_table, QueueTable):
            event.stop()
            self.action_open_queue()

    def action_open_queue(self) -> None:
        if (summary := self.current_summary()) is not None:
            self.console.open_queue(summary.queue)

    # ---- filter -------------------------------------------------------------------

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter" and self.loaded:
            self._show(sample=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.query_one(QueueTable).focus()
            if not event.value:
                event.input.display = False

    def action_back(self) -> None:
        field = self.query_one("#filter", Input)
        if field.display:
            field.value = ""
            field.display = False
            self.query_one(QueueTable).focus()
