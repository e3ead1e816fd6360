"""Calling application handlers, sync or async, without ever blocking the event loop."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

T = TypeVar("T")

Handler = Callable[[T], Awaitable[Any] | Any]


def is_async(handler: Callable[..., Any]) -> bool:
    """Whether calling `handler` returns a coroutine (an async function or an object with an
    async `__call__`): it then runs on the event loop, any other handler in a thread."""
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(handler, "__call__", None)  # noqa: B004 - async callable objects
    return call is not None and inspect.iscoroutinefunction(call)


async def call(
    handler: Handler[T], arg: T, *, run_async: bool | None = None, executor: Executor | None = None
) -> Any:
    """`handler(arg)`: awaited when async, else run in `executor` (None: the loop's default
    thread pool); an awaitable that a sync handler returns is awaited too. `run_async`: what
    `is_async(handler)` says, when the caller knows it already (the Worker's hot path)."""
    if is_async(handler) if run_async is None else run_async:
        outcome = handler(arg)
    else:
        outcome = await asyncio.get_running_loop().run_in_executor(executor, handler, arg)
    if inspect.isawaitable(outcome):
        outcome = await outcome
    return outcome
