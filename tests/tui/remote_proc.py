"""A RemoteWorker process for the tests: `python -m tests.tui.remote_proc URL QUEUE NAME`.

Its handler works 50 ms per task (work, not a wait), so that a test can kill it mid-drain."""

from __future__ import annotations

import asyncio
import logging
import sys

from pgqueue_core import Task
from pgqueue_tui.remote import RemoteWorker


async def work(task: Task) -> int:
    await asyncio.sleep(0.05)  # work
    return int(task.id)


async def main(url: str, queue: str, name: str) -> None:
    worker = RemoteWorker(url, {queue: work}, name=name, concurrency=4, wait=5.0)
    await worker.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(*sys.argv[1:4]))
