"""Task routes: list, create, retain, get, release / heartbeat, cancel, requeue."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sanic import HTTPResponse, Request, empty, json

from pgqueue_core import InvalidArgument, Lease, PgQueueError, Status, Task, codec, parse_duration
from pgqueue_core.requests import Retain, TaskPatch, new_task

from .. import codec as wire
from .. import params
from ..auth import Access
from ..errors import to_http
from ..middleware import manager
from ..waiting import Waiters
from .blueprint import ApiBlueprint

bp = ApiBlueprint("tasks")

MAX_RETAIN = 1000  # tasks one retain may hand out
MAX_WAIT = 60.0  # seconds a retain may wait for a task (SPEC 7.4)


@bp.get("/task", ctx_access=Access.READ)
async def list_tasks(request: Request) -> HTTPResponse:
    query = params.query(request, "queue", "status", "offset", "limit")
    total, tasks = await manager(request).list_tasks(
        queue=query.one("queue"),
        status=query.one("status"),
        offset=query.uint("offset"),
        limit=query.uint("limit"),
    )
    return json(wire.documents(total, tasks))


@bp.post("/task", ctx_access=Access.WRITE)
async def create_task(request: Request) -> HTTPResponse:
    """201 with the new task (200 with the live task holding the same `key`); with an array,
    all of them in one statement: 201 {"count", "body": [id, ...]} in input order."""
    params.query(request)
    body = params.body(request)
    if isinstance(body, list):
        items = [new_task(item, index) for index, item in enumerate(body)]
        ids = await manager(request).create_batch(items)
        return json({"count": len(ids), "body": ids}, status=201)
    queue, meta = new_task(body)
    task, created = await manager(request).create_task_or_get(queue, meta)
    return json(wire.document(task), status=201 if created else 200)


@dataclass(frozen=True, slots=True)
class _Retain:
    worker: str
    queues: list[str]
    limit: int | None  # None: one task, answered as itself
    wait: float  # seconds to wait for a task when none is ready (0: answer at once)


def _retain_args(request: Request, *, path_queue: str | None) -> _Retain:
    """worker and queues from the query (as the original client sends them) or a JSON body,
    the batch size (`limit`: up to that many tasks, answered as a list) and `wait`."""
    query = params.query(request, "worker", "limit", "wait", *(() if path_queue else ("queue",)))
    body, _ = params.model(
        request, Retain, "retain request", empty=True, exclude=("queue",) if path_queue else ()
    )
    worker = query.one("worker")
    if body.worker is not None:
        if worker is not None:
            raise InvalidArgument("give worker in the query or in the body, not both")
        worker = body.worker
    if worker is None:
        raise InvalidArgument("worker is required (query parameter or body field)")
    limit = query.uint("limit")
    if limit is not None and not 1 <= limit <= MAX_RETAIN:
        raise InvalidArgument(f"limit must be between 1 and {MAX_RETAIN}, got {limit}")
    wait = 0.0
    text = query.one("wait")
    if text is not None:
        wait = parse_duration(text, "wait").total_seconds()
        if not 0 <= wait <= MAX_WAIT:
            raise InvalidArgument(f"wait must be between 0 and {MAX_WAIT:g}s")
    if path_queue is not None:
        return _Retain(worker, [path_queue], limit, wait)
    queues = query.many("queue")
    if body.queue is not None:
        if queues:
            raise InvalidArgument("give queue in the query or in the body, not both")
        queues = body.queue
    return _Retain(worker, queues, limit, wait)


async def _retain(request: Request, path_queue: str | None) -> HTTPResponse:
    ask = _retain_args(request, path_queue=path_queue)
    mgr = manager(request)
    size = ask.limit or 1
    if not ask.wait:
        tasks = await mgr.next_tasks(ask.worker, *ask.queues, limit=size)
    else:
        tasks = await _wait_for_tasks(request, ask, size)
    if not tasks:
        return empty()
    if ask.limit is None:
        return json(wire.document(tasks[0]))
    return json(wire.documents(len(tasks), tasks))


async def _wait_for_tasks(request: Request, ask: _Retain, size: int) -> list[Task]:
    """Claim; while nothing comes, wait (no connection held) for a notification of the
    queues, until `wait` has passed or the server stops."""
    ctx = request.app.ctx
    mgr = manager(request)
    waiters: Waiters = ctx.waiters
    until = time.monotonic() + ask.wait
    waiter = waiters.enter(mgr.namespace, ask.queues)
    try:
        while True:
            tasks = await mgr.next_tasks(ask.worker, *ask.queues, limit=size)
            waiters.claimed(waiter, len(tasks), size)
            if tasks or time.monotonic() >= until or ctx.stopping.is_set():
                return tasks
            await waiters.wait(waiter, until, ctx.stopping)
    finally:
        await waiters.leave(waiter)


@bp.put("/task", ctx_access=Access.WRITE)
async def retain_task(request: Request) -> HTTPResponse:
    """Retain the next task of the given queues (none given: any queue); with `limit`, up to
    that many, as a list; 204 when none."""
    return await _retain(request, None)


@bp.put("/task/<queue:str>", unquote=True, ctx_access=Access.WRITE)
async def retain_queue_task(request: Request, queue: str) -> HTTPResponse:
    return await _retain(request, queue)


@bp.patch("/task", ctx_access=Access.WRITE)
async def patch_tasks(request: Request) -> HTTPResponse:
    """Release or heartbeat many tasks at once: an array of `{"id", "fail"?, "result"?}` or
    `{"id", "heartbeat": true, "lease"?}`; 200 with an outcome per item, in input order."""
    params.query(request)
    body = params.body(request)
    if not isinstance(body, list):
        raise InvalidArgument("the request body must be a JSON array of task patches")
    patches = []
    for index, item in enumerate(body):
        patch, _ = codec.decode_input(TaskPatch, item, what=f"item {index}")
        patches.append(patch)
    outcomes = await manager(request).patch_tasks(patches)
    items = [_outcome(p.id, o) for p, o in zip(patches, outcomes, strict=True)]
    return json({"count": len(items), "body": items})


def _outcome(task_id: int | None, outcome: Status | Lease | PgQueueError) -> dict[str, Any]:
    if isinstance(outcome, PgQueueError):
        return {"id": task_id, "error": to_http(outcome).body()}
    if isinstance(outcome, Lease):
        return {"id": task_id, "status": "retained", **codec.encode(outcome)}
    return {"id": task_id, "status": outcome.value}


@bp.get("/task/<task_id:str>", unquote=True, ctx_access=Access.READ)
async def get_task(request: Request, task_id: str) -> HTTPResponse:
    params.query(request)
    return json(wire.document(await manager(request).get_task(params.task_id(task_id))))


@bp.patch("/task/<task_id:str>", unquote=True, ctx_access=Access.WRITE)
async def release_task(request: Request, task_id: str) -> HTTPResponse:
    """Release (`fail`, `result`) or, with `heartbeat: true`, extend the lease."""
    params.query(request)
    ident = params.task_id(task_id)
    patch, _ = params.model(request, TaskPatch, "task release", empty=True, exclude=("id",))
    patch = patch.checked()
    mgr = manager(request)
    if patch.heartbeat:
        await mgr.extend_lease(ident, patch.lease, worker=patch.worker)
        return json(wire.document(await mgr.get_task(ident)))
    task = await mgr.release_task(ident, patch.success, patch.result_value, worker=patch.worker)
    return json(wire.document(task))


@bp.post("/task/<task_id:str>/cancel", unquote=True, ctx_access=Access.WRITE)
async def cancel_task(request: Request, task_id: str) -> HTTPResponse:
    params.query(request)
    return json(wire.document(await manager(request).cancel_task(params.task_id(task_id))))


@bp.post("/task/<task_id:str>/requeue", unquote=True, ctx_access=Access.WRITE)
async def requeue_task(request: Request, task_id: str) -> HTTPResponse:
    params.query(request)
    return json(wire.document(await manager(request).requeue_task(params.task_id(task_id))))
