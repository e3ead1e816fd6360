"""Ticker operations of the Manager: register, get, list, update, delete, claim, loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from . import codec, handlers, validate
from .base import ManagerBase
from .errors import Conflict, InvalidArgument, PgQueueError, nothing_to_change, ticker_not_found
from .models import MISSING, Ticker, TickerMeta

log = logging.getLogger(__name__)

MIN_INTERVAL = timedelta(seconds=1)
# How long a firing claimed for delivery may take to reach its consumer before another
# claimant may take it (longer than any send timeout of the server's streams).
DELIVERY_LEASE = timedelta(seconds=30)
# The interval of a ticker created without one: the original's column default
# (go-pg pkg/queue/sql/objects.sql:53) and its CLI's documented default. It lives here, not
# in a column default, so that the Python API, the REST server and the CLI agree.
DEFAULT_TICKER_INTERVAL = timedelta(minutes=1)
# A ticker loop re-reads the schedule at least this often, so that tickers registered
# elsewhere are noticed; otherwise it sleeps exactly until the next maturity.
MAX_TICKER_SLEEP = 5.0

TickerHandler = Callable[[Ticker], Awaitable[Any] | Any]


def _check_settings(meta: TickerMeta) -> tuple[timedelta | None, str | None]:
    """The interval and the payload's JSON text (None: not given)."""
    validate.duration(meta.interval, "interval", minimum=MIN_INTERVAL)
    payload = None if meta.payload is MISSING else validate.payload(meta.payload)
    return meta.interval, payload


class TickerOps(ManagerBase):
    """Tickers of the Manager's namespace."""

    async def create_ticker(self, meta: TickerMeta) -> Ticker:
        """Create a ticker (interval default: DEFAULT_TICKER_INTERVAL); Conflict if it exists."""
        return await self._put_ticker(meta, must_be_new=True)

    async def register_ticker(self, meta: TickerMeta) -> Ticker:
        """Upsert a ticker. Re-registering with unchanged settings keeps its schedule (it does
        not fire again early); a new ticker without an interval fires every minute, an
        existing one keeps its interval."""
        return await self._put_ticker(meta, must_be_new=False)

    async def _put_ticker(self, meta: TickerMeta, *, must_be_new: bool) -> Ticker:
        interval, payload = _check_settings(meta)
        if not meta.ticker:
            raise InvalidArgument("ticker name is required")
        name = validate.name(meta.ticker, "ticker")
        async with self._conn() as conn, conn.transaction():
            existing = await self._run_on(conn, "ticker_get", self.namespace, name)
            if existing is not None:
                if must_be_new:
                    raise Conflict(f"ticker {name!r} already exists", key="ticker_exists")
                row = await self._run_on(
                    conn, "ticker_update", self.namespace, name, None, interval, payload
                )
                return self._ticker_changed(Ticker.from_record(row), "updated")
            row = await self._run_on(
                conn,
                "ticker_insert",
                self.namespace,
                name,
                DEFAULT_TICKER_INTERVAL if interval is None else interval,
                payload,
            )
            if row is None:
                # Created by someone else since we looked: an upsert updates it instead.
                if must_be_new:
                    raise Conflict(f"ticker {name!r} already exists", key="ticker_exists")
                row = await self._run_on(
                    conn, "ticker_update", self.namespace, name, None, interval, payload
                )
                return self._ticker_changed(Ticker.from_record(row), "updated")
        return self._ticker_changed(Ticker.from_record(row), "created")

    def _ticker_changed(self, ticker: Ticker, change: str) -> Ticker:
        """Record a ticker's change for watchers."""
        stamp = codec.format_time(ticker.timestamp)
        self._publisher.ticker(self.namespace, ticker.ticker, change, stamp)
        return ticker

    async def get_ticker(self, name: str) -> Ticker:
        name = validate.name(name, "ticker")
        row = await self._run("ticker_get", self.namespace, name)
        if row is None:
            raise ticker_not_found(name)
        return Ticker.from_record(row)

    async def list_tickers(
        self, offset: int | None = 0, limit: int | None = 100
    ) -> tuple[int, list[Ticker]]:
        offset, limit = validate.paging(offset, limit)
        rows = await self._run("ticker_list", self.namespace, offset, limit)
        if rows:
            return rows[0]["total"], [Ticker.from_record(r) for r in rows]
        return await self._run("ticker_count", self.namespace), []

    async def update_ticker(self, name: str, meta: TickerMeta) -> Ticker:
        """Change the fields given; `meta.ticker` renames ("" or None: no rename). The
        schedule is kept. Naming no change at all is an InvalidArgument `nothing_to_change`,
        whether or not the ticker exists."""
        name = validate.name(name, "ticker")
        rename = validate.rename(meta.ticker, "ticker")
        interval, payload = _check_settings(meta)
        if rename is None and interval is None and payload is None:
            raise nothing_to_change("ticker", "a new name (ticker), interval or payload")
        row = await self._run(
            "ticker_update",
            self.namespace,
            name,
            rename if rename != name else None,
            interval,
            payload,
        )
        if row is None:
            raise ticker_not_found(name)
        return self._ticker_changed(Ticker.from_record(row), "updated")

    async def delete_ticker(self, name: str) -> Ticker:
        name = validate.name(name, "ticker")
        row = await self._run("ticker_delete", self.namespace, name)
        if row is None:
            raise ticker_not_found(name)
        return self._ticker_changed(Ticker.from_record(row), "deleted")

    async def next_ticker(self) -> Ticker | None:
        """Claim one matured ticker (most overdue first; never-fired first) and return it with
        its new timestamp; None when none has matured. Each maturity has one claimant."""
        row = await self._run("ticker_claim", self.namespace)
        return None if row is None else self._ticker_changed(Ticker.from_record(row), "fired")

    async def claim_firing(self, lease: timedelta = DELIVERY_LEASE) -> Ticker | None:
        """Claim a matured ticker's firing for delivery, as a lease of `lease`: it counts as
        fired once `firing_delivered` says so; `give_back_firing`, or the lease lapsing (this
        process died), lets another claimant have it. No connection is held meanwhile."""
        validate.duration(lease, "lease", minimum=MIN_INTERVAL)
        row = await self._run("ticker_claim_delivery", self.namespace, lease)
        return None if row is None else Ticker.from_record(row)

    async def firing_delivered(self, firing: Ticker) -> bool:
        """The firing reached its consumer (False: its lease had lapsed and it was taken)."""
        stored = await self._run(
            "ticker_delivered", self.namespace, firing.ticker, firing.timestamp
        )
        if stored is not None:
            self._ticker_changed(firing, "fired")
        return stored is not None

    async def give_back_firing(self, firing: Ticker) -> None:
        """The firing could not be delivered: the next claimant gets it."""
        await self._run("ticker_give_back", self.namespace, firing.ticker, firing.timestamp)

    @contextlib.asynccontextmanager
    async def claim_ticker(self, lease: timedelta = DELIVERY_LEASE) -> AsyncIterator[Ticker | None]:
        """`claim_firing` as a block: the firing counts as fired if the block ends normally and
        is given back when it raises or is cancelled. No connection or transaction is held
        while the block runs (it may write to a slow client)."""
        firing = await self.claim_firing(lease)
        if firing is None:
            yield None
            return
        try:
            yield firing
        except BaseException:
            # Shielded: a cancelled block (the client left) must still hand the firing back.
            with contextlib.suppress(PgQueueError):
                await asyncio.shield(self.give_back_firing(firing))
            raise
        # Shielded too: once delivered, a cancellation must not have it delivered again.
        await asyncio.shield(self.firing_delivered(firing))

    async def next_ticker_in(self) -> float | None:
        """Seconds until the namespace's next ticker matures (0: one is due; None: none)."""
        due: datetime | None = await self._run("ticker_next_due", self.namespace)
        if due is None:
            return None
        return max(0.0, (due - datetime.now(UTC)).total_seconds())

    async def run_ticker_loop(
        self, handler: TickerHandler, *, max_sleep: float = MAX_TICKER_SLEEP
    ) -> None:
        """Call `handler` for every matured ticker until cancelled, sleeping until the next
        maturity. An async handler runs on the event loop, a sync one in a thread (it never
        blocks the loop). A failing handler is logged; the loop goes on; a database outage
        is waited out."""
        while True:
            try:
                ticker = await self.next_ticker()
            except PgQueueError as exc:
                log.warning("ticker loop: %s; retrying in %.0fs", exc, max_sleep)
                await asyncio.sleep(max_sleep)
                continue
            if ticker is not None:
                await _call(handler, ticker)
                continue
            try:
                wait = await self.next_ticker_in()
            except PgQueueError:
                wait = None
            await asyncio.sleep(max_sleep if wait is None else min(max(wait, 0.001), max_sleep))


async def _call(handler: TickerHandler, ticker: Ticker) -> None:
    try:
        await handlers.call(handler, ticker)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("ticker handler failed for %s/%s", ticker.namespace, ticker.ticker)
