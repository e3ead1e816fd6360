"""Queue routes: list, create, get, update (rename, pause/resume), delete, requeue, reset the
breaker, stats."""

from __future__ import annotations

from sanic import HTTPResponse, Request, json

from pgqueue_core import Queue, QueueMeta, codec
from pgqueue_core.requests import Requeue

from .. import params
from ..auth import Access
from ..middleware import manager
from .blueprint import ApiBlueprint

bp = ApiBlueprint("queues")

READ_ONLY = codec.read_only(Queue, QueueMeta)


@bp.get("/queue", ctx_access=Access.READ)
async def list_queues(request: Request) -> HTTPResponse:
    query = params.query(request, "offset", "limit")
    total, queues = await manager(request).list_queues(query.uint("offset"), query.uint("limit"))
    return json(codec.encode_list(total, queues))


@bp.post("/queue", ctx_access=Access.WRITE)
async def create_queue(request: Request) -> HTTPResponse:
    params.query(request)
    meta, _ = params.model(request, QueueMeta, "queue", ignored=READ_ONLY)
    return json(codec.encode(await manager(request).create_queue(meta)), status=201)


@bp.get("/queue/<name:str>", unquote=True, ctx_access=Access.READ)
async def get_queue(request: Request, name: str) -> HTTPResponse:
    params.query(request)
    return json(codec.encode(await manager(request).get_queue(name)))


@bp.patch("/queue/<name:str>", unquote=True, ctx_access=Access.WRITE)
async def update_queue(request: Request, name: str) -> HTTPResponse:
    params.query(request)
    meta, _ = params.model(request, QueueMeta, "queue", ignored=READ_ONLY)
    return json(codec.encode(await manager(request).update_queue(name, meta)))


@bp.delete("/queue/<name:str>", unquote=True, ctx_access=Access.WRITE)
async def delete_queue(request: Request, name: str) -> HTTPResponse:
    params.query(request)
    return json(codec.encode(await manager(request).delete_queue(name)))


@bp.post("/queue/<name:str>/requeue", unquote=True, ctx_access=Access.WRITE)
async def requeue_queue(request: Request, name: str) -> HTTPResponse:
    """Put every task of the queue in one terminal status back to `new`."""
    params.query(request)
    requeue, _ = params.model(request, Requeue, "requeue request")
    count = await manager(request).requeue_tasks(name, requeue.status)
    return json({"count": count})


@bp.post("/queue/<name:str>/reset-breaker", unquote=True, ctx_access=Access.WRITE)
async def reset_breaker(request: Request, name: str) -> HTTPResponse:
    """Close the queue's circuit breaker (an operator's reset)."""
    params.query(request)
    return json(codec.encode(await manager(request).reset_breaker(name)))


@bp.get("/stats", ctx_access=Access.READ)
async def queue_stats(request: Request) -> HTTPResponse:
    """Every queue of the namespace with task counts per status (for consoles)."""
    params.query(request)
    summaries = await manager(request).queue_summaries()
    return json(codec.encode_list(len(summaries), summaries))
