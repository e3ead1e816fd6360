"""examples/worker.py as the README runs it: `PGQUEUE_DSN=... python examples/worker.py`.
It registers its two queues, runs their tasks, serves /metrics, and exits 0 on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import asyncpg

from pgqueue_core import Manager, TaskMeta
from tests.support import ROOT
from tests.support.db import close_pool
from tests.support.net import free_port
from tests.support.pgbouncer import PgBouncer
from tests.support.processes import Proc
from tests.support.waiting import wait_for

EXAMPLE = ROOT / "examples" / "worker.py"


def metric(text: str, name: str, labels: str = "", missing: float | None = None) -> float:
    """The value of the sample `name` whose labels include `labels` ('a="x",b="y"', in any
    order) in Prometheus text format (`missing` when there is none, or fail)."""
    wanted = dict(re.findall(r'(\w+)="([^"]*)"', labels))
    for line in text.splitlines():
        found = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if found and found.group(1) == name:
            have = dict(re.findall(r'(\w+)="([^"]*)"', found.group(2) or ""))
            if all(have.get(k) == v for k, v in wanted.items()):
                return float(found.group(3))
    assert missing is not None, f"{name}{{{labels}}} not in:\n{text}"
    return missing


async def test_example_worker(dsn: str, tmp_path: Path) -> None:
    await run_example(dsn, {"PGQUEUE_DSN": dsn}, tmp_path)


async def test_example_worker_behind_pgbouncer(
    dsn: str, pgbouncer: PgBouncer, tmp_path: Path
) -> None:
    """As the README says to run it behind PgBouncer in transaction pooling mode."""
    await run_example(dsn, {"PGQUEUE_DSN": pgbouncer.dsn, "PGQUEUE_PGBOUNCER": "1"}, tmp_path)


async def run_example(dsn: str, settings: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PGQUEUE_", "WORKER_"))}
    env.update(
        settings,
        METRICS_PORT=str(port),
        WORKER_NAME="example-1",
        WORKER_CONCURRENCY="8",
        EMAIL_FAILURE_RATE="0",  # every email succeeds, so "done" is "released"
    )
    worker = Proc("example worker", [sys.executable, str(EXAMPLE)], tmp_path / "w.log", env)
    try:
        await worker.wait_output("handling emails, reports", 30)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            manager = await Manager.new(pool, "default")
            emails = await manager.create_tasks(
                "emails", [TaskMeta(payload={"to": f"u{i}@example.com"}) for i in range(40)]
            )
            reports = await manager.create_tasks(
                "reports", [TaskMeta(payload={"rows": 2000}) for _ in range(10)]
            )

            async def all_released() -> bool:
                return (await manager.list_tasks(status="released", limit=1))[0] == 50

            await wait_for(all_released, 30, "the example worker to run every task")
            email = await manager.get_task(emails[0])
            assert email.result == {"sent_to": "u0@example.com"}
            assert email.worker == "example-1"
            report = await manager.get_task(reports[0])
            assert isinstance(report.result, dict) and report.result["rows"] == 2000
        finally:
            await close_pool(pool)

        url = f"http://127.0.0.1:{port}/metrics"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            text = ""

            def per_queue(name: str, missing: float | None = None) -> tuple[float, ...]:
                return tuple(
                    metric(text, name, f'worker="example-1",queue="{queue}"', missing)
                    for queue in ("emails", "reports")
                )

            async def counted() -> bool:  # results are written (and counted) in batches
                nonlocal text
                async with session.get(url) as resp:
                    assert resp.status == 200
                    text = await resp.text()
                return per_queue("pgqueue_worker_succeeded_total", 0) == (40, 10)

            await wait_for(counted, 10, "the worker's metrics to count every task")
        assert per_queue("pgqueue_worker_claimed_total") == (40, 10)
        assert per_queue("pgqueue_worker_failed_total") == (0, 0)
        assert metric(text, "pgqueue_worker_in_flight", 'worker="example-1"') == 0
        assert (
            metric(
                text,
                "pgqueue_worker_handler_seconds_count",
                'worker="example-1",queue="emails",outcome="success"',
            )
            == 40
        )
        assert metric(text, "process_cpu_seconds_total") > 0  # the default collectors too

        worker.signal(signal.SIGTERM)
        assert await worker.wait_exit(30) == 0, worker.output()[-3000:]
        assert "stopped" in worker.output()
    finally:
        worker.stop()
