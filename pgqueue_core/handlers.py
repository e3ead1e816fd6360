"""Calling application handlers, sync or async, without ever blocking the event loop."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Run:
    """How one handler run ended: the result to write (a failure's is an error document),
    the outcome the handler-time histogram labels it with, and the seconds it took."""

    success: bool
    result: Any
    outcome: str  # success, failure, cancelled or lost
    seconds: float


async def run(
    handler: Handler[T],
    arg: T,
    *,
    run_async: bool,
    executor: Executor | None,
    worker: str,
    reason: Callable[[], str],
) -> Run:
    """Run `handler(arg)` for a worker (the Worker and the RemoteWorker alike). A handler
    that raises is a failure with {"error", "message"}; one cancelled is asked `reason()`
    why: "lost" (its lease lapsed: the result belongs to no claim), "cancel" (the task was
    cancelled) or anything else (the worker stopped before it finished)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        result = await call(handler, arg, run_async=run_async, executor=executor)
    except asyncio.CancelledError:
        why = reason()
        if why == "lost":
            return Run(True, None, "lost", loop.time() - started)
        if why == "cancel":
            error = {"error": "Cancelled", "message": "the task was cancelled"}
        else:
            message = f"worker {worker} stopped before the handler finished"
            error = {"error": "WorkerStopped", "message": message}
        return Run(False, error, "cancelled", loop.time() - started)
    except Exception as exc:
        error = {"error": type(exc).__name__, "message": str(exc)}
        return Run(False, error, "failure", loop.time() - started)
    return Run(True, result, "success", loop.time() - started)


def not_json(exc: Exception) -> dict[str, str]:
    """The failure a result that is not JSON becomes."""
    return {"error": "ResultNotJSON", "message": f"the handler's result: {exc}"}
