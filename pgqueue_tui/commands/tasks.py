"""Task subcommands: tasks, task, create-task, retain-task, complete-task, cancel/requeue-task."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pgqueue_core.models import Status, TaskMeta

from .. import output
from . import ClientCommand, Output, add_paging, args

if TYPE_CHECKING:
    from ..client import Client


# ---- handlers ---------------------------------------------------------------------------


async def list_tasks(client: Client, ns: argparse.Namespace, out: Output) -> None:
    page = await client.list_tasks(ns.queue, ns.status, ns.offset, ns.limit)
    if not page.items and not ns.offset:
        out.show("No tasks.")
        return
    out.show(output.tasks_table(page.items, output.now_utc()))
    note = output.page_note(page.count, ns.offset, len(page.items), "tasks")
    if note:
        out.note(note)


async def show_task(client: Client, ns: argparse.Namespace, out: Output) -> None:
    out.show(output.task_view(await client.get_task(ns.id), output.now_utc()))


async def create_task(client: Client, ns: argparse.Namespace, out: Output) -> None:
    delayed_at: datetime | None = ns.delayed_at
    if ns.delay is not None:
        delayed_at = datetime.now(UTC) + ns.delay
    meta = TaskMeta(payload=ns.payload, delayed_at=delayed_at, priority=ns.priority, key=ns.key)
    task, created = await client.create_task_or_get(ns.queue, meta)
    if not created:
        out.note(f"A live task with key {task.key!r} exists already: nothing was created.")
    out.show(output.task_view(task, output.now_utc()))


async def retain_task(client: Client, ns: argparse.Namespace, out: Output) -> None:
    task = await client.next_task(ns.worker, *ns.queues)
    if task is None:
        where = f"queue {', '.join(ns.queues)}" if ns.queues else "any queue"
        out.show(f"No task is ready in {where}.")
        return
    out.show(output.task_view(task, output.now_utc()))


async def complete_task(client: Client, ns: argparse.Namespace, out: Output) -> None:
    failed = ns.error is not args.NOT_GIVEN
    result = ns.error if failed else (None if ns.result is args.NOT_GIVEN else ns.result)
    task = await client.release_task(ns.id, not failed, result, worker=ns.worker)
    out.show(output.task_view(task, output.now_utc()))


async def cancel_task(client: Client, ns: argparse.Namespace, out: Output) -> None:
    task = await client.cancel_task(ns.id)
    if task.status is not Status.CANCELLED:
        out.note(f"Task {task.id} is {task.status}: it ends cancelled when its worker learns.")
    out.show(output.task_view(task, output.now_utc()))


async def requeue_task(client: Client, ns: argparse.Namespace, out: Output) -> None:
    out.show(output.task_view(await client.requeue_task(ns.id), output.now_utc()))


# ---- parsers ----------------------------------------------------------------------------


def _task_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", metavar="ID", type=args.task_id, help="task id")


def _list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue", type=args.name, help="only this queue's tasks")
    parser.add_argument("--status", choices=[s.value for s in Status], help="only tasks in STATUS")
    add_paging(parser, "tasks")


def _create_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("queue", metavar="QUEUE", type=args.name, help="queue name")
    parser.add_argument(
        "--payload", metavar="JSON", type=args.json_value, default=None, help="JSON payload"
    )
    when = parser.add_mutually_exclusive_group()
    when.add_argument(
        "--delayed-at",
        type=args.timestamp,
        metavar="TIME",
        help="not before TIME (ISO 8601; local time unless it has an offset)",
    )
    when.add_argument("--delay", type=args.duration, metavar="DURATION", help="not before now+D")
    parser.add_argument("--priority", type=args.integer, default=0, help="higher runs first (0)")
    parser.add_argument("--key", help="de-duplication key")


def _retain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "queues", nargs="*", type=args.name, metavar="QUEUE", help="queues to take from"
    )
    parser.add_argument("--worker", required=True, help="worker name recorded on the task")


def _complete_arguments(parser: argparse.ArgumentParser) -> None:
    _task_id(parser)
    outcome = parser.add_mutually_exclusive_group()
    outcome.add_argument(
        "--error",
        metavar="JSON",
        type=args.json_value,
        default=args.NOT_GIVEN,
        help="fail with this JSON result",
    )
    outcome.add_argument(
        "--result",
        metavar="JSON",
        type=args.json_value,
        default=args.NOT_GIVEN,
        help="succeed with this result",
    )
    parser.add_argument("--worker", help="only if WORKER still holds it")


# ---- commands (entry points in pyproject.toml) ------------------------------------------

TASKS = ClientCommand(
    "List tasks, oldest first, optionally of one queue and status.",
    ["pgqueue tasks --queue emails --status failed", "pgqueue tasks --json | jq '.count'"],
    arguments=_list_arguments,
    handler=list_tasks,
)
TASK = ClientCommand(
    "Show one task: payload, result, times.",
    ["pgqueue task 42"],
    arguments=_task_id,
    handler=show_task,
)
CREATE_TASK = ClientCommand(
    "Create a task in a queue.",
    [
        """pgqueue create-task emails --payload '{"to": "a@b.c"}'""",
        "pgqueue create-task emails --payload @mail.json --delay 10m",
        """pgqueue create-task reports --payload '"daily"' --key daily-2026-11-28""",
    ],
    "The payload is any JSON (default null); @FILE reads it from a file, @- from stdin.\n"
    "With --key, while a live task of the queue has that key, it is returned instead.",
    arguments=_create_arguments,
    handler=create_task,
)
RETAIN_TASK = ClientCommand(
    "Claim the next ready task as WORKER (for debugging and scripts).",
    ["pgqueue retain-task --worker me emails", "pgqueue retain-task --worker me"],
    "Without QUEUE, any queue of the namespace. Prints nothing useful and exits 0 "
    "when no task is ready (with --json: null).",
    arguments=_retain_arguments,
    handler=retain_task,
)
COMPLETE_TASK = ClientCommand(
    "Release a retained task: done, or failed with --error.",
    [
        """pgqueue complete-task 42 --result '{"sent": true}'""",
        """pgqueue complete-task 42 --error '{"error": "SMTP 421"}'""",
    ],
    "A failed task is retried after its backoff while it has retries left.",
    arguments=_complete_arguments,
    handler=complete_task,
)
CANCEL_TASK = ClientCommand(
    "Cancel a task: a waiting one at once, a retained one when its worker learns.",
    ["pgqueue cancel-task 42"],
    arguments=_task_id,
    handler=cancel_task,
)
REQUEUE_TASK = ClientCommand(
    "Put a failed, expired or cancelled task back to new with fresh retries and TTL.",
    ["pgqueue requeue-task 42"],
    arguments=_task_id,
    handler=requeue_task,
)
