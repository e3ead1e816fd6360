"""Namespace route: every namespace that owns a queue or a ticker."""

from __future__ import annotations

from sanic import HTTPResponse, Request, json

from .. import params
from ..auth import Access
from .blueprint import ApiBlueprint

bp = ApiBlueprint("namespaces")


@bp.get("/namespace", ctx_access=Access.READ, ctx_namespaced=False)
async def list_namespaces(request: Request) -> HTTPResponse:
    """All namespaces, the reserved `pgqueue` one included, sorted."""
    params.query(request)
    names = await request.app.ctx.manager.list_namespaces()
    return json({"count": len(names), "body": names})
