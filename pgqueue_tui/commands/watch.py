"""`pgqueue watch`: the namespace's changes as they happen (GET /events), one per line.

Watching observes only: it claims no task and no ticker firing.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from . import ClientCommand, Output, UsageError, args

if TYPE_CHECKING:
    from pgqueue_core.errors import PgQueueError

    from ..client import Client
    from ..events import WatchEvent

TYPES = ("task", "queue", "ticker", "stats")


def event_line(event: WatchEvent) -> str:
    """One readable line per event: local time seen, type, what changed."""
    from pgqueue_core.durations import format_duration
    from pgqueue_core.models import QueueChange, TaskChange, TickerChange

    from .. import output
    from ..events import Reset, Stats

    now = output.clock(output.now_utc())
    match event:
        case TaskChange():
            waited = f"  waited {format_duration(event.waited)}" if event.waited else ""
            return (
                f"{now}  task    {event.queue}  #{event.id}  {event.change}"
                f"  attempt {event.attempt}{waited}"
            )
        case QueueChange():
            return f"{now}  queue   {event.queue}  {event.change}"
        case TickerChange():
            stamp = f"  {output.clock(event.timestamp)}" if event.timestamp else ""
            return f"{now}  ticker  {event.ticker}  {event.change}{stamp}"
        case Stats():
            parts = [
                f"{s.queue}{' (paused)' if s.paused else ''}: "
                + " ".join(f"{status} {n}" for status, n in s.counts.items() if n)
                for s in event.queues
            ]
            return f"{now}  stats   " + ("; ".join(parts) if parts else "no queues")
        case Reset():
            return f"{now}  reset   events were missed ({event.reason}): re-read the state"
    return f"{now}  {event!r}"  # pragma: no cover - every type is matched above


def _types(text: str) -> list[str]:
    wanted = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in TYPES]
    if not wanted or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown event type(s) {', '.join(unknown) or repr(text)}: use {','.join(TYPES)}"
        )
    return wanted


async def watch(client: Client, ns: argparse.Namespace, out: Output) -> None:
    """Runs until stopped: the CLI cancels it on SIGINT or SIGTERM (exit code 0)."""
    out.streaming = True
    types: list[str] = [t for group in ns.types or [] for t in group]
    where = f"namespace {client.namespace}" if client.namespace else "the default namespace"
    state = {"up": False, "ever": False}

    def on_event(kind: str, event_id: str, doc: Any) -> None:
        if out.json:
            line = {"id": event_id, "event": kind, "data": doc}
            out.event(json.dumps(line, ensure_ascii=False))

    def on_state(connected: bool, error: PgQueueError | None) -> None:
        was_up, state["up"] = state["up"], connected
        if connected:
            said = "Reconnected." if state["ever"] else f"Watching {where} at {client.url}"
            print(f"{said} (Ctrl-C to stop)", file=sys.stderr, flush=True)
            state["ever"] = True
        elif was_up:
            print(f"Connection lost ({error}); reconnecting…", file=sys.stderr, flush=True)

    if ns.last_event_id is not None and not ns.last_event_id.isdigit():
        raise UsageError(f"--last-event-id must be a number, got {ns.last_event_id!r}")
    stream = client.events(
        types=types,
        queue=ns.queue or [],
        last_event_id=ns.last_event_id or "",
        on_event=on_event,
        on_state=on_state,
        fail_fast=True,
    )
    async with stream:
        async for event in stream:
            if not out.json:
                out.event(event_line(event))


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--types",
        type=_types,
        action="append",
        metavar="T1,T2",
        help=f"only these event types ({','.join(TYPES)}; default: all)",
    )
    parser.add_argument(
        "--queue",
        type=args.name,
        action="append",
        metavar="QUEUE",
        help="only this queue's task and queue events (repeatable)",
    )
    parser.add_argument(
        "--last-event-id",
        metavar="ID",
        help="resume after this event id (older than the server keeps: a reset first)",
    )


WATCH = ClientCommand(
    "Print the namespace's changes as they happen, one per line, until Ctrl-C.",
    [
        "pgqueue watch",
        "pgqueue watch --types task --queue emails",
        "pgqueue --json watch --types ticker | jq -c .data",
    ],
    "Task changes (created, retained with how long it waited, released, retry, failed,\n"
    "expired, cancelled, requeued), queue changes, ticker changes and firings, and the\n"
    "queues' counts (stats, at most once a second). Watching claims nothing: every task\n"
    "and ticker firing still goes to its consumer. A dropped connection is re-established\n"
    "with backoff and resumes where it left off (`reset` when events were missed).\n"
    "With --json, one object per line: {id, event, data}. Ctrl-C (SIGINT) or SIGTERM\n"
    "exits with status 0.",
    arguments=_arguments,
    handler=watch,
    until_stopped=True,
)
