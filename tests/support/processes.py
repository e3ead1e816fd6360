"""Real processes of the tests: `pgqueue run` servers, workers, anything with a log file;
bounded waits and stops only, so a failing test never leaves one behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp

from . import ROOT
from .net import free_port
from .waiting import wait_for

# ---- any process with a log (the deployment tests) ------------------------------------


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


# ---- `python -m pgqueue_server run` ----------------------------------------------------


@contextlib.contextmanager
def serve_process(
    args: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m pgqueue_server run ARGS`, its output in `log`; stopped at the end."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pgqueue_server", "run", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:  # the test failed early: stop it (and its database)
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


async def wait_up(session: aiohttp.ClientSession, base: str, within: float) -> None:
    async def healthy() -> bool:
        try:
            async with session.get(base + "/health") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    await wait_for(healthy, within, "the server to answer")


async def wait_exit(proc: subprocess.Popen[bytes], within: float) -> int:
    await wait_for(lambda: proc.poll() is not None, within, "the server to exit")
    return int(proc.returncode)


class ServerProcess:
    """`python -m pgqueue_server run DSN --addr 127.0.0.1:PORT FLAGS` in a subprocess, its
    output appended to `log`; `start` again after `kill` serves on the same port."""

    def __init__(self, dsn: str, log: Path, *flags: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.argv = [
            sys.executable, "-m", "pgqueue_server", "run", dsn,
            "--addr", f"127.0.0.1:{self.port}", *flags,
        ]  # fmt: skip
        self.env = {**os.environ, **(env or {})}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{self.port}/api"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT
            )

    def kill(self) -> int:
        """SIGKILL: no shutdown code runs, its connections are simply cut."""
        assert self.proc is not None
        self.proc.kill()
        return self.proc.wait(10)

    def stop(self) -> int | None:
        """SIGTERM (graceful), SIGKILL after 30 s."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_healthy(self, session: aiohttp.ClientSession, within: float) -> float:
        """Seconds until /health answers 200."""

        async def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited:\n{self.output()[-3000:]}")
            try:
                async with session.get(self.base + "/health") as resp:
                    return resp.status == 200
            except (aiohttp.ClientError, TimeoutError):
                return False

        return await wait_for(healthy, within, "the server to be healthy")


@contextlib.asynccontextmanager
async def serving(
    dsn: str, log: Path, *flags: str, env: dict[str, str] | None = None
) -> AsyncIterator[ServerProcess]:
    """A started server process (healthy), stopped at the end whatever happens."""
    server = ServerProcess(dsn, log, *flags, env=env)
    server.start()
    try:
        async with http_session() as http:
            await server.wait_healthy(http, 30)
        yield server
    finally:
        await asyncio.to_thread(server.stop)


# ---- worker processes -----------------------------------------------------------------


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


# ---- HTTP -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def http_session(timeout: float = 10.0) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session whose every request ends within `timeout` seconds."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
        yield http


async def call(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any, dict[str, str], float]:
    """(status, JSON body or None, headers, seconds) of one request."""
    started = time.monotonic()
    async with http.request(method, url, **kwargs) as resp:
        text = await resp.text()
        body = None
        if resp.content_type == "application/json" and text:
            body = await resp.json()
        return resp.status, body, dict(resp.headers), time.monotonic() - started
