"""Helpers for the Worker tests: worker processes and bounded waits on database state."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Wait until `check()` is true, polling every 20 ms, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


class WorkerProcess:
    """A `tests.worker.proc` worker in its own process."""

    def __init__(self, dsn: str, name: str, mode: str, concurrency: int = 4) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.worker.proc", dsn, name, mode, str(concurrency)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if line.strip() != "ready":
            self.proc.kill()
            raise AssertionError(f"worker {name} did not start: {line!r} {self.stderr()}")

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        return self.proc.stderr.read() if self.proc.stderr else ""

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def processes() -> Iterator[list[WorkerProcess]]:
    """Worker processes of a test; whatever is still running at the end is killed."""
    started: list[WorkerProcess] = []
    yield started
    for process in started:
        process.stop()
