"""Completing: the results of finished handlers, written to the database in batches."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from ..errors import PgQueueError
from ..models import Status, Task
from ..service import BackgroundLoop
from .stats import WorkerStats

log = logging.getLogger(__name__)

RETRY_DB_AFTER = 1.0  # seconds to wait after a database error before trying again


class ReleaseSink(Protocol):
    """What the Completer needs of a Manager."""

    async def release_encoded(
        self,
        worker: str,
        ids: list[int],
        attempts: list[int],
        successes: list[bool],
        results: list[str],
    ) -> dict[int, Status]: ...


@dataclass(slots=True)
class Outcome:
    """The result of one claim, waiting to be written."""

    task: Task
    success: bool
    result: str  # JSON text


class Completer(BackgroundLoop):
    """Writes `add`ed results in batches: the first result of a batch starts a wait of
    `flush_interval` seconds for more (none once `flush_size` are waiting), then everything
    waiting is written, `4 × flush_size` per statement. Each result is guarded by its claim
    (worker and attempt), so a task whose lease lapsed meanwhile is left alone (counted in
    `stats.lost`) and no result is ever applied twice. A database error keeps the results
    and retries after RETRY_DB_AFTER seconds.

    `stop()` writes what is left first, retrying for up to `final_flush_within` seconds
    (then logs what could not be written: those tasks run again once their leases lapse).
    `holding()` lists the tasks whose results are not written yet: their leases must be kept.
    """

    def __init__(
        self,
        manager: ReleaseSink,
        worker: str,
        stats: WorkerStats,
        *,
        flush_interval: float = 0.005,
        flush_size: int = 500,
        final_flush_within: float = 5.0,
    ) -> None:
        super().__init__(interval=1.0)  # wakes when a result arrives; the interval is spare
        self.name = f"{worker}-complete"
        self.manager = manager
        self.worker = worker
        self.stats = stats
        self.flush_interval = flush_interval
        self.flush_size = flush_size
        self.final_flush_within = final_flush_within
        self._pending: list[Outcome] = []  # results not yet written
        self._flushing: list[Outcome] = []  # the batch being written
        self._closing = False  # stop() asked: write what is left at once
        self._gathering: asyncio.Future[None] | None = None  # the wait for more results
        self._written = asyncio.Event()  # set whenever nothing is left to write

    @property
    def pending(self) -> int:
        """Results not yet written (including the batch being written)."""
        return len(self._pending) + len(self._flushing)

    def holding(self) -> Iterator[Task]:
        for outcome in self._flushing:
            yield outcome.task
        for outcome in self._pending:
            yield outcome.task

    def add(self, task: Task, success: bool, result: str) -> None:
        """Queue the result of `task`'s claim (`result`: JSON text) for the next batch."""
        self._pending.append(Outcome(task, success, result))
        self._written.clear()
        if len(self._pending) >= self.flush_size or len(self._pending) == 1:
            self.wake()

    async def stop(self) -> None:
        if self.running and self.pending:
            self._closing = True
            _resolve(self._gathering)
            self.wake()
            try:
                await asyncio.wait_for(self._written.wait(), self.final_flush_within)
            except TimeoutError:
                log.error(
                    "%s: %d result(s) could not be written; those tasks will run again after "
                    "their leases lapse",
                    self.worker,
                    self.pending,
                )
        await super().stop()

    async def tick(self) -> float | None:
        if self._pending:
            if len(self._pending) < self.flush_size:
                await self._gather()
            while self._pending:
                if not await self._flush():
                    await asyncio.sleep(RETRY_DB_AFTER)
        if not self.pending:
            self._written.set()
        return None

    async def _gather(self) -> None:
        """Wait `flush_interval` for more results to write with these (cut short by stop)."""
        if self._closing:
            return
        loop = asyncio.get_running_loop()
        self._gathering = gathering = loop.create_future()
        timer = loop.call_later(self.flush_interval, _resolve, gathering)
        try:
            await gathering
        finally:
            timer.cancel()
            self._gathering = None

    async def _flush(self) -> bool:
        """Write the pending results; False (results kept) when the database failed."""
        cut = self.flush_size * 4
        batch, self._pending = self._pending[:cut], self._pending[cut:]
        self._flushing = batch
        try:
            statuses = await self.manager.release_encoded(
                self.worker,
                [o.task.id for o in batch],
                [o.task.attempt for o in batch],
                [o.success for o in batch],
                [o.result for o in batch],
            )
        except PgQueueError as exc:
            log.warning(
                "%s: writing %d result(s) failed (%s); will retry", self.worker, len(batch), exc
            )
            self._pending[:0] = batch
            return False
        except Exception:
            log.exception("%s: writing %d result(s) failed unexpectedly", self.worker, len(batch))
            self._pending[:0] = batch
            return False
        except BaseException:
            self._pending[:0] = batch  # cancelled: keep them (writing twice is harmless)
            raise
        finally:
            self._flushing = []
        self.stats.flushes += 1
        for outcome in batch:
            status = statuses.get(outcome.task.id)
            counts = self.stats.queue(outcome.task.queue)
            if status is None:
                self.stats.lost += 1
                counts.lost += 1
                log.warning(
                    "%s: task %d was no longer ours when its result was written (lease lapsed "
                    "or it expired); result dropped",
                    self.worker,
                    outcome.task.id,
                )
            elif status == "released":
                self.stats.succeeded += 1
                counts.succeeded += 1
            elif status == "cancelled":
                self.stats.cancelled += 1
                counts.cancelled += 1
            else:
                self.stats.failed += 1
                counts.failed += 1
                if status == "retry":
                    self.stats.retried += 1
                    counts.retried += 1
        return True


def _resolve(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)
