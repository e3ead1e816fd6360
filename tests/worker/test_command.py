"""`pgqueue worker MODULE:ATTR` in real processes against a real PostgreSQL: bad input, one
worker with its metrics, and the supervisor (a kill -9 restarts a process; SIGTERM lets
every process finish its running task and exit 0)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from pgqueue_core import Manager, QueueMeta, Status, TaskMeta
from tests.support import ROOT
from tests.support.net import free_port
from tests.support.processes import Proc, processes, server_argv, wait_healthy
from tests.support.promtool import promtool_check
from tests.support.waiting import wait_for

PGQUEUE = [sys.executable, "-m", "pgqueue_tui.cli"]
HANDLERS = "tests.worker.cmd_handlers"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PGQUEUE_", "DATABASE_"))}
    return {**env, **extra}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PGQUEUE, "worker", *args],
        cwd=ROOT,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([f"{HANDLERS}"], "is not MODULE:ATTR"),
        (["tests.worker.no_such_module:tasks"], "no module named 'tests.worker.no_such_module'"),
        ([f"{HANDLERS}:missing"], "has no attribute 'missing'"),
        ([f"{HANDLERS}:not_handlers"], "is an int; expected a dict of queue → handler"),
        ([f"{HANDLERS}:bad_mapping"], "the handler of queue 'jobs' is not callable"),
        ([f"{HANDLERS}:tasks", "--queues", "jobs,nope"], "no handler for queue(s) nope"),
        ([f"{HANDLERS}:tasks", "--concurrency", "0"], "'0' is not positive"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run(*args, env=clean_env(PGQUEUE_DSN="postgresql://u@127.0.0.1:1/x"))
    assert result.returncode == 2, result
    assert result.stderr.startswith("Error: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_no_database_and_an_unreachable_server() -> None:
    result = run(f"{HANDLERS}:tasks")
    assert result.returncode == 2 and "no database: give --dsn" in result.stderr
    result = run(f"{HANDLERS}:tasks", "--url", "http://127.0.0.1:1/api", "--token", "t")
    assert result.returncode == 4 and "cannot reach http://127.0.0.1:1/api" in result.stderr
    assert "Traceback" not in result.stderr


async def test_over_rest_with_only_a_url_and_a_token(
    manager: Manager, dsn: str, tmp_path: Path
) -> None:
    """`--url`: the RemoteWorker, with the same handlers, metrics and exit codes."""
    await manager.register_queue(QueueMeta(queue="jobs", retry_delay=timedelta(hours=1)))
    port, metrics = free_port(), free_port()
    base = f"http://127.0.0.1:{port}/api"
    token = "remote-worker-token-0123456789"
    with processes() as started:
        server = Proc(
            "server", server_argv(dsn, port), tmp_path / "s.log", clean_env(PGQUEUE_TOKEN=token)
        )
        started.append(server)
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, server, base, 30)
        remote = [*PGQUEUE, "--namespace", manager.namespace, "worker", f"{HANDLERS}:plain"]
        denied = run(
            f"{HANDLERS}:plain", "--namespace", manager.namespace, "--url", base, "--token", "no"
        )
        assert denied.returncode == 5 and "Traceback" not in denied.stderr, denied.stderr
        unknown = run(f"{HANDLERS}:tasks", "--url", base, "--token", token)  # other namespace
        assert unknown.returncode == 3 and "not found" in unknown.stderr, unknown.stderr

        worker = Proc(
            "worker",
            [
                *remote,
                "--name",
                "r1",
                "--metrics-port",
                str(metrics),
                "--metrics-addr",
                "127.0.0.1",
            ],
            tmp_path / "w.log",
            clean_env(PGQUEUE_URL=base, PGQUEUE_TOKEN=token),
        )
        started.append(worker)
        await worker.wait_output("worker r1 ready", 30)
        assert f"server {base}" in worker.output()
        ids = await manager.create_tasks("jobs", [TaskMeta(payload=p) for p in (1, 2, "boom")])

        async def done() -> bool:
            tasks = [await manager.get_task(i) for i in ids]
            return [t.status for t in tasks] == [Status.RELEASED, Status.RELEASED, Status.RETRY]

        await wait_for(done, 20, "the tasks to be run over REST")
        assert [(await manager.get_task(i)).result for i in ids[:2]] == [2, 4]
        text = await scrape(metrics)
        assert sample(text, "pgqueue_worker_claimed_total", worker="r1", queue="jobs") == 3
        worker.signal(signal.SIGTERM)
        assert await worker.wait_exit(30) == 0, worker.output()[-3000:]
        assert "Traceback" not in worker.output()


def test_unreachable_database_and_unknown_queue(dsn: str) -> None:
    result = run(f"{HANDLERS}:plain", "--dsn", "postgresql://u@127.0.0.1:1/x")
    assert result.returncode == 4 and "cannot connect to the database" in result.stderr
    result = run(f"{HANDLERS}:plain", "--dsn", dsn)  # the queue "jobs" was never registered
    assert result.returncode == 3 and "queue 'jobs' not found" in result.stderr, result.stderr
    assert "ready" not in result.stderr
    assert "Traceback" not in result.stderr


def sample(text: str, name: str, missing: float | None = None, **labels: str) -> float:
    """The value of the one sample `name` whose labels include `labels` (`missing` when
    there is none, or fail)."""
    for line in text.splitlines():
        found = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if not found or found.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', found.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(found.group(3))
    if missing is not None:
        return missing
    raise AssertionError(f"{name}{labels} not in:\n{text}")


async def scrape(port: int) -> str:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        assert resp.status == 200
        return await resp.text()


async def test_one_worker_runs_a_registry_and_serves_its_metrics(
    manager: Manager, dsn: str, tmp_path: Path
) -> None:
    await manager.register_queue(QueueMeta(queue="jobs", retry_delay=timedelta(hours=1)))
    await manager.register_queue(QueueMeta(queue="reports"))
    port = free_port()
    argv = [
        *PGQUEUE, "--namespace", manager.namespace, "worker", f"{HANDLERS}:make",
        "--name", "w1", "--queues", "jobs", "--queues", "reports", "--concurrency", "4",
        "--metrics-port", str(port), "--metrics-addr", "127.0.0.1",
    ]  # fmt: skip
    worker = Proc(
        "worker",
        argv,
        tmp_path / "w.log",
        clean_env(PGQUEUE_DSN=dsn),
    )
    try:
        await worker.wait_output("worker w1 ready", 30)
        jobs = await manager.create_tasks("jobs", [TaskMeta(payload=p) for p in (1, 2, "boom")])
        reports = await manager.create_tasks("reports", [TaskMeta(payload=7)])
        text = ""

        async def counted() -> bool:  # results are written, then counted, in batches
            nonlocal text
            text = await scrape(port)
            return sample(text, "pgqueue_worker_failed_total", 0, queue="jobs") == 1 and (
                sample(text, "pgqueue_worker_succeeded_total", 0, queue="reports") == 1
            )

        await wait_for(counted, 20, "the metrics to count every task")
        assert (await manager.get_task(jobs[1])).result == 4
        assert (await manager.get_task(reports[0])).result == {"rows": 7}
        assert (await manager.get_task(jobs[2])).status == Status.RETRY
        w, jq = {"worker": "w1"}, {"worker": "w1", "queue": "jobs"}
        assert sample(text, "pgqueue_worker_claimed_total", **jq) == 3
        assert sample(text, "pgqueue_worker_succeeded_total", **jq) == 2
        assert sample(text, "pgqueue_worker_retried_total", **jq) == 1
        assert sample(text, "pgqueue_worker_in_flight", **w) == 0
        success = {**jq, "outcome": "success"}
        assert sample(text, "pgqueue_worker_handler_seconds_count", **success) == 2
        assert sample(text, "pgqueue_worker_handler_seconds_bucket", **success, le="+Inf") == 2
        assert sample(text, "pgqueue_worker_handler_seconds_count", **jq, outcome="failure") == 1
        assert sample(text, "process_cpu_seconds_total") > 0
        promtool_check(text)

        worker.signal(signal.SIGTERM)
        assert await worker.wait_exit(30) == 0, worker.output()[-3000:]
        assert "worker w1 stopped: claimed 4, succeeded 3, failed 1" in worker.output()
        assert "Traceback" not in worker.output()
    finally:
        worker.stop()


def started_pids(output: str, name: str) -> list[int]:
    """The pids the supervisor started for worker `name`, in order."""
    return [int(p) for p in re.findall(rf"started {re.escape(name)} \(pid (\d+)\)", output)]


async def test_supervisor_restarts_a_killed_process_and_stops_gracefully(
    manager: Manager, dsn: str, tmp_path: Path
) -> None:
    """kill -9 one worker process: the supervisor starts another in its place. SIGTERM: each
    process finishes the task it is running (its result is the handler's), and all exit 0."""
    await manager.register_queue(QueueMeta(queue="hold"))
    port = free_port()
    argv = [
        *PGQUEUE, "worker", f"{HANDLERS}:tasks", "--queues", "hold", "--name", "s",
        "--namespace", manager.namespace, "--processes", "2", "--concurrency", "1",
        "--prefetch", "0", "--metrics-port", str(port),
    ]  # fmt: skip
    sup = Proc(
        "supervisor",
        argv,
        tmp_path / "s.log",
        clean_env(PGQUEUE_DSN=dsn, CMD_TEST_DIR=str(tmp_path)),
    )
    try:
        for name in ("s-0", "s-1"):
            await sup.wait_output(f"worker {name} ready", 30)
        [victim] = started_pids(sup.output(), "s-0")
        os.kill(victim, signal.SIGKILL)
        await sup.wait_output(f"s-0 (pid {victim}) was killed by SIGKILL", 10)
        await wait_for(lambda: len(started_pids(sup.output(), "s-0")) == 2, 10, "a restart")
        await wait_for(
            lambda: sup.output().count("worker s-0 ready") == 2, 30, "the new s-0 to be ready"
        )

        # One task each (concurrency 1, no prefetch).
        ids = await manager.create_tasks("hold", [TaskMeta(payload=i) for i in range(2)])

        def both_running() -> bool:
            return all((tmp_path / f"started-{i}").exists() for i in ids)

        await wait_for(both_running, 30, "each process to start a task")
        runners = {int((tmp_path / f"started-{i}").read_text()) for i in ids}
        assert len(runners) == 2  # one in each process

        text = await scrape(port)  # the supervisor's port: both processes' metrics
        for name in ("s-0", "s-1"):
            assert sample(text, "pgqueue_worker_in_flight", worker=name) == 1
            assert sample(text, "process_cpu_seconds_total", worker=name) > 0
        promtool_check(text)

        sup.signal(signal.SIGTERM)
        await sup.wait_output("SIGTERM: stopping every worker process gracefully", 10)
        sup.check_alive()  # waiting for the running handlers
        (tmp_path / "release").write_text("")
        assert await sup.wait_exit(60) == 0, sup.output()[-4000:]
        for task_id in ids:
            task = await manager.get_task(task_id)
            assert task.status == Status.RELEASED, task
            assert task.result == f"done by {int((tmp_path / f'started-{task_id}').read_text())}"
        out = sup.output()
        assert "worker s-0 stopped" in out and "worker s-1 stopped" in out
        assert "Traceback" not in out
    finally:
        sup.stop()


async def test_a_crash_loop_backs_off_and_sigterm_still_stops_it(tmp_path: Path) -> None:
    """Every process fails at once (no database): restarts wait 0.5, 1, 2 s… — no spin."""
    argv = [*PGQUEUE, "worker", f"{HANDLERS}:tasks", "--processes", "1", "--name", "c"]
    sup = Proc(
        "supervisor",
        argv,
        tmp_path / "s.log",
        clean_env(PGQUEUE_DSN=f"postgresql://u@127.0.0.1:{free_port()}/x"),
    )
    try:
        await wait_for(lambda: "restarting in 2.0s" in sup.output(), 30, "three crashes")
        delays = re.findall(r"restarting in ([0-9.]+)s", sup.output())
        assert delays[:3] == ["0.5", "1.0", "2.0"], sup.output()
        assert sup.output().count("cannot connect to the database") == 3
        sup.signal(signal.SIGTERM)
        assert await sup.wait_exit(10) == 0, sup.output()[-3000:]
    finally:
        sup.stop()


async def test_a_configuration_error_in_a_process_stops_the_supervisor(
    dsn: str, tmp_path: Path
) -> None:
    """A process that exits 2 (here: the reserved namespace) would fail again: exit 2."""
    argv = [*PGQUEUE, "worker", f"{HANDLERS}:tasks", "--processes", "2", "--namespace", "pgqueue"]
    sup = Proc("supervisor", argv, tmp_path / "s.log", clean_env(PGQUEUE_DSN=dsn))
    try:
        assert await sup.wait_exit(30) == 2, sup.output()[-3000:]
        assert "a configuration error; stopping" in sup.output()
        assert "restarting" not in sup.output()
    finally:
        sup.stop()


async def test_a_second_signal_kills_every_process(
    manager: Manager, dsn: str, tmp_path: Path
) -> None:
    await manager.register_queue(QueueMeta(queue="hold"))
    argv = [
        *PGQUEUE, "worker", f"{HANDLERS}:tasks", "--queues", "hold", "--name", "h",
        "--namespace", manager.namespace, "--processes", "2", "--concurrency", "1",
        "--prefetch", "0",
    ]  # fmt: skip
    sup = Proc(
        "supervisor",
        argv,
        tmp_path / "s.log",
        clean_env(PGQUEUE_DSN=dsn, CMD_TEST_DIR=str(tmp_path)),
    )
    try:
        for name in ("h-0", "h-1"):
            await sup.wait_output(f"worker {name} ready", 30)
        pids = started_pids(sup.output(), "h-0") + started_pids(sup.output(), "h-1")
        [task_id] = await manager.create_tasks("hold", [TaskMeta(payload=0)])
        await wait_for((tmp_path / f"started-{task_id}").exists, 30, "the task to start")
        sup.signal(signal.SIGINT)
        await sup.wait_output("SIGINT: stopping every worker process gracefully", 10)
        sup.check_alive()  # the handler holds on
        sup.signal(signal.SIGINT)
        assert await sup.wait_exit(10) == 128 + signal.SIGINT, sup.output()[-3000:]
        assert "SIGINT again: killing every worker process" in sup.output()
        for pid in pids:  # reaped by the supervisor: gone
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        assert (await manager.get_task(task_id)).status == Status.RETAINED  # its lease will lapse
    finally:
        sup.stop()
