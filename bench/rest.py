"""`make bench-rest`: the REST request path under keep-alive load, servers side by side.

Drives one or more servers with `--clients` concurrent keep-alive HTTP/1.1 connections, spread
over `--procs` load-generator processes (raw asyncio sockets, no HTTP library: the generator
must not be what limits the server). Each round runs every phase against every server, the
server order rotating from round to round, so that drift and the neighbours' load hit all of
them alike; the report gives the median of the rounds and each server's ratio to the first.

Phases (PHASES below):
  create        POST /task, one task per request                     -> creates/s
  cycle         PUT /task/{q}?worker=  then PATCH /task/{id}         -> retain+release cycles/s
  create-batch  POST /task with an array of --batch tasks            -> creates/s
  cycle-batch   PUT /task/{q}?worker=&limit=--batch, PATCH /task [] -> cycles/s (tasks)
  drain         --drain-jobs tasks drained by the in-process Worker (straight to the
                server's database), then by a RemoteWorker through the server (retains
                of 100, batched releases): both rates and remote/in-process, per server
                (`drain_phase`; --start servers only, with their checkout's packages)
Latencies (p50/p99) are per endpoint, from the client's side, over every request of a phase.
For the servers it starts, it also reports the server process's CPU time per request (from
/proc): on a shared machine the rates move with the neighbours' load, that figure hardly.

Servers:
  --url base=http://127.0.0.1:8081/api    an already running server (any version)
  --start new=.                            start `python -m pgqueue_server run` from that
                                           checkout (PYTHONPATH=DIR), on a free port, against a
                                           fresh database that is dropped afterwards
With neither, it starts this checkout. Every server must reach the same database for the
figures to be comparable (`--start` gives them all the fresh one; `--url` servers use theirs).

    python bench/rest.py --dsn postgresql://postgres@127.0.0.1:5432/postgres \\
        --start base=/tmp/perf-base --start new=. --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

TOKEN = "bench-" + uuid.uuid4().hex  # servers started here require it (auth is on the path)


# ---- the HTTP/1.1 client (one keep-alive connection per client) ----------------------------


class Connection:
    """A minimal HTTP/1.1 keep-alive client: fixed headers, Content-Length bodies only."""

    def __init__(self, host: str, port: int, prefix: str, token: str | None) -> None:
        self.host, self.port, self.prefix = host, port, prefix
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.headers = f"Host: {host}:{port}\r\n{auth}".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        head = f"{method} {self.prefix}{path} HTTP/1.1\r\n".encode() + self.headers
        if body is not None:
            head += b"Content-Type: application/json\r\n"
        self.writer.write(head + b"Content-Length: %d\r\n\r\n" % len(data) + data)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        length = 0
        start = header.find(b"content-length:")
        if start < 0:
            start = header.find(b"Content-Length:")
        if start >= 0:
            end = header.index(b"\r\n", start)
            length = int(header[start + 15 : end])
        payload = await self.reader.readexactly(length) if length else b""
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# ---- phases: what one client does in a loop ---------------------------------------------------


@dataclass
class Tally:
    """What one process saw in one phase: operations done and latencies per endpoint."""

    ops: int = 0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def timed(self, endpoint: str, started: float) -> None:
        self.latencies.setdefault(endpoint, []).append(time.perf_counter() - started)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


Loop = Callable[[Connection, "Job", Tally, float], Awaitable[None]]


@dataclass(frozen=True)
class Job:
    phase: str
    url: str
    queue: str
    token: str | None
    clients: int
    duration: float
    batch: int
    start_at: float  # wall clock: every process starts together


def _check(tally: Tally, endpoint: str, status: int, expected: tuple[int, ...]) -> bool:
    if status in expected:
        return True
    tally.error(f"{endpoint} {status}")
    return False


async def create_loop(conn: Connection, job: Job, tally: Tally, until: float) -> None:
    body = {"queue": job.queue, "payload": {"n": 1, "text": "hello"}}
    while time.perf_counter() < until:
        started = time.perf_counter()
        status, _ = await conn.request("POST", "/task", body)
        tally.timed("POST /task", started)
        if _check(tally, "POST /task", status, (201,)):
            tally.ops += 1


async def cycle_loop(conn: Connection, job: Job, tally: Tally, until: float) -> None:
    retain = f"/task/{job.queue}?worker=bench"
    while time.perf_counter() < until:
        started = time.perf_counter()
        status, data = await conn.request("PUT", retain)
        tally.timed("PUT /task/{q}", started)
        if not _check(tally, "PUT /task/{q}", status, (200,)):
            continue
        task_id = json.loads(data)["id"]
        started = time.perf_counter()
        status, _ = await conn.request("PATCH", f"/task/{task_id}", {})
        tally.timed("PATCH /task/{id}", started)
        if _check(tally, "PATCH /task/{id}", status, (200,)):
            tally.ops += 1


async def create_batch_loop(conn: Connection, job: Job, tally: Tally, until: float) -> None:
    body = [{"queue": job.queue, "payload": {"n": i, "text": "hello"}} for i in range(job.batch)]
    while time.perf_counter() < until:
        started = time.perf_counter()
        status, _ = await conn.request("POST", "/task", body)
        tally.timed("POST /task [batch]", started)
        if _check(tally, "POST /task [batch]", status, (201,)):
            tally.ops += job.batch


async def cycle_batch_loop(conn: Connection, job: Job, tally: Tally, until: float) -> None:
    retain = f"/task/{job.queue}?worker=bench&limit={job.batch}"
    while time.perf_counter() < until:
        started = time.perf_counter()
        status, data = await conn.request("PUT", retain)
        tally.timed("PUT /task/{q}?limit", started)
        if not _check(tally, "PUT /task/{q}?limit", status, (200,)):
            continue
        patches = [{"id": task["id"]} for task in json.loads(data)["body"]]
        started = time.perf_counter()
        status, _ = await conn.request("PATCH", "/task", patches)
        tally.timed("PATCH /task [batch]", started)
        if _check(tally, "PATCH /task [batch]", status, (200,)):
            tally.ops += len(patches)


def drain_phase(server: Server, jobs: int) -> tuple[float, float]:
    """A worker's drain of a backlog of `jobs` no-op tasks, (in-process, remote) tasks/s:
    bench/remote_drain.py's round (the in-process Worker on the server's database, then a
    RemoteWorker through the server) in a process with the server's checkout first on the
    path, so that each side of a comparison runs its own Worker, client and RemoteWorker.
    The load generators stand idle meanwhile."""
    if server.checkout is None or server.dsn is None:
        raise SystemExit(f"drain: {server.label} is a --url server (its database is unknown)")
    script = Path(__file__).resolve().parent / "remote_drain.py"
    command = [sys.executable, str(script), "--url", server.url, "--dsn", server.dsn]
    command += ["--jobs", str(jobs)]
    if server.token:
        command += ["--token", server.token]
    env = {**os.environ, "PYTHONPATH": server.checkout}
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    rates = json.loads(out.strip().splitlines()[-1])
    return rates["in_process"], rates["remote"]


PHASES: dict[str, Loop] = {
    "create": create_loop,
    "cycle": cycle_loop,
    "create-batch": create_batch_loop,
    "cycle-batch": cycle_batch_loop,
}
UNITS = {"create": "creates/s", "cycle": "cycles/s", "create-batch": "creates/s"}
UNITS["cycle-batch"] = "cycles/s"
UNITS["drain"] = "tasks/s remote"
# The phases that consume tasks, and how many they may consume per second at most (a phase
# that runs dry shows "204" errors: raise these).
CONSUMES = {"cycle": 4_000, "cycle-batch": 40_000}


# ---- load-generator processes ------------------------------------------------------------------


async def _run_job(job: Job) -> Tally:
    parts = urlsplit(job.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    conns = [Connection(host, port, parts.path.rstrip("/"), job.token) for _ in range(job.clients)]
    await asyncio.gather(*(c.open() for c in conns))
    tally = Tally()
    await asyncio.sleep(max(0.0, job.start_at - time.time()))
    until = time.perf_counter() + job.duration
    loop = PHASES[job.phase]
    try:
        await asyncio.gather(*(loop(c, job, tally, until) for c in conns))
    finally:
        for conn in conns:
            conn.close()
    return tally


def _generator(pipe: Any) -> None:
    try:
        import uvloop  # the generator's own cost must stay small

        uvloop.install()
    except ImportError:
        pass
    while True:
        job = pipe.recv()
        if job is None:
            return
        pipe.send(asyncio.run(_run_job(job)))


class Generators:
    """`procs` processes, each driving its share of the clients."""

    def __init__(self, procs: int) -> None:
        ctx = mp.get_context("spawn")
        self.pipes = []
        self.procs = []
        for _ in range(procs):
            here, there = ctx.Pipe()
            proc = ctx.Process(target=_generator, args=(there,), daemon=True)
            proc.start()
            self.pipes.append(here)
            self.procs.append(proc)

    def run(self, job: Job) -> Tally:
        n = len(self.pipes)
        shares = [job.clients // n + (1 if i < job.clients % n else 0) for i in range(n)]
        start_at = time.time() + 0.3
        for pipe, share in zip(self.pipes, shares, strict=True):
            pipe.send(Job(**{**job.__dict__, "clients": share, "start_at": start_at}))
        total = Tally()
        for pipe in self.pipes:
            part: Tally = pipe.recv()
            total.ops += part.ops
            for key, values in part.latencies.items():
                total.latencies.setdefault(key, []).extend(values)
            for key, count in part.errors.items():
                total.errors[key] = total.errors.get(key, 0) + count
        return total

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(None)
        for proc in self.procs:
            proc.join(5)


# ---- servers ---------------------------------------------------------------------------------


@dataclass
class Server:
    label: str
    url: str
    proc: subprocess.Popen[bytes] | None = None
    token: str | None = None
    checkout: str | None = None  # started servers: their packages
    dsn: str | None = None  # started servers: their database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(label: str, checkout: str, dsn: str, logdir: Path) -> Server:
    """`python -m pgqueue_server run` of `checkout` (its packages first on the path), with
    the access log on (the default) written to a file, as a deployment would."""
    root = Path(checkout).resolve()
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(root), "PGQUEUE_TOKEN": TOKEN}
    log = open(logdir / f"{label}.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgqueue_server", "run", dsn, "--addr", f"127.0.0.1:{port}"],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(label, f"http://127.0.0.1:{port}/api", proc, TOKEN, str(root), dsn)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server {label} exited; see {logdir / (label + '.log')}")
        try:
            with urllib.request.urlopen(server.url + "/health", timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"server {label} did not answer /health within 30 s")


def call(server: Server, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.url + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if server.token:
        req.add_header("Authorization", f"Bearer {server.token}")
    with urllib.request.urlopen(req, timeout=60) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def seed(server: Server, queue: str, count: int) -> None:
    """`count` tasks in `queue`, 5000 per request."""
    while count > 0:
        n = min(count, 5000)
        call(server, "POST", "/task", [{"queue": queue, "payload": {"n": i}} for i in range(n)])
        count -= n


# ---- the run ---------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


@dataclass
class Result:
    rate: float
    latency: dict[str, tuple[float, float]]  # endpoint -> (p50 ms, p99 ms)
    errors: dict[str, int]
    cpu_us: float  # the server process's CPU time per request (NaN: not a started server)
    in_process: float = float("nan")  # drain: the in-process Worker's tasks/s


def server_cpu(server: Server) -> float:
    """CPU seconds (user + system) the server process has used so far; -inf when unknown
    (a --url server). Unlike rates, this barely moves when neighbours load the machine."""
    if server.proc is None:
        return float("-inf")
    fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_drain(server: Server, args: argparse.Namespace) -> Result:
    cpu = server_cpu(server)
    local, remote = drain_phase(server, args.drain_jobs)
    cpu = server_cpu(server) - cpu
    # CPU per task drained remotely (the in-process drain costs the server next to nothing).
    cpu_us = cpu / args.drain_jobs * 1e6 if cpu >= 0 else float("nan")
    return Result(remote, {}, {}, cpu_us, local)


def run_phase(gens: Generators, server: Server, phase: str, args: argparse.Namespace) -> Result:
    if phase == "drain":
        return run_drain(server, args)
    queue = f"bench_{phase.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    call(server, "POST", "/queue", {"queue": queue})
    if phase in CONSUMES:
        seed(server, queue, int(CONSUMES[phase] * args.duration))
    job = Job(phase, server.url, queue, server.token, args.clients, args.duration, args.batch, 0)
    cpu = server_cpu(server)
    tally = gens.run(job)
    cpu = server_cpu(server) - cpu
    requests = sum(len(v) for v in tally.latencies.values())
    latency = {
        endpoint: (_percentile(v, 0.5) * 1000, _percentile(v, 0.99) * 1000)
        for endpoint, v in sorted(tally.latencies.items())
    }
    call(server, "DELETE", f"/queue/{queue}")
    cpu_us = cpu / requests * 1e6 if requests and cpu >= 0 else float("nan")
    return Result(tally.ops / args.duration, latency, tally.errors, cpu_us)


def report(results: dict[str, dict[str, list[Result]]], labels: list[str]) -> None:
    base = labels[0]
    print(f"\nmedian of {len(next(iter(results.values()))[base])} round(s); ratio to {base!r}")
    for phase, by_server in results.items():
        print(f"\n{phase} ({UNITS[phase]})")
        base_rate = statistics.median(r.rate for r in by_server[base])
        for label in labels:
            rounds = by_server[label]
            rate = statistics.median(r.rate for r in rounds)
            spread = ", ".join(f"{r.rate:.0f}" for r in rounds)
            print(f"  {label:>8}: {rate:9.0f}  x{rate / base_rate:5.2f}   rounds: {spread}")
            if phase == "drain":
                local = statistics.median(r.in_process for r in rounds)
                ratio = statistics.median(r.rate / r.in_process for r in rounds)
                ratios = ", ".join(f"{r.rate / r.in_process:.2f}" for r in rounds)
                print(
                    f"            in-process Worker {local:7.0f} tasks/s; remote/in-process "
                    f"x{ratio:4.2f}   rounds: {ratios}"
                )
            cpu = statistics.median(r.cpu_us for r in rounds)
            base_cpu = statistics.median(r.cpu_us for r in by_server[base])
            cpus = ", ".join(f"{r.cpu_us:.0f}" for r in rounds)
            print(
                f"            server CPU per {'task' if phase == 'drain' else 'request'} "
                f"{cpu:7.0f} us  (x{cpu / base_cpu:4.2f})"
                f"   rounds: {cpus}"
            )
            endpoints = sorted({e for r in rounds for e in r.latency})
            for endpoint in endpoints:
                p50 = statistics.median(r.latency[endpoint][0] for r in rounds)
                p99 = statistics.median(r.latency[endpoint][1] for r in rounds)
                base_p99 = statistics.median(r.latency[endpoint][1] for r in by_server[base])
                print(
                    f"            {endpoint:<22} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
                    f"  (p99 x{p99 / base_p99:4.2f})"
                )
            errors: dict[str, int] = {}
            for r in rounds:
                for key, count in r.errors.items():
                    errors[key] = errors.get(key, 0) + count
            if errors:
                print(f"            errors: {errors}")


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


def _admin(dsn: str, statement: str) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(go())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dsn",
        # Any database of the server: each server under test gets a fresh one on it.
        default=os.environ.get("BENCH_DSN")
        or os.environ.get("PGQUEUE_DSN")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
        help="the PostgreSQL server (default: BENCH_DSN, PGQUEUE_DSN, else a local one)",
    )
    parser.add_argument("--url", action="append", default=[], metavar="LABEL=URL")
    parser.add_argument("--start", action="append", default=[], metavar="LABEL=CHECKOUT")
    parser.add_argument("--token", default=None, help="bearer token for --url servers")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per phase")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--drain-jobs", type=int, default=20_000, help="tasks per drain")
    parser.add_argument(
        "--phases",
        default="create,cycle,create-batch,cycle-batch,drain",
        help="comma-separated",
    )
    args = parser.parse_args(argv)
    phases = [p for p in args.phases.split(",") if p]
    unknown = set(phases) - {*PHASES, "drain"}
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    if "drain" in phases and args.url:
        parser.error("the drain phase needs servers it starts (--start): drop it or --url")
    if not args.url and not args.start:
        args.start = [f"this={Path(__file__).resolve().parent.parent}"]
    servers: list[Server] = []
    database = None
    logdir = Path(tempfile.mkdtemp(prefix="pgq-bench-rest-"))
    gens = Generators(args.procs)
    try:
        if args.start:
            database = f"pgq_bench_{uuid.uuid4().hex[:8]}"
            _admin(args.dsn, f'CREATE DATABASE "{database}"')
            for spec in args.start:  # one after the other: the first one migrates
                label, _, checkout = spec.partition("=")
                dsn = with_database(args.dsn, database)
                servers.append(start_server(label, checkout, dsn, logdir))
        for spec in args.url:
            label, _, url = spec.partition("=")
            servers.append(Server(label, url.rstrip("/"), token=args.token))
        labels = [s.label for s in servers]
        print(
            f"servers: {', '.join(f'{s.label} {s.url}' for s in servers)}; {args.clients} "
            f"clients over {args.procs} processes; {args.duration:g} s per phase; logs {logdir}"
        )
        results: dict[str, dict[str, list[Result]]] = {p: {s: [] for s in labels} for p in phases}
        for number in range(args.rounds):
            order = servers[number % len(servers) :] + servers[: number % len(servers)]
            for phase in phases:
                for server in order:
                    result = run_phase(gens, server, phase, args)
                    results[phase][server.label].append(result)
                    extra = ""
                    if phase == "drain":
                        extra = f" (in-process {result.in_process:.0f}/s)"
                    print(
                        f"round {number + 1} {phase:>12} {server.label:>8}: "
                        f"{result.rate:8.0f} {UNITS[phase]}{extra}, {result.cpu_us:5.0f} us "
                        f"CPU/{'task' if phase == 'drain' else 'request'}",
                        flush=True,
                    )
        report(results, labels)
    finally:
        gens.close()
        for server in servers:
            if server.proc is not None:
                server.proc.terminate()
                server.proc.wait(15)
        if database is not None:
            _admin(args.dsn, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
