"""Fault-test fixtures: a PostgreSQL cluster of the test's own (which it may stop, start and
freeze: never the shared server), `pgqueue run` processes pointed at it, bounded waits."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from pgqueue_core.embedded import EmbeddedPostgres

from ..conftest import close_pool

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port free right now (a process binds it itself, so the OS cannot pick it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL cluster of this test alone, on a TCP port (so that drops are real)."""
    server = EmbeddedPostgres(tmp_path / "pg", port=free_port())
    server.start()
    try:
        yield server
    finally:
        thaw(server)  # a test that failed while the cluster was frozen
        server.stop()


@pytest.fixture
async def own_pool(cluster: EmbeddedPostgres) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the cluster; it must close promptly afterwards: a connection the outage
    left checked out would make `pool.close()` wait for ever."""
    pool = await asyncpg.create_pool(cluster.dsn, min_size=2, max_size=30)
    try:
        yield pool
    except BaseException:
        await close_pool(pool)
        raise
    await close_promptly(pool)


async def close_promptly(pool: asyncpg.Pool, within: float = 5.0) -> None:
    """Close the pool, failing (after cutting its connections) if that takes long."""
    try:
        await asyncio.wait_for(pool.close(), within)
    except TimeoutError:
        pool.terminate()
        raise AssertionError(f"pool.close() took over {within}s: a connection leaked") from None


def tcp_dsn(cluster: EmbeddedPostgres) -> str:
    """The cluster over TCP (its DSN uses the unix socket): what a remote server would use."""
    return f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres"


def _cluster_pids(cluster: EmbeddedPostgres) -> list[int]:
    """The postmaster and every process it started (backends, background workers)."""
    postmaster = cluster.pid
    if postmaster is None:
        return []
    found = [postmaster]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == postmaster:  # field 4 of stat: the parent's pid
                found.append(int(entry.name))
    return found


def freeze(cluster: EmbeddedPostgres) -> None:
    """Stop every process of the cluster (SIGSTOP): connections stay open, nothing answers,
    as behind a network partition."""
    for pid in _cluster_pids(cluster):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)


def thaw(cluster: EmbeddedPostgres) -> None:
    for pid in _cluster_pids(cluster):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], within: float, what: str
) -> float:
    """Wait until `condition()` holds, checking every 20 ms; returns the seconds it took."""
    started = time.monotonic()
    while True:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


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

        return await wait_until(healthy, within, "the server to be healthy")


@contextlib.asynccontextmanager
async def serving(
    dsn: str, log: Path, *flags: str, env: dict[str, str] | None = None
) -> AsyncIterator[ServerProcess]:
    """A started server process (healthy), stopped at the end whatever happens."""
    server = ServerProcess(dsn, log, *flags, env=env)
    server.start()
    try:
        async with session() as http:
            await server.wait_healthy(http, 30)
        yield server
    finally:
        await asyncio.to_thread(server.stop)


@contextlib.asynccontextmanager
async def session(timeout: float = 10.0) -> AsyncIterator[aiohttp.ClientSession]:
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
