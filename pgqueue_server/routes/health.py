"""Health route: 200 while the database answers, 503 otherwise. Needs no token."""

from __future__ import annotations

from sanic import HTTPResponse, Request, json

from pgqueue_core import __version__

from .. import params
from ..auth import Access
from .blueprint import ApiBlueprint

bp = ApiBlueprint("health")


@bp.get("/health", ctx_access=Access.READ, ctx_namespaced=False, ctx_public=True)
async def health(request: Request) -> HTTPResponse:
    params.query(request)
    await request.app.ctx.manager.ping()
    # The namespace a request without ?namespace= works in (the console shows it).
    return json(
        {"status": "ok", "namespace": request.app.ctx.manager.namespace, "version": __version__}
    )
