"""A racing process for the invariant test: `python -m tests.reliability.racer DSN NAME SECONDS`.

For SECONDS it does, at random: create tasks (one or a batch), claim 1..20 tasks, release
what it holds (success or failure), run lease rescue / expiry / cleanup, claim tickers.
Every claim is written to `claim_proof` (task id + attempt, with its start and lease end,
and when its release was sent), every ticker firing to `firing_proof` (primary key: ticker +
timestamp): a maturity delivered twice is a unique-key violation (exit code 3); a task
handed to a second worker while the first still held it shows in the claim intervals.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time

import asyncpg

from pgqueue_core import Completion, Manager, System, TaskMeta

PROOF_DDL = """
CREATE TABLE IF NOT EXISTS claim_proof (
    task_id bigint NOT NULL, attempt integer NOT NULL, worker text NOT NULL,
    started_at timestamptz NOT NULL, leased_until timestamptz NOT NULL,
    release_sent timestamptz, PRIMARY KEY (task_id, attempt));
CREATE TABLE IF NOT EXISTS firing_proof (
    ticker text NOT NULL, fired_at timestamptz NOT NULL, worker text NOT NULL,
    PRIMARY KEY (ticker, fired_at));
"""


async def race(dsn: str, name: str, seconds: float) -> int:
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=6)
    manager = await Manager.new(pool, "race")
    system = System(pool)
    held: list[tuple[int, int]] = []
    rng = random.Random(name)
    deadline = time.monotonic() + seconds
    ops = 0
    try:
        while time.monotonic() < deadline:
            ops += 1
            roll = rng.random()
            if roll < 0.15:
                await manager.create_tasks(
                    rng.choice(["a", "b"]),
                    [TaskMeta(payload=i, priority=rng.choice([0, 0, 3])) for i in range(20)],
                )
            elif roll < 0.5:
                # Mostly the unlimited queue: a claim that includes the concurrency-limited
                # queue "b" locks its row, which serialises those claims.
                queues = rng.choice([("a",), ("a",), ("a",), ("b",), ()])
                tasks = await manager.next_tasks(name, *queues, limit=rng.randint(1, 20))
                if tasks:
                    await pool.executemany(
                        "INSERT INTO claim_proof (task_id, attempt, worker, started_at, "
                        "leased_until) VALUES ($1, $2, $3, $4, $5)",
                        [(t.id, t.attempt, name, t.started_at, t.leased_until) for t in tasks],
                    )
                    held.extend((t.id, t.attempt) for t in tasks)
            elif roll < 0.8 and held:
                rng.shuffle(held)
                count = rng.randint(1, len(held))
                batch, held = held[:count], held[count:]
                await pool.executemany(
                    "UPDATE claim_proof SET release_sent = clock_timestamp() "
                    "WHERE task_id = $1 AND attempt = $2",
                    batch,
                )
                await manager.release_tasks(
                    name, [Completion(i, a, rng.random() < 0.8, {"by": name}) for i, a in batch]
                )
            elif roll < 0.9:
                job = rng.choice([system.rescue, system.expire, system.cleanup])
                await job()
            else:
                ticker = await manager.next_ticker()
                if ticker is not None:
                    await pool.execute(
                        "INSERT INTO firing_proof (ticker, fired_at, worker) VALUES ($1, $2, $3)",
                        ticker.ticker,
                        ticker.timestamp,
                        name,
                    )
    except asyncpg.UniqueViolationError as exc:
        print(f"INVARIANT BROKEN in {name}: {exc}", flush=True)
        return 3
    finally:
        await manager.close()
        await pool.close()
    print(f"{name} done after {ops} operations", flush=True)
    return 0


if __name__ == "__main__":
    dsn, name, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    sys.exit(asyncio.run(race(dsn, name, seconds)))
