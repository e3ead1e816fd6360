"""Handlers: a registry of task handlers by queue, filled with a decorator."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from ..models import Task

F = TypeVar("F", bound=Callable[[Task], Any])


class Handlers(Mapping[str, Callable[[Task], Any]]):
    """Queue name → handler, filled where the handlers are written:

        tasks = Handlers()

        @tasks.handler("emails")
        async def send(task: Task) -> dict: ...

        @tasks.handler("reports")       # sync handlers run in the Worker's thread pool
        def build(task: Task) -> dict: ...

        Worker(manager, "w1", tasks)    # or `pgqueue worker myapp.tasks:tasks`

    It is a read-only Mapping, so it goes wherever a handler dict goes (and a dict still
    does). The decorator returns the function unchanged, so it can still be called directly
    (in tests, say). One handler per queue: registering a second one is a mistake, reported
    at import time rather than silently replacing the first.
    """

    def __init__(self, handlers: Mapping[str, Callable[[Task], Any]] | None = None) -> None:
        self._handlers: dict[str, Callable[[Task], Any]] = {}
        for queue, handler in (handlers or {}).items():
            self.add(queue, handler)

    def handler(self, queue: str) -> Callable[[F], F]:
        """A decorator that registers the function as the handler of `queue`."""

        def register(fn: F) -> F:
            self.add(queue, fn)
            return fn

        return register

    def add(self, queue: str, handler: Callable[[Task], Any]) -> None:
        """Register `handler` for `queue` (a ValueError if the queue has one already)."""
        if not isinstance(queue, str) or not queue:
            raise ValueError(f"a queue name must be a non-empty string, not {queue!r}")
        if not callable(handler):
            raise TypeError(f"the handler of queue {queue!r} is not callable: {handler!r}")
        if queue in self._handlers:
            raise ValueError(
                f"queue {queue!r} has a handler already ({_name(self._handlers[queue])})"
            )
        self._handlers[queue] = handler

    def __getitem__(self, queue: str) -> Callable[[Task], Any]:
        return self._handlers[queue]

    def __iter__(self) -> Iterator[str]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)

    def __repr__(self) -> str:
        inner = ", ".join(f"{q!r}: {_name(h)}" for q, h in self._handlers.items())
        return f"Handlers({{{inner}}})"


def _name(handler: Callable[..., Any]) -> str:
    module = getattr(handler, "__module__", None)
    name = getattr(handler, "__qualname__", None) or repr(handler)
    return f"{module}.{name}" if module else name
