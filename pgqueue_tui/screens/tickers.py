"""Tickers: interval, last and next firing with a countdown; a live pane of firings."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer

from pgqueue_core.errors import PgQueueError
from pgqueue_core.models import Ticker, TickerMeta

from ..widgets.firing_log import FiringLog
from ..widgets.header import ConsoleHeader
from ..widgets.ticker_table import TickerTable
from .base import ConsoleScreen
from .ticker_form import TickerFormScreen

OBSERVING = "Firings · observed from the tickers (f: follow the stream)"
FOLLOWING = "Firings · following /ticker/next: this console claims the firings it shows"


class TickersScreen(ConsoleScreen):
    """The firings pane shows every firing it observes (whoever consumed it) by polling
    the tickers. Following the SSE stream (`f`) shows each firing the moment it matures,
    but a stream is a consumer: firings sent to the console go to no other consumer, so
    it is off until asked for."""

    CSS_PATH = "tickers.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("a", "new_ticker", "New"),
        Binding("e", "edit_ticker", "Edit"),
        Binding("d", "delete_ticker", "Delete"),
        Binding("f", "follow", "Follow stream"),
        Binding("enter", "edit_ticker", "Edit", show=False),
    ]

    context = "tickers"
    interval = 1.0

    @dataclass
    class Loaded(Message):
        tickers: list[Ticker]

    @dataclass
    class Fired(Message):
        ticker: Ticker

    @dataclass
    class StreamState(Message):
        connected: bool
        error: str | None

    def __init__(self) -> None:
        super().__init__()
        self.following = False
        self.tickers: list[Ticker] = []

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(self.context)
        table = TickerTable(id="tickers")
        table.border_title = "Tickers"
        yield table
        log = FiringLog(id="firings")
        log.border_title = OBSERVING
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

    # ---- the event stream ---------------------------------------------------------

    def action_follow(self) -> None:
        log = self.query_one(FiringLog)
        if self.following:
            self.following = False
            self.workers.cancel_group(self, "stream")
            log.border_title = OBSERVING
            self.notify("Stopped following the ticker stream.")
            return
        self.following = True
        log.border_title = FOLLOWING + " · connecting…"
        self.run_worker(self._follow(), group="stream", exclusive=True, exit_on_error=False)

    async def _follow(self) -> None:
        def state(connected: bool, error: PgQueueError | None) -> None:
            self.post_message(self.StreamState(connected, None if error is None else str(error)))

        stream = self.client.ticker_stream(on_state=state)
        try:
            async for ticker in stream:
                self.post_message(self.Fired(ticker))
        except PgQueueError as exc:  # refused for good: bad token, namespace, URL
            self.post_message(self.StreamState(False, f"stopped: {exc}"))
        finally:
            await stream.aclose()

    def on_tickers_screen_fired(self, message: Fired) -> None:
        self.query_one(FiringLog).add(message.ticker, via="← stream")

    def on_tickers_screen_stream_state(self, message: StreamState) -> None:
        if not self.following:
            return
        log = self.query_one(FiringLog)
        if message.connected:
            log.border_title = FOLLOWING
        elif message.error and message.error.startswith("stopped"):
            self.following = False
            log.border_title = OBSERVING
            self.notify(message.error, title="Ticker stream", severity="error")
        else:
            log.border_title = FOLLOWING + " · reconnecting…"
