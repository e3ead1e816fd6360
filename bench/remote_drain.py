"""RemoteWorker drain vs the in-process Worker, on one database, in one run.

Starts `pgqueue run DSN --addr 127.0.0.1:PORT` on a fresh database, then drains `--jobs`
no-op tasks with the in-process Worker (straight to PostgreSQL) and with a RemoteWorker
(retains of `--batch`, batched releases, over HTTP to that server), rounds alternating, each
on a queue of its own. A drain is timed from the worker's start until the database shows
every task released. Prints tasks/s per round and the median ratio.

    python bench/remote_drain.py --dsn postgresql://postgres@127.0.0.1:5432/test

With `--url URL` it starts nothing: one round against that running server, whose database
`--dsn` names, printed as one JSON line (`make bench-rest`'s drain phase runs it so, with
the packages of the checkout under test first on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

from pgqueue_core import Manager, QueueMeta, Task, TaskMeta, Worker
from pgqueue_tui.remote import RemoteWorker

NAMESPACE = "bench"


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_healthy(url: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url + "/health") as resp:
                    if resp.status == 200:
                        return
            if time.monotonic() > deadline:
                raise SystemExit(f"the server at {url} did not come up")
            await asyncio.sleep(0.05)


async def fill(manager: Manager, queue: str, n: int) -> None:
    await manager.register_queue(QueueMeta(queue=queue, retries=0))
    for start in range(0, n, 1000):
        await manager.create_tasks(
            queue, [TaskMeta(payload={"i": i}) for i in range(start, min(n, start + 1000))]
        )
    await manager.pool.execute("VACUUM ANALYZE")


async def drained(pool: asyncpg.Pool, queue: str, n: int) -> None:
    query = (
        "SELECT count(*) FROM pgqueue.task WHERE namespace = $1 AND queue = $2"
        " AND status = 'released'"
    )
    while await pool.fetchval(query, NAMESPACE, queue) < n:  # noqa: ASYNC110
        await asyncio.sleep(0.01)  # a poll of the database: the timer's resolution


async def timed(
    pool: asyncpg.Pool,
    queue: str,
    n: int,
    run: Callable[[], Awaitable[None]],
    stop: Callable[[], None],
) -> float:
    started = time.perf_counter()
    task = asyncio.create_task(run())
    await drained(pool, queue, n)
    elapsed = time.perf_counter() - started
    stop()
    await task
    return n / elapsed


async def noop(task: Task) -> None:
    return None


async def in_process(pool: asyncpg.Pool, manager: Manager, n: int, concurrency: int) -> float:
    queue = f"local_{uuid.uuid4().hex[:6]}"
    await fill(manager, queue, n)
    worker = Worker(
        manager, "bench-local", {queue: noop}, concurrency=concurrency, handle_signals=False
    )
    return await timed(pool, queue, n, worker.run, worker.stop)


async def remote(
    pool: asyncpg.Pool, manager: Manager, url: str, n: int, args: argparse.Namespace
) -> float:
    queue = f"remote_{uuid.uuid4().hex[:6]}"
    await fill(manager, queue, n)
    worker = RemoteWorker(
        url,
        {queue: noop},
        namespace=NAMESPACE,
        concurrency=args.concurrency,
        prefetch=args.prefetch,
        batch_size=args.batch,
        flush_size=args.flush_size,
        flush_interval=args.flush_interval,
        retainers=args.retainers,
        wait=5.0,
        handle_signals=False,
        token=args.token,
    )
    return await timed(pool, queue, n, worker.run, worker.stop)


async def admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def drain_rounds(args: argparse.Namespace, dsn: str, url: str) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=args.concurrency + 8)
    try:
        await wait_healthy(url)
        manager = await Manager.new(pool, NAMESPACE)
        local, far = [], []
        profile = cProfile.Profile() if args.profile else None
        for round_ in range(args.repeat):
            local.append(await in_process(pool, manager, args.jobs, args.concurrency))
            last = round_ == args.repeat - 1
            if profile is not None and last:
                profile.enable()
            far.append(await remote(pool, manager, url, args.jobs, args))
            if profile is not None and last:
                profile.disable()
            print(
                f"round {round_ + 1}: in-process {local[-1]:,.0f}/s, remote {far[-1]:,.0f}/s"
                f" ({far[-1] / local[-1]:.2f}x)",
                flush=True,
            )
        ratio = statistics.median(f / loc for f, loc in zip(far, local, strict=True))
        print(
            f"median: in-process {statistics.median(local):,.0f}/s, remote "
            f"{statistics.median(far):,.0f}/s, remote/in-process {ratio:.2f}x"
        )
        if profile is not None:
            profile.dump_stats(args.profile)
            print(f"profile of the last remote drain (this process): {args.profile}")
    finally:
        await pool.close()


async def one_round(args: argparse.Namespace) -> dict[str, float]:
    """One in-process and one remote drain against the server at `args.url`."""
    pool = await asyncpg.create_pool(args.dsn, min_size=2, max_size=args.concurrency + 8)
    try:
        await wait_healthy(args.url)
        manager = await Manager.new(pool, NAMESPACE)
        local = await in_process(pool, manager, args.jobs, args.concurrency)
        far = await remote(pool, manager, args.url, args.jobs, args)
        return {"in_process": local, "remote": far, "jobs": args.jobs}
    finally:
        await pool.close()


def main(args: argparse.Namespace) -> None:
    if args.url:
        print(json.dumps(asyncio.run(one_round(args))))
        return
    name = f"pgq_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(args.dsn, f"CREATE DATABASE {name}"))
    dsn = with_database(args.dsn, name)
    port = free_port()
    command = [str(Path(sys.executable).parent / "pgqueue"), "run", dsn]
    try:
        with tempfile.TemporaryFile() as log:
            server = subprocess.Popen(
                [*command, "--addr", f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT
            )
            try:
                asyncio.run(drain_rounds(args, dsn, f"http://127.0.0.1:{port}/api"))
            finally:
                server.terminate()
                server.wait(30)
    finally:
        asyncio.run(admin(args.dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--prefetch", type=int, default=100, help="remote: held beyond running")
    parser.add_argument("--batch", type=int, default=100, help="remote: retain/release size")
    parser.add_argument("--flush-interval", type=float, default=0.02, help="remote: seconds")
    parser.add_argument("--flush-size", type=int, default=100, help="remote: results per PATCH")
    parser.add_argument("--retainers", type=int, default=1, help="remote: retains in flight")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", help="write a cProfile of the last remote drain here")
    parser.add_argument("--url", help="one round against this running server (JSON out)")
    parser.add_argument("--token", help="the bearer token of the server")
    main(parser.parse_args())
