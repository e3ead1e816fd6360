"""Bounded polling: the one way the tests wait for something to become true."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

INTERVAL = 0.02  # seconds between two checks


async def wait_for(
    condition: Callable[[], object | Awaitable[object]], within: float, what: str
) -> float:
    """Wait until `condition()` (sync or async) is truthy, checking every 20 ms; fail with
    an AssertionError after `within` seconds. Returns the seconds it took."""
    started = time.monotonic()
    while True:
        outcome = condition()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(INTERVAL)


def wait_for_sync(condition: Callable[[], object], within: float, what: str) -> float:
    """`wait_for` outside an event loop (the thread sleeps between checks)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        time.sleep(INTERVAL)
    return time.monotonic() - started


async def value_when(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], within: float = 10.0
) -> T:
    """Call `probe` until `accept` holds for its value, and return that value; fail after
    `within` seconds (TimeoutError).

    Only for waiting on the database clock (a ttl or interval must really pass).
    """
    value = await probe()
    async with asyncio.timeout(within):
        while not accept(value):
            await asyncio.sleep(0.05)
            value = await probe()
    return value
