"""A log of ticker firings, newest last: from the watch stream, or seen in ticker timestamps."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.widgets import RichLog

from pgqueue_core.models import Ticker

from ..output import compact_json, truncate


class FiringLog(RichLog):
    """`add()` logs a firing the watch stream reported; `observe()` compares each ticker's
    last firing with the previous look and logs the new ones (while the stream is down).
    Both only observe: whoever consumes the firing still gets it. A firing is logged once."""

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
                self.add(ticker.ticker, ticker.timestamp, ticker.payload)
        self._seen = seen

    def add(self, ticker: str, timestamp: datetime | None, payload: Any = None) -> None:
        if (ticker, timestamp) in self._logged:
            return
        line = Text(no_wrap=True)
        stamp = timestamp.astimezone().strftime("%H:%M:%S") if timestamp else "--"
        line.append(stamp, style="dim")
        line.append("  ")
        line.append(ticker, style="bold")
        if payload is not None:
            line.append("  ")
            line.append(truncate(compact_json(payload), 60))
        self.write(line)
        self.count += 1
        self._logged.add((ticker, timestamp))
        if len(self._logged) > 4 * (self.max_lines or 500):
            self._logged.clear()

    def reset(self) -> None:
        self.clear()
        self._seen = None
        self._logged.clear()
        self.count = 0
