"""Long-running commands stop cleanly on SIGINT and SIGTERM, however they were started.

A script's `pgqueue next-ticker &` starts with SIGINT ignored, where Python installs no
KeyboardInterrupt handler; SIGTERM's default action kills without any clean-up. Each case
runs the real `pgqueue` against a real server, started both ways.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Callable, Iterator

import pytest

from pgqueue_tui.cli import EXIT_INTERRUPTED, EXIT_TERMINATED
from tests.support.cli import IGNORING_SIGINT, PGQUEUE, Lines, Result, Server, clean_env, streaming
from tests.support.waiting import wait_for_sync

Cli = Callable[..., Result]
STOP_WITHIN = 10.0  # seconds; stopping takes well under one

SIGNALS = pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
STARTS = pytest.mark.parametrize("ignore_sigint", [True, False], ids=["sigint-ignored", "plain"])


def test_the_wrapper_starts_a_program_with_sigint_ignored() -> None:
    """The premise of the tests below: what `&` in a script does, the wrapper does."""
    probe = "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"
    result = subprocess.run(
        [*IGNORING_SIGINT, sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stdout.strip() == "True", result


@SIGNALS
@STARTS
def test_next_ticker_stops_cleanly_on_a_signal(
    cli: Cli, server: Server, sig: signal.Signals, ignore_sigint: bool
) -> None:
    assert cli("create-ticker", "tick", "--interval", "1s").code == 0
    with streaming("next-ticker", url=server.url, ignore_sigint=ignore_sigint) as proc:
        out, err = Lines(proc.stdout), Lines(proc.stderr)
        err.expect("Waiting for tickers")
        out.expect("tick")  # streaming, not merely started
        proc.send_signal(sig)
        assert proc.wait(STOP_WITHIN) == 0  # a requested stop; see `pgqueue --help`
        # Nothing more on stderr: no traceback, no unclosed-session warning.
        assert err.rest() == []


@pytest.mark.parametrize(
    ("first", "second", "code"),
    [
        (signal.SIGTERM, signal.SIGINT, EXIT_INTERRUPTED),
        (signal.SIGINT, signal.SIGTERM, EXIT_TERMINATED),
    ],
    ids=["TERM-INT", "INT-TERM"],
)
def test_a_second_signal_while_stopping_exits_at_once(
    first: signal.Signals, second: signal.Signals, code: int
) -> None:
    """A stop that hangs (here: a command that will not finish) yields to a second signal."""
    script = """\
import asyncio
from pgqueue_tui.signals import until_stopped

async def stubborn() -> None:
    print("ready", flush=True)
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            print("stopping", flush=True)

asyncio.run(until_stopped(stubborn()))
"""
    proc = subprocess.Popen(
        [*IGNORING_SIGINT, sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        out, err = Lines(proc.stdout), Lines(proc.stderr)
        out.expect("ready")
        proc.send_signal(first)
        out.expect("stopping")
        assert proc.poll() is None
        proc.send_signal(second)
        assert proc.wait(STOP_WITHIN) == code
        assert err.rest() == []
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_run_stops_on_sigint_when_started_in_the_background(dsn: str, log_dir: str) -> None:
    """`pgqueue run` (Sanic) installs its own loop handlers: nothing to fix, kept that way."""
    server = Server(dsn, log_dir=log_dir, ignore_sigint=True)
    server.start()
    assert server.proc is not None
    try:
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(STOP_WITHIN) == 0
        assert "Traceback" not in server.log()
    finally:
        server.stop()


# ---- the console ----------------------------------------------------------------------

ENTER_SCREEN = b"\x1b[?1049h"  # the alternate screen, where Textual draws
LEAVE_SCREEN = b"\x1b[?1049l"  # written when the console gives the terminal back


class Terminal:
    """A pseudo-terminal (100x30) whose output a thread collects."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self._output = bytearray()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: every process on the terminal has gone
                return
            if not chunk:
                return
            with self._lock:
                self._output += chunk

    @property
    def output(self) -> bytes:
        with self._lock:
            return bytes(self._output)

    def wait_for(self, fragment: bytes, timeout: float) -> None:
        wait_for_sync(lambda: fragment in self.output, timeout, f"{fragment!r} on the terminal")

    def hand_over(self) -> None:
        """The child has its copy of the terminal: drop ours, so that its exit ends reading."""
        os.close(self.slave)
        self.slave = -1

    def close(self) -> None:
        """After the child has gone (its exit ends the reading thread)."""
        if self.slave >= 0:
            os.close(self.slave)
        self._thread.join(5)
        os.close(self.master)


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal()
    yield term
    term.close()


@SIGNALS
@STARTS
def test_tui_gives_the_terminal_back_on_a_signal(
    server: Server, terminal: Terminal, sig: signal.Signals, ignore_sigint: bool
) -> None:
    proc = subprocess.Popen(
        [*(IGNORING_SIGINT if ignore_sigint else ()), PGQUEUE, "tui"],
        stdin=terminal.slave,
        stdout=terminal.slave,
        stderr=terminal.slave,
        env=clean_env(PGQUEUE_URL=server.url, TERM="xterm-256color"),
        start_new_session=True,  # a Ctrl-C at the developer's terminal does not reach it
    )
    terminal.hand_over()
    try:
        terminal.wait_for(ENTER_SCREEN, 30)
        terminal.wait_for("● connected".encode(), 30)  # drawn and talking to the server
        proc.send_signal(sig)
        assert proc.wait(STOP_WITHIN) == 0
        output = terminal.output
        assert LEAVE_SCREEN in output[output.rindex(ENTER_SCREEN) :]
        assert b"Traceback" not in output
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
