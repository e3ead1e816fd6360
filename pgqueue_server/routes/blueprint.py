"""The routes' Blueprint: every GET route answers HEAD as well (load balancers probe with it)."""

from __future__ import annotations

from typing import Any, cast

from sanic import Blueprint
from sanic.models.handler_types import RouteHandler

GET_AND_HEAD = frozenset({"GET", "HEAD"})


class ApiBlueprint(Blueprint):
    """A Blueprint whose `get` registers GET and HEAD on one route. Sanic answers HEAD with
    the GET handler's status and headers and drops the body; a handler that must not do the
    work of GET for a HEAD (the ticker stream) checks `request.method` itself.

    GET routes read a request body like any other (within --max-body) and ignore it: with
    Sanic's default for GET, a body left unread made Sanic log "body not consumed" at ERROR
    after every 2xx answer, which any client (health needs no token) could repeat at will."""

    def get(  # same signature as Sanic's, one more method
        self,
        uri: str,
        host: str | list[str] | None = None,
        strict_slashes: bool | None = None,
        version: int | str | float | None = None,
        name: str | None = None,
        ignore_body: bool = False,
        version_prefix: str = "/v",
        error_format: str | None = None,
        **ctx_kwargs: Any,
    ) -> RouteHandler:
        return cast(
            RouteHandler,
            self.route(
                uri,
                methods=GET_AND_HEAD,
                host=host,
                strict_slashes=strict_slashes,
                version=version,
                name=name,
                ignore_body=ignore_body,
                version_prefix=version_prefix,
                error_format=error_format,
                **ctx_kwargs,
            ),
        )
