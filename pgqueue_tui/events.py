"""The watch stream (`GET /events`, SPEC 7.5) as typed events: it observes and claims nothing.

Task, queue and ticker changes decode into the core's `TaskChange`, `QueueChange` and
`TickerChange`; `stats` into `Stats` (the namespace's `QueueSummary` list); `reset` into
`Reset`: events were missed (the server could not fill a gap after a reconnection), so the
consumer re-reads the state it keeps.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp

from pgqueue_core import codec
from pgqueue_core.errors import InvalidArgument, PgQueueError
from pgqueue_core.models import QueueChange, QueueSummary, TaskChange, TickerChange

from .sse import Event, EventSource, StateHook
from .transport import Params

__all__ = ["TYPES", "EventStream", "Reset", "Stats", "WatchEvent"]

log = logging.getLogger(__name__)

TYPES = ("task", "queue", "ticker", "stats")


@dataclass(frozen=True, slots=True)
class Stats:
    """The task counts of every queue of a namespace (sent at most once a second)."""

    namespace: str
    queues: list[QueueSummary]


@dataclass(frozen=True, slots=True)
class Reset:
    """Events were missed: re-read the state."""

    reason: str


WatchEvent = TaskChange | QueueChange | TickerChange | Stats | Reset


def decode(event: Event) -> WatchEvent | None:
    """The typed event of an SSE event (None for a type this client does not know).
    Raises ValueError, KeyError, TypeError or PgQueueError for a malformed one."""
    doc = json.loads(event.data)
    match event.type:
        case "task":
            return codec.decode(TaskChange, doc)
        case "queue":
            return codec.decode(QueueChange, doc)
        case "ticker":
            return codec.decode(TickerChange, doc)
        case "stats":
            items = [codec.decode(QueueSummary, item) for item in doc["body"]]
            return Stats(str(doc["namespace"]), items)
        case "reset":
            return Reset(str(doc.get("reason", "")) if isinstance(doc, dict) else "")
    return None


def check_types(types: Iterable[str]) -> list[str]:
    """The event types asked for, checked (InvalidArgument names an unknown one)."""
    wanted = list(dict.fromkeys(types))
    unknown = [t for t in wanted if t not in TYPES]
    if unknown:
        raise InvalidArgument(f"unknown event type(s) {', '.join(unknown)}: use {', '.join(TYPES)}")
    return wanted


class EventStream(EventSource[WatchEvent]):
    """Async iterator of the namespace's changes, across dropped connections: it reconnects
    with backoff and resumes after `last_event_id` (a `Reset` arrives when the server cannot
    fill the gap). `on_event` hears every event as (type, id, JSON document) before it is
    yielded (the CLI's `--json` prints it)."""

    def __init__(
        self,
        *,
        session: Callable[[], aiohttp.ClientSession],
        url: str,
        params: Params,
        headers: dict[str, str],
        last_event_id: str = "",
        on_event: Callable[[str, str, Any], None] | None = None,
        on_state: StateHook | None = None,
        min_delay: float = 0.25,
        max_delay: float = 5.0,
        read_timeout: float = 35.0,
        fail_fast: bool = False,
    ) -> None:
        super().__init__(
            session=session,
            url=url,
            decode=self._typed,
            params=params,
            headers=headers,
            last_event_id=last_event_id,
            on_state=on_state,
            min_delay=min_delay,
            max_delay=max_delay,
            read_timeout=read_timeout,
            fail_fast=fail_fast,
        )
        self.on_event = on_event

    def _typed(self, event: Event) -> WatchEvent | None:
        try:
            item = decode(event)
        except (ValueError, KeyError, TypeError, PgQueueError) as exc:
            log.warning("event stream: skipping a malformed event (%s): %.200s", exc, event.data)
            return None
        if item is not None and self.on_event is not None:
            self.on_event(event.type, event.id, json.loads(event.data))
        return item
