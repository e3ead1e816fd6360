"""OpenAPI paths: every endpoint, its parameters, bodies and responses."""

from __future__ import annotations

from .parts import (
    PAGING,
    QUEUE_NAME,
    TASK_ID,
    TASK_REF_ID,
    TASK_REF_QUEUE,
    TICKER_NAME,
    json_response,
    ok,
    op,
    param,
)
from .schemas import JSON, NAME_IN, STATUSES, ref

# Links from the responses that create or hand out an object to the operations that use it
# (stateful fuzzing follows them): (operation, status) → [(target, path parameter, field)].
LINKS: dict[tuple[str, str], list[tuple[str, str, str]]] = {
    ("createQueue", "201"): [
        (op, "name", "queue")
        for op in ("getQueue", "updateQueue", "deleteQueue", "requeueQueue", "resetBreaker")
    ],
    ("createTicker", "201"): [
        (op, "name", "ticker") for op in ("getTicker", "updateTicker", "deleteTicker")
    ],
    ("createTask", "201"): [
        ("getTask", "queue_or_id", "id"),
        ("cancelTask", "id", "id"),
        ("requeueTask", "id", "id"),
    ],
    ("retainTask", "200"): [("releaseTask", "queue_or_id", "id"), ("getTask", "queue_or_id", "id")],
}


def _add_links(table: JSON) -> JSON:
    operations = {op["operationId"]: op for item in table.values() for op in item.values()}
    for (source, status), targets in LINKS.items():
        operations[source]["responses"][status]["links"] = {
            target: {
                "operationId": target,
                "parameters": {
                    param: f"$response.body#/{field}",
                    "namespace": "$response.body#/namespace",
                },
            }
            for target, param, field in targets
        }
    return table


def paths() -> JSON:
    """Every endpoint, keyed by path relative to the prefix."""
    return _add_links(_paths())


RETAINED = json_response(
    "The task; with `limit`, the tasks (up to `limit`)",
    {"oneOf": [ref("Task"), ref("TaskList")]},
)
LIMIT = param(
    "limit",
    "query",
    {"type": "integer", "minimum": 1, "maximum": 1000},
    "retain up to this many tasks at once (answered as a list)",
)


WAIT = param(
    "wait",
    "query",
    {"type": "string", "minLength": 1, "maxLength": 64},
    "when no task is ready, wait up to this long (at most 60s, e.g. 30s) for one: woken by "
    "the database's notifications, holding no connection; then 204",
)


def _paths() -> JSON:
    sse: JSON = {
        "description": "`text/event-stream`: `event: ticker`, `id:`, `data:` ticker JSON; "
        "a `retry:` hint and keep-alive comments at least every 10 s",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
    events_sse: JSON = {
        "description": "`text/event-stream` of `id:`, `event:` and `data:` JSON; a `retry:` "
        "hint and keep-alive comments at least every 10 s",
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "event": {"enum": ["task", "queue", "ticker", "stats", "reset"]},
                        "id": {"type": "string", "pattern": "^[0-9]+$"},
                        "data": {"type": "string", "contentMediaType": "application/json"},
                        "retry": {"type": "integer"},
                    },
                }
            }
        },
    }
    return {
        "/namespace": {
            "get": op(
                "listNamespaces",
                "Every namespace that owns a queue or ticker",
                {200: ok("NamespaceList")},
                namespaced=False,
                tag="namespaces",
            )
        },
        "/queue": {
            "get": op(
                "listQueues", "List queues", {200: ok("QueueList")}, params=PAGING, tag="queues"
            ),
            "post": op(
                "createQueue",
                "Create a queue",
                {201: ok("Queue", "Created")},
                body="QueueCreate",
                errors=(409,),
                tag="queues",
            ),
        },
        "/queue/{name}": {
            "get": op(
                "getQueue",
                "Get a queue",
                {200: ok("Queue")},
                params=[QUEUE_NAME],
                errors=(404,),
                tag="queues",
            ),
            "patch": op(
                "updateQueue",
                'Change a queue (`queue` renames, "" or null keeps the name; `paused` '
                "pauses or resumes; `concurrency: 0` removes the limit; no change given: "
                "400 nothing_to_change)",
                {200: ok("Queue")},
                params=[QUEUE_NAME],
                body="QueueUpdate",
                errors=(404, 409),
                tag="queues",
            ),
            "delete": op(
                "deleteQueue",
                "Delete a queue and its tasks; returns it",
                {200: ok("Queue")},
                params=[QUEUE_NAME],
                errors=(404,),
                tag="queues",
            ),
        },
        "/queue/{name}/requeue": {
            "post": op(
                "requeueQueue",
                "Requeue every task of the queue in a terminal status",
                {200: ok("Count")},
                params=[QUEUE_NAME],
                body="QueueRequeue",
                errors=(404,),
                tag="queues",
            )
        },
        "/queue/{name}/reset-breaker": {
            "post": op(
                "resetBreaker",
                "Close the queue's circuit breaker and forget its failures",
                {200: ok("Queue")},
                params=[QUEUE_NAME],
                errors=(404,),
                tag="queues",
            )
        },
        "/stats": {
            "get": op(
                "queueStats",
                "Every queue with task counts per status",
                {200: ok("QueueSummaryList")},
                tag="queues",
            )
        },
        "/task": {
            "get": op(
                "listTasks",
                "List tasks",
                {200: ok("TaskList")},
                params=[
                    param("queue", "query", NAME_IN, "only this queue"),
                    param(
                        "status",
                        "query",
                        {"type": "string", "enum": STATUSES},
                        "only this status (as read: overdue tasks are expired)",
                    ),
                    *PAGING,
                ],
                tag="tasks",
            ),
            "post": op(
                "createTask",
                "Create a task; with an array, many in one statement, all or nothing (one "
                "bad element is a 400 naming its index): 201 with their ids in input order "
                "(with a de-duplication key, the id of the live task that holds it)",
                {
                    201: json_response(
                        "Created: the task, or for an array the ids",
                        {"oneOf": [ref("Task"), ref("IdList")]},
                    ),
                    200: ok("Task", "De-duplicated: the live task with this key"),
                },
                body="TaskCreateBody",
                errors=(404,),
                tag="tasks",
            ),
            "put": op(
                "retainTask",
                "Retain the next task of the given queues (none: any "
                "queue); `worker` and `queue` in the query or the body; with `limit`, up to "
                "that many at once, answered as a list",
                {200: RETAINED, 204: {"description": "No task available"}},
                params=[
                    param(
                        "worker",
                        "query",
                        {"type": "string", "minLength": 1},
                        "worker name (required here or in the body)",
                    ),
                    param(
                        "queue",
                        "query",
                        {"type": "array", "items": NAME_IN},
                        "queue names (repeat or comma-separate)",
                        explode=True,
                    ),
                    LIMIT,
                    WAIT,
                ],
                body="TaskRetain",
                body_required=False,
                errors=(404,),
                tag="tasks",
            ),
            "patch": op(
                "patchTasks",
                "Release (`fail`, `result`) or heartbeat (`heartbeat: true`, `lease`) many "
                "retained tasks in one round trip: an outcome per item, in input order; an "
                "item that is not retained does not fail the others",
                {200: ok("TaskPatchOutcomes")},
                body="TaskPatchBatch",
                tag="tasks",
            ),
        },
        "/task/{queue_or_id}": {
            "put": op(
                "retainQueueTask",
                "Retain the next task of one queue (with `limit`, up to that many, as a list)",
                {200: RETAINED, 204: {"description": "No task available"}},
                params=[
                    TASK_REF_QUEUE,
                    param(
                        "worker",
                        "query",
                        {"type": "string", "minLength": 1},
                        "worker name (required here or in the body)",
                    ),
                    LIMIT,
                    WAIT,
                ],
                body="TaskRetainOne",
                body_required=False,
                errors=(404,),
                tag="tasks",
            ),
            "get": op(
                "getTask",
                "Get a task",
                {200: ok("Task")},
                params=[TASK_REF_ID],
                errors=(404,),
                tag="tasks",
            ),
            "patch": op(
                "releaseTask",
                "Release a retained task (`fail`, `result`), or with "
                "`heartbeat: true` extend its lease",
                {200: ok("Task")},
                params=[TASK_REF_ID],
                body="TaskPatch",
                body_required=False,
                errors=(404,),
                tag="tasks",
            ),
        },
        "/task/{id}/cancel": {
            "post": op(
                "cancelTask",
                "Cancel a task (a retained one ends when its worker learns of it)",
                {200: ok("Task")},
                params=[TASK_ID],
                errors=(404, 409),
                tag="tasks",
            )
        },
        "/task/{id}/requeue": {
            "post": op(
                "requeueTask",
                "Put a failed, expired or cancelled task back to new",
                {200: ok("Task")},
                params=[TASK_ID],
                errors=(404, 409),
                tag="tasks",
            )
        },
        "/ticker": {
            "get": op(
                "listTickers",
                "List tickers; with `Accept: text/event-stream` the same stream as /ticker/next",
                {
                    200: {
                        "description": "OK",
                        "content": {
                            "application/json": {"schema": ref("TickerList")},
                            **sse["content"],
                        },
                    }
                },
                params=PAGING,
                errors=(429,),
                tag="tickers",
            ),
            "post": op(
                "createTicker",
                "Create a ticker (without `interval` it fires every minute)",
                {201: ok("Ticker", "Created")},
                body="TickerCreate",
                errors=(409,),
                tag="tickers",
            ),
        },
        "/ticker/next": {
            "get": op(
                "streamTickers",
                "Server-Sent Events: each matured ticker, to one consumer",
                {200: sse},
                errors=(429,),
                tag="tickers",
            )
        },
        "/events": {
            "get": op(
                "watchEvents",
                "Server-Sent Events observing the namespace (claims nothing): `event: task` "
                "(data TaskChange), `queue` (QueueChange), `ticker` (TickerChange), `stats` "
                "(QueueSummaryList with `namespace`, at most once a second) and `reset` (what "
                "was missed is gone: re-read the state). Every event has an increasing "
                "integer `id:`; reconnect with `Last-Event-ID` to receive what was missed. A "
                "subscriber that falls behind is dropped (the stream ends; resume).",
                {200: events_sse},
                params=[
                    param(
                        "queue",
                        "query",
                        {"type": "array", "items": NAME_IN},
                        "only task events of these queues (repeatable or comma-separated)",
                        explode=True,
                    ),
                    param(
                        "types",
                        "query",
                        {
                            "type": "string",
                            "pattern": "^(task|queue|ticker|stats)(,(task|queue|ticker|stats))*$",
                        },
                        "comma-separated event types (default: all)",
                    ),
                    param(
                        "last_event_id",
                        "query",
                        {"type": "integer", "minimum": 0},
                        "resume after this id (as the Last-Event-ID header)",
                    ),
                ],
                errors=(429,),
                tag="events",
            )
        },
        "/ticker/{name}": {
            "get": op(
                "getTicker",
                "Get a ticker (a ticker named `next` is not readable: that path is the stream)",
                {200: ok("Ticker")},
                params=[TICKER_NAME],
                errors=(404,),
                tag="tickers",
            ),
            "patch": op(
                "updateTicker",
                'Change a ticker (`ticker` renames, "" or null keeps the name; the '
                "schedule is kept; no change given: 400 nothing_to_change)",
                {200: ok("Ticker")},
                params=[TICKER_NAME],
                body="TickerUpdate",
                errors=(404, 409),
                tag="tickers",
            ),
            "delete": op(
                "deleteTicker",
                "Delete a ticker; returns it",
                {200: ok("Ticker")},
                params=[TICKER_NAME],
                errors=(404,),
                tag="tickers",
            ),
        },
        "/metrics": {
            "get": op(
                "metrics",
                "Prometheus metrics of every namespace",
                {
                    200: {
                        "description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
                namespaced=False,
                tag="operations",
            )
        },
        "/health": {
            "get": {
                **op(
                    "health",
                    "200 while the database answers",
                    {200: ok("Health")},
                    namespaced=False,
                    tag="operations",
                ),
                "security": [],
            }
        },
        "/openapi.json": {
            "get": op(
                "openapi",
                "This document",
                {200: {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
                namespaced=False,
                tag="operations",
            )
        },
    }
