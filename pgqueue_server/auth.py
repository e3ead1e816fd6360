"""Bearer-token authentication, the scope check every request goes through, and the tokens
file format (`--tokens-file`, `PGQUEUE_TOKENS`).

Tokens are secrets: they are compared as SHA-256 digests in constant time, and no message,
log line or `repr` ever holds one; errors name a token by its `name`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pgqueue_core import InvalidArgument, PgQueueError, validate


class Unauthorized(PgQueueError):
    """No or wrong credentials (HTTP 401)."""

    key = "unauthorized"


class Forbidden(PgQueueError):
    """Valid credentials that do not allow this request (HTTP 403)."""

    key = "forbidden"


class Access(StrEnum):
    """What a route does: `read` only reads; `write` changes state (claims included)."""

    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class TokenScope:
    """What a token may do: the namespaces it reaches (None: all), whether it may write,
    and how many ticker streams it may hold open at once (None: the server's limit)."""

    name: str = "admin"
    namespaces: frozenset[str] | None = None
    read_only: bool = False
    max_streams: int | None = None

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


def digest(token: str) -> bytes:
    """The SHA-256 of a token's UTF-8 bytes. A token holding bytes that are not UTF-8 (they
    reach Python as lone surrogates, from a request header or the command line) cannot be
    encoded: UnicodeEncodeError, which each caller turns into its own error."""
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class Credential:
    """One accepted token, kept only as its SHA-256 digest, and its scope."""

    sha256: bytes
    scope: TokenScope

    def __repr__(self) -> str:  # the digest of a weak token is as good as the token
        return f"Credential(scope={self.scope!r})"


class Authenticator:
    """Maps `Authorization: Bearer <token>` to a scope; compares digests in constant time."""

    def __init__(self, credentials: Iterable[Credential]) -> None:
        self._credentials = list(credentials)

    @property
    def enabled(self) -> bool:
        return bool(self._credentials)

    def authenticate(self, header: str | None, *, token_in_url: bool = False) -> TokenScope:
        """The scope of the request's token; Unauthorized when it is missing or wrong.
        Without configured tokens every request has the admin scope. `token_in_url`: the
        request carries a token in its query instead (never accepted: URLs are logged by
        proxies), which the message then says."""
        if not self._credentials:
            return ADMIN
        if not header:
            if token_in_url:
                raise Unauthorized(
                    "a token in the URL is not accepted (proxies log URLs): "
                    "send 'Authorization: Bearer <token>'"
                )
            raise Unauthorized("missing credentials: send 'Authorization: Bearer <token>'")
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise Unauthorized("unsupported authorization: send 'Authorization: Bearer <token>'")
        try:
            given = digest(credentials.strip())
        except UnicodeEncodeError:
            raise Unauthorized(
                "malformed credentials (not UTF-8 text): send 'Authorization: Bearer <token>'"
            ) from None
        found: TokenScope | None = None
        # Compare against every token, without stopping early, so timing reveals nothing.
        for credential in self._credentials:
            if hmac.compare_digest(given, credential.sha256) and found is None:
                found = credential.scope
        if found is None:
            raise Unauthorized("invalid token")
        return found


# ---- the tokens file ------------------------------------------------------------------

# RFC 6750 b64token: what may follow "Bearer " in a header.
_TOKEN_RE = re.compile(r"^[A-Za-z0-9._~+/-]+=*$")
_SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_FIELDS = {"name", "token", "sha256", "namespaces", "read_only", "max_streams"}


def parse_tokens(text: str, source: str) -> list[Credential]:
    """The credentials of a tokens document (JSON), e.g.

        {"tokens": [
          {"name": "ops", "token": "…"},
          {"name": "billing", "token": "…", "namespaces": ["billing"]},
          {"name": "dashboard", "sha256": "<hex digest of the token>", "read_only": true},
          {"name": "tenant-a", "token": "…", "namespaces": ["a"], "max_streams": 2}
        ]}

    A bare list of entries works too. Raises InvalidArgument naming `source`, the entry and
    the problem, never the token.
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        # The message of a JSON error quotes no input, only the position.
        raise InvalidArgument(
            f"{source}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if isinstance(doc, dict):
        unknown = sorted(set(doc) - {"tokens"})
        if unknown:
            raise InvalidArgument(f"{source}: unknown top-level field(s): {', '.join(unknown)}")
        doc = doc.get("tokens")
    if not isinstance(doc, list):
        raise InvalidArgument(f'{source}: expected {{"tokens": [...]}} or a list of tokens')
    return [_entry(item, f"{source}: entry {number}") for number, item in enumerate(doc, 1)]


def _entry(item: Any, where: str) -> Credential:
    if not isinstance(item, dict):
        raise InvalidArgument(f"{where}: expected an object")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument(f"{where}: 'name' is required (a non-empty string)")
    name = name.strip()
    where = f"{where} ({name!r})"
    unknown = sorted(set(item) - _FIELDS)
    if unknown:
        allowed = ", ".join(sorted(_FIELDS))
        raise InvalidArgument(
            f"{where}: unknown field(s) {', '.join(unknown)} (allowed: {allowed})"
        )
    token, hashed = item.get("token"), item.get("sha256")
    if (token is None) == (hashed is None):
        raise InvalidArgument(f"{where}: give exactly one of 'token' and 'sha256'")
    if token is not None:
        if not isinstance(token, str) or not _TOKEN_RE.match(token):
            raise InvalidArgument(
                f"{where}: 'token' must be a non-empty string of letters, digits and -._~+/"
            )
        sha256 = digest(token)
    else:
        if not isinstance(hashed, str) or not _SHA256_RE.match(hashed):
            raise InvalidArgument(f"{where}: 'sha256' must be 64 hexadecimal digits")
        sha256 = bytes.fromhex(hashed)
    namespaces = item.get("namespaces")
    if namespaces is not None:
        if not isinstance(namespaces, list) or not all(isinstance(n, str) for n in namespaces):
            raise InvalidArgument(f"{where}: 'namespaces' must be a list of names (or null: all)")
        if not namespaces:
            raise InvalidArgument(f"{where}: 'namespaces' is empty: the token could do nothing")
        try:
            namespaces = frozenset(validate.name(n, "namespace") for n in namespaces)
        except InvalidArgument as exc:
            raise InvalidArgument(f"{where}: {exc.message}") from None
    read_only = item.get("read_only", False)
    if not isinstance(read_only, bool):
        raise InvalidArgument(f"{where}: 'read_only' must be true or false")
    max_streams = item.get("max_streams")
    if max_streams is not None and (
        isinstance(max_streams, bool) or not isinstance(max_streams, int) or max_streams < 0
    ):
        raise InvalidArgument(f"{where}: 'max_streams' must be an integer >= 0 (0: no limit)")
    return Credential(sha256, TokenScope(name, namespaces, read_only, max_streams))


def check_unique(credentials: Iterable[Credential]) -> None:
    """Two entries may share neither a name (errors and limits go by name) nor a token."""
    names: set[str] = set()
    digests: dict[bytes, str] = {}
    for credential in credentials:
        name = credential.scope.name
        if name in names:
            raise InvalidArgument(f"token name {name!r} is used twice")
        names.add(name)
        other = digests.setdefault(credential.sha256, name)
        if other != name:
            raise InvalidArgument(f"tokens {other!r} and {name!r} are the same token")
