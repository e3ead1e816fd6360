"""Typed async client of the pgqueue REST API: returns the core models, raises core errors.

    async with Client("http://localhost:8080/api", namespace="myapp") as client:
        queue = await client.create_queue(QueueMeta(queue="emails", retries=5))
        task = await client.create_task("emails", TaskMeta(payload={"to": "a@b.c"}))
        async for ticker in client.ticker_stream():
            ...

Every method raises a `pgqueue_core.errors.PgQueueError`: the class the server's error
response names (`NotFound`, `Conflict`, `InvalidArgument`, `Unauthorized`, `Unavailable`…),
`ConnectionFailed` (an `Unavailable`) when the server cannot be reached, `ProtocolError`
when something other than a pgqueue server answered.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp

from pgqueue_core import codec
from pgqueue_core.durations import to_ns
from pgqueue_core.errors import InvalidArgument, PgQueueError
from pgqueue_core.models import (
    MISSING,
    Queue,
    QueueMeta,
    QueueSummary,
    Status,
    Task,
    TaskMeta,
    Ticker,
    TickerMeta,
)
from pgqueue_core.requests import TaskPatch
from pgqueue_core.tasks import Lease

from . import wire
from .config import DEFAULT_URL
from .errors import ConnectionFailed, ProtocolError
from .events import EventStream, check_types
from .stream import StateHook, TickerStream
from .transport import (
    JSONHook,
    Page,
    Params,
    Transport,
    body_list,
    check_url,
    decoded,
    parse_json,
    response_error,
)

T = TypeVar("T")

__all__ = [
    "DEFAULT_URL",
    "Client",
    "ConnectionFailed",
    "Page",
    "ProtocolError",
    "TickerStream",
    "check_url",
]


def _decoder(cls: type[T]) -> Callable[[Any], T]:
    return functools.partial(codec.decode, cls)


_QUEUE = _decoder(Queue)
_TASK = _decoder(Task)
_TICKER = _decoder(Ticker)
_SUMMARY = _decoder(QueueSummary)
_LEASE = _decoder(Lease)

PatchOutcome = Status | Lease | PgQueueError  # one item of `patch_tasks`


def _patch_outcome(item: Any) -> PatchOutcome:
    """An item of PATCH /task's answer: the release's status, the heartbeat's Lease, or the
    error its envelope names (the class its key chooses)."""
    error = item.get("error")
    if error is not None:
        return response_error(int(error["code"]), error, "/task", None)
    if "leased_until" in item:
        return _LEASE(item)
    return Status(item["status"])


def _task_body(queue: str, meta: TaskMeta) -> dict[str, Any]:
    if meta.payload is MISSING:
        raise InvalidArgument("payload is required (use None for a JSON null payload)")
    return {"queue": queue, **codec.encode_input(meta)}


def _q(name: str) -> str:
    return f"/queue/{quote(name, safe='')}"


def _t(task_id: int) -> str:
    return f"/task/{int(task_id)}"


def _k(name: str) -> str:
    return f"/ticker/{quote(name, safe='')}"


class Client(Transport):
    """The pgqueue API of one server and namespace (None: the server's default namespace).

    Methods mirror `pgqueue_core.Manager`. `on_json` is called with every successful
    response document and stream event as parsed from the wire (the CLI's `--json` prints
    it). Use as `async with`, or call `close()`; a session passed in is left open.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        namespace: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        session: aiohttp.ClientSession | None = None,
        on_json: JSONHook | None = None,
    ) -> None:
        super().__init__(
            url, namespace=namespace, token=token, timeout=timeout, session=session,
            on_json=on_json,
        )  # fmt: skip

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def with_namespace(self, namespace: str | None) -> Client:
        """A client of another namespace sharing this one's connections (and `close`)."""
        other = Client(self.url, namespace=namespace, token=self.token, timeout=self.timeout)
        other.on_json = self.on_json
        other._holder = self._holder
        return other

    # ---- server -------------------------------------------------------------------

    async def list_namespaces(self) -> list[str]:
        """Every namespace that owns a queue or a ticker, sorted."""
        return (await self.page(str, "/namespace")).items

    async def health(self) -> Any:
        """The server's health document (raises Unavailable when its database is down)."""
        return await self.call("GET", "/health")

    async def metrics(self) -> str:
        """The Prometheus metrics text."""
        return str((await self.request("GET", "/metrics", text=True))[1])

    async def openapi(self) -> Any:
        """The OpenAPI document of the API."""
        return await self.call("GET", "/openapi.json")

    # ---- queues -------------------------------------------------------------------

    async def list_queues(self, offset: int = 0, limit: int | None = None) -> Page[Queue]:
        return await self.page(_QUEUE, "/queue", self.paging(offset, limit))

    async def get_queue(self, name: str) -> Queue:
        return await self.one(_QUEUE, "GET", _q(name))

    async def create_queue(self, meta: QueueMeta) -> Queue:
        """Create a queue (Conflict if it exists); fields not given get the defaults."""
        if not meta.queue:
            raise InvalidArgument("the queue name is required")
        return await self.one(_QUEUE, "POST", "/queue", body=codec.encode_input(meta))

    async def update_queue(self, name: str, meta: QueueMeta) -> Queue:
        """Change the fields given; `meta.queue` renames, `concurrency=0` removes the limit."""
        return await self.one(_QUEUE, "PATCH", _q(name), body=codec.encode_input(meta))

    async def delete_queue(self, name: str) -> Queue:
        """Delete a queue and its tasks; returns the deleted queue."""
        return await self.one(_QUEUE, "DELETE", _q(name))

    async def pause_queue(self, name: str) -> Queue:
        """Stop handing out the queue's tasks (it still accepts new ones)."""
        return await self.update_queue(name, QueueMeta(paused=True))

    async def resume_queue(self, name: str) -> Queue:
        return await self.update_queue(name, QueueMeta(paused=False))

    async def reset_breaker(self, name: str) -> Queue:
        """Close the queue's circuit breaker and forget its failures in a row (an operator's
        reset): its tasks go out again at once."""
        return await self.one(_QUEUE, "POST", _q(name) + "/reset-breaker")

    async def requeue_tasks(self, queue: str, status: Status | str) -> int:
        """Put every task of `queue` in `status` (failed, expired, cancelled) back to new
        with fresh retries and TTL; returns how many."""
        path = _q(queue) + "/requeue"
        return await self.one(lambda d: int(d["count"]), "POST", path, body={"status": status})

    async def queue_summaries(self) -> list[QueueSummary]:
        """Every queue of the namespace with its task counts per status."""
        return (await self.page(_SUMMARY, "/stats")).items

    # ---- tasks --------------------------------------------------------------------

    async def list_tasks(
        self,
        queue: str | None = None,
        status: Status | str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> Page[Task]:
        params = self.paging(offset, limit)
        if queue is not None:
            params.append(("queue", queue))
        if status is not None:
            params.append(("status", str(status)))
        return await self.page(_TASK, "/task", params)

    async def get_task(self, task_id: int) -> Task:
        return await self.one(_TASK, "GET", _t(task_id))

    async def create_task(self, queue: str, meta: TaskMeta) -> Task:
        """Create a task (NotFound for an unknown queue); with a live `key`, that task."""
        return (await self.create_task_or_get(queue, meta))[0]

    async def create_task_or_get(self, queue: str, meta: TaskMeta) -> tuple[Task, bool]:
        """Like create_task, and whether a new task was created (False: de-duplicated)."""
        status, doc = await self.request("POST", "/task", body=_task_body(queue, meta))
        return decoded(_TASK, doc, self.url + "/task"), status == 201

    async def create_tasks(self, tasks: Sequence[tuple[str, TaskMeta]]) -> list[int]:
        """Create many (queue, meta) tasks in one request, all or nothing; their ids in input
        order (with a live `key`, the id of the task holding it)."""
        body = [_task_body(queue, meta) for queue, meta in tasks]
        doc = await self.call("POST", "/task", body=body)
        return [int(i) for i in decoded(body_list, doc, self.url + "/task")[1]]

    async def next_tasks(
        self, worker: str, *queues: str, limit: int = 100, wait: timedelta | float = 0
    ) -> list[Task]:
        """Retain up to `limit` (≤ 1000) eligible tasks of `queues` (any queue when none is
        named); when none is ready, wait up to `wait` (≤ 60 s) for some, holding no database
        connection on the server. [] when none came."""
        params: Params = [("worker", worker), ("limit", str(int(limit)))]
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        if seconds > 0:
            params.append(("wait", f"{seconds:.3f}s"))
        path = "/task"
        if len(queues) == 1:
            path = f"/task/{quote(queues[0], safe='')}"
        else:
            params.extend(("queue", queue) for queue in queues)
        # The request may wait `wait` before the server answers: allow for it.
        timeout = self.timeout + seconds
        _, body = await self.request("PUT", path, params=params, timeout=timeout, raw=True)
        if not body:  # 204: none came
            return []
        if self.on_json is None:  # (the CLI's --json wants the document as sent)
            tasks = wire.task_list(body)
            if tasks is not None:
                return tasks
        url = self.url + path
        doc = parse_json(body, url)
        if self.on_json is not None:
            self.on_json(doc)
        return [decoded(_TASK, item, url) for item in decoded(body_list, doc, url)[1]]

    async def patch_tasks(self, patches: Sequence[TaskPatch]) -> list[PatchOutcome]:
        """Release (`fail`, `result`) or heartbeat (`heartbeat=True`, `lease`) many retained
        tasks in one request; per patch in order: the released task's Status, the heartbeat's
        Lease, or the error saying why not (NotFound, key `task_not_retained`, when the
        task is no longer retained by that worker). One refused item fails no other."""
        body = [codec.encode_input(p) for p in patches]
        doc = await self.call("PATCH", "/task", body=body)
        url = self.url + "/task"
        return [decoded(_patch_outcome, item, url) for item in decoded(body_list, doc, url)[1]]

    async def release_tasks(
        self, worker: str | None, outcomes: Sequence[tuple[int, bool, Any]]
    ) -> list[PatchOutcome]:
        """Release many tasks: (id, success, result) each, guarded by `worker` when given."""
        return await self.patch_tasks(
            [TaskPatch(id=i, fail=not ok, result=r, worker=worker) for i, ok, r in outcomes]
        )

    async def extend_leases(
        self, task_ids: Sequence[int], lease: timedelta | None = None, *, worker: str | None = None
    ) -> list[PatchOutcome]:
        """Heartbeat many retained tasks (lease default: each queue's); a Lease per task
        still held (`cancel_requested` says whether a cancel was asked), else the error."""
        return await self.patch_tasks(
            [TaskPatch(id=i, heartbeat=True, lease=lease, worker=worker) for i in task_ids]
        )

    async def next_task(self, worker: str, *queues: str) -> Task | None:
        """Retain the oldest eligible task of `queues` (any queue when none is named);
        None when no task is ready."""
        params: Params = [("worker", worker)]
        path = "/task"
        if len(queues) == 1:
            path = f"/task/{quote(queues[0], safe='')}"  # NotFound for an unknown queue
        else:
            params.extend(("queue", queue) for queue in queues)
        doc = await self.call("PUT", path, params=params)
        return None if doc is None else decoded(_TASK, doc, self.url + path)

    async def release_task(
        self, task_id: int, success: bool = True, result: Any = None, *, worker: str | None = None
    ) -> Task:
        """Finish a retained task: success → released; failure → retry or failed.
        With `worker`, only while that worker still holds it."""
        body: dict[str, Any] = {"fail": not success, "result": result}
        if worker is not None:
            body["worker"] = worker
        return await self.one(_TASK, "PATCH", _t(task_id), body=body)

    async def extend_lease(
        self, task_id: int, lease: timedelta | None = None, *, worker: str | None = None
    ) -> Task:
        """Heartbeat: the retained task's lease runs to now + `lease` (default: the
        queue's). The task tells whether a cancel was requested (`cancel_requested`)."""
        body: dict[str, Any] = {"heartbeat": True}
        if lease is not None:
            body["lease"] = to_ns(lease)
        if worker is not None:
            body["worker"] = worker
        return await self.one(_TASK, "PATCH", _t(task_id), body=body)

    async def cancel_task(self, task_id: int) -> Task:
        """Cancel a waiting task now, or flag a retained one (Conflict when terminal)."""
        return await self.one(_TASK, "POST", _t(task_id) + "/cancel")

    async def requeue_task(self, task_id: int) -> Task:
        """Put a failed, expired or cancelled task back to new with fresh retries and TTL."""
        return await self.one(_TASK, "POST", _t(task_id) + "/requeue")

    # ---- tickers ------------------------------------------------------------------

    async def list_tickers(self, offset: int = 0, limit: int | None = None) -> Page[Ticker]:
        return await self.page(_TICKER, "/ticker", self.paging(offset, limit))

    async def get_ticker(self, name: str) -> Ticker:
        return await self.one(_TICKER, "GET", _k(name))

    async def create_ticker(self, meta: TickerMeta) -> Ticker:
        """Create a ticker (Conflict if it exists); payload defaults to {}."""
        if not meta.ticker:
            raise InvalidArgument("the ticker name is required")
        return await self.one(_TICKER, "POST", "/ticker", body=codec.encode_input(meta))

    async def update_ticker(self, name: str, meta: TickerMeta) -> Ticker:
        """Change the fields given; `meta.ticker` renames."""
        return await self.one(_TICKER, "PATCH", _k(name), body=codec.encode_input(meta))

    async def delete_ticker(self, name: str) -> Ticker:
        return await self.one(_TICKER, "DELETE", _k(name))

    def ticker_stream(
        self,
        *,
        on_state: StateHook | None = None,
        min_delay: float = 0.25,
        max_delay: float = 5.0,
        read_timeout: float = 35.0,
        fail_fast: bool = False,
    ) -> TickerStream:
        """Matured tickers as they fire (each to one listener only), reconnecting after a
        dropped connection: `min_delay` seconds, doubling up to `max_delay`. `on_state`
        hears (connected, error) changes. With `fail_fast`, a failure to connect the first
        time raises instead of retrying."""
        return TickerStream(
            session=self.session,
            url=self.url + "/ticker/next",
            params=self.params(),
            headers=self.headers(),
            on_json=self.on_json,
            on_state=on_state,
            min_delay=min_delay,
            max_delay=max_delay,
            read_timeout=read_timeout,
            fail_fast=fail_fast,
        )

    # ---- events (watch; appended last) ----------------------------------------------

    def events(
        self,
        types: Iterable[str] = (),
        queue: Iterable[str] | str = (),
        last_event_id: str | int = "",
        *,
        on_event: Callable[[str, str, Any], None] | None = None,
        on_state: StateHook | None = None,
        min_delay: float = 0.25,
        max_delay: float = 5.0,
        read_timeout: float = 35.0,
        fail_fast: bool = False,
    ) -> EventStream:
        """The namespace's changes as typed events (`GET /events`), observed, never
        claimed: `TaskChange`, `QueueChange`, `TickerChange`, `Stats`, and `Reset` when
        events were missed (re-read the state). `types` (task, queue, ticker, stats; all by
        default) and `queue` filter. A dropped connection is re-established after
        `min_delay` seconds, doubling up to `max_delay`, resuming after the last event's id
        (or `last_event_id`). InvalidArgument names an unknown type at once."""
        wanted = check_types(types)
        queues = [queue] if isinstance(queue, str) else list(queue)
        extra: Params = [("types", ",".join(wanted))] if wanted else []
        extra.extend(("queue", name) for name in queues)
        return EventStream(
            session=self.session,
            url=self.url + "/events",
            params=self.params(extra),
            headers=self.headers(),
            last_event_id=str(last_event_id),
            on_event=on_event,
            on_state=on_state,
            min_delay=min_delay,
            max_delay=max_delay,
            read_timeout=read_timeout,
            fail_fast=fail_fast,
        )
