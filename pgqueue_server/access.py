"""Request accounting: one log line (method, path, status, ms) and the request metrics, once
per request, errors and event streams included."""

from __future__ import annotations

import logging
import time

from sanic import Request
from sanic.response import BaseHTTPResponse

from .metrics import route_label

access_log = logging.getLogger("pgqueue.server.access")


async def request_started(request: Request) -> None:
    request.ctx.started = time.perf_counter()


async def request_finished(request: Request, response: BaseHTTPResponse) -> None:
    account(request, response.status)


def account(request: Request, status: int, note: str = "") -> None:
    """Log and count the request (only the first call per request counts)."""
    if getattr(request.ctx, "accounted", False):
        return
    request.ctx.accounted = True
    started = getattr(request.ctx, "started", None)
    seconds = 0.0 if started is None else time.perf_counter() - started
    ctx = request.app.ctx
    route = "unmatched"
    if request.route is not None:
        route = route_label(request.route.path, ctx.config.prefix)
    ctx.metrics.observe(request.method, route, status, seconds)
    if ctx.config.log_requests:
        access_log.info(
            "%s %s %d %.1fms%s", request.method, request.path, status, seconds * 1000, note
        )
