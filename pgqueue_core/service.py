"""The one start/stop shape every background loop shares."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

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


def install_stop_signals(stop: Callable[[], None], enabled: bool = True) -> Callable[[], None]:
    """Call `stop` on SIGTERM and SIGINT (a worker's graceful stop; a second signal calls it
    again) while running in the main thread's loop; returns what puts the previous handlers
    back. Elsewhere (or not `enabled`) it does nothing."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    installed: list[tuple[signal.Signals, Any]] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        try:
            loop.add_signal_handler(sig, stop)
        except (NotImplementedError, RuntimeError, ValueError):
            continue
        installed.append((sig, previous))

    def restore() -> None:
        for sig, previous in installed:
            loop.remove_signal_handler(sig)
            with contextlib.suppress(TypeError, ValueError):
                signal.signal(sig, previous)

    return restore
