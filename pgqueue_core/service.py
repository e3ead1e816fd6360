"""The one start/stop shape every background loop shares."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)


class BackgroundLoop:
    """Runs `tick()` repeatedly in a task until `stop()`.

    `tick()` returns how many seconds to wait before the next run (None: `interval`; 0: at
    once, for loops whose tick waits for its own events).
    An exception in `tick()` is logged and the loop carries on after `interval`.
    `stop()` wakes the loop at once, waits for the running tick up to `stop_timeout`, then
    cancels it; calling `stop()` twice, or before `start()`, is harmless.
    """

    name = "loop"

    def __init__(self, interval: float, *, stop_timeout: float = 1.0) -> None:
        self.interval = interval
        self.stop_timeout = stop_timeout
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        """Run the next tick now instead of after the wait."""
        self._wake.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._stopping.set()
        self._wake.set()
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), self.stop_timeout)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        except Exception:
            log.exception("%s failed while stopping", self.name)

    async def tick(self) -> float | None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                wait = await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s: %s: %s", self.name, type(exc).__name__, exc)
                wait = None
            if self._stopping.is_set():
                break
            if wait is not None and wait <= 0:
                await asyncio.sleep(0)  # never starve the event loop
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), self.interval if wait is None else max(wait, 0.0)
                )
