"""Queue routes: list, create, get, update (rename, pause/resume), delete, requeue, stats."""

from __future__ import annotations

from sanic import HTTPResponse, Request, json

from pgqueue_core import InvalidArgument, wire

from .. import params
from ..auth import Access
from ..middleware import manager
from .blueprint import ApiBlueprint

bp = ApiBlueprint("queues")


@bp.get("/queue", ctx_access=Access.READ)
async def list_queues(request: Request) -> HTTPResponse:
    query = params.query(request, "offset", "limit")
    total, queues = await manager(request).list_queues(query.uint("offset"), query.uint("limit"))
    return json(wire.encode_list(total, queues))


@bp.post("/queue", ctx_access=Access.WRITE)
async def create_queue(request: Request) -> HTTPResponse:
    params.query(request)
    meta = wire.decode_queue_meta(params.json_object(request))
    return json(wire.encode(await manager(request).create_queue(meta)), status=201)


@bp.get("/queue/<name:str>", unquote=True, ctx_access=Access.READ)
async def get_queue(request: Request, name: str) -> HTTPResponse:
    params.query(request)
    return json(wire.encode(await manager(request).get_queue(name)))


@bp.patch("/queue/<name:str>", unquote=True, ctx_access=Access.WRITE)
async def update_queue(request: Request, name: str) -> HTTPResponse:
    params.query(request)
    meta = wire.decode_queue_meta(params.json_object(request))
    return json(wire.encode(await manager(request).update_queue(name, meta)))


@bp.delete("/queue/<name:str>", unquote=True, ctx_access=Access.WRITE)
async def delete_queue(request: Request, name: str) -> HTTPResponse:
    params.query(request)
    return json(wire.encode(await manager(request).delete_queue(name)))


@bp.post("/queue/<name:str>/requeue", unquote=True, ctx_access=Access.WRITE)
async def requeue_queue(request: Request, name: str) -> HTTPResponse:
    """Put every task of the queue in one terminal status back to `new`."""
    params.query(request)
    body = params.json_object(request)
    params.check_fields(body, {"status"}, "requeue request")
    status = params.optional_str(body, "status")
    if status is None:
        raise InvalidArgument("status is required: failed, expired or cancelled")
    count = await manager(request).requeue_tasks(name, status)
    return json({"count": count})


@bp.get("/stats", ctx_access=Access.READ)
async def queue_stats(request: Request) -> HTTPResponse:
    """Every queue of the namespace with task counts per status (for consoles)."""
    params.query(request)
    summaries = await manager(request).queue_summaries()
    return json(wire.encode_list(len(summaries), summaries))
