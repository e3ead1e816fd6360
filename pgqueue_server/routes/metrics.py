"""Metrics route: Prometheus text format, every namespace at once."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from sanic import HTTPResponse, Request, raw

from .. import params
from ..auth import Access
from .blueprint import ApiBlueprint

bp = ApiBlueprint("metrics")


@bp.get("/metrics", ctx_access=Access.READ, ctx_namespaced=False)
async def metrics(request: Request) -> HTTPResponse:
    params.query(request)
    ctx = request.app.ctx
    return raw(await ctx.metrics.render(ctx.system), content_type=CONTENT_TYPE_LATEST)
