"""MODULE:ATTR: where `pgqueue worker` finds its handlers, and what it accepts there."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Mapping
from typing import Any

from pgqueue_core import Handlers


class TargetError(Exception):
    """MODULE:ATTR does not lead to handlers: the message says why (no traceback)."""


EXPECTED = "a dict of queue → handler, a Handlers registry, or a callable returning one"


def load_handlers(target: str) -> Handlers:
    """The handlers MODULE:ATTR names: a mapping of queue names to handlers (a dict or a
    `Handlers` registry), or a callable, called with no arguments, that returns one.

    The current directory comes first on the import path, as with `python -m`, celery and
    arq: `pgqueue worker myapp.tasks:tasks` works from the project's directory."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise TargetError(f"{target!r} is not MODULE:ATTR (e.g. myapp.tasks:handlers)")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name or module_name.startswith(f"{exc.name}."):
            raise TargetError(
                f"cannot import {module_name!r}: no module named {exc.name!r}"
            ) from None
        raise TargetError(f"importing {module_name!r} failed: {_describe(exc)}") from exc
    except Exception as exc:  # the module's own code failed: say how, briefly
        raise TargetError(f"importing {module_name!r} failed: {_describe(exc)}") from exc
    value: Any = module
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise TargetError(f"{module_name!r} has no attribute {attr!r}") from None
    if not isinstance(value, Mapping) and callable(value):
        if inspect.iscoroutinefunction(value):
            raise TargetError(f"{target} is an async function; it must return handlers directly")
        try:
            value = value()
        except Exception as exc:
            raise TargetError(f"calling {target} failed: {_describe(exc)}") from exc
    if not isinstance(value, Mapping):
        raise TargetError(f"{target} is {_kind(value)}; expected {EXPECTED}")
    try:
        handlers = value if isinstance(value, Handlers) else Handlers(value)
    except (TypeError, ValueError) as exc:
        raise TargetError(f"{target}: {exc}") from None
    if not handlers:
        raise TargetError(f"{target} has no handlers")
    return handlers


def select(handlers: Handlers, queues: list[str] | None) -> Handlers:
    """The handlers of `queues` only (all when None); a queue without a handler is an error."""
    if not queues:
        return handlers
    missing = [q for q in queues if q not in handlers]
    if missing:
        raise TargetError(
            f"no handler for queue(s) {', '.join(missing)} (handlers: {', '.join(handlers)})"
        )
    return Handlers({q: handlers[q] for q in dict.fromkeys(queues)})


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _kind(value: object) -> str:
    if value is None:
        return "None"
    kind = type(value).__name__
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
