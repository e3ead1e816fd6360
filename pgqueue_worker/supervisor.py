"""The supervisor of `pgqueue worker --processes N`: starts N worker processes, restarts one
that exits (with backoff), stops them all gracefully on SIGTERM/SIGINT, at once on a second."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

log = logging.getLogger("pgqueue.supervisor")

EXIT_USAGE = 2  # a worker process that exits with this found its configuration wrong

# A worker process that crashes is started again after BACKOFF_BASE seconds, doubling for
# each further crash that follows a start within STABLE_AFTER seconds, up to BACKOFF_MAX:
# a process that cannot start (database down) is retried every 30 s, not in a spin.
BACKOFF_BASE = 0.5
BACKOFF_MAX = 30.0
STABLE_AFTER = 10.0


@dataclass
class Slot:
    """One of the N worker processes: the one running now, and its crash history."""

    index: int
    name: str
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    crashes: int = 0  # consecutive crashes soon after a start
    restart_at: float | None = None  # when to start it again (monotonic), after a crash
    restarts: int = 0


class Supervisor:
    """Keeps one worker process per name in `names` running; `command(slot)` and `env(slot)`
    are the argv and environment of one.

    The processes run in their own process group, so a Ctrl-C at the terminal reaches only
    the supervisor, which passes one SIGTERM on to each (a worker takes a second signal as
    "stop now"). Waiting uses the signal wake-up fd: a child's exit (SIGCHLD), a signal or
    the next due restart ends the wait, nothing polls.

    `run()` returns 0 when every process exited 0 after a graceful stop, 1 when one did not,
    2 when a process reported a configuration error (exit 2: it would fail again), and
    128 + the signal's number after a hard stop (second signal: SIGKILL to every process).
    """

    def __init__(
        self,
        command: Callable[[Slot], list[str]],
        names: list[str],
        *,
        env: Callable[[Slot], dict[str, str]],
        backoff_base: float = BACKOFF_BASE,
        backoff_max: float = BACKOFF_MAX,
        stable_after: float = STABLE_AFTER,
    ) -> None:
        self.command = command
        self.slots = [Slot(i, name) for i, name in enumerate(names)]
        self.env = env
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self._signals: list[int] = []
        self._handled = 0  # how many of _signals were acted on
        self._stopping = False
        self._config_error = False
        self._unclean = 0  # processes that did not exit 0 when stopped

    def running(self) -> list[tuple[str, str]]:
        """(slot, worker name) of the processes alive now (for the metrics collector)."""
        return [(str(s.index), s.name) for s in self.slots if s.proc and s.proc.poll() is None]

    def run(self) -> int:
        wake_r, wake_w = os.pipe()
        for fd in (wake_r, wake_w):
            os.set_blocking(fd, False)
        previous_fd = signal.set_wakeup_fd(wake_w)
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)
        }
        try:
            for slot in self.slots:
                self._start(slot)
            while True:
                self._act_on_signals()
                self._reap()
                if self._stopping and not any(s.proc for s in self.slots):
                    break
                self._start_due()
                select.select([wake_r], [], [], self._timeout())
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_r, 512):
                        pass
        finally:
            for slot in self.slots:  # on an unexpected error: leave nothing behind
                if slot.proc is not None and slot.proc.poll() is None:
                    slot.proc.kill()
                    slot.proc.wait()
            signal.set_wakeup_fd(previous_fd)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(wake_r)
            os.close(wake_w)
        if len(self._signals) >= 2:
            return 128 + self._signals[1]
        if self._config_error:
            return EXIT_USAGE
        return 1 if self._unclean else 0

    # ---- internals ---------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum != signal.SIGCHLD:
            self._signals.append(signum)

    def _act_on_signals(self) -> None:
        while self._handled < len(self._signals):
            sig = self._signals[self._handled]
            self._handled += 1
            if self._handled == 1:
                log.info(
                    "%s: stopping every worker process gracefully (again: at once)",
                    signal.Signals(sig).name,
                )
                self._stop_all(signal.SIGTERM)
            elif self._handled == 2:
                log.warning("%s again: killing every worker process", signal.Signals(sig).name)
                self._stop_all(signal.SIGKILL)

    def _stop_all(self, sig: int) -> None:
        self._stopping = True
        for slot in self.slots:
            slot.restart_at = None
            if slot.proc is not None and slot.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.proc.send_signal(sig)

    def _start(self, slot: Slot) -> None:
        slot.restart_at = None
        slot.proc = subprocess.Popen(self.command(slot), env=self.env(slot), process_group=0)
        slot.started_at = time.monotonic()
        log.info("started %s (pid %d)", slot.name, slot.proc.pid)

    def _reap(self) -> None:
        for slot in self.slots:
            if slot.proc is None or slot.proc.poll() is None:
                continue
            code, pid = slot.proc.returncode, slot.proc.pid
            slot.proc = None
            how = f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with {code}"
            if self._stopping:
                if code != 0:
                    self._unclean += 1
                log.info("%s (pid %d) %s", slot.name, pid, how)
                continue
            if code == EXIT_USAGE:
                log.error("%s (pid %d) %s: a configuration error; stopping", slot.name, pid, how)
                self._config_error = True
                self._stop_all(signal.SIGTERM)
                continue
            uptime = time.monotonic() - slot.started_at
            slot.crashes = slot.crashes + 1 if uptime < self.stable_after else 1
            delay = min(self.backoff_max, self.backoff_base * 2 ** (slot.crashes - 1))
            slot.restart_at = time.monotonic() + delay
            log.warning(
                "%s (pid %d) %s after %.1fs; restarting in %.1fs",
                slot.name,
                pid,
                how,
                uptime,
                delay,
            )

    def _start_due(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if slot.proc is None and slot.restart_at is not None and slot.restart_at <= now:
                slot.restarts += 1
                self._start(slot)

    def _timeout(self) -> float | None:
        due = [s.restart_at for s in self.slots if s.restart_at is not None]
        if not due:
            return None
        return max(0.0, min(due) - time.monotonic())


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
