"""Ticker routes: list (or stream), create, get, update, delete, and the SSE stream."""

from __future__ import annotations

from sanic import HTTPResponse, Request, json

from pgqueue_core import Ticker, TickerMeta, codec

from .. import params
from ..auth import Access
from ..middleware import manager, wants_event_stream
from ..sse import serve_stream, stream_tickers
from .blueprint import ApiBlueprint

bp = ApiBlueprint("tickers")

READ_ONLY = codec.read_only(Ticker, TickerMeta)


async def _stream(request: Request) -> None:
    ctx = request.app.ctx
    await serve_stream(
        request,
        lambda: stream_tickers(
            request,
            manager(request),
            ctx.sse_settings,
            ctx.stopping,
            ctx.stream_limits.db_slots,
        ),
    )


@bp.get("/ticker", ctx_access=Access.READ, ctx_streams=True)
async def list_tickers(request: Request) -> HTTPResponse | None:
    """The tickers as a list, or with `Accept: text/event-stream` the SSE stream."""
    if wants_event_stream(request):
        params.query(request)
        await _stream(request)
        return None
    query = params.query(request, "offset", "limit")
    total, tickers = await manager(request).list_tickers(query.uint("offset"), query.uint("limit"))
    return json(codec.encode_list(total, tickers))


@bp.get("/ticker/next", ctx_access=Access.WRITE)
async def next_tickers(request: Request) -> None:
    """SSE: every matured ticker of the namespace, each firing to exactly one consumer."""
    params.query(request)
    await _stream(request)


@bp.post("/ticker", ctx_access=Access.WRITE)
async def create_ticker(request: Request) -> HTTPResponse:
    params.query(request)
    meta, _ = params.model(request, TickerMeta, "ticker", ignored=READ_ONLY)
    return json(codec.encode(await manager(request).create_ticker(meta)), status=201)


@bp.get("/ticker/<name:str>", unquote=True, ctx_access=Access.READ)
async def get_ticker(request: Request, name: str) -> HTTPResponse:
    params.query(request)
    return json(codec.encode(await manager(request).get_ticker(name)))


async def _update(request: Request, name: str) -> HTTPResponse:
    params.query(request)
    meta, _ = params.model(request, TickerMeta, "ticker", ignored=READ_ONLY)
    return json(codec.encode(await manager(request).update_ticker(name, meta)))


async def _delete(request: Request, name: str) -> HTTPResponse:
    params.query(request)
    return json(codec.encode(await manager(request).delete_ticker(name)))


@bp.patch("/ticker/<name:str>", unquote=True, ctx_access=Access.WRITE)
async def update_ticker(request: Request, name: str) -> HTTPResponse:
    return await _update(request, name)


@bp.delete("/ticker/<name:str>", unquote=True, ctx_access=Access.WRITE)
async def delete_ticker(request: Request, name: str) -> HTTPResponse:
    return await _delete(request, name)


# `/ticker/next` is the stream, but a ticker may still be called `next`: without these the
# static path would answer 405 to changing or deleting it.
@bp.patch("/ticker/next", ctx_access=Access.WRITE)
async def update_ticker_next(request: Request) -> HTTPResponse:
    return await _update(request, "next")


@bp.delete("/ticker/next", ctx_access=Access.WRITE)
async def delete_ticker_next(request: Request) -> HTTPResponse:
    return await _delete(request, "next")
