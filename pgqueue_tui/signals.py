"""SIGINT and SIGTERM stop a long-running command (next-ticker, tui), however it was started.

Python turns SIGINT into KeyboardInterrupt only when SIGINT was not ignored at start-up, and
a script's `pgqueue next-ticker &` starts with it ignored; SIGTERM's default action kills the
process without closing anything (for the console: without giving the terminal back). So the
handlers are installed on the event loop explicitly, for as long as the command runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stop:
    """Which signal asked to stop (None: none yet)."""

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None


def _exit_now(sig: signal.Signals) -> None:
    """A second signal: the stop itself is stuck. Exit at once, status 128 + signal number
    (130, 143), as a shell reports a command killed by that signal."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(128 + sig)


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[signal.Signals], object]) -> Iterator[Stop]:
    """Inside the running loop: the first SIGINT or SIGTERM calls `stop(signal)`, which
    should make the command end soon; a second one exits the process at once. The previous
    dispositions (default, ignored, Python's handler) come back on leaving."""
    state = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield state  # only the main thread may handle signals
        return
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if state.signal is not None:
            _exit_now(sig)
        state.signal = sig
        stop(sig)

    installed: list[tuple[signal.Signals, Any]] = []
    try:
        for sig in STOP_SIGNALS:
            previous = signal.getsignal(sig)
            try:
                loop.add_signal_handler(sig, on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # no Unix signals here
                continue
            installed.append((sig, previous))
        yield state
    finally:
        for sig, previous in installed:
            loop.remove_signal_handler(sig)
            if previous is not None:  # None: set outside Python, cannot be restored
                signal.signal(sig, previous)


async def until_stopped(work: Coroutine[Any, Any, object]) -> signal.Signals | None:
    """Run `work` until it ends, or until SIGINT or SIGTERM cancels it (its `finally` and
    `async with` blocks close what it opened); the signal that stopped it, else None."""
    task = asyncio.ensure_future(work)
    with stop_on_signals(lambda _: task.cancel()) as stop:
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if stop.signal is None or (current is not None and current.cancelling()):
                raise  # cancelled from outside, not by a signal
        return stop.signal
