"""Bearer-token authentication and the scope check every request goes through."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from pgqueue_core import Forbidden, Unauthorized


class Access(StrEnum):
    """What a route does: `read` only reads; `write` changes state (claims included)."""

    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class TokenScope:
    """What a token may do: the namespaces it reaches (None: all) and whether it may write.

    Only the admin scope is configured today; namespace-scoped and read-only tokens
    plug in here (see ServerConfig.tokens).
    """

    name: str = "admin"
    namespaces: frozenset[str] | None = None
    read_only: bool = False

    def check(self, namespace: str | None, access: Access) -> None:
        """Raise Forbidden unless this scope allows `access` to `namespace` (None: a route
        that belongs to no namespace, such as metrics)."""
        if self.read_only and access is Access.WRITE:
            raise Forbidden(f"token {self.name!r} is read-only")
        if self.namespaces is None:
            return
        if namespace is None:
            raise Forbidden(f"token {self.name!r} is limited to namespaces")
        if namespace not in self.namespaces:
            raise Forbidden(f"token {self.name!r} may not access namespace {namespace!r}")


ADMIN = TokenScope()


class Authenticator:
    """Maps `Authorization: Bearer <token>` to a scope; compares in constant time."""

    def __init__(self, scopes: Mapping[str, TokenScope]) -> None:
        self._scopes = [(token.encode(), scope) for token, scope in scopes.items()]

    @property
    def enabled(self) -> bool:
        return bool(self._scopes)

    def authenticate(self, header: str | None) -> TokenScope:
        """The scope of the request's token; Unauthorized when it is missing or wrong.
        Without configured tokens every request has the admin scope."""
        if not self._scopes:
            return ADMIN
        if not header:
            raise Unauthorized("missing credentials: send 'Authorization: Bearer <token>'")
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise Unauthorized("unsupported authorization: send 'Authorization: Bearer <token>'")
        given = credentials.strip().encode()
        found: TokenScope | None = None
        # Compare against every token, without stopping early, so timing reveals nothing.
        for token, scope in self._scopes:
            if hmac.compare_digest(given, token) and found is None:
                found = scope
        if found is None:
            raise Unauthorized("invalid token")
        return found
