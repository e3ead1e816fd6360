"""Claimed tasks straight from the response bytes: msgspec decodes `{"count", "body": [task,
...]}` into the core's Task dataclass (its fields, types and defaults are the definition)
about ten times faster than parsing JSON and then `codec.decode`-ing each task, which is
what a remote worker spends most of its time on. It is a fast path only: anything it does
not take exactly as `codec.decode` would (a timestamp not in UTC, a status in capitals, a
number written as 1.0, malformed JSON) returns None, and the caller decodes the codec's
way, with the codec's errors."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import msgspec

from pgqueue_core import codec
from pgqueue_core.models import Task


class _TaskList(msgspec.Struct):
    count: int
    body: list[Task]


_DECODER = msgspec.json.Decoder(_TaskList)
# The timestamp fields of a Task: codec.decode gives them in UTC, msgspec in the offset sent.
_TIMES = tuple(f.attr for f in codec.fields(Task) if f.kind == "time")


def _in_utc(task: Task) -> bool:
    for attr in _TIMES:
        value: Any = getattr(task, attr)
        if value is not None and value.tzinfo is not UTC:
            return False
    return True


def task_list(raw: bytes) -> list[Task] | None:
    """The tasks of a list envelope, or None when the fast path cannot vouch for them."""
    try:
        tasks = _DECODER.decode(raw).body
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return tasks if all(_in_utc(t) for t in tasks) else None
