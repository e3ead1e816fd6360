"""The OpenAPI 3.1 document of the API, built for the configured prefix and auth setting.

It is fuzzed against the server (tests/server/test_fuzz.py): keep it truthful.
"""

from __future__ import annotations

import functools

from pgqueue_core import __version__

from .parts import error
from .paths import paths
from .schemas import JSON, schemas

DESCRIPTION = """PostgreSQL-backed task queue (REST + Server-Sent Events).

* Durations are integer nanoseconds on output; input also takes strings such as "90s",
  "1h30m" or "PT1H". Timestamps are RFC 3339 in UTC.
* Lists are `{"count": total ignoring paging, "body": [...]}`; `limit` defaults to and is
  capped at 100.
* Errors are `{"object": "error", "code", "reason", "detail"}` with the HTTP status; a 503
  carries `Retry-After`.
* `?namespace=` selects the namespace of every namespaced operation (default: the server's
  `--namespace`). Names are trimmed and lowercased. The reserved namespace `pgqueue` (the
  server's own maintenance schedule) is readable, never writable: writes, claims and the
  ticker stream answer 403 there.
* With a server token, every operation but `/health` needs `Authorization: Bearer <token>`.
  A token may be limited to some namespaces and to reading: outside its scope, 403
  (operations that belong to no namespace need a token not limited to namespaces).
* Limits: request bodies (413), ticker streams open per token (429 with `Retry-After`).
* Statuses: new, retry, retained, released, failed, expired, cancelled (the last four are
  terminal). `POST /task` with a `key` returns the live task holding it with 200.
"""


@functools.lru_cache(maxsize=8)
def _document(prefix: str, auth: bool) -> JSON:
    table = paths()
    doc: JSON = {
        "openapi": "3.1.0",
        "info": {
            "title": "pgqueue",
            "version": __version__,
            "description": DESCRIPTION,
        },
        "servers": [{"url": prefix or "/"}],
        "paths": table,
        "components": {"schemas": schemas()},
    }
    if auth:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
        for path, item in table.items():
            if path != "/health":
                for operation in item.values():
                    operation["responses"]["401"] = error(401)
                    # Any operation may be out of a scoped token's reach.
                    operation["responses"].setdefault("403", error(403))
    return doc


def document(prefix: str, *, auth: bool) -> JSON:
    """The OpenAPI document for a server with this prefix, with or without bearer auth."""
    return _document(prefix, auth)
