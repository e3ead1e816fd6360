"""Per-request set-up before any handler runs: who is asking, in which namespace, to do what.

Routes declare what they do with `ctx_access` (read or write; claiming counts as writing),
`ctx_namespaced=False` when they belong to no namespace (metrics, namespace list),
`ctx_any_scope=True` when any valid token may call them (the OpenAPI document), and
`ctx_public=True` when they need no token (health). The middleware authenticates, reads
`?namespace=`, checks the token's scope and puts the namespace's Manager on `request.ctx`.
"""

from __future__ import annotations

from typing import cast

from sanic import Request

from pgqueue_core import InvalidArgument, Manager, validate

from . import params
from .auth import ADMIN, Access, Authenticator, Forbidden, TokenScope

EVENT_STREAM = "text/event-stream"
# Where clients put tokens that they should have sent in the Authorization header.
_URL_TOKENS = frozenset({"token", "access_token"})


def wants_event_stream(request: Request) -> bool:
    return EVENT_STREAM in request.headers.get("accept", "").lower()


def route_access(request: Request) -> Access:
    ctx = request.route.ctx if request.route else None
    access = getattr(ctx, "access", Access.WRITE)
    # GET /ticker streams (and so claims firings) when asked for an event stream.
    if getattr(ctx, "streams", False) and wants_event_stream(request):
        return Access.WRITE
    return Access(access)


def read_namespace(request: Request, default: str) -> str:
    """The `?namespace=` of the request (validated), or the server's default."""
    given = [v for k, v in params.query_args(request) if k == "namespace"]
    if not given:
        return default
    if len(given) > 1:
        raise InvalidArgument("query parameter 'namespace' given more than once")
    return validate.name(given[0], "namespace")


class RequestScope:
    """The request middleware: authentication, namespace, scope, Manager."""

    def __init__(self, authenticator: Authenticator, default_namespace: str) -> None:
        self.authenticator = authenticator
        self.default_namespace = default_namespace

    async def __call__(self, request: Request) -> None:
        route = request.route
        if route is None:  # unknown path: the 404 needs nothing from here
            return
        ctx = route.ctx
        public = getattr(ctx, "public", False)
        if not public:  # authentication first: a client without a token learns nothing else
            header = request.headers.get("authorization")
            request.ctx.scope = self.authenticator.authenticate(
                header,
                # Only a request without the header needs its query read here.
                token_in_url=not header and bool(_URL_TOKENS & params.names_in_query(request)),
            )
        params.check_path(request)
        if public or getattr(ctx, "any_scope", False):  # any valid token may read the API doc
            return
        scope: TokenScope = request.ctx.scope
        access = route_access(request)
        namespace = None
        if getattr(ctx, "namespaced", True):
            namespace = read_namespace(request, self.default_namespace)
        scope.check(namespace, access)
        if namespace is None:
            return
        if namespace == validate.RESERVED_NAMESPACE:
            if access is Access.WRITE:
                raise Forbidden(
                    f"namespace {namespace!r} is reserved for pgqueue itself and read-only"
                )
            request.ctx.manager = request.app.ctx.system_manager
        else:
            request.ctx.manager = request.app.ctx.manager.with_namespace(namespace)


def stream_owner(request: Request) -> tuple[str, int]:
    """Who a ticker stream counts against, and that owner's limit of open streams: the
    token (by name) when authentication is on, else the client's address."""
    config = request.app.ctx.config
    scope: TokenScope = getattr(request.ctx, "scope", ADMIN)
    limit = config.max_streams_per_token if scope.max_streams is None else scope.max_streams
    if not request.app.ctx.authenticated:
        return f"client {request.remote_addr or request.ip}", limit
    return f"token {scope.name!r}", limit


def manager(request: Request) -> Manager:
    """The Manager of the request's namespace (set by RequestScope)."""
    return cast(Manager, request.ctx.manager)
