"""pgqueue_core: a PostgreSQL task queue over asyncpg (Manager, Worker, models, errors)."""

# The one version of the distribution: setuptools reads it from here (statically, so keep it a
# plain string), and the server and the `pgqueue` command report it.
__version__ = "0.2.0"

from .durations import format_duration, parse_duration, to_ns
from .errors import (
    Conflict,
    InvalidArgument,
    NotFound,
    PgQueueError,
    Unavailable,
)
from .maintenance import Maintenance
from .manager import Manager
from .models import (
    MISSING,
    TERMINAL,
    Queue,
    QueueMeta,
    QueueStatus,
    QueueSummary,
    Status,
    Task,
    TaskMeta,
    Ticker,
    TickerMeta,
)
from .system import System
from .tasks import Completion, Lease
from .worker import Handlers, Worker

__all__ = [
    "MISSING",
    "TERMINAL",
    "Completion",
    "Conflict",
    "Handlers",
    "InvalidArgument",
    "Lease",
    "Maintenance",
    "Manager",
    "NotFound",
    "PgQueueError",
    "Queue",
    "QueueMeta",
    "QueueStatus",
    "QueueSummary",
    "Status",
    "System",
    "Task",
    "TaskMeta",
    "Ticker",
    "TickerMeta",
    "Unavailable",
    "Worker",
    "format_duration",
    "parse_duration",
    "to_ns",
]
