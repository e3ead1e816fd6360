"""Remote workers: run handlers for a pgqueue server's tasks with only its URL and a token."""

from .parts import Heartbeat, Releaser, Retainer, default_name
from .runtime import RemoteWorker

__all__ = ["Heartbeat", "Releaser", "RemoteWorker", "Retainer", "default_name"]
