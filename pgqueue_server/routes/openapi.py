"""OpenAPI route: the document that describes this API (see pgqueue_server/openapi.py)."""

from __future__ import annotations

from sanic import HTTPResponse, Request, json

from .. import params
from ..auth import Access
from ..openapi import document
from .blueprint import ApiBlueprint

bp = ApiBlueprint("openapi")


@bp.get("/openapi.json", ctx_access=Access.READ, ctx_namespaced=False, ctx_any_scope=True)
async def openapi(request: Request) -> HTTPResponse:
    params.query(request)
    config = request.app.ctx.config
    return json(document(config.prefix, auth=config.auth_enabled))
