"""Handlers that tests/worker/test_command.py runs with `pgqueue worker` in real processes.

`hold` blocks until the file `release` appears in $CMD_TEST_DIR, after writing
`started-<task id>` there: a test can see a task running and decide when it ends."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from pgqueue_core import Handlers, Task

tasks = Handlers()


@tasks.handler("jobs")
async def double(task: Task) -> int:
    if task.payload == "boom":
        raise ValueError("boom")
    return int(task.payload) * 2


@tasks.handler("reports")
def report(task: Task) -> dict[str, object]:  # sync: runs in the Worker's thread pool
    return {"rows": task.payload}


@tasks.handler("hold")
async def hold(task: Task) -> str:
    folder = Path(os.environ["CMD_TEST_DIR"])
    (folder / f"started-{task.id}").write_text(str(os.getpid()))
    # A file is the only signal another process's test can give; the handler's own poll.
    while not (folder / "release").exists():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    return f"done by {os.getpid()}"


plain = {"jobs": double}  # a plain dict works as before


def make() -> Handlers:
    """A factory: `pgqueue worker tests.worker.cmd_handlers:make`."""
    return tasks


not_handlers = 42
bad_mapping = {"jobs": "not callable"}
