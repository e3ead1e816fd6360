"""The API's routes, one blueprint per resource, grouped under the configured prefix."""

from __future__ import annotations

from sanic import Blueprint

from . import events, health, metrics, namespaces, openapi, queues, tasks, tickers


def api(prefix: str) -> Blueprint:
    """One blueprint holding every route under `prefix` ('' for the root)."""
    group = Blueprint.group(
        namespaces.bp,
        queues.bp,
        tasks.bp,
        tickers.bp,
        events.bp,
        metrics.bp,
        health.bp,
        openapi.bp,
        url_prefix=prefix or None,
    )
    return group  # type: ignore[return-value]
