"""Task routes: list, create, retain, get, release / heartbeat, cancel, requeue."""

from __future__ import annotations

from typing import Any

from sanic import HTTPResponse, Request, empty, json

from pgqueue_core import InvalidArgument, Lease, PgQueueError, Status, codec
from pgqueue_core.requests import Retain, TaskPatch, new_task

from .. import params
from ..auth import Access
from ..errors import to_http
from ..middleware import manager
from .blueprint import ApiBlueprint

bp = ApiBlueprint("tasks")

MAX_RETAIN = 1000  # tasks one retain may hand out


@bp.get("/task", ctx_access=Access.READ)
async def list_tasks(request: Request) -> HTTPResponse:
    query = params.query(request, "queue", "status", "offset", "limit")
    total, tasks = await manager(request).list_tasks(
        queue=query.one("queue"),
        status=query.one("status"),
        offset=query.uint("offset"),
        limit=query.uint("limit"),
    )
    return json(codec.encode_list(total, tasks))


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
    return json(codec.encode(task), status=201 if created else 200)


def _retain_args(request: Request, *, path_queue: str | None) -> tuple[str, list[str], int | None]:
    """worker and queues from the query (as the original client sends them) or a JSON body,
    and the batch size (`limit`: up to that many tasks, answered as a list)."""
    query = params.query(request, "worker", "limit", *(() if path_queue else ("queue",)))
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
    if path_queue is not None:
        return worker, [path_queue], limit
    queues = query.many("queue")
    if body.queue is not None:
        if queues:
            raise InvalidArgument("give queue in the query or in the body, not both")
        queues = body.queue
    return worker, queues, limit


async def _retain(request: Request, path_queue: str | None) -> HTTPResponse:
    worker, queues, limit = _retain_args(request, path_queue=path_queue)
    tasks = await manager(request).next_tasks(worker, *queues, limit=limit or 1)
    if not tasks:
        return empty()
    if limit is None:
        return json(codec.encode(tasks[0]))
    return json(codec.encode_list(len(tasks), tasks))


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
    return json(codec.encode(await manager(request).get_task(params.task_id(task_id))))


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
        return json(codec.encode(await mgr.get_task(ident)))
    task = await mgr.release_task(ident, patch.success, patch.result_value, worker=patch.worker)
    return json(codec.encode(task))


@bp.post("/task/<task_id:str>/cancel", unquote=True, ctx_access=Access.WRITE)
async def cancel_task(request: Request, task_id: str) -> HTTPResponse:
    params.query(request)
    return json(codec.encode(await manager(request).cancel_task(params.task_id(task_id))))


@bp.post("/task/<task_id:str>/requeue", unquote=True, ctx_access=Access.WRITE)
async def requeue_task(request: Request, task_id: str) -> HTTPResponse:
    params.query(request)
    return json(codec.encode(await manager(request).requeue_task(params.task_id(task_id))))
