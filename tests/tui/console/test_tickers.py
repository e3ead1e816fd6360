"""Tickers: the list with countdowns, create/edit/delete, and the firings pane."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from datetime import timedelta

from textual.widgets import Input

from pgqueue_core.models import Ticker, TickerMeta
from pgqueue_tui.app import ConsoleApp
from pgqueue_tui.client import Client
from pgqueue_tui.screens.confirm import ConfirmScreen
from pgqueue_tui.screens.ticker_form import TickerFormScreen
from pgqueue_tui.screens.tickers import FIRINGS, TickersScreen
from pgqueue_tui.widgets.firing_log import FiringLog
from pgqueue_tui.widgets.json_editor import JsonEditor
from pgqueue_tui.widgets.ticker_table import TickerTable
from tests.support.console import SIZE, cell_texts, noted, wait_on_screen


def log_lines(app: ConsoleApp) -> list[str]:
    return [line.text for line in app.screen.query_one(FiringLog).lines]


async def test_list_create_edit_and_delete_tickers(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_ticker(TickerMeta(ticker="hourly", interval=timedelta(hours=1)))
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k")
        screen = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, TickersScreen) and app.screen, "tickers"
        )
        table = screen.query_one(TickerTable)
        await wait_on_screen(pilot, lambda: table.row_count == 1, "the ticker")
        assert cell_texts(table)[0][:4] == ["hourly", "1h", "{}", "never"]

        await pilot.press("a")
        form = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, TickerFormScreen) and app.screen, "form"
        )
        form.query_one("#ticker", Input).value = "nightly"
        form.query_one("#interval", Input).value = "0.5s"
        form.query_one(JsonEditor).query_one("TextArea").text = '{"scope": "all"}'
        await pilot.press("ctrl+s")
        assert "at least 1s" in str(form.query_one("#error").render())
        form.query_one("#interval", Input).value = "24h"
        await pilot.press("ctrl+s")
        await wait_on_screen(pilot, lambda: table.row_count == 2, "two tickers")
        nightly = await client.get_ticker("nightly")
        assert (nightly.interval, nightly.payload) == (timedelta(hours=24), {"scope": "all"})

        table.select("nightly")
        await pilot.press("e")
        form = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, TickerFormScreen) and app.screen, "edit"
        )
        form.query_one("#interval", Input).value = "12h"
        await pilot.press("ctrl+s")
        await wait_on_screen(pilot, noted(app, "'nightly' saved"), "saved")
        assert (await client.get_ticker("nightly")).interval == timedelta(hours=12)

        await pilot.press("d")
        await wait_on_screen(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirm")
        await pilot.press("y")
        await wait_on_screen(pilot, lambda: table.row_count == 1, "one ticker left")
        assert [t.ticker for t in (await client.list_tickers()).items] == ["hourly"]


async def test_countdown_to_the_next_firing(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_ticker(TickerMeta(ticker="minutely", interval=timedelta(minutes=1)))
    fired = await client.ticker_stream(fail_fast=True).__anext__()  # fire it once
    assert fired.ticker == "minutely"
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k")
        table = await wait_on_screen(
            pilot,
            lambda: isinstance(app.screen, TickersScreen) and app.screen.query_one(TickerTable),
            "tickers",
        )
        await wait_on_screen(pilot, lambda: table.row_count == 1, "the row")
        last, upcoming = cell_texts(table)[0][3:5]
        assert last.endswith("ago") or last == "now"
        assert upcoming.startswith("in 5") or upcoming.startswith("in 1m"), upcoming
        await wait_on_screen(pilot, lambda: cell_texts(table)[0][4] != upcoming, "the countdown")


async def test_the_console_observes_firings_a_real_consumer_receives(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    """The console shows firings from the watch stream and claims none: a consumer of the
    ticker stream running alongside it receives every firing (consecutive timestamps, one
    interval apart), and the console shows each of them."""
    interval = timedelta(seconds=1)
    await client.create_ticker(TickerMeta(ticker="beat", interval=interval, payload={"n": 1}))
    received: list[Ticker] = []

    async def consume() -> None:
        async with client.ticker_stream() as stream:
            async for ticker in stream:
                received.append(ticker)

    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, lambda: app.watching == "live", "the watch stream")
        await pilot.press("k")
        await wait_on_screen(pilot, lambda: isinstance(app.screen, TickersScreen), "tickers")
        log = app.screen.query_one(FiringLog)
        assert log.border_title == FIRINGS
        consumer = asyncio.ensure_future(consume())
        try:
            await wait_on_screen(pilot, lambda: len(received) >= 4, "four firings", timeout=15)
            shown = received[:4]
            stamps = [t.timestamp for t in shown if t.timestamp is not None]
            assert len(stamps) == 4
            gaps = {b - a for a, b in itertools.pairwise(stamps)}
            assert gaps == {interval}, stamps  # none went to the console instead

            def everything_shown() -> bool:
                lines = log_lines(app)
                return all(
                    any(line.startswith(f"{t.timestamp:%H:%M:%S}  beat") for line in lines)
                    for t in shown
                    if t.timestamp is not None
                )

            await wait_on_screen(pilot, everything_shown, "the consumer's firings in the console")
            # ... as the watch stream reported them (not only seen by polling the tickers).
            assert set(stamps) <= {f.timestamp for f in app.live.firings if f.ticker == "beat"}
            assert any('beat  {"n":1}' in line for line in log_lines(app))
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer


async def test_firings_claimed_elsewhere_are_observed(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_ticker(TickerMeta(ticker="beat", interval=timedelta(seconds=1)))
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        log = app.screen.query_one(FiringLog)  # the overview's pane
        await wait_on_screen(pilot, lambda: app.screen.query_one(TickerTable).row_count, "the row")
        async with client.ticker_stream() as stream:  # another consumer
            await stream.__anext__()
        await wait_on_screen(pilot, lambda: log.count == 1, "the firing")
        assert "beat" in log.lines[0].text
