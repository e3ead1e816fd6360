"""The ticker stream: matured tickers over SSE (`GET /ticker/next`), reconnecting with backoff."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from pgqueue_core import codec
from pgqueue_core.errors import PgQueueError
from pgqueue_core.models import Ticker

from .sse import Event, EventSource, StateHook
from .transport import Params

__all__ = ["StateHook", "TickerStream"]

log = logging.getLogger(__name__)


class TickerStream(EventSource[Ticker]):
    """Async iterator of matured tickers, each claimed by this stream alone.

    It keeps going across dropped connections (waiting `min_delay` seconds, doubling up to
    `max_delay`) until closed or cancelled. Errors a retry cannot fix (bad token, unknown
    namespace, wrong URL) are raised. `connected` tells the current state; `on_state` is
    called with (connected, error) whenever it changes or a reconnect attempt fails.
    """

    def __init__(
        self,
        *,
        session: Callable[[], aiohttp.ClientSession],
        url: str,
        params: Params,
        headers: dict[str, str],
        on_json: Callable[[Any], None] | None = None,
        on_state: StateHook | None = None,
        min_delay: float = 0.25,
        max_delay: float = 5.0,
        read_timeout: float = 35.0,
        fail_fast: bool = False,
    ) -> None:
        super().__init__(
            session=session,
            url=url,
            decode=self._ticker,
            params=params,
            headers=headers,
            on_state=on_state,
            min_delay=min_delay,
            max_delay=max_delay,
            read_timeout=read_timeout,
            fail_fast=fail_fast,
        )
        self._on_json = on_json

    def _ticker(self, event: Event) -> Ticker | None:
        if event.type != "ticker":
            return None
        try:
            doc = json.loads(event.data)
            ticker = codec.decode(Ticker, doc)
        except (ValueError, KeyError, TypeError, PgQueueError) as exc:
            log.warning("ticker stream: skipping a malformed event (%s): %.200s", exc, event.data)
            return None
        if self._on_json is not None:
            self._on_json(doc)
        return ticker
