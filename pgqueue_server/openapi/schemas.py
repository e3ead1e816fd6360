"""OpenAPI component schemas: the wire format of queues, tasks, tickers and errors."""

from __future__ import annotations

from typing import Any

from pgqueue_core import Status

JSON = dict[str, Any]

NAME = {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,63}$", "maxLength": 64}
# Names as accepted: surrounding blanks are trimmed and letters lowercased.
NAME_IN = {
    "type": "string",
    "pattern": "^[ \\t]*[A-Za-z][A-Za-z0-9_-]{0,63}[ \\t]*$",
    "description": "a letter, then up to 63 letters, digits, '_' or '-' (lowercased)",
}
NS = {"type": "integer", "format": "int64", "description": "duration in nanoseconds"}
TIME = {"type": "string", "format": "date-time"}
TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
ANY: JSON = {}
DURATION_IN = {
    "description": 'nanoseconds, or a string such as "90s", "1h30m" or "PT1H"',
    "anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "minLength": 1}],
}
DURATION_OR_NULL = {
    "description": f"{DURATION_IN['description']}; null: not given",
    "anyOf": [*DURATION_IN["anyOf"], {"type": "null"}],
}
# A new name in an update: "" and null mean "no rename" (the Go client's TickerMeta always
# sends "ticker": "").
RENAME = {
    "description": f'{NAME_IN["description"]}; "" or null: no rename',
    "anyOf": [NAME_IN, {"const": ""}, {"type": "null"}],
}
STATUSES = [s.value for s in Status]
REQUEUEABLE = ["failed", "expired", "cancelled"]


def ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(props: JSON, required: list[str] | None = None, *, closed: bool = True) -> JSON:
    schema: JSON = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    return schema


def _list_of(item: str) -> JSON:
    return obj(
        {
            "count": {"type": "integer", "minimum": 0, "description": "total, ignoring paging"},
            "body": {"type": "array", "items": ref(item)},
        },
        ["count", "body"],
    )


def schemas() -> JSON:
    # Null is "not given" for every setting (the Go client sends "retries": null and
    # "retry_delay": null when it has no value for them).
    queue_fields = {
        "queue": NAME_IN,
        "ttl": DURATION_OR_NULL,
        "retries": {"type": ["integer", "null"], "minimum": 0},
        "retry_delay": DURATION_OR_NULL,
        "lease": {**DURATION_OR_NULL, "description": "lease of a retained task, at least 1s"},
        "concurrency": {
            "type": ["integer", "null"],
            "minimum": 0,
            "description": "most tasks retained at once; 0 or null: no limit",
        },
        "paused": {"type": ["boolean", "null"]},
        "namespace": {"description": "read-only, ignored"},
        "created_at": {"description": "read-only, ignored"},
    }
    return {
        "Error": obj(
            {
                "object": {"const": "error"},
                "code": {"type": "integer"},
                "reason": {"type": "string"},
                "detail": ANY,
                "error": {
                    "type": "string",
                    "pattern": "^[a-z][a-z0-9_]*$",
                    "description": "stable key to branch on, e.g. queue_not_found",
                },
            },
            ["object", "code", "reason", "detail", "error"],
        ),
        "Queue": obj(
            {
                "namespace": NAME,
                "queue": NAME,
                "ttl": NS,
                "retries": {"type": "integer", "minimum": 0},
                "retry_delay": NS,
                "lease": NS,
                "concurrency": {"type": ["integer", "null"], "minimum": 1},
                "paused": {"type": "boolean"},
                "created_at": TIME,
            },
            [
                "namespace",
                "queue",
                "ttl",
                "retries",
                "retry_delay",
                "lease",
                "concurrency",
                "paused",
                "created_at",
            ],
        ),
        "QueueCreate": obj(queue_fields, ["queue"]),
        "QueueUpdate": {
            **obj({**queue_fields, "queue": RENAME}),
            "description": "at least one change (else 400 nothing_to_change)",
        },
        "Task": obj(
            {
                "id": {"type": "integer", "format": "int64", "minimum": 1},
                "namespace": NAME,
                "queue": NAME,
                "payload": ANY,
                "result": ANY,
                "worker": {"type": ["string", "null"]},
                "status": {"type": "string", "enum": STATUSES},
                "created_at": TIME,
                "delayed_at": TIME_OR_NULL,
                "started_at": TIME_OR_NULL,
                "finished_at": TIME_OR_NULL,
                "dies_at": TIME,
                "retries": {"type": "integer", "description": "retries left"},
                "attempt": {"type": "integer", "description": "times retained"},
                "priority": {"type": "integer"},
                "key": {"type": ["string", "null"]},
                "leased_until": TIME_OR_NULL,
                "cancel_requested": {"type": "boolean"},
            },
            [
                "id",
                "namespace",
                "queue",
                "payload",
                "result",
                "worker",
                "status",
                "created_at",
                "delayed_at",
                "started_at",
                "finished_at",
                "dies_at",
                "retries",
                "attempt",
                "priority",
                "key",
                "leased_until",
                "cancel_requested",
            ],
        ),
        "TaskCreate": obj(
            {
                "queue": NAME_IN,
                "payload": {
                    **ANY,
                    "description": "any JSON (null is a value; the key is required)",
                },
                "delayed_at": {**TIME_OR_NULL, "description": "not in the past"},
                "priority": {"type": ["integer", "null"], "description": "higher runs first"},
                "key": {
                    "type": ["string", "null"],
                    "minLength": 1,
                    "maxLength": 1024,
                    "description": "de-duplication key: while a live task of the queue has "
                    "it, the live task is returned (200) instead of a new one (201)",
                },
            },
            ["queue", "payload"],
        ),
        "TaskRetain": obj(
            {
                "worker": {"type": "string", "minLength": 1},
                "queue": {"anyOf": [NAME_IN, {"type": "array", "items": NAME_IN}]},
            }
        ),
        "TaskRetainOne": obj({"worker": {"type": "string", "minLength": 1}}),
        "TaskPatch": obj(
            {
                "fail": {"type": ["boolean", "null"], "description": "release as failed"},
                "result": {**ANY, "description": "result stored with the release"},
                "heartbeat": {
                    "type": ["boolean", "null"],
                    "description": "true: extend the lease instead of releasing",
                },
                "lease": {
                    "anyOf": [*DURATION_IN["anyOf"], {"type": "null"}],
                    "description": "with heartbeat: new lease (default: the queue's)",
                },
                "worker": {
                    "type": ["string", "null"],
                    "minLength": 1,
                    "description": "only if the task is still this worker's",
                },
            }
        ),
        "QueueRequeue": obj({"status": {"type": "string", "enum": REQUEUEABLE}}, ["status"]),
        "Count": obj({"count": {"type": "integer", "minimum": 0}}, ["count"]),
        "Ticker": obj(
            {
                "namespace": NAME,
                "ticker": NAME,
                "interval": NS,
                "payload": ANY,
                "timestamp": {**TIME_OR_NULL, "description": "when it last fired"},
            },
            ["namespace", "ticker", "interval", "payload", "timestamp"],
        ),
        "TickerCreate": obj(
            {
                "ticker": NAME_IN,
                "interval": {**DURATION_OR_NULL, "description": "at least 1s; default 1 min"},
                "payload": {**ANY, "description": "default {}"},
                "namespace": {"description": "read-only, ignored"},
                "timestamp": {"description": "read-only, ignored"},
            },
            ["ticker"],
        ),
        "TickerUpdate": {
            **obj(
                {
                    "ticker": RENAME,
                    "interval": {**DURATION_OR_NULL, "description": "at least 1s"},
                    "payload": ANY,
                    "namespace": {"description": "read-only, ignored"},
                    "timestamp": {"description": "read-only, ignored"},
                }
            ),
            "description": "at least one change (else 400 nothing_to_change)",
        },
        "QueueSummary": obj(
            {
                "namespace": NAME,
                "queue": NAME,
                "paused": {"type": "boolean"},
                "counts": obj({s: {"type": "integer", "minimum": 0} for s in STATUSES}, STATUSES),
                "oldest": {**TIME_OR_NULL, "description": "creation of the oldest waiting task"},
            },
            ["namespace", "queue", "paused", "counts", "oldest"],
        ),
        "NamespaceList": obj(
            {
                "count": {"type": "integer", "minimum": 0},
                "body": {"type": "array", "items": NAME},
            },
            ["count", "body"],
        ),
        "QueueList": _list_of("Queue"),
        "TaskList": _list_of("Task"),
        "TickerList": _list_of("Ticker"),
        "QueueSummaryList": _list_of("QueueSummary"),
        "Health": obj(
            {
                "status": {"const": "ok"},
                "namespace": {"type": "string", "description": "the server's default namespace"},
                "version": {"type": "string"},
            },
            ["status", "namespace", "version"],
        ),
    }
