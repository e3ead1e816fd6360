"""Long-running commands stop cleanly on SIGINT and SIGTERM, however they were started.

A script's `pgqueue next-ticker &` starts with SIGINT ignored, where Python installs no
KeyboardInterrupt handler; SIGTERM's default action kills without any clean-up. Each case
runs the real `pgqueue` against a real server, started both ways.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable

import pytest

from pgqueue_tui.cli import EXIT_INTERRUPTED, EXIT_TERMINATED

from .conftest import (
    IGNORING_SIGINT,
    Lines,
    Result,
    Server,
    clean_env,
    streaming,
)

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
