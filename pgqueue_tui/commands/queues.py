"""Queue subcommands: namespaces, queues, queue, create/update/delete/pause/resume-queue,
reset-breaker, requeue, stats."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING

from pgqueue_core.models import QueueMeta

from .. import output
from . import ClientCommand, Output, UsageError, add_paging, args

if TYPE_CHECKING:
    from ..client import Client

_REQUEUE_STATUSES = ("failed", "expired", "cancelled")


# ---- handlers ---------------------------------------------------------------------------


async def namespaces(client: Client, ns: argparse.Namespace, out: Output) -> None:
    names = await client.list_namespaces()
    out.show("\n".join(names) if names else "No namespaces yet (create a queue or a ticker).")


async def list_queues(client: Client, ns: argparse.Namespace, out: Output) -> None:
    page = await client.list_queues(ns.offset, ns.limit)
    if not page.items and not ns.offset:
        out.show("No queues.")
        return
    out.show(output.queues_table(page.items, output.now_utc()))
    note = output.page_note(page.count, ns.offset, len(page.items), "queues")
    if note:
        out.note(note)


async def show_queue(client: Client, ns: argparse.Namespace, out: Output) -> None:
    out.show(output.queue_view(await client.get_queue(ns.name), output.now_utc()))


def _meta(ns: argparse.Namespace, name: str | None) -> QueueMeta:
    return QueueMeta(
        queue=name,
        ttl=ns.ttl,
        retries=ns.retries,
        retry_delay=ns.retry_delay,
        lease=ns.lease,
        concurrency=ns.concurrency,
        rate=ns.rate,
        burst=ns.burst,
        weight=ns.weight,
        breaker_threshold=ns.breaker_threshold,
        breaker_cooldown=ns.breaker_cooldown,
    )


async def create_queue(client: Client, ns: argparse.Namespace, out: Output) -> None:
    meta = _meta(ns, ns.name)
    # 0 means "no limit", which is what a new queue has anyway.
    meta = replace(meta, concurrency=meta.concurrency or None, paused=ns.paused or None)
    queue = await client.create_queue(meta)
    out.show(output.queue_view(queue, output.now_utc()))


async def update_queue(client: Client, ns: argparse.Namespace, out: Output) -> None:
    meta = _meta(ns, ns.rename)
    if meta == QueueMeta():
        raise UsageError(
            "nothing to change: give --name, --ttl, --retries, --retry-delay, --lease, "
            "--concurrency, --rate, --burst, --weight, --breaker-threshold or "
            "--breaker-cooldown"
        )
    out.show(output.queue_view(await client.update_queue(ns.name, meta), output.now_utc()))


async def delete_queue(client: Client, ns: argparse.Namespace, out: Output) -> None:
    queue = await client.delete_queue(ns.name)
    out.show(f"Deleted queue {queue.queue} and its tasks.")


async def pause_queue(client: Client, ns: argparse.Namespace, out: Output) -> None:
    queue = await client.pause_queue(ns.name)
    out.show(f"Paused queue {queue.queue}: it accepts new tasks but hands none out.")


async def resume_queue(client: Client, ns: argparse.Namespace, out: Output) -> None:
    queue = await client.resume_queue(ns.name)
    out.show(f"Resumed queue {queue.queue}.")


async def reset_breaker(client: Client, ns: argparse.Namespace, out: Output) -> None:
    queue = await client.reset_breaker(ns.name)
    if queue.breaker_threshold is None:
        out.show(f"Queue {queue.queue} has no circuit breaker (set one with --breaker-threshold).")
    else:
        out.show(f"Closed the circuit breaker of queue {queue.queue}: its tasks go out again.")


async def requeue(client: Client, ns: argparse.Namespace, out: Output) -> None:
    n = await client.requeue_tasks(ns.queue, ns.status)
    noun = "task" if n == 1 else "tasks"
    out.show(f"Requeued {n} {ns.status} {noun} of queue {ns.queue}.")


async def stats(client: Client, ns: argparse.Namespace, out: Output) -> None:
    summaries = await client.queue_summaries()
    out.show(output.stats_table(summaries, output.now_utc()) if summaries else "No queues.")


# ---- parsers ----------------------------------------------------------------------------


def _settings(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ttl", type=args.duration, help="task lifetime (default 1h)")
    parser.add_argument(
        "--retries", type=args.count, help="times a failed task is tried again (default 3)"
    )
    parser.add_argument(
        "--retry-delay",
        type=args.duration,
        help="backoff base: retry n waits DELAY * 2^(n-1) (default 2m)",
    )
    parser.add_argument(
        "--lease", type=args.duration, help="how long a worker holds a task without heartbeat"
    )
    parser.add_argument(
        "--concurrency",
        type=args.count,
        help="at most N tasks retained at once across all workers (0: unlimited)",
    )
    parser.add_argument(
        "--rate",
        type=args.rate,
        metavar="PER_SECOND",
        help="at most this many tasks started per second across all workers, e.g. 200 or "
        "0.5 (0: unlimited)",
    )
    parser.add_argument(
        "--burst",
        type=args.count,
        help="with --rate: at most N tasks started at once after a quiet spell "
        "(0: one second's worth)",
    )
    parser.add_argument(
        "--weight",
        type=args.weight,
        help="tasks taken per turn when a worker serves several queues, 1-1000 (default 1)",
    )
    parser.add_argument(
        "--breaker-threshold",
        type=args.count,
        metavar="N",
        help="open the circuit breaker after N failed attempts in a row (0: no breaker)",
    )
    parser.add_argument(
        "--breaker-cooldown",
        type=args.cooldown,
        metavar="DURATION",
        help="how long an open breaker hands out nothing before one probe task, 1s-365d "
        "(default 30s)",
    )


def _name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", type=args.name, help="queue name")


def _create_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name", metavar="NAME", type=args.name, help="queue name (a-z, 0-9, _ and -)"
    )
    _settings(parser)
    parser.add_argument("--paused", action="store_true", help="create it paused")


def _update_arguments(parser: argparse.ArgumentParser) -> None:
    _name(parser)
    parser.add_argument(
        "--name", dest="rename", type=args.name, metavar="NEW", help="rename to NEW"
    )
    _settings(parser)


def _requeue_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue", type=args.name, required=True, help="queue name")
    parser.add_argument("--status", required=True, choices=_REQUEUE_STATUSES, help="which tasks")


# ---- commands (entry points in pyproject.toml) ------------------------------------------

NAMESPACES = ClientCommand(
    "List the namespaces that own a queue or a ticker.",
    ["pgqueue namespaces"],
    handler=namespaces,
)
QUEUES = ClientCommand(
    "List the queues of the namespace.",
    ["pgqueue queues", "pgqueue --namespace myapp queues --json | jq '.body[].queue'"],
    arguments=lambda parser: add_paging(parser, "queues"),
    handler=list_queues,
)
QUEUE = ClientCommand(
    "Show one queue's settings.", ["pgqueue queue emails"], arguments=_name, handler=show_queue
)
CREATE_QUEUE = ClientCommand(
    "Create a queue; settings not given get the defaults.",
    [
        "pgqueue create-queue emails --ttl 24h --retries 5 --retry-delay 30s",
        "pgqueue create-queue webhooks --rate 200 --burst 50 --breaker-threshold 5",
    ],
    "Durations: 90s, 1h30m, 2d, PT1H or integer nanoseconds.",
    arguments=_create_arguments,
    handler=create_queue,
)
UPDATE_QUEUE = ClientCommand(
    "Change a queue's settings (only those given) or rename it.",
    [
        "pgqueue update-queue emails --retries 10",
        "pgqueue update-queue emails --name mail",
        "pgqueue update-queue emails --rate 0 --breaker-threshold 0   # remove both limits",
    ],
    arguments=_update_arguments,
    handler=update_queue,
)
DELETE_QUEUE = ClientCommand(
    "Delete a queue and all its tasks.",
    ["pgqueue delete-queue emails"],
    arguments=_name,
    handler=delete_queue,
)
PAUSE_QUEUE = ClientCommand(
    "Pause a queue: it accepts new tasks but hands none out until resumed.",
    ["pgqueue pause-queue emails"],
    arguments=_name,
    handler=pause_queue,
)
RESUME_QUEUE = ClientCommand(
    "Resume a paused queue.",
    ["pgqueue resume-queue emails"],
    arguments=_name,
    handler=resume_queue,
)
RESET_BREAKER = ClientCommand(
    "Close a queue's circuit breaker: its tasks go out again at once.",
    ["pgqueue reset-breaker emails"],
    "The breaker forgets the failures it counted: it opens again after another\n"
    "--breaker-threshold failed attempts in a row.",
    arguments=_name,
    handler=reset_breaker,
)
REQUEUE = ClientCommand(
    "Put every failed, expired or cancelled task of a queue back to new.",
    ["pgqueue requeue --queue emails --status failed"],
    "The tasks get fresh retries and a fresh TTL.",
    arguments=_requeue_arguments,
    handler=requeue,
)
STATS = ClientCommand(
    "Task counts per queue and status, and each queue's oldest waiting task.",
    ["pgqueue stats", "pgqueue stats --json | jq '.body[] | {queue, failed: .counts.failed}'"],
    handler=stats,
)
