"""Lease keeping: heartbeats for the tasks a worker holds, and what they find out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Protocol

from ..errors import PgQueueError
from ..service import BackgroundLoop
from ..tasks import Lease

log = logging.getLogger(__name__)

Claim = tuple[int, int]  # (task id, attempt): one claim of a task


class LeaseSource(Protocol):
    """What the LeaseKeeper needs of a Manager."""

    async def extend_leases(
        self, task_ids: Sequence[int], lease: timedelta | None = None, *, worker: str | None = None
    ) -> dict[int, Lease]: ...


class LeaseKeeper(BackgroundLoop):
    """Every `every` seconds, extends the leases of the claims `held()` lists (by worker
    `worker`) and reports, among those claims only, the ones whose task is no longer the
    worker's (`on_lost`: the lease lapsed and maintenance rescued it, or it expired) and
    the ones whose cancel was requested (`on_cancel`). A claim made while a heartbeat awaits
    the database is not in that heartbeat's question, so it is never reported lost by it.
    A failed heartbeat is logged and tried again at the next beat."""

    def __init__(
        self,
        manager: LeaseSource,
        worker: str,
        held: Callable[[], Iterable[Claim]],
        *,
        every: float,
        on_lost: Callable[[set[Claim]], None],
        on_cancel: Callable[[set[Claim]], None],
    ) -> None:
        super().__init__(interval=every)
        self.name = f"{worker}-leases"
        self.manager = manager
        self.worker = worker
        self._held = held
        self._on_lost = on_lost
        self._on_cancel = on_cancel

    async def tick(self) -> float | None:
        claims = set(self._held())
        if not claims:
            return None
        ids = list(dict.fromkeys(task_id for task_id, _ in claims))
        try:
            leases = await self.manager.extend_leases(ids, worker=self.worker)
        except PgQueueError as exc:
            log.warning("%s: heartbeat failed (%s)", self.worker, exc)
            return None
        except Exception:
            log.exception("%s: heartbeat failed unexpectedly", self.worker)
            return None
        lost = {c for c in claims if c[0] not in leases}
        cancel = {c for c in claims if c[0] in leases and leases[c[0]].cancel_requested}
        if lost:
            self._on_lost(lost)
        if cancel:
            self._on_cancel(cancel)
        return None
