"""Actions on one queue, shared by the overview (highlighted queue) and the queue screen."""

from __future__ import annotations

from pgqueue_core.models import Queue, QueueMeta, QueueSummary, Status

from .base import ConsoleScreen
from .queue_form import QueueFormScreen
from .requeue import RequeueScreen

QUEUE_ACTIONS = frozenset({"edit_queue", "delete_queue", "toggle_pause", "requeue"})


class QueueActionsScreen(ConsoleScreen):
    """Subclasses say which queue the actions apply to (`current_summary`)."""

    def current_summary(self) -> QueueSummary | None:
        raise NotImplementedError

    def current_breaker(self) -> str:
        """The breaker of the queue acted on as last seen: closed, open or half-open."""
        summary = self.current_summary()
        return "closed" if summary is None else summary.breaker

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in QUEUE_ACTIONS and self.current_summary() is None:
            return None  # shown, but disabled: no queue to act on
        if action == "reset_breaker" and (
            self.current_summary() is None or self.current_breaker() == "closed"
        ):
            return None  # nothing to reset
        return True

    # ---- create / edit / delete ---------------------------------------------------

    def action_new_queue(self) -> None:
        def done(meta: QueueMeta | None) -> None:
            if meta is not None:
                self.run_worker(self._create_queue(meta), group="action")

        self.app.push_screen(QueueFormScreen(), done)

    async def _create_queue(self, meta: QueueMeta) -> None:
        queue = await self.call("create the queue", self.client.create_queue(meta))
        if queue is not None:
            self.notify(f"Queue {queue.queue!r} created.", title="Created")
            self.queue_changed(queue)

    def action_edit_queue(self) -> None:
        if (summary := self.current_summary()) is not None:
            self.run_worker(self._edit_queue(summary.queue), group="action")

    async def _edit_queue(self, name: str) -> None:
        queue = await self.call("load the queue", self.client.get_queue(name))
        if queue is None:
            return

        def done(meta: QueueMeta | None) -> None:
            if meta is None:
                return
            if meta == QueueMeta():
                self.notify("Nothing changed.")
                return
            self.run_worker(self._update_queue(name, meta, "update the queue"), group="action")

        self.app.push_screen(QueueFormScreen(queue), done)

    async def _update_queue(self, name: str, meta: QueueMeta, what: str) -> Queue | None:
        queue = await self.call(what, self.client.update_queue(name, meta))
        if queue is not None:
            if meta.paused is not None:
                state = "paused: no task is handed out" if queue.paused else "resumed"
                self.notify(f"Queue {queue.queue!r} {state}.", title="Queue")
            else:
                self.notify(f"Queue {queue.queue!r} saved.", title="Saved")
            self.queue_changed(queue)
        return queue

    def action_delete_queue(self) -> None:
        summary = self.current_summary()
        if summary is None:
            return
        tasks = sum(summary.counts.values())
        live = summary.waiting + summary.counts.get(Status.RETAINED, 0)
        message = (
            f"Delete queue {summary.queue!r} and its {tasks:,} task{'s' if tasks != 1 else ''}"
            + (f" ({live:,} not finished yet)" if live else "")
            + "?\nThis cannot be undone."
        )
        self.confirm(
            message,
            lambda: self.run_worker(self._delete_queue(summary.queue), group="action"),
            label=f"Delete {tasks:,} task{'s' if tasks != 1 else ''}",
        )

    async def _delete_queue(self, name: str) -> None:
        queue = await self.call("delete the queue", self.client.delete_queue(name))
        if queue is not None:
            self.notify(f"Queue {name!r} and its tasks were deleted.", title="Deleted")
            self.queue_deleted(name)

    # ---- operations ---------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        if (summary := self.current_summary()) is not None:
            what = "resume the queue" if summary.paused else "pause the queue"
            meta = QueueMeta(paused=not summary.paused)
            self.run_worker(self._update_queue(summary.queue, meta, what), group="action")

    def action_requeue(self) -> None:
        summary = self.current_summary()
        if summary is None:
            return

        def done(status: Status | None) -> None:
            if status is not None:
                self.run_worker(self._requeue(summary.queue, status), group="action")

        self.app.push_screen(RequeueScreen(summary.queue, summary.counts), done)

    async def _requeue(self, queue: str, status: Status) -> None:
        count = await self.call("requeue", self.client.requeue_tasks(queue, status))
        if count is not None:
            self.notify(
                f"{count:,} {status.value} task{'s' if count != 1 else ''} of {queue!r} "
                "back to new.",
                title="Requeued",
            )
            self.wake()

    def action_reset_breaker(self) -> None:
        summary = self.current_summary()
        if summary is None or self.current_breaker() == "closed":
            return
        waiting = summary.waiting
        message = (
            f"Close the circuit breaker of queue {summary.queue!r} now?\n"
            f"Its {waiting:,} waiting task{'s' if waiting != 1 else ''} go out again at once, "
            "although whatever failed may not have recovered yet; the breaker forgets the "
            "failures it counted."
        )
        self.confirm(
            message,
            lambda: self.run_worker(self._reset_breaker(summary.queue), group="action"),
            label="Reset breaker",
        )

    async def _reset_breaker(self, name: str) -> None:
        queue = await self.call("reset the breaker", self.client.reset_breaker(name))
        if queue is not None:
            self.notify(
                f"Breaker of {name!r} closed: its tasks go out again.", title="Breaker reset"
            )
            self.queue_changed(queue)

    def action_create_task(self) -> None:
        summary = self.current_summary()
        self.create_task(None if summary is None else summary.queue)

    # ---- hooks --------------------------------------------------------------------

    def queue_changed(self, queue: Queue) -> None:
        self.wake()

    def queue_deleted(self, name: str) -> None:
        self.wake()
