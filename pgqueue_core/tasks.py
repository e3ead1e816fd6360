"""Task operations of the Manager: create, read, claim, release, lease, cancel, requeue."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import validate
from .base import ManagerBase
from .errors import (
    Conflict,
    InvalidArgument,
    NotFound,
    queue_not_found,
    task_not_found,
)
from .models import MISSING, STATUSES, Status, Task, TaskMeta
from .requests import TaskPatch

MAX_BATCH = 10_000
_REQUEUEABLE = frozenset({Status.FAILED, Status.EXPIRED, Status.CANCELLED})


@dataclass(frozen=True, slots=True)
class Lease:
    """The state of a retained task after a heartbeat."""

    id: int
    leased_until: datetime
    cancel_requested: bool


@dataclass(frozen=True, slots=True)
class Completion:
    """One result for `release_tasks`: the claim it ends (id + attempt) and its outcome."""

    id: int
    attempt: int
    success: bool
    result: Any = None


def _check_task_meta(meta: TaskMeta) -> tuple[str, datetime | None, int, str | None]:
    if not isinstance(meta, TaskMeta):
        raise InvalidArgument("expected a TaskMeta")
    if meta.payload is MISSING:
        raise InvalidArgument("payload is required (use None for JSON null)")
    validate.integer(meta.priority, "priority", -validate.INT32_MAX, validate.INT32_MAX)
    return (
        validate.payload(meta.payload),
        validate.delayed_at(meta.delayed_at),
        meta.priority,
        validate.key(meta.key),
    )


def _plain_payloads(metas: Sequence[TaskMeta]) -> str | None:
    """The payloads as one JSON array when every task is plain (no delay, priority or key),
    else None (the slow path then checks every field and explains what is wrong)."""
    payloads = []
    for meta in metas:
        if (
            type(meta) is not TaskMeta
            or meta.payload is MISSING
            or meta.delayed_at is not None
            or meta.priority != 0
            or meta.key is not None
        ):
            return None
        payloads.append(meta.payload)
    return validate.payload(payloads)


def _waited(task: Task) -> int:
    """Milliseconds from when a claimed task became ready (created, or its delay or backoff
    ended) to its claim."""
    ready = task.created_at if task.delayed_at is None else max(task.created_at, task.delayed_at)
    started = task.started_at or ready
    return max(0, round((started - ready).total_seconds() * 1000))


def _queue_names(queues: Iterable[str]) -> list[str] | None:
    names = [validate.name(q, "queue") for q in queues]
    return sorted(set(names)) if names else None


def _task_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"task id must be an integer, got {value!r}")
    if not 1 <= value <= 2**63 - 1:
        raise InvalidArgument(f"task id {value} is out of range")
    return value


class TaskOps(ManagerBase):
    """Tasks of the Manager's namespace."""

    # ---- events -------------------------------------------------------------------

    def _created(self, task: Task) -> Task:
        return self._changed(task, "created")

    def _changed(self, task: Task, change: str | None = None) -> Task:
        """Record a task's change for watchers (its status names it unless `change` does)."""
        name = change or task.status.value
        self._publisher.tasks(self.namespace, task.queue, name, [(task.id, task.attempt)])
        return task

    # ---- create -------------------------------------------------------------------

    async def create_task(self, queue: str, meta: TaskMeta) -> Task:
        """Create a task (NotFound for an unknown queue). With a `key` that a live task of
        the queue holds, returns that task instead."""
        task, _ = await self.create_task_or_get(queue, meta)
        return task

    async def create_task_or_get(self, queue: str, meta: TaskMeta) -> tuple[Task, bool]:
        """Like create_task, and whether a new task was created (False: de-duplicated)."""
        queue = validate.name(queue, "queue")
        payload, delayed_at, priority, key = _check_task_meta(meta)
        if key is None:  # one statement, no transaction: the common, fast case
            row = await self._run(
                "task_insert", self.namespace, queue, payload, delayed_at, priority, None
            )
            if row is None:
                raise queue_not_found(queue)
            return self._created(Task.from_record(row)), True
        async with self._conn() as conn:
            for _ in range(10):
                async with conn.transaction():
                    if key is not None:
                        await self._expire_key(conn, queue, key)
                    row = await self._run_on(
                        conn,
                        "task_insert",
                        self.namespace,
                        queue,
                        payload,
                        delayed_at,
                        priority,
                        key,
                    )
                    if row is not None:
                        return self._created(Task.from_record(row)), True
                    row = await self._run_on(conn, "task_get_by_key", self.namespace, queue, key)
                    if row is not None:
                        return Task.from_record(row), False
                    # Queue missing, or the live task ended between the two statements.
                    if await self._run_on(conn, "queue_get", self.namespace, queue) is None:
                        raise queue_not_found(queue)
        raise Conflict(f"could not create a task with key {key!r}: it keeps changing")

    async def _expire_key(self, conn: Any, queue: str, key: str) -> None:
        """Store the expiry of an overdue task holding `key`, so it frees the key."""
        await self._run_on(conn, "task_expire_key", self.namespace, queue, key)

    async def create_tasks(self, queue: str, metas: Sequence[TaskMeta]) -> list[int]:
        """Create many tasks in one round trip; returns their ids in the order given.

        A task whose `key` a live task of the queue holds (or an earlier task of the same
        batch) is not created: its place in the result holds the live task's id.
        """
        queue = validate.name(queue, "queue")
        if len(metas) > MAX_BATCH:
            raise InvalidArgument(f"at most {MAX_BATCH} tasks per batch, got {len(metas)}")
        if not metas:
            await self.get_queue(queue)  # type: ignore[attr-defined]
            return []
        payloads = _plain_payloads(metas)
        if payloads is not None:  # the common case, checked in one quick pass
            ids = await self._run("task_insert_plain", self.namespace, queue, payloads)
            if ids is None:
                raise queue_not_found(queue)
            self._publisher.tasks(self.namespace, queue, "created", ((i, 0) for i in ids))
            return list(ids)
        return await self.create_batch([(queue, meta) for meta in metas])

    async def create_batch(self, items: Sequence[tuple[str, TaskMeta]]) -> list[int]:
        """Create tasks in any queues of the namespace, all or nothing, in one statement;
        returns their ids in the order given (with a live `key`, the live task's id). A
        missing queue fails the batch (NotFound naming the first task that names it)."""
        if len(items) > MAX_BATCH:
            raise InvalidArgument(f"at most {MAX_BATCH} tasks per batch, got {len(items)}")
        queues, checked = [], []
        for index, (queue, meta) in enumerate(items):
            try:
                queues.append(validate.name(queue, "queue"))
                checked.append(_check_task_meta(meta))
            except InvalidArgument as exc:
                raise InvalidArgument(f"task {index}: {exc.message}", key=exc.key) from None
        if not items:
            return []
        async with self._conn() as conn, conn.transaction():
            missing = await self._run_on(conn, "task_queues_missing", self.namespace, queues)
            if missing:
                gone = missing[0]["queue"]
                raise NotFound(
                    f"task {queues.index(gone)}: queue {gone!r} not found", key="queue_not_found"
                )
            keys = [c[3] for c in checked]
            for live_queue, live_key in {(q, k) for q, k in zip(queues, keys, strict=True) if k}:
                await self._expire_key(conn, live_queue, live_key)
            rows = await self._run_on(
                conn,
                "task_insert_many",
                self.namespace,
                queues,
                [c[0] for c in checked],
                [c[1] for c in checked],
                [c[2] for c in checked],
                keys,
            )
            for queue in dict.fromkeys(queues):
                self._publisher.tasks(
                    self.namespace,
                    queue,
                    "created",
                    ((r["id"], 0) for r in rows if r["queue"] == queue),
                )
            if len(rows) == len(items):
                return [r["id"] for r in rows]
            keyed = [(q, k) for q, k in zip(queues, keys, strict=True) if k is not None]
            live = {
                (r["queue"], r["key"]): r["id"]
                for r in await self._run_on(
                    conn,
                    "task_get_live_keys",
                    self.namespace,
                    [q for q, _ in keyed],
                    [k for _, k in keyed],
                )
            }
        # Inserted rows come back in input order; the skipped ones hold keys already live
        # (before the batch, or earlier in it): they get the live task's id.
        ids: list[int] = []
        inserted = iter(rows)
        upcoming = next(inserted, None)
        for queue, key in zip(queues, keys, strict=True):
            if upcoming is not None and (upcoming["queue"], upcoming["key"]) == (queue, key):
                ids.append(upcoming["id"])
                upcoming = next(inserted, None)
            else:
                ids.append(live[(queue, key)])
        return ids

    # ---- read ---------------------------------------------------------------------

    async def get_task(self, task_id: int) -> Task:
        """A task of this namespace by id (NotFound otherwise)."""
        task_id = _task_id(task_id)
        row = await self._run("task_get", self.namespace, task_id)
        if row is None:
            raise task_not_found(task_id)
        return Task.from_record(row)

    async def list_tasks(
        self,
        queue: str | None = None,
        status: Status | str | None = None,
        offset: int | None = 0,
        limit: int | None = 100,
    ) -> tuple[int, list[Task]]:
        """A page of tasks by id, optionally of one queue and one status (as read)."""
        queue = None if queue is None else validate.name(queue, "queue")
        wanted = validate.status(status)
        offset, limit = validate.paging(offset, limit)
        args = (self.namespace, queue, None if wanted is None else wanted.value)
        async with self._conn() as conn:
            rows = await self._run_on(conn, "task_list", *args, offset, limit)
            if offset == 0 and len(rows) < limit:
                total = len(rows)
            else:
                total = await self._run_on(conn, "task_count", *args)
        return total, [Task.from_record(r) for r in rows]

    # ---- claim --------------------------------------------------------------------

    async def next_task(self, worker: str, *queues: str) -> Task | None:
        """Retain the next eligible task of the named queues (none named: any queue of the
        namespace) for `worker`; None when nothing is eligible. NotFound for unknown queues."""
        tasks = await self.next_tasks(worker, *queues, limit=1)
        return tasks[0] if tasks else None

    async def next_tasks(self, worker: str, *queues: str, limit: int = 100) -> list[Task]:
        """Retain up to `limit` eligible tasks at once (highest priority, then oldest first)."""
        worker = validate.worker(worker)
        names = _queue_names(queues)
        validate.integer(limit, "limit", 1, MAX_BATCH)
        async with self._conn() as conn:
            rows = await self._run_on(
                conn,
                "task_claim",
                self.namespace,
                names,
                worker,
                limit,
            )
            if not rows and names is not None:
                missing = await self._run_on(conn, "task_queues_missing", self.namespace, names)
                if missing:
                    raise NotFound(
                        "queue " + ", ".join(repr(r["queue"]) for r in missing) + " not found",
                        key="queue_not_found",
                    )
        tasks = [Task.from_record(r) for r in rows]
        tasks.sort(key=lambda t: (-t.priority, t.id))
        if tasks and self._publisher.watched(self.namespace):
            by_queue: dict[str, list[tuple[int, ...]]] = {}
            for task in tasks:
                by_queue.setdefault(task.queue, []).append((task.id, task.attempt, _waited(task)))
            for name, claims in by_queue.items():
                self._publisher.tasks(self.namespace, name, "retained", claims)
        return tasks

    async def next_due(self, *queues: str) -> datetime | None:
        """When the next waiting task of the queues becomes eligible (None: none waits)."""
        due: datetime | None = await self._run(
            "task_next_due", self.namespace, _queue_names(queues)
        )
        return due

    # ---- release ------------------------------------------------------------------

    async def release_task(
        self,
        task_id: int,
        success: bool = True,
        result: Any = None,
        *,
        worker: str | None = None,
        attempt: int | None = None,
    ) -> Task:
        """Finish a retained task: success → released; failure → retry (with backoff) or
        failed. `worker`/`attempt` make sure it is still that worker's claim."""
        task_id = _task_id(task_id)
        if not isinstance(success, bool):
            raise InvalidArgument("success must be a boolean")
        result_json = validate.payload(result, "result")
        row = await self._run(
            "task_release",
            self.namespace,
            task_id,
            success,
            result_json,
            None if worker is None else validate.worker(worker),
            attempt,
        )
        if row is None:
            raise await self._not_retained(task_id)
        return self._changed(Task.from_record(row))

    async def _not_retained(self, task_id: int) -> NotFound:
        row = await self._run("task_get", self.namespace, task_id)
        if row is None:
            return task_not_found(task_id)
        return NotFound(
            f"task {task_id} is not retained (it is {row['status']})", key="task_not_retained"
        )

    async def release_tasks(
        self, worker: str, completions: Sequence[Completion]
    ) -> dict[int, Status]:
        """Release a batch of `worker`'s claims in one statement; returns the new status of
        each task released. Claims that are no longer the worker's (lease lapsed and the task
        was rescued, or it expired) are left alone and missing from the result."""
        return await self.release_encoded(
            validate.worker(worker),
            [c.id for c in completions],
            [c.attempt for c in completions],
            [c.success for c in completions],
            [validate.payload(c.result, "result") for c in completions],
        )

    async def release_encoded(
        self,
        worker: str | None,
        ids: list[int],
        attempts: Sequence[int | None],
        successes: list[bool],
        results: list[str],
    ) -> dict[int, Status]:
        """`release_tasks` with the results already JSON-encoded (the Worker's fast path);
        `worker` None and None attempts do not guard."""
        if not ids:
            return {}
        rows = await self._run(
            "task_release_many", self.namespace, worker, ids, list(attempts), successes, results
        )
        if rows and self._publisher.watched(self.namespace):
            groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
            for row in rows:
                groups.setdefault((row["queue"], row["status"]), []).append(
                    (row["id"], row["attempt"])
                )
            for (queue, status), released in groups.items():
                self._publisher.tasks(self.namespace, queue, status, released)
        return {r["id"]: STATUSES[r["status"]] for r in rows}

    async def patch_tasks(self, patches: Sequence[TaskPatch]) -> list[Status | Lease | NotFound]:
        """Release or heartbeat many retained tasks in few statements (one per worker that
        guards, and per lease asked for): for each patch in order, the task's new status
        (release), its Lease (heartbeat), or the NotFound saying why not (not retained, not
        in this namespace). A patch that is malformed fails the whole call."""
        if len(patches) > MAX_BATCH:
            raise InvalidArgument(f"at most {MAX_BATCH} items per batch, got {len(patches)}")
        releases: dict[str | None, list[tuple[int, TaskPatch, str]]] = {}
        beats: dict[tuple[str | None, timedelta | None], list[int]] = {}
        for index, patch in enumerate(patches):
            try:
                patch.checked()
                if patch.id is None:
                    raise InvalidArgument("id is required")
                task_id = _task_id(patch.id)
                worker = None if patch.worker is None else validate.worker(patch.worker)
                if patch.heartbeat:
                    validate.duration(patch.lease, "lease", minimum=timedelta(seconds=1))
                    beats.setdefault((worker, patch.lease), []).append(task_id)
                else:
                    result = validate.payload(patch.result_value, "result")
                    releases.setdefault(worker, []).append((task_id, patch, result))
            except InvalidArgument as exc:
                raise InvalidArgument(f"item {index}: {exc.message}", key=exc.key) from None
        done: dict[int, Status | Lease] = {}
        for worker, items in releases.items():
            done.update(
                await self.release_encoded(
                    worker,
                    [i for i, _, _ in items],
                    [None] * len(items),
                    [p.success for _, p, _ in items],
                    [r for _, _, r in items],
                )
            )
        for (worker, lease), task_ids in beats.items():
            done.update(await self.extend_leases(task_ids, lease, worker=worker))
        outcomes: list[Status | Lease | NotFound] = []
        missed = [p.id for p in patches if p.id not in done]
        statuses = {}
        if missed:
            rows = await self._run("task_statuses", self.namespace, missed)
            statuses = {r["id"]: r["status"] for r in rows}
        for patch in patches:
            assert patch.id is not None
            outcome = done.get(patch.id)
            if outcome is not None:
                outcomes.append(outcome)
            elif patch.id in statuses:
                status = statuses[patch.id]
                why = "by this worker" if status == "retained" else f"(it is {status})"
                outcomes.append(
                    NotFound(f"task {patch.id} is not retained {why}", key="task_not_retained")
                )
            else:
                outcomes.append(task_not_found(patch.id))
        return outcomes

    async def unclaim_tasks(self, worker: str, claims: Sequence[tuple[int, int]]) -> set[int]:
        """Give back (id, attempt) claims that `worker` never started: the tasks wait again
        and the claims do not count as attempts. Returns the ids given back."""
        if not claims:
            return set()
        rows = await self._run(
            "task_unclaim_many",
            self.namespace,
            worker,
            [c[0] for c in claims],
            [c[1] for c in claims],
        )
        return {r["id"] for r in rows}

    # ---- leases -------------------------------------------------------------------

    async def extend_lease(
        self, task_id: int, lease: timedelta | None = None, *, worker: str | None = None
    ) -> Lease:
        """Heartbeat for one retained task: its lease runs to now + `lease` (default: the
        queue's lease). NotFound when the task is no longer retained (by `worker`)."""
        task_id = _task_id(task_id)
        leases = await self.extend_leases([task_id], lease, worker=worker)
        if task_id not in leases:
            raise await self._not_retained(task_id)
        return leases[task_id]

    async def extend_leases(
        self, task_ids: Sequence[int], lease: timedelta | None = None, *, worker: str | None = None
    ) -> dict[int, Lease]:
        """Heartbeat for many retained tasks; the result leaves out tasks no longer held."""
        validate.duration(lease, "lease", minimum=timedelta(seconds=1))
        ids = [_task_id(i) for i in task_ids]
        if not ids:
            return {}
        rows = await self._run(
            "task_extend_lease",
            self.namespace,
            ids,
            None if worker is None else validate.worker(worker),
            lease,
        )
        return {r["id"]: Lease(r["id"], r["leased_until"], r["cancel_requested"]) for r in rows}

    # ---- cancel / requeue ---------------------------------------------------------

    async def cancel_task(self, task_id: int) -> Task:
        """Cancel a task: a waiting task becomes `cancelled` at once; a retained one is
        flagged and ends `cancelled` when its worker learns of it. Conflict if terminal."""
        task_id = _task_id(task_id)
        row = await self._run("task_cancel", self.namespace, task_id)
        if row is None:
            task = await self.get_task(task_id)
            raise Conflict(
                f"task {task_id} is already {task.status} and cannot be cancelled",
                key="task_not_cancellable",
            )
        task = Task.from_record(row)
        if task.status is Status.CANCELLED:
            self._changed(task)
        return task

    async def requeue_task(self, task_id: int) -> Task:
        """Put a failed, expired or cancelled task back to `new` with fresh retries and ttl."""
        task_id = _task_id(task_id)
        row = await self._run("task_requeue", self.namespace, task_id)
        if row is None:
            task = await self.get_task(task_id)
            if task.status in _REQUEUEABLE:
                raise Conflict(
                    f"task {task_id} has key {task.key!r}, held by a live task", key="key_exists"
                )
            raise Conflict(
                f"task {task_id} is {task.status}: only failed, expired or cancelled "
                "tasks can be requeued",
                key="task_not_requeueable",
            )
        return self._changed(Task.from_record(row), "requeued")

    async def requeue_tasks(self, queue: str, status: Status | str) -> int:
        """Requeue every task of a queue in a status (failed, expired or cancelled)."""
        queue = validate.name(queue, "queue")
        wanted = validate.status(status)
        if wanted not in _REQUEUEABLE:
            raise InvalidArgument(
                f"only failed, expired or cancelled tasks can be requeued, not {wanted}"
            )
        await self.get_queue(queue)  # type: ignore[attr-defined]
        ids = await self._run("task_requeue_many", self.namespace, queue, wanted.value) or []
        self._publisher.tasks(self.namespace, queue, "requeued", ((i, 0) for i in ids))
        return len(ids)
