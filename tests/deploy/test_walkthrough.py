"""The README's walkthrough, command by command, exactly as written (with the server of
`make run` started here on a free port and the test's database, and `localhost:8080` in a
command pointed at it)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import aiohttp

from tests.support import ROOT
from tests.support.net import free_port
from tests.support.processes import Proc, server_argv, wait_healthy
from tests.support.waiting import wait_for

README = ROOT / "README.md"


def walkthrough_commands() -> list[str]:
    """The `$ ` lines of the README's Walkthrough section."""
    text = README.read_text()
    section = text.split("\n## Walkthrough\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```console\n(.*?)```", section, re.DOTALL)
    assert blocks, "the walkthrough has no console block"
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def long_running(command: str) -> bool:
    """The worker: it runs (in a terminal of its own) until Ctrl-C."""
    return " worker " in command


def test_the_walkthrough_starts_the_server_with_make_run() -> None:
    section = README.read_text().split("\n## Walkthrough\n", 1)[1].split("\n## ", 1)[0]
    assert "```sh\nmake run\n```" in section


async def test_the_walkthrough_works_as_written(dsn: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGQUEUE_")}
    env["EMAIL_FAILURE_RATE"] = "0"  # the example fails 5 % of emails to show retries
    server = Proc("server", server_argv(dsn, port), tmp_path / "server.log", env)
    worker: Proc | None = None
    outputs = []
    try:
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, server, base, 30)

            async def released() -> bool:
                params = {"queue": "emails", "status": "released"}
                async with session.get(base + "/task", params=params) as reply:
                    return bool((await reply.json())["count"] == 2)

            for command in walkthrough_commands():
                shell = command.replace("localhost:8080", f"127.0.0.1:{port}")
                if long_running(command):
                    assert worker is None
                    worker = Proc("worker", ["bash", "-c", shell], tmp_path / "w.log", env)
                    await worker.wait_output("ready", 30)
                    await wait_for(released, 30, "the worker to run both emails")
                    continue
                proc = subprocess.run(
                    ["bash", "-c", shell],
                    cwd=ROOT,
                    env={**env, "PGQUEUE_URL": base},
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
                outputs.append((command, proc.stdout))
        assert worker is not None, "the walkthrough starts no worker"
        os.killpg(worker.pid, signal.SIGINT)  # Ctrl-C in its terminal
        assert await worker.wait_exit(30) == 0, worker.output()[-2000:]
        assert "Traceback" not in worker.output()
    finally:
        if worker is not None:
            worker.stop()
        server.stop()
    listing = next(out for cmd, out in outputs if cmd.endswith("tasks --queue emails"))
    assert listing.count("emails") >= 2, listing
    done = next(out for cmd, out in outputs if cmd.endswith("--status released"))
    assert done.count("released") >= 2, done
    metrics = next(out for cmd, out in outputs if "metrics" in cmd)
    assert 'queue_tasks{namespace="default",queue="emails",status="released"} 2' in metrics, metrics
