"""pgqueue_server: the Sanic REST + SSE API, Prometheus metrics and background maintenance."""

from .app import create_app
from .config import ServerConfig
from .protocol import GuardedHttpProtocol

__all__ = ["GuardedHttpProtocol", "ServerConfig", "create_app"]
