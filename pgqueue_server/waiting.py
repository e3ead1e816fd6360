"""Retains that wait for a task (`PUT /task?wait=30s`): woken by the database's notifications,
holding no database connection while they wait, and not all at once.

Every insert (and every task that becomes ready again) sends one notification for its
namespace and queue. A notification wakes ONE waiting retain of that queue, the longest
waiting; the retain claims, and only when its claim came back full (more may be waiting)
does it wake the next one. So a hundred remote workers long-polling one queue cost one or
two claims per single insert, not a hundred (a claim of one task that gets one is "full":
the next waiter looks too). A notification of a task that becomes ready later sets a
timer for then. While the LISTEN connection is down, waiters look every half second.
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field

from pgqueue_core.notifier import Event, Notifier

POLL_LISTENING = 5.0  # seconds between looks while notifications flow (a safety net)
POLL_DEAF = 0.5  # while the LISTEN connection is down
READY_MARGIN = 0.01  # seconds after a delayed task's time before it is claimed


@dataclass(eq=False)
class Waiter:
    namespace: str
    queues: frozenset[str] | None  # None: any queue of the namespace
    woken: asyncio.Event = field(default_factory=asyncio.Event)

    def wants(self, queue: str) -> bool:
        return self.queues is None or queue in self.queues


class Waiters:
    """The waiting retains of one server process."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self._waiting: collections.deque[Waiter] = collections.deque()
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._subscribed = False
        self.wakes = 0  # waiters woken (for tests and metrics)

    @property
    def count(self) -> int:
        return len(self._waiting)

    def enter(self, namespace: str, queues: list[str]) -> Waiter:
        """Join the line (before the first claim: a notification that comes during that claim
        is not missed)."""
        waiter = Waiter(namespace, frozenset(queues) if queues else None)
        self._waiting.append(waiter)
        if not self._subscribed:
            self._subscribed = True
            self.notifier.subscribe(self._on_notify)
        return waiter

    async def leave(self, waiter: Waiter) -> None:
        if waiter in self._waiting:
            self._waiting.remove(waiter)
        if not self._waiting and self._subscribed:
            self._subscribed = False
            await self.notifier.unsubscribe(self._on_notify)

    async def wait(self, waiter: Waiter, until: float, stopping: asyncio.Event) -> None:
        """Until woken, `until` (monotonic), the next look, or the server stops."""
        poll = POLL_LISTENING if self.notifier.connected else POLL_DEAF
        timeout = max(0.0, min(until - time.monotonic(), poll))
        waits = {asyncio.ensure_future(waiter.woken.wait()), asyncio.ensure_future(stopping.wait())}
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in waits:
                pending.cancel()
        waiter.woken.clear()

    def claimed(self, waiter: Waiter, got: int, asked: int) -> None:
        """A waiter's claim returned: when it came back full, more tasks may be waiting, so
        the next waiter of those queues looks too."""
        if got >= asked:
            for queue in waiter.queues or (None,):
                self._wake_one(waiter.namespace, queue, skip=waiter)

    def _on_notify(self, event: Event | None) -> None:
        if event is None:  # (re)connected: anything may have happened meanwhile
            for waiter in self._waiting:
                waiter.woken.set()
            return
        namespace, queue, ready_at = event
        if ready_at is not None and ready_at > time.time():
            key = (namespace, queue)
            timer = self._timers.get(key)
            # A hair late rather than early: a claim before the database's now() reaches the
            # task's delayed_at would find nothing and leave the waiter to its next look.
            delay = ready_at - time.time() + READY_MARGIN
            loop = asyncio.get_running_loop()
            if timer is None or timer.when() > loop.time() + delay:
                if timer is not None:
                    timer.cancel()
                self._timers[key] = loop.call_later(delay, self._ready, namespace, queue)
            return
        self._wake_one(namespace, queue)

    def _ready(self, namespace: str, queue: str) -> None:
        self._timers.pop((namespace, queue), None)
        self._wake_one(namespace, queue)

    def _wake_one(self, namespace: str, queue: str | None, skip: Waiter | None = None) -> None:
        for waiter in self._waiting:
            if waiter is skip or waiter.woken.is_set() or waiter.namespace != namespace:
                continue
            if queue is None or waiter.wants(queue):
                waiter.woken.set()
                self.wakes += 1
                # To the back of the line: the next notification wakes someone else.
                self._waiting.remove(waiter)
                self._waiting.append(waiter)
                return
