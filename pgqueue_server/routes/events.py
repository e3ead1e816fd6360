"""The event stream: `GET /events` observes the namespace (tasks, queues, tickers, counts) and
claims nothing. Read access is enough."""

from __future__ import annotations

import re

from sanic import Request

from pgqueue_core import InvalidArgument, validate

from .. import params
from ..auth import Access
from ..events import TYPES, stream_events
from ..middleware import manager
from ..sse import serve_stream
from .blueprint import ApiBlueprint

bp = ApiBlueprint("events")

_ID = re.compile(r"^[0-9]{1,19}$")


@bp.get("/events", ctx_access=Access.READ)
async def events(request: Request) -> None:
    """SSE: `event: task|queue|ticker|stats|reset`, each with an increasing `id:`; resume
    with `Last-Event-ID` (or `?last_event_id=`)."""
    query = params.query(request, "queue", "types", "last_event_id")
    types = query.many("types") or list(TYPES)
    unknown = sorted(set(types) - set(TYPES))
    if unknown:
        raise InvalidArgument(f"unknown event type(s) {', '.join(unknown)}: use {', '.join(TYPES)}")
    queues = [validate.name(q, "queue") for q in query.many("queue")]
    last_id = query.uint("last_event_id")
    header = request.headers.get("last-event-id")
    if last_id is None and header is not None and header.strip():
        # An id that is not one of ours (another server's, a ticker stream's) resumes as a
        # reset: the client re-reads the state.
        text = header.strip()
        last_id = int(text) if _ID.match(text) else 0
    ctx = request.app.ctx
    await serve_stream(
        request,
        lambda: stream_events(
            request,
            ctx.events,
            manager(request),
            ctx.sse_settings,
            ctx.stopping,
            types=types,
            queues=queues,
            last_id=last_id,
        ),
    )
