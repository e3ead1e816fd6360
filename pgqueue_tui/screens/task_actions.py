"""Actions on one task, shared by the task list (highlighted task) and the task screen."""

from __future__ import annotations

import json
import socket
from typing import Any

from pgqueue_core.models import Status, Task

from .base import ConsoleScreen
from .result_form import ResultFormScreen

REQUEUEABLE = frozenset({Status.FAILED, Status.EXPIRED, Status.CANCELLED})
WORKER = f"console@{socket.gethostname()}"


class TaskActionsScreen(ConsoleScreen):
    """Cancel, requeue, complete and fail the task `current_task()` names."""

    def current_task(self) -> Task | None:
        raise NotImplementedError

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        task = self.current_task()
        allowed = {
            "cancel_task": lambda t: not t.status.terminal,
            "requeue_task": lambda t: t.status in REQUEUEABLE,
            "complete_task": lambda t: t.status is Status.RETAINED,
            "fail_task": lambda t: t.status is Status.RETAINED,
        }.get(action)
        if allowed is None:
            return True
        return None if task is None or not allowed(task) else True

    def action_cancel_task(self) -> None:
        task = self.current_task()
        if task is None:
            return
        note = (
            "Its worker is told at its next heartbeat or release."
            if task.status is Status.RETAINED
            else "It will never be handed out."
        )
        self.confirm(
            f"Cancel task {task.id} ({task.status.value}) of {task.queue!r}?\n{note}",
            lambda: self.run_worker(self._cancel(task.id), group="action"),
            label="Cancel task",
        )

    async def _cancel(self, task_id: int) -> None:
        task = await self.call("cancel the task", self.client.cancel_task(task_id))
        if task is not None:
            state = "cancel requested" if task.status is Status.RETAINED else task.status.value
            self.notify(f"Task {task.id}: {state}.", title="Cancelled")
            self.task_changed(task)

    def action_requeue_task(self) -> None:
        if (task := self.current_task()) is not None:
            self.run_worker(self._requeue(task.id), group="action")

    async def _requeue(self, task_id: int) -> None:
        task = await self.call("requeue the task", self.client.requeue_task(task_id))
        if task is not None:
            self.notify(f"Task {task.id} is new again, with fresh retries.", title="Requeued")
            self.task_changed(task)

    def action_complete_task(self) -> None:
        self._release(success=True)

    def action_fail_task(self) -> None:
        self._release(success=False)

    def _release(self, success: bool) -> None:
        task = self.current_task()
        if task is None or task.status is not Status.RETAINED:
            return
        verb = "Complete" if success else "Fail"
        held = (
            ""
            if task.worker == WORKER
            else f"\nIt is held by {task.worker}: releasing it here takes it from that worker."
        )
        retry = ""
        if not success:
            retry = " It is retried later." if task.retries > 0 else " It has no retries left."
        initial = "null" if success else json.dumps({"error": "failed by hand"}, indent=2)

        def done(result: tuple[Any] | None) -> None:
            if result is not None:
                self.run_worker(self._release_now(task.id, success, result[0]), group="action")

        self.app.push_screen(
            ResultFormScreen(
                f"{verb} task {task.id}",
                f"{verb} task {task.id} of {task.queue!r} with this result.{retry}{held}",
                initial,
                verb,
            ),
            done,
        )

    async def _release_now(self, task_id: int, success: bool, result: Any) -> None:
        what = "complete the task" if success else "fail the task"
        task = await self.call(what, self.client.release_task(task_id, success, result))
        if task is not None:
            self.notify(f"Task {task.id} is {task.status.value}.", title="Released")
            self.task_changed(task)

    def retain(self, queue: str | None) -> None:
        """Take the next ready task (of `queue`, or of any queue) as the console's worker."""
        self.run_worker(self._retain(queue), group="action")

    async def _retain(self, queue: str | None) -> None:
        queues = () if queue is None else (queue,)
        ok, task = await self.console.guard("retain a task", self.client.next_task(WORKER, *queues))
        if not ok:
            return
        if task is None:
            where = f"in {queue!r}" if queue else "in any queue"
            self.notify(f"No task is ready {where}.", severity="warning")
            return
        self.notify(f"Task {task.id} retained as {WORKER}: s completes it, f fails it.")
        self.task_changed(task)
        self.console.open_task(task.id)

    def task_changed(self, task: Task) -> None:
        self.wake()
