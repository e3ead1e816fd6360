"""Ticker subcommands: tickers, ticker, create/update/delete-ticker, next-ticker (SSE)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from pgqueue_core.errors import PgQueueError
from pgqueue_core.models import MISSING, TickerMeta

from .. import output
from . import ClientCommand, Output, UsageError, add_paging, args

if TYPE_CHECKING:
    from ..client import Client


# ---- handlers ---------------------------------------------------------------------------


async def list_tickers(client: Client, ns: argparse.Namespace, out: Output) -> None:
    page = await client.list_tickers(ns.offset, ns.limit)
    if not page.items and not ns.offset:
        out.show("No tickers.")
        return
    out.show(output.tickers_table(page.items, output.now_utc()))
    note = output.page_note(page.count, ns.offset, len(page.items), "tickers")
    if note:
        out.note(note)


async def show_ticker(client: Client, ns: argparse.Namespace, out: Output) -> None:
    out.show(output.ticker_view(await client.get_ticker(ns.name), output.now_utc()))


def _payload(ns: argparse.Namespace) -> object:
    return MISSING if ns.payload is args.NOT_GIVEN else ns.payload


async def create_ticker(client: Client, ns: argparse.Namespace, out: Output) -> None:
    if ns.interval is not None and ns.interval_flag is not None:
        raise UsageError("give the interval once: as INTERVAL or with --interval")
    # Neither given: the server's default (every minute), as the original CLI documented.
    interval = ns.interval if ns.interval is not None else ns.interval_flag
    meta = TickerMeta(ticker=ns.name, interval=interval, payload=_payload(ns))
    out.show(output.ticker_view(await client.create_ticker(meta), output.now_utc()))


async def update_ticker(client: Client, ns: argparse.Namespace, out: Output) -> None:
    meta = TickerMeta(ticker=ns.rename, interval=ns.interval, payload=_payload(ns))
    if meta == TickerMeta():
        raise UsageError("nothing to change: give --name, --interval or --payload")
    out.show(output.ticker_view(await client.update_ticker(ns.name, meta), output.now_utc()))


async def delete_ticker(client: Client, ns: argparse.Namespace, out: Output) -> None:
    ticker = await client.delete_ticker(ns.name)
    out.show(f"Deleted ticker {ticker.ticker}.")


async def next_ticker(client: Client, ns: argparse.Namespace, out: Output) -> None:
    """Runs until stopped: the CLI cancels it on SIGINT or SIGTERM (exit code 0)."""
    out.streaming = True
    if out.json:
        client.on_json = lambda doc: out.event(json.dumps(doc, ensure_ascii=False))
    where = f"namespace {client.namespace}" if client.namespace else "the default namespace"
    seen = {"connected": False, "up": False, "said": ""}

    def say(text: str) -> None:
        if text != seen["said"]:
            seen["said"] = text
            print(text, file=sys.stderr, flush=True)

    def on_state(connected: bool, error: PgQueueError | None) -> None:
        # One line per change of state, not one per failed reconnect attempt.
        was_up, seen["up"] = seen["up"], connected
        if connected:
            say(
                "Reconnected."
                if seen["connected"]
                else f"Waiting for tickers of {where} at {client.url} (Ctrl-C to stop)"
            )
            seen["connected"] = True
        elif was_up:
            say(
                f"Connection lost ({error}); reconnecting…"
                if error
                else "Connection lost; reconnecting…"
            )
        elif error is not None:
            say(f"Still reconnecting: {error}")

    async with client.ticker_stream(fail_fast=True) as stream:
        stream.on_state = on_state
        async for ticker in stream:
            if not out.json:
                out.event(output.ticker_line(ticker))


# ---- parsers ----------------------------------------------------------------------------


def _name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", type=args.name, help="ticker name")


def _create_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name", metavar="NAME", type=args.name, help="ticker name (a-z, 0-9, _ and -)"
    )
    parser.add_argument(
        "interval",
        metavar="INTERVAL",
        nargs="?",
        type=args.duration,
        help="period, at least 1s (e.g. 30s, 1h; default 1m)",
    )
    parser.add_argument(
        "--interval",
        dest="interval_flag",
        metavar="INTERVAL",
        type=args.duration,
        help="the same as INTERVAL",
    )
    parser.add_argument(
        "--payload",
        metavar="JSON",
        type=args.json_value,
        default=args.NOT_GIVEN,
        help="JSON payload",
    )


def _update_arguments(parser: argparse.ArgumentParser) -> None:
    _name(parser)
    parser.add_argument(
        "--name", dest="rename", type=args.name, metavar="NEW", help="rename to NEW"
    )
    parser.add_argument("--interval", type=args.duration, help="new period")
    parser.add_argument(
        "--payload",
        metavar="JSON",
        type=args.json_value,
        default=args.NOT_GIVEN,
        help="new payload",
    )


# ---- commands (entry points in pyproject.toml) ------------------------------------------

TICKERS = ClientCommand(
    "List the tickers of the namespace.",
    ["pgqueue tickers"],
    arguments=lambda parser: add_paging(parser, "tickers"),
    handler=list_tickers,
)
TICKER = ClientCommand(
    "Show one ticker.", ["pgqueue ticker hourly-report"], arguments=_name, handler=show_ticker
)
CREATE_TICKER = ClientCommand(
    "Create a ticker that fires every INTERVAL (default 1m; first firing: at once).",
    [
        "pgqueue create-ticker heartbeat",
        "pgqueue create-ticker cache-sweep 30s",
        """pgqueue create-ticker hourly-report --interval 1h --payload '{"kind": "hourly"}'""",
    ],
    "INTERVAL is given after the name or with --interval; without it the ticker fires\n"
    "every minute. The payload (default {}) is any JSON; @FILE reads it from a file,\n"
    "@- from stdin.",
    arguments=_create_arguments,
    handler=create_ticker,
)
UPDATE_TICKER = ClientCommand(
    "Change a ticker's interval or payload, or rename it.",
    ["pgqueue update-ticker hourly-report --interval 2h"],
    arguments=_update_arguments,
    handler=update_ticker,
)
DELETE_TICKER = ClientCommand(
    "Delete a ticker.", ["pgqueue delete-ticker old"], arguments=_name, handler=delete_ticker
)
NEXT_TICKER = ClientCommand(
    "Print each matured ticker as it fires, until Ctrl-C.",
    ["pgqueue next-ticker", "pgqueue next-ticker --json | jq -c '{ticker, timestamp}'"],
    "Each firing goes to one listener only. A dropped connection is re-established\n"
    "with backoff. Ctrl-C (SIGINT) or SIGTERM closes the stream and exits with status 0,\n"
    "also when started in the background (`&`). With --json, one JSON document per line.",
    handler=next_ticker,
    until_stopped=True,
)
