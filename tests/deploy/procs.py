"""Real processes for the deployment tests: servers, workers, PgBouncer; bounded waits only."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port free right now (the process binds it itself, so the OS cannot pick it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for(
    condition: Callable[[], bool | Awaitable[bool]], within: float, what: str
) -> None:
    """Wait until `condition()` holds, checking every 20 ms, up to `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


class Proc:
    """A child process whose output goes to a log file; `stop()` ends it within a deadline."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        self.terminated = False
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**env, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,  # its own group: a kill reaches Sanic's workers too
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(
                f"{self.name} exited with {self.proc.returncode}:\n{self.output()[-3000:]}"
            )

    async def wait_output(self, text: str, within: float) -> None:
        """Wait until `text` appears in the output (failing at once if the process died)."""

        def seen() -> bool:
            if text in self.output():
                return True
            self.check_alive()
            return False

        await wait_for(seen, within, f"{self.name} to print {text!r}")

    async def wait_exit(self, within: float) -> int:
        await wait_for(lambda: self.proc.poll() is not None, within, f"{self.name} to exit")
        return int(self.proc.returncode)

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.terminated = self.terminated or sig == signal.SIGTERM

    def stop(self, within: float = 15.0) -> int:
        """SIGTERM (once: a second one makes Sanic abandon its graceful shutdown), then
        SIGKILL (of its whole session: Sanic's worker processes too) after `within` seconds.
        Returns the exit code."""
        if self.proc.poll() is None:
            if not self.terminated:
                self.signal(signal.SIGTERM)
            try:
                self.proc.wait(within)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return int(self.proc.returncode)


@contextlib.contextmanager
def processes() -> Iterator[list[Proc]]:
    """A list to put started processes in; every one is stopped when the block ends."""
    started: list[Proc] = []
    try:
        yield started
    finally:
        for proc in started:
            proc.signal(signal.SIGTERM)  # all at once: they stop in parallel
        for proc in started:
            proc.stop()


def server_argv(dsn: str, port: int, *flags: str) -> list[str]:
    """`pgqueue run`, the entry point of the Docker image (the console script beside this
    Python; `python -m pgqueue_server run`, the same code, when it is not installed)."""
    script = Path(sys.executable).with_name("pgqueue")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "pgqueue_server"]
    return [*command, "run", dsn, "--addr", f"127.0.0.1:{port}", *flags]


async def wait_healthy(
    session: aiohttp.ClientSession, proc: Proc, base: str, within: float
) -> None:
    """Wait until `base`/health answers 200 (failing at once if the process died)."""

    async def healthy() -> bool:
        proc.check_alive()
        try:
            async with session.get(base + "/health") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    await wait_for(healthy, within, f"{proc.name} to answer on {base}/health")


def with_query(dsn: str, **params: str) -> str:
    """`dsn` with extra query parameters (e.g. application_name, which asyncpg passes on)."""
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return dsn + ("&" if "?" in dsn else "?") + query
