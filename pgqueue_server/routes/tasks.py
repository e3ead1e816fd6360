"""Task routes: list, create, retain, get, release / heartbeat, cancel, requeue."""

from __future__ import annotations

from sanic import HTTPResponse, Request, empty, json

from pgqueue_core import InvalidArgument, codec
from pgqueue_core.requests import Retain, TaskPatch, new_task

from .. import params
from ..auth import Access
from ..middleware import manager
from .blueprint import ApiBlueprint

bp = ApiBlueprint("tasks")


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
    """201 with the new task; 200 with the live task holding the same `key`."""
    params.query(request)
    queue, meta = new_task(params.body(request))
    task, created = await manager(request).create_task_or_get(queue, meta)
    return json(codec.encode(task), status=201 if created else 200)


def _retain_args(request: Request, *, path_queue: str | None) -> tuple[str, list[str]]:
    """worker and queues from the query (as the original client sends them) or a JSON body."""
    query = params.query(request, "worker", *(() if path_queue else ("queue",)))
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
    if path_queue is not None:
        return worker, [path_queue]
    queues = query.many("queue")
    if body.queue is not None:
        if queues:
            raise InvalidArgument("give queue in the query or in the body, not both")
        queues = body.queue
    return worker, queues


@bp.put("/task", ctx_access=Access.WRITE)
async def retain_task(request: Request) -> HTTPResponse:
    """Retain the next task of the given queues (none given: any queue); 204 when none."""
    worker, queues = _retain_args(request, path_queue=None)
    task = await manager(request).next_task(worker, *queues)
    return empty() if task is None else json(codec.encode(task))


@bp.put("/task/<queue:str>", unquote=True, ctx_access=Access.WRITE)
async def retain_queue_task(request: Request, queue: str) -> HTTPResponse:
    worker, queues = _retain_args(request, path_queue=queue)
    task = await manager(request).next_task(worker, *queues)
    return empty() if task is None else json(codec.encode(task))


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
