"""The REST API's request bodies that are not a model of their own: what to do with a retained
task, whom to hand tasks to, what to requeue. Like the models they are dataclasses, decoded,
encoded and described by the codec (the server and the typed client share them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .errors import InvalidArgument
from .models import MISSING, Status, TaskMeta, wire


@dataclass(frozen=True, slots=True)
class TaskPatch:
    """`PATCH /task/{id}` (and an item of `PATCH /task`): release the retained task (`fail`,
    `result`; `{}` is a success without result, what the original Go client sends), or with
    `heartbeat` extend its lease."""

    id: int | None = field(
        default=None, metadata=wire("the task (items of a batch)", format="int64", minimum=1)
    )
    fail: bool | None = field(default=None, metadata=wire("release as failed"))
    result: Any = field(default=MISSING, metadata=wire("result stored with the release"))
    heartbeat: bool | None = field(
        default=None, metadata=wire("true: extend the lease instead of releasing")
    )
    lease: timedelta | None = field(
        default=None, metadata=wire("with heartbeat: the new lease (default: the queue's)")
    )
    worker: str | None = field(
        default=None, metadata=wire("only while the task is this worker's", minLength=1)
    )

    def checked(self) -> TaskPatch:
        """This patch, or InvalidArgument when its fields contradict each other."""
        if self.heartbeat:
            if self.fail is not None or self.result is not MISSING:
                raise InvalidArgument("heartbeat cannot be combined with fail or result")
        elif self.lease is not None:
            raise InvalidArgument("lease is only accepted with heartbeat: true")
        return self

    @property
    def success(self) -> bool:
        return not self.fail

    @property
    def result_value(self) -> Any:
        return None if self.result is MISSING else self.result


@dataclass(frozen=True, slots=True)
class Retain:
    """`PUT /task[/{queue}]`'s body (the query may say the same): the worker, and the queues
    to take from (none: any queue of the namespace)."""

    worker: str | None = field(default=None, metadata=wire("who retains", minLength=1))
    queue: list[str] | None = field(
        default=None, metadata=wire("a queue name or a list of them (none: any queue)")
    )


@dataclass(frozen=True, slots=True)
class Requeue:
    """`POST /queue/{name}/requeue`: which terminal status to put back to new."""

    status: Status = field(metadata=wire("failed, expired or cancelled"))


def new_task(body: object, index: int | None = None) -> tuple[str, TaskMeta]:
    """`POST /task`'s body, or element `index` of a batch: the queue and what to create. Both
    `queue` and `payload` are required (JSON null is a payload; a missing one is not); a
    batch element's errors name its index."""
    from . import codec

    try:
        meta, given = codec.decode_input(TaskMeta, body, what="task", extra={"queue": "name"})
        if "queue" not in given:
            raise InvalidArgument("queue is required")
        if meta.payload is MISSING:
            raise InvalidArgument("payload is required (use null for an empty payload)")
    except InvalidArgument as exc:
        if index is None:
            raise
        raise InvalidArgument(f"task {index}: {exc.message}", key=exc.key) from None
    return given["queue"], meta
