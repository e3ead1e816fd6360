"""Background maintenance: lease rescue, expiry and cleanup, once per period across processes."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from . import db
from .events import Publisher
from .models import Ticker
from .service import BackgroundLoop
from .system import SYSTEM_NAMESPACE, System

log = logging.getLogger(__name__)

RESCUE_TICKER = "lease-rescue"
CLEANUP_TICKER = "cleanup"
VACUUM_TICKER = "vacuum"


class Maintenance(BackgroundLoop):
    """Keeps tasks moving however many processes share the database.

    The schedule lives in tickers of the reserved `pgqueue` namespace, so each period's run is
    claimed by exactly one process (the ticker claim), and each job also holds an advisory
    lock while it works, so two runs never overlap even when one outlasts its period.
    `rescue_every`: lapsed leases and overdue tasks, and the task counts folded;
    `cleanup_every`: terminal tasks past ttl; `vacuum_every`: VACUUM of the task table when
    its dead row versions pass its autovacuum threshold. As for every job, the first process
    to register it sets its period; 0 registers none (a period registered by another process
    still runs here when this process claims it).
    """

    name = "pgqueue-maintenance"

    def __init__(
        self,
        pool: Any,
        schema: str = "pgqueue",
        *,
        rescue_every: timedelta = timedelta(seconds=1),
        cleanup_every: timedelta = timedelta(seconds=30),
        vacuum_every: timedelta = timedelta(seconds=10),
        max_sleep: float = 1.0,
        connections: db.Connections | None = None,
        publisher: Publisher | None = None,
    ) -> None:
        super().__init__(interval=max_sleep)
        self.system = System(pool, schema, connections=connections, publisher=publisher)
        self.schedule = {RESCUE_TICKER: rescue_every, CLEANUP_TICKER: cleanup_every}
        if vacuum_every > timedelta(0):
            self.schedule[VACUUM_TICKER] = vacuum_every
        self._registered = False
        self.counts = {"expired": 0, "rescued": 0, "cleaned": 0, "folded": 0, "vacuums": 0}

    async def _register(self, conn: Any) -> None:
        for name, every in self.schedule.items():
            await conn.execute(
                self.system.sql["ticker_insert"].sql, SYSTEM_NAMESPACE, name, every, None
            )
        self._registered = True

    async def run_due(self) -> list[str]:
        """Claim and run every due maintenance job; returns the jobs this process ran."""
        ran: list[str] = []
        while True:
            async with self.system.connections.pooled(self.system.acquire_timeout) as conn:
                if not self._registered:
                    await self._register(conn)
                row = await conn.fetchrow(self.system.sql["ticker_claim"].sql, SYSTEM_NAMESPACE)
            if row is None:
                return ran
            ticker = Ticker.from_record(row)
            await self._run_job(ticker.ticker)
            ran.append(ticker.ticker)

    async def _run_job(self, job: str) -> None:
        if job == RESCUE_TICKER:
            rescued = await self.system.rescue()
            expired = await self.system.expire()
            self.counts["rescued"] += rescued
            self.counts["expired"] += expired
            # Every second, so that what a count reads beyond task_count stays a second of
            # writes (migration 7).
            self.counts["folded"] += await self.system.fold_counts()
            if rescued:
                log.warning("maintenance: %d task(s) had a lapsed lease and were rescued", rescued)
        elif job == CLEANUP_TICKER:
            cleaned = await self.system.cleanup()
            self.counts["cleaned"] += cleaned
            if cleaned:
                log.info("maintenance: deleted %d finished task(s) past their ttl", cleaned)
        elif job == VACUUM_TICKER:
            vacuumed = await self.system.vacuum()
            self.counts["vacuums"] += len(vacuumed)
            if vacuumed:
                log.debug("maintenance: vacuumed %s", ", ".join(vacuumed))
        else:
            log.debug("maintenance: ignoring unknown system ticker %r", job)

    async def tick(self) -> float | None:
        await self.run_due()
        async with self.system.connections.pooled(self.system.acquire_timeout) as conn:
            due = await conn.fetchval(self.system.sql["ticker_next_due"].sql, SYSTEM_NAMESPACE)
        if due is None:
            return None
        return min(self.interval, max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.001)
