"""Schemathesis hooks of the scoped-token fuzz runs (SCHEMATHESIS_HOOKS=tests.server.fuzz_scope):
a check that nothing outside the token's scope succeeds.

PGQUEUE_FUZZ_SCOPE describes the token the run sends: `namespaces:a,b` (only those
namespaces; a request without `?namespace=` goes to the server's default namespace, which
must not be one of them) or `read-only`.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

# Health needs no token; the API document is for any valid token.
ALWAYS = {"/health", "/openapi.json"}
READS = {"GET", "HEAD"}


def _namespaces(query: Any) -> list[str]:
    value = (query or {}).get("namespace")
    values = value if isinstance(value, list) else [] if value is None else [value]
    return [str(v).strip().lower() for v in values]


@schemathesis.check
def out_of_scope_is_refused(ctx: Any, response: Any, case: Any) -> None:
    """No 2xx for a request the token may not make."""
    scope = os.environ.get("PGQUEUE_FUZZ_SCOPE", "")
    if not scope or not 200 <= response.status_code < 300 or case.path in ALWAYS:
        return
    kind, _, value = scope.partition(":")
    where = f"{case.method.upper()} {case.path} (namespace {_namespaces(case.query) or '-'})"
    if kind == "read-only":
        if case.method.upper() in READS:
            return
        raise AssertionError(f"a read-only token got {response.status_code} for {where}")
    if kind == "namespaces":
        given = _namespaces(case.query)
        if len(given) == 1 and given[0] in value.split(","):
            return
        raise AssertionError(f"a token limited to {value} got {response.status_code} for {where}")
    raise AssertionError(f"unknown PGQUEUE_FUZZ_SCOPE {scope!r}")
