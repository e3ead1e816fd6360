"""Several processes race claims, releases, maintenance and ticker claims; the invariants hold
throughout: no task held by two workers at once, no ticker maturity delivered twice, a
concurrency limit never exceeded, counts that add up."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import asyncpg

from pgqueue_core import Manager, QueueMeta, TickerMeta, queries

from .racer import PROOF_DDL

ROOT = Path(__file__).resolve().parents[2]
SECONDS = float(os.environ.get("PGQUEUE_RACE_SECONDS", "60"))
RACERS = 4

COUNTS_SQL = """SELECT q.queue,
       (SELECT count(*) FROM pgqueue.task t WHERE t.namespace = q.namespace AND t.queue = q.queue)
           AS total,
       (SELECT count(*) FROM pgqueue.task t WHERE t.namespace = q.namespace AND t.queue = q.queue
           AND t.status = 'retained' AND t.dies_at > now()) AS retained
  FROM pgqueue.queue q WHERE q.namespace = 'race'"""


async def test_racing_processes_keep_every_invariant(dsn: str, pool: asyncpg.Pool) -> None:
    await pool.execute(PROOF_DDL)
    manager = await Manager.new(pool, "race")
    await manager.register_queue(
        QueueMeta(
            queue="a", lease=timedelta(seconds=1), retries=5, retry_delay=timedelta(seconds=1)
        )
    )
    await manager.register_queue(
        QueueMeta(
            queue="b",
            concurrency=5,
            retries=5,
            retry_delay=timedelta(seconds=1),
            lease=timedelta(seconds=2),
        )
    )
    for name, seconds in (("fast", 1), ("slow", 3)):
        await manager.register_ticker(TickerMeta(ticker=name, interval=timedelta(seconds=seconds)))

    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.racer", dsn, f"racer-{i}", str(SECONDS)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(RACERS)
    ]
    samples = 0
    try:
        while any(r.poll() is None for r in racers):
            async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
                # The Manager's own statistics query, in the same snapshot as the counts.
                stats = {
                    (r["queue"], r["status"]): r["count"]
                    for r in await conn.fetch(queries.load("pgqueue")["queue_stats"].sql, "race")
                }
                rows = await conn.fetch(COUNTS_SQL)
            for row in rows:
                by_status = sum(n for (queue, _), n in stats.items() if queue == row["queue"])
                assert by_status == row["total"], f"counts of {row['queue']} do not add up"
                if row["queue"] == "b":
                    assert row["retained"] <= 5, "concurrency limit exceeded"
            samples += 1
            await asyncio.sleep(0.25)  # sampling period, not a wait for an outcome
    finally:
        outputs = []
        for racer in racers:
            try:
                out, _ = racer.communicate(timeout=SECONDS + 60)
            except subprocess.TimeoutExpired:
                racer.kill()
                out, _ = racer.communicate()
            outputs.append(out)
    assert all(r.returncode == 0 for r in racers), "\n".join(outputs)
    assert samples >= SECONDS  # sampled all along

    # Every claim of every task was recorded exactly once: attempts add up to the proofs.
    mismatched = await pool.fetch(
        """SELECT t.id, t.attempt, count(p.*) AS proofs FROM pgqueue.task t
             LEFT JOIN claim_proof p ON p.task_id = t.id
            GROUP BY t.id, t.attempt HAVING t.attempt <> count(p.*)"""
    )
    assert mismatched == []
    # No task was claimed again while an earlier claim still held it: the next claim starts
    # only after the earlier one's release was sent, or its lease lapsed.
    overlapping = await pool.fetch(
        """SELECT a.task_id, a.attempt, a.worker, b.worker AS next_worker
             FROM claim_proof a JOIN claim_proof b
               ON b.task_id = a.task_id AND b.attempt = a.attempt + 1
            WHERE b.started_at < least(a.leased_until, coalesce(a.release_sent, 'infinity'))"""
    )
    assert overlapping == []
    claims = await pool.fetchval("SELECT count(*) FROM claim_proof")
    assert claims > 100  # the race was real
    # Ticker maturities: on the schedule (no drift) and each delivered once (primary key).
    for name, seconds in (("fast", 1), ("slow", 3)):
        fired = [
            r["fired_at"]
            for r in await pool.fetch(
                "SELECT fired_at FROM firing_proof WHERE ticker = $1 ORDER BY fired_at", name
            )
        ]
        assert len(fired) >= 2
        for earlier, later in itertools.pairwise(fired):
            gap = (later - earlier).total_seconds()
            assert gap >= seconds and abs(gap / seconds - round(gap / seconds)) < 1e-6
    await manager.close()
