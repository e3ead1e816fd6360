"""pgqueue_server: the Sanic REST + SSE API, Prometheus metrics and background maintenance."""

from .app import create_app
from .config import ServerConfig

__all__ = ["ServerConfig", "create_app"]
