"""pgqueue_server: the Sanic REST + SSE API, Prometheus metrics and background maintenance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import ServerConfig

if TYPE_CHECKING:
    from .app import create_app
    from .protocol import GuardedHttpProtocol

__all__ = ["GuardedHttpProtocol", "ServerConfig", "create_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use: `pgqueue --help` and `pgqueue run --help` load this package
    # (pgqueue_server.command) without paying for sanic.
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "GuardedHttpProtocol":
        from .protocol import GuardedHttpProtocol

        return GuardedHttpProtocol
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
