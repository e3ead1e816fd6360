"""OpenAPI component schemas: the wire format of queues, tasks, tickers and errors."""

from __future__ import annotations

from typing import Any

from pgqueue_core import (
    Queue,
    QueueMeta,
    QueueSummary,
    Status,
    Task,
    TaskMeta,
    Ticker,
    TickerMeta,
    codec,
)
from pgqueue_core.models import QueueChange, TaskChange, TickerChange
from pgqueue_core.requests import Requeue, Retain, TaskPatch

JSON = dict[str, Any]

NAME = codec.kind_schema("name")
# Names as accepted: surrounding blanks are trimmed and letters lowercased.
NAME_IN = {
    **codec.kind_schema("name", request=True),
    "description": f"{codec.NAME_DOC} (lowercased)",
}
ANY: JSON = {}
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
    """The component schemas. Models come from the core codec (their definitions are the one
    source); what is left here are the shapes of this API's own requests and envelopes."""
    queue_read_only = ["namespace", "created_at"]
    ticker_read_only = ["namespace", "timestamp"]
    nothing = "at least one change (else 400 nothing_to_change)"
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
        "Queue": codec.schema(Queue),
        "QueueCreate": codec.input_schema(QueueMeta, required=["queue"], ignored=queue_read_only),
        "QueueUpdate": codec.input_schema(
            QueueMeta, ignored=queue_read_only, overrides={"queue": RENAME}, doc=nothing
        ),
        "Task": codec.schema(Task),
        "TaskCreate": codec.input_schema(
            TaskMeta,
            required=["queue", "payload"],
            extra={"queue": ("name", "the queue to put it in")},
        ),
        "TaskCreateBody": {
            "oneOf": [
                ref("TaskCreate"),
                {"type": "array", "items": ref("TaskCreate"), "maxItems": 10_000},
            ]
        },
        "IdList": obj(
            {
                "count": {"type": "integer", "minimum": 0},
                "body": {"type": "array", "items": {"type": "integer", "format": "int64"}},
            },
            ["count", "body"],
        ),
        "TaskPatchBatch": {
            "type": "array",
            "maxItems": 10_000,
            "items": codec.input_schema(TaskPatch, required=["id"]),
        },
        "TaskPatchOutcomes": obj(
            {
                "count": {"type": "integer", "minimum": 0},
                "body": {
                    "type": "array",
                    "items": obj(
                        {
                            "id": {"type": "integer", "format": "int64"},
                            "status": {"type": "string", "enum": STATUSES},
                            "leased_until": {"type": "string", "format": "date-time"},
                            "cancel_requested": {"type": "boolean"},
                            "error": ref("Error"),
                        },
                        ["id"],
                    ),
                },
            },
            ["count", "body"],
        ),
        "TaskRetain": codec.input_schema(Retain),
        "TaskRetainOne": codec.input_schema(Retain, exclude=["queue"]),
        "TaskPatch": codec.input_schema(TaskPatch, exclude=["id"]),
        "QueueRequeue": codec.input_schema(
            Requeue, required=["status"], overrides={"status": {"enum": REQUEUEABLE}}
        ),
        "Count": obj({"count": {"type": "integer", "minimum": 0}}, ["count"]),
        "Ticker": codec.schema(Ticker),
        "TickerCreate": codec.input_schema(
            TickerMeta, required=["ticker"], ignored=ticker_read_only
        ),
        "TickerUpdate": codec.input_schema(
            TickerMeta, ignored=ticker_read_only, overrides={"ticker": RENAME}, doc=nothing
        ),
        "QueueSummary": codec.schema(QueueSummary),
        "TaskChange": codec.schema(TaskChange),
        "QueueChange": codec.schema(QueueChange),
        "TickerChange": codec.schema(TickerChange),
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
