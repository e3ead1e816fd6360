"""Tickers: interval, last and next firing with a countdown; a live pane of firings."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer

from pgqueue_core.models import Ticker, TickerChange, TickerMeta

from ..events import WatchEvent
from ..widgets.firing_log import FiringLog
from ..widgets.header import ConsoleHeader
from ..widgets.ticker_table import TickerTable
from .base import ConsoleScreen
from .ticker_form import TickerFormScreen

FIRINGS = "Firings · observed (the console claims none)"


class TickersScreen(ConsoleScreen):
    """The firings pane shows every firing as the watch stream (GET /events) reports it,
    whoever consumed it; while the stream is down, firings seen by polling the tickers.
    The console only observes: it never consumes the ticker stream (/ticker/next), so
    every firing still goes to a real consumer."""

    CSS_PATH = "tickers.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("a", "new_ticker", "New"),
        Binding("e", "edit_ticker", "Edit"),
        Binding("d", "delete_ticker", "Delete"),
        Binding("enter", "edit_ticker", "Edit", show=False),
    ]

    context = "tickers"
    interval = 1.0

    @dataclass
    class Loaded(Message):
        tickers: list[Ticker]

    def __init__(self) -> None:
        super().__init__()
        self.tickers: list[Ticker] = []

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(self.context)
        table = TickerTable(id="tickers")
        table.border_title = "Tickers"
        yield table
        log = FiringLog(id="firings")
        log.border_title = FIRINGS
        yield log
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TickerTable).focus()
        self.start_polling()

    async def fetch(self) -> Message:
        tickers: list[Ticker] = []
        while True:
            page = await self.client.list_tickers(offset=len(tickers), limit=100)
            tickers += page.items
            if not page.items or len(tickers) >= page.count:
                return self.Loaded(tickers)

    def on_tickers_screen_loaded(self, message: Loaded) -> None:
        self.tickers = message.tickers
        if message.tickers:
            self.console.learn_namespace(message.tickers[0].namespace)
        table = self.query_one(TickerTable)
        table.show(message.tickers)
        n = len(message.tickers)
        table.border_subtitle = f"{n} ticker{'s' if n != 1 else ''} · enter: edit"
        self.query_one(FiringLog).observe(message.tickers)
        self.refresh_bindings()

    def current_ticker(self) -> Ticker | None:
        return self.query_one(TickerTable).selected_ticker

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("edit_ticker", "delete_ticker") and self.current_ticker() is None:
            return None
        return True

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_edit_ticker()

    # ---- create / edit / delete ---------------------------------------------------

    def action_new_ticker(self) -> None:
        def done(meta: TickerMeta | None) -> None:
            if meta is not None:
                self.run_worker(self._create(meta), group="action")

        self.app.push_screen(TickerFormScreen(), done)

    async def _create(self, meta: TickerMeta) -> None:
        ticker = await self.call("create the ticker", self.client.create_ticker(meta))
        if ticker is not None:
            self.notify(f"Ticker {ticker.ticker!r} created.", title="Created")
            self.wake()

    def action_edit_ticker(self) -> None:
        ticker = self.current_ticker()
        if ticker is None:
            return

        def done(meta: TickerMeta | None) -> None:
            if meta is None:
                return
            if meta == TickerMeta():
                self.notify("Nothing changed.")
                return
            self.run_worker(self._update(ticker.ticker, meta), group="action")

        self.app.push_screen(TickerFormScreen(ticker), done)

    async def _update(self, name: str, meta: TickerMeta) -> None:
        ticker = await self.call("update the ticker", self.client.update_ticker(name, meta))
        if ticker is not None:
            self.notify(f"Ticker {ticker.ticker!r} saved.", title="Saved")
            self.wake()

    def action_delete_ticker(self) -> None:
        ticker = self.current_ticker()
        if ticker is None:
            return
        self.confirm(
            f"Delete ticker {ticker.ticker!r}? It stops firing.",
            lambda: self.run_worker(self._delete(ticker.ticker), group="action"),
            label="Delete",
        )

    async def _delete(self, name: str) -> None:
        if await self.call("delete the ticker", self.client.delete_ticker(name)) is not None:
            self.notify(f"Ticker {name!r} deleted.", title="Deleted")
            self.wake()

    # ---- the watch stream ---------------------------------------------------------

    def watched(self, event: WatchEvent) -> None:
        if not isinstance(event, TickerChange):
            return
        if event.change == "fired":
            known = next((t for t in self.tickers if t.ticker == event.ticker), None)
            payload = known.payload if known is not None else None
            self.query_one(FiringLog).add(event.ticker, event.timestamp, payload)
        self.wake()  # last and next firing, or the ticker itself, changed
