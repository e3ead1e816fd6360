"""`make soak`: table health under a million tasks, and what a pinned xmin horizon costs.

Soak: at least `--tasks` tasks, for at least `--min-seconds` (autovacuum visits a database
once a minute by default: a shorter run would not see it at work), go through create
(batches of `--batch`, never more than `--backlog` waiting) → retain → release (a Worker,
no-op handler) while maintenance runs (cleanup every `--cleanup-every` seconds; the queue's
short `--ttl` makes cleanup delete released tasks).
Every `--sample` seconds it prints the drain rate and the task table's rows, dead tuples and
size (`System.tables()`). Verdict: the drain rate of the last `--window` tasks is at least
85 % of the "cold" rate (tasks `--warmup` to `--warmup + --window`, on a nearly empty table)
and within 20 % of the rate of the first `--window` once the table holds its steady content
(after ttl + cleanup period), and the table has stopped growing (its peak in the last
quarter of the run is at most 15 % above its peak in the third). Exit status 1 otherwise.
Maintenance runs its own VACUUM of the task table (`--own-vacuum-every`, 0: autovacuum
alone, as before version 0.2).

xmin: the same load, open-ended, for three phases of `--xmin` seconds: as is; while another
connection holds `BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1;` open (vacuum can then
remove no row version that died after it began); after it ends. `--xmin 0` skips it.

By default it runs on a PostgreSQL cluster of its own in a temporary directory (the pinned
horizon must not disturb anyone else's database), removed at the end; `--dsn` uses a server
you name instead (a scratch database is created there and dropped).

    python bench/soak.py                      # 1,000,000 tasks, then the xmin experiment
    python bench/soak.py --tasks 50000 --xmin 10 --json soak.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
from scratch import default_dsn, scratch_database

from pgqueue_core import Maintenance, Manager, QueueMeta, System, Task, TaskMeta, Worker

# The oldest snapshot a client session holds, in transactions (autovacuum's own snapshots
# are left out: they do not hold vacuum back). The query to monitor in production.
XMIN_AGE_SQL = """SELECT coalesce(max(age(backend_xmin)), 0) FROM pg_stat_activity
                   WHERE backend_type = 'client backend' AND backend_xmin IS NOT NULL"""


@dataclass
class Sample:
    at: float  # seconds since the start
    handled: int
    rate: float  # tasks/s since the previous sample
    pending: int
    live: int
    dead: int
    mib: float
    autovacuums: int
    xmin_age: int
    load: float  # the machine's 1-minute load average (other work skews the rates)
    phase: str = ""


@dataclass
class Load:
    """create → retain → release at full speed, the backlog kept below a bound."""

    manager: Manager
    batch: int
    backlog: int
    limit: int | None  # stop creating after this many (None: until stopped)
    created: int = 0
    handled: int = 0
    marks: list[tuple[int, float]] = field(default_factory=list)  # (handled, time) per 1000
    began: float = field(default_factory=time.perf_counter)
    room: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: bool = False

    async def handle(self, task: Task) -> None:
        self.handled += 1
        if self.handled % 1000 == 0:
            self.marks.append((self.handled, time.perf_counter()))
        if self.created - self.handled < self.backlog // 2:
            self.room.set()

    async def produce(self) -> None:
        while not self.stopping and (self.limit is None or self.created < self.limit):
            if self.created - self.handled >= self.backlog:
                self.room.clear()
                await self.room.wait()
                continue
            n = self.batch if self.limit is None else min(self.batch, self.limit - self.created)
            await self.manager.create_tasks(
                "soak", [TaskMeta(payload={"n": self.created + i}) for i in range(n)]
            )
            self.created += n

    def rate_between(self, first: int, last: int) -> float:
        """Tasks/s between the marks at `first` and `last` tasks handled."""
        times = dict(self.marks)
        start, end = times[first - first % 1000], times[last - last % 1000]
        return (last - first) / (end - start)


async def sample(
    system: System, load: Load, pool: asyncpg.Pool, started: float, last: Sample | None
) -> Sample:
    tables = {t.table: t for t in await system.tables()}
    task = tables["task"]
    xmin_age = int(await pool.fetchval(XMIN_AGE_SQL))
    now = time.perf_counter() - started
    rate = 0.0
    if last is not None and now > last.at:
        rate = (load.handled - last.handled) / (now - last.at)
    return Sample(
        at=round(now, 1),
        handled=load.handled,
        rate=round(rate),
        pending=load.created - load.handled,
        live=task.live_tuples,
        dead=task.dead_tuples,
        mib=round(task.bytes / 2**20, 1),
        autovacuums=task.autovacuum_count,
        xmin_age=xmin_age,
        load=round(os.getloadavg()[0], 1),
    )


def show(s: Sample) -> None:
    print(
        f"{s.at:7.1f}s {s.handled:>10,} done {s.rate:>8,.0f}/s  pending {s.pending:>7,}  "
        f"task: {s.live:>9,} live {s.dead:>9,} dead {s.mib:8.1f} MiB  "
        f"autovacuums {s.autovacuums:>3}  xmin age {s.xmin_age:>9,}  load {s.load:4.1f} {s.phase}",
        flush=True,
    )


SETTINGS = (
    "server_version", "shared_buffers", "autovacuum", "autovacuum_naptime",
    "autovacuum_vacuum_cost_limit", "autovacuum_vacuum_cost_delay", "synchronous_commit",
)  # fmt: skip


def make_worker(manager: Manager, load: Load, concurrency: int) -> Worker:
    return Worker(
        manager,
        "soak",
        {"soak": load.handle},
        concurrency=concurrency,
        handle_signals=False,
        maintenance=False,  # the soak's own Maintenance runs it, on the chosen schedule
    )


async def soak(args: argparse.Namespace, dsn: str) -> dict[str, Any]:
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=args.concurrency + 8)
    manager = await Manager.new(pool, "soak")
    await manager.register_queue(
        QueueMeta(queue="soak", ttl=timedelta(seconds=args.ttl), retries=0)
    )
    system = System(pool)
    maintenance = Maintenance(
        pool,
        cleanup_every=timedelta(seconds=args.cleanup_every),
        vacuum_every=timedelta(seconds=args.own_vacuum_every),
    )
    maintenance.start()
    vacuuming = None
    if args.vacuum_every > 0:
        vacuuming = asyncio.create_task(vacuum_loop(dsn, args.vacuum_every))
    samples: list[Sample] = []
    report: dict[str, Any] = {"settings": {k: v for k, v in vars(args).items() if k != "json"}}
    report["server"] = {name: await pool.fetchval(f"SHOW {name}") for name in SETTINGS}
    print("server:", json.dumps(report["server"]), flush=True)
    load = Load(manager, args.batch, args.backlog, None)
    worker = make_worker(manager, load, args.concurrency)
    running: asyncio.Task[None] | None = None
    try:
        print(f"soak: {args.tasks:,} tasks, {args.min_seconds:g}s at least", flush=True)
        started = load.began = time.perf_counter()
        running = asyncio.create_task(worker.run())
        producing = asyncio.create_task(load.produce())
        last: Sample | None = None
        while load.handled < load.created or load.limit is None:
            await asyncio.sleep(args.sample)  # the sampling period
            enough = load.handled >= args.tasks
            if load.limit is None and enough and time.perf_counter() - started > args.min_seconds:
                load.limit = load.created  # create no more; drain what is there
            if running.done():
                running.result()  # the worker failed: report it
            last = await sample(system, load, pool, started, last)
            samples.append(last)
            show(last)
            if len(samples) > 3 and samples[-3].handled == last.handled and last.pending:
                await stalled(worker, system)
        await producing
        elapsed = time.perf_counter() - started
        report["soak"] = soak_verdict(args, load, samples, elapsed)
        samples[-1].phase = "soak end"
        statuses = {s.status.value: s.count for s in await system.queue_stats() if s.count}
        report["soak"]["statuses_at_end"] = statuses
        report["soak"]["cleaned"] = maintenance.counts["cleaned"]
        report["soak"]["maintenance_vacuums"] = maintenance.counts["vacuums"]
        if args.xmin > 0:
            load.limit = None
            producing = asyncio.create_task(load.produce())
            report["xmin"] = await xmin_experiment(args, dsn, load, system, pool, samples, started)
            load.stopping = True
            load.room.set()
            await producing
    finally:
        if running is not None:
            worker.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(running, 60)
        if vacuuming is not None:
            vacuuming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await vacuuming
        await maintenance.stop()
        await manager.close()
        try:
            await asyncio.wait_for(pool.close(), 30)
        except TimeoutError:
            pool.terminate()
    report["samples"] = [asdict(s) for s in samples]
    return report


async def stalled(worker: Worker, system: System) -> None:
    """No task handled for a while although some wait: say what the worker and the table
    hold, and stop (a soak that hangs measures nothing)."""
    statuses = {s.status.value: s.count for s in await system.queue_stats() if s.count}
    raise SystemExit(
        f"stalled: the worker holds {worker.held} task(s) ({worker.in_flight} running), "
        f"stats {worker.stats}; the queue holds {statuses}"
    )


async def vacuum_loop(dsn: str, every: float) -> None:
    """A plain VACUUM of the task table every `every` seconds (unthrottled, as any manual
    VACUUM): what a maintenance job of pgqueue's own could do where autovacuum visits too
    rarely."""
    conn = await asyncpg.connect(dsn)
    try:
        while True:
            await asyncio.sleep(every)  # the period of the job
            await conn.execute("VACUUM (SKIP_LOCKED) pgqueue.task")
    finally:
        await conn.close()


def soak_verdict(
    args: argparse.Namespace, load: Load, samples: list[Sample], elapsed: float
) -> dict[str, Any]:
    window, total = args.window, load.handled
    # "Start" begins once the table holds its steady-state content: the tasks of the first
    # ttl + cleanup period stay until cleanup deletes them. Before that it is nearly empty
    # (reported too, as "cold").
    steady = args.ttl + args.cleanup_every + args.sample
    warm = next((n for n, t in load.marks if t - load.began >= steady), total - 2 * window)
    warm = min(warm, total - 2 * window)
    cold_rate = load.rate_between(args.warmup, args.warmup + window)
    start_rate = load.rate_between(warm, warm + window)
    end_rate = load.rate_between(total - window, total)
    # Bounded: the table has stopped growing by the second half of the run (its peak in the
    # last quarter is at most 15 % above its peak in the third quarter). It does grow at
    # first, until the retention window (ttl + cleanup period) is full.
    by_quarter: list[list[Sample]] = [[], [], [], []]
    for s in samples:
        by_quarter[min(3, int(s.at * 4 // elapsed))].append(s)
    peaks = [max((s.mib for s in taken), default=0.0) for taken in by_quarter]
    verdict = {
        "tasks": total,
        "seconds": round(elapsed, 1),
        "mean_rate": round(total / elapsed),
        "cold_rate": round(cold_rate),
        "start_after_tasks": warm,
        "start_rate": round(start_rate),
        "end_rate": round(end_rate),
        "end_vs_start": round(end_rate / start_rate, 3),
        "end_vs_cold": round(end_rate / cold_rate, 3),
        "table_peak_mib_by_quarter": peaks,
        "median_rate_by_quarter": [
            round(statistics.median(s.rate for s in taken if s.rate)) if taken else 0
            for taken in by_quarter
        ],
        "peak_dead_tuples": max(s.dead for s in samples),
        "autovacuums": samples[-1].autovacuums,
    }
    verdict["rate_ok"] = end_rate >= 0.8 * start_rate and end_rate >= 0.85 * cold_rate
    verdict["size_ok"] = peaks[3] <= 1.15 * peaks[2]
    print(json.dumps(verdict, indent=2), flush=True)
    return verdict


async def xmin_experiment(
    args: argparse.Namespace,
    dsn: str,
    load: Load,
    system: System,
    pool: asyncpg.Pool,
    samples: list[Sample],
    started: float,
) -> dict[str, Any]:
    print(f"\nxmin: three phases of {args.xmin:g}s: as is, horizon pinned, released", flush=True)
    phases: dict[str, list[Sample]] = {}
    last = samples[-1] if samples else None
    for phase in ("before", "pinned", "after"):
        holder = None
        if phase == "pinned":
            holder = await asyncpg.connect(dsn)
            await holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            await holder.fetchval("SELECT 1")  # takes the snapshot: the horizon stays here
        try:
            ends = time.perf_counter() + args.xmin
            taken: list[Sample] = []
            while time.perf_counter() < ends:
                await asyncio.sleep(args.sample)  # the sampling period
                last = await sample(system, load, pool, started, last)
                last.phase = phase
                samples.append(last)
                taken.append(last)
                show(last)
            phases[phase] = taken
        finally:
            if holder is not None:
                await holder.execute("ROLLBACK")
                await holder.close()
    tail = max(1, round(10 / args.sample))  # the samples of the last ten seconds
    result = {
        phase: {
            "mean_rate": round(statistics.mean(s.rate for s in taken)),
            "last_10s_rate": round(statistics.mean(s.rate for s in taken[-tail:])),
            "dead_tuples_end": taken[-1].dead,
            "table_mib_end": taken[-1].mib,
            "max_xmin_age": max(s.xmin_age for s in taken),
        }
        for phase, taken in phases.items()
    }
    print(json.dumps(result, indent=2), flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Table health under a million tasks; the cost of a pinned xmin horizon."
    )
    parser.add_argument(
        "--dsn",
        default=default_dsn(),
        help="a server to use (default: BENCH_DSN, PGQUEUE_DSN, else own cluster)",
    )
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000, help="tasks per create call")
    parser.add_argument("--backlog", type=int, default=20_000, help="most tasks waiting")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--ttl", type=float, default=10.0, help="queue ttl (s)")
    parser.add_argument("--cleanup-every", type=float, default=30.0, help="seconds")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=180.0,
        help="keep the load going at least this long (several autovacuum naptimes)",
    )
    parser.add_argument(
        "--warmup", type=int, default=20_000, help="tasks before the cold-table rate"
    )
    parser.add_argument("--window", type=int, default=100_000, help="tasks per rate window")
    parser.add_argument("--xmin", type=float, default=60.0, help="seconds per xmin phase")
    parser.add_argument("--json", default=None, help="write the full report here")
    parser.add_argument(
        "--own-vacuum-every",
        type=float,
        default=10.0,
        help="pgqueue maintenance's own VACUUM period (s; 0: off, autovacuum alone)",
    )
    parser.add_argument(
        "--vacuum-every",
        type=float,
        default=0.0,
        help="also VACUUM the task table every this many seconds (0: only autovacuum)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a server setting for the soak's own cluster, e.g. autovacuum_naptime=10s",
    )
    args = parser.parse_args()
    if args.tasks < 2 * args.window:
        parser.error("--tasks must be at least twice --window")

    async def go() -> dict[str, Any]:
        async with scratch_database(args.dsn, "pgq_soak", args.set) as dsn:
            return await soak(args, dsn)

    report = asyncio.run(go())
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2)
    ok = report["soak"]["rate_ok"] and report["soak"]["size_ok"]
    print("\nsoak:", "PASS" if ok else "FAIL", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
