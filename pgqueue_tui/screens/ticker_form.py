"""Create or edit a ticker: name, interval, JSON payload."""

from __future__ import annotations

import json
from datetime import timedelta

from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.widgets import Input, Label

from pgqueue_core import validate
from pgqueue_core.durations import format_duration, parse_duration
from pgqueue_core.errors import InvalidArgument
from pgqueue_core.models import MISSING, Ticker, TickerMeta

from ..widgets.json_editor import JsonEditor
from .form import FormScreen


class TickerFormScreen(FormScreen[TickerMeta]):
    """Dismissed with the fields to send (only those changed when editing) or None."""

    def __init__(self, ticker: Ticker | None = None) -> None:
        super().__init__()
        self.ticker = ticker

    def compose(self) -> ComposeResult:
        t = self.ticker
        with VerticalScroll(id="panel") as panel:
            panel.border_title = f"Edit ticker {t.ticker}" if t else "New ticker"
            panel.border_subtitle = "ctrl+s save · esc cancel"
            with Grid(classes="form"):
                yield Label("name")
                yield Input(
                    t.ticker if t else "", placeholder="hourly-report", id="ticker", compact=True
                )
                yield Label("interval")
                yield Input(
                    format_duration(t.interval) if t else "",
                    placeholder="e.g. 30s, 1h (at least 1s)",
                    id="interval",
                    compact=True,
                )
            yield Label("payload (JSON)", classes="hint")
            payload = json.dumps(t.payload, indent=2, ensure_ascii=False) if t else "{}"
            yield JsonEditor(payload, id="payload")
            yield from self.buttons()

    def on_mount(self) -> None:
        self.query_one("#ticker" if self.ticker is None else "#interval", Input).focus()

    def read(self) -> TickerMeta:
        t = self.ticker
        name = validate.name(self.query_one("#ticker", Input).value, "ticker")
        text = self.query_one("#interval", Input).value.strip()
        if not text and t is None:
            raise InvalidArgument("the interval is required (e.g. 30s, 1h)")
        interval = None
        if text:
            interval = parse_duration(text, "interval")
            if interval < timedelta(seconds=1):
                raise InvalidArgument("the interval must be at least 1s")
        payload = self.json_value("the payload")
        return TickerMeta(
            ticker=name if t is None or name != t.ticker else None,
            interval=interval if t is None or interval != t.interval else None,
            payload=payload if t is None or payload != t.payload else MISSING,
        )
