"""The Worker runtime: claiming, running handlers, completing, lease keeping (one module each)."""

from .claimer import Claimer
from .completer import Completer
from .leases import LeaseKeeper
from .runtime import Handler, Worker
from .stats import WorkerStats

__all__ = ["Claimer", "Completer", "Handler", "LeaseKeeper", "Worker", "WorkerStats"]
