"""A Worker running in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from pgqueue_core import Worker


@contextlib.asynccontextmanager
async def running_worker(
    worker: Worker, *, within: float = 30.0
) -> AsyncIterator[asyncio.Task[None]]:
    """`worker.run()` as a task for the duration of the block (which gets the task).

    Afterwards, whether the block passed or failed, the worker is stopped and awaited: a
    graceful stop for up to `within` seconds (none when the block failed), then a second
    stop (running handlers are cancelled), then the run task itself is cancelled, so a
    failing test never hangs on its worker. A run that failed, or did not stop in time,
    fails the test (unless the block already failed: its own error is the one reported).
    To stop the worker inside the block, call `worker.stop()` and await the task there.
    """
    run = asyncio.create_task(worker.run(), name=f"run-{worker.name}")
    failed = False
    try:
        yield run
    except BaseException:
        failed = True
        raise
    finally:
        stopped = await _stop_worker(worker, run, 0.0 if failed else within)
        if run.done() and not run.cancelled():
            error = run.exception()  # retrieved either way: no "never retrieved" warning
            if error is not None and not failed:
                raise error
        if not stopped and not failed:
            raise AssertionError(f"worker {worker.name} did not stop within {within}s")


async def _stop_worker(worker: Worker, run: asyncio.Task[None], within: float) -> bool:
    """Stop the worker, escalating; whether it stopped by itself within `within` seconds."""
    if run.done():
        return True
    worker.stop()
    done, _ = await asyncio.wait([run], timeout=within)
    if done:
        return True
    worker.stop()  # a second stop cancels the running handlers
    done, _ = await asyncio.wait([run], timeout=5)
    if not done:
        run.cancel()
        await asyncio.wait([run], timeout=5)
    return False
