"""The `pgqueue` console script as a user runs it, against a real `pgqueue run` subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .net import free_port
from .waiting import wait_for_sync

PGQUEUE = str(Path(sys.executable).with_name("pgqueue"))
START_TIMEOUT = 30.0
_CLIENT_ENV = ("PGQUEUE_URL", "PGQUEUE_NAMESPACE", "PGQUEUE_TOKEN", "PGQUEUE_DEBUG")

# How a non-interactive shell starts `cmd &`: SIGINT ignored (SIG_IGN survives exec), so
# Python installs no KeyboardInterrupt handler. A wrapper, not preexec_fn: tests use threads.
IGNORING_SIGINT = (
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.argv[1], sys.argv[1:])",
)


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any PGQUEUE_* client settings."""
    env = {k: v for k, v in os.environ.items() if k not in _CLIENT_ENV}
    env.update(extra)
    return env


class Server:
    """`pgqueue run DSN --addr 127.0.0.1:PORT` in a subprocess, restartable on its port."""

    def __init__(self, dsn: str, *flags: str, log_dir: str, ignore_sigint: bool = False) -> None:
        self.dsn = dsn
        self.flags = flags
        self.ignore_sigint = ignore_sigint
        self.port = free_port()
        self.log_path = Path(log_dir) / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    *(IGNORING_SIGINT if self.ignore_sigint else ()),
                    *(PGQUEUE, "run", self.dsn, "--addr", f"127.0.0.1:{self.port}", *self.flags),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=clean_env(),
            )
        wait_for_sync(self._ready, START_TIMEOUT, f"the server on port {self.port}")

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            pytest.fail(f"the server exited with {self.proc.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def kill(self) -> None:
        """Crash it (SIGKILL): connections drop without goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_cli(*args: str, url: str | None = None, stdin: str | None = None, **env: str) -> Result:
    """Run the installed console script as a user would."""
    if url is not None:
        env.setdefault("PGQUEUE_URL", url)
    proc = subprocess.run(
        [PGQUEUE, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=clean_env(**env),
        timeout=60,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_error(result: Result, code: int, *fragments: str) -> None:
    """A failed command: the exit code, one `Error:` line on stderr, no traceback."""
    assert result.code == code, (result.code, result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("Error: "), result.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@contextlib.contextmanager
def streaming(*args: str, url: str, ignore_sigint: bool = False) -> Iterator[subprocess.Popen[str]]:
    """A long-running `pgqueue` command (next-ticker); killed if the test left it running.
    `ignore_sigint` starts it the way `pgqueue ... &` in a script does."""
    proc = subprocess.Popen(
        [*(IGNORING_SIGINT if ignore_sigint else ()), PGQUEUE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(PGQUEUE_URL=url),
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


class Lines:
    """Lines of a subprocess stream, read by a thread, awaited with a deadline."""

    def __init__(self, stream: Any) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def expect(self, fragment: str, timeout: float = 15.0) -> str:
        """The next line containing `fragment` (earlier lines are kept in `seen`)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no line with {fragment!r} within {timeout}s; saw {self.seen}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"stream ended before a line with {fragment!r}; saw {self.seen}")
            self.seen.append(line)
            if fragment in line:
                return line

    def rest(self, timeout: float = 10.0) -> list[str]:
        """Every remaining line until the stream ends."""
        self._thread.join(timeout)
        lines = []
        while not self._queue.empty():
            line = self._queue.get()
            if line is not None:
                lines.append(line)
        self.seen.extend(lines)
        return lines
