"""A log of ticker firings, newest last: observed from ticker timestamps, or from the stream."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.widgets import RichLog

from pgqueue_core.models import Ticker

from ..output import compact_json, truncate


class FiringLog(RichLog):
    """`observe()` compares each ticker's last firing with the previous look and logs the
    new ones (whoever claimed them); `add()` logs a firing received from the event stream."""

    DEFAULT_CSS = """
    FiringLog {
        overflow-y: auto;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, *, id: str | None = None, limit: int = 500) -> None:
        super().__init__(id=id, max_lines=limit, wrap=False, markup=False, auto_scroll=True)
        self._seen: dict[str, datetime | None] | None = None
        self._logged: set[tuple[str, datetime | None]] = set()
        self.count = 0

    def observe(self, tickers: Sequence[Ticker]) -> None:
        """Log tickers whose timestamp moved since the last call (the first call only
        remembers, so that opening the console does not replay old firings)."""
        seen = {t.ticker: t.timestamp for t in tickers}
        if self._seen is not None:
            fired = [
                t
                for t in tickers
                if t.timestamp is not None
                and t.timestamp != self._seen.get(t.ticker)
                and (t.ticker, t.timestamp) not in self._logged
            ]
            for ticker in sorted(fired, key=lambda t: t.timestamp or datetime.min):
                self.add(ticker)
        self._seen = seen

    def add(self, ticker: Ticker, via: str = "") -> None:
        line = Text(no_wrap=True)
        stamp = ticker.timestamp.astimezone().strftime("%H:%M:%S") if ticker.timestamp else "--"
        line.append(stamp, style="dim")
        line.append("  ")
        line.append(ticker.ticker, style="bold")
        line.append("  ")
        line.append(truncate(compact_json(ticker.payload), 60))
        if via:
            line.append(f"  {via}", style="dim")
        self.write(line)
        self.count += 1
        self._logged.add((ticker.ticker, ticker.timestamp))
        if len(self._logged) > 4 * (self.max_lines or 500):
            self._logged.clear()

    def reset(self) -> None:
        self.clear()
        self._seen = None
        self._logged.clear()
        self.count = 0
