"""Task routes: list, create, retain, get, release / heartbeat, cancel, requeue."""

from __future__ import annotations

from typing import Any

from sanic import HTTPResponse, Request, empty, json

from pgqueue_core import InvalidArgument, parse_duration, wire

from .. import params
from ..auth import Access
from ..middleware import manager
from .blueprint import ApiBlueprint

bp = ApiBlueprint("tasks")

_RETAIN_FIELDS = {"worker", "queue"}
_PATCH_FIELDS = {"fail", "result", "heartbeat", "lease", "worker"}


@bp.get("/task", ctx_access=Access.READ)
async def list_tasks(request: Request) -> HTTPResponse:
    query = params.query(request, "queue", "status", "offset", "limit")
    total, tasks = await manager(request).list_tasks(
        queue=query.one("queue"),
        status=query.one("status"),
        offset=query.uint("offset"),
        limit=query.uint("limit"),
    )
    return json(wire.encode_list(total, tasks))


@bp.post("/task", ctx_access=Access.WRITE)
async def create_task(request: Request) -> HTTPResponse:
    """201 with the new task; 200 with the live task holding the same `key`."""
    params.query(request)
    queue, meta = wire.decode_task_create(params.json_object(request))
    task, created = await manager(request).create_task_or_get(queue, meta)
    return json(wire.encode(task), status=201 if created else 200)


def _retain_args(request: Request, *, path_queue: str | None) -> tuple[str, list[str]]:
    """worker and queues from the query (as the original client sends them) or a JSON body."""
    query = params.query(request, "worker", *(() if path_queue else ("queue",)))
    body = params.json_object(request, empty={})
    params.check_fields(body, {"worker"} if path_queue else _RETAIN_FIELDS, "retain request")
    worker = query.one("worker")
    if "worker" in body:
        if worker is not None:
            raise InvalidArgument("give worker in the query or in the body, not both")
        worker = params.optional_str(body, "worker")
    if worker is None:
        raise InvalidArgument("worker is required (query parameter or body field)")
    if path_queue is not None:
        return worker, [path_queue]
    queues = query.many("queue")
    if "queue" in body:
        if queues:
            raise InvalidArgument("give queue in the query or in the body, not both")
        queues = _body_queues(body["queue"])
    return worker, queues


def _body_queues(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidArgument("queue must be a queue name or a list of queue names")


@bp.put("/task", ctx_access=Access.WRITE)
async def retain_task(request: Request) -> HTTPResponse:
    """Retain the next task of the given queues (none given: any queue); 204 when none."""
    worker, queues = _retain_args(request, path_queue=None)
    task = await manager(request).next_task(worker, *queues)
    return empty() if task is None else json(wire.encode(task))


@bp.put("/task/<queue:str>", unquote=True, ctx_access=Access.WRITE)
async def retain_queue_task(request: Request, queue: str) -> HTTPResponse:
    worker, queues = _retain_args(request, path_queue=queue)
    task = await manager(request).next_task(worker, *queues)
    return empty() if task is None else json(wire.encode(task))


@bp.get("/task/<task_id:str>", unquote=True, ctx_access=Access.READ)
async def get_task(request: Request, task_id: str) -> HTTPResponse:
    params.query(request)
    return json(wire.encode(await manager(request).get_task(params.task_id(task_id))))


@bp.patch("/task/<task_id:str>", unquote=True, ctx_access=Access.WRITE)
async def release_task(request: Request, task_id: str) -> HTTPResponse:
    """Release (`fail`, `result`) or, with `heartbeat: true`, extend the lease."""
    params.query(request)
    ident = params.task_id(task_id)
    body = params.json_object(request, empty={})
    params.check_fields(body, _PATCH_FIELDS, "task release")
    worker = params.optional_str(body, "worker")
    mgr = manager(request)
    if params.optional_bool(body, "heartbeat"):
        if "fail" in body or "result" in body:
            raise InvalidArgument("heartbeat cannot be combined with fail or result")
        lease = body.get("lease")
        await mgr.extend_lease(
            ident, None if lease is None else parse_duration(lease, "lease"), worker=worker
        )
        return json(wire.encode(await mgr.get_task(ident)))
    if body.get("lease") is not None:
        raise InvalidArgument("lease is only accepted with heartbeat: true")
    fail = params.optional_bool(body, "fail") or False
    task = await mgr.release_task(ident, not fail, body.get("result"), worker=worker)
    return json(wire.encode(task))


@bp.post("/task/<task_id:str>/cancel", unquote=True, ctx_access=Access.WRITE)
async def cancel_task(request: Request, task_id: str) -> HTTPResponse:
    params.query(request)
    return json(wire.encode(await manager(request).cancel_task(params.task_id(task_id))))


@bp.post("/task/<task_id:str>/requeue", unquote=True, ctx_access=Access.WRITE)
async def requeue_task(request: Request, task_id: str) -> HTTPResponse:
    params.query(request)
    return json(wire.encode(await manager(request).requeue_task(params.task_id(task_id))))
