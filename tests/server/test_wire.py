"""The server writes a Task with msgspec directly where that is byte for byte the codec's
document (pgqueue_server/codec.py), and the codec's document where it is not: timestamps
keep six fraction digits and "Z", whatever their microseconds or offset."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from pgqueue_core import Status, Task, codec
from pgqueue_core.models import RawJSON
from pgqueue_server.codec import document, documents, dumps
from tests.support.server import Server

STAMP = re.compile(r'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)"')


def _task(moment: datetime, **changes: object) -> Task:
    values: dict[str, object] = {
        "id": 7,
        "namespace": "default",
        "queue": "q",
        "payload": {"n": 1, "text": "héllo", "list": [1.5, None, True]},
        "result": None,
        "worker": "w",
        "status": Status.RETAINED,
        "created_at": moment,
        "delayed_at": None,
        "started_at": moment,
        "finished_at": None,
        "dies_at": moment + timedelta(hours=1),
        "retries": 3,
        "attempt": 1,
        "key": "k",
        "leased_until": moment + timedelta(minutes=5),
    }
    values.update(changes)
    return Task(**values)  # type: ignore[arg-type]


EXACT = datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=UTC)
CASES = {
    "microseconds": _task(EXACT),
    "whole second": _task(EXACT, delayed_at=datetime(2030, 1, 1, tzinfo=UTC)),
    "whole second required": _task(EXACT.replace(microsecond=0)),
    "offset": _task(EXACT, finished_at=EXACT.astimezone(timezone(timedelta(hours=2)))),
    "zero offset, not UTC": _task(EXACT.astimezone(ZoneInfo("Europe/London"))),
    "year 1": _task(EXACT, delayed_at=datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC)),
    "raw payload": _task(EXACT, payload=RawJSON("[" * 5 + "1" + "]" * 5), result=RawJSON("2")),
    "cancelled": _task(EXACT, status=Status.CANCELLED, cancel_requested=True, worker=None),
}


@pytest.mark.parametrize("task", CASES.values(), ids=CASES.keys())
def test_a_task_is_written_as_the_codec_writes_it(task: Task) -> None:
    expected = dumps(codec.encode(task))
    assert dumps(document(task)) == expected
    assert dumps(documents(3, [task, task])) == dumps(codec.encode_list(3, [task, task]))
    # Every timestamp with six digits and Z (what format_time writes).
    assert expected.count(b'Z"') == len(STAMP.findall(expected.decode()))


def test_only_exact_tasks_are_handed_to_msgspec_as_they_are() -> None:
    assert document(CASES["microseconds"]) is CASES["microseconds"]
    for name in ("whole second", "whole second required", "offset", "zero offset, not UTC"):
        assert isinstance(document(CASES[name]), dict), name


async def test_whole_second_timestamps_keep_their_fraction_over_http(server: Server) -> None:
    assert (await server.post("/queue", {"queue": "q"})).status == 201
    later = "2099-01-01T00:00:00Z"
    created = await server.post("/task", {"queue": "q", "payload": 1, "delayed_at": later})
    assert created.status == 201
    assert '"delayed_at":"2099-01-01T00:00:00.000000Z"' in created.text
    listed = await server.get("/task", params={"queue": "q"})
    assert '"delayed_at":"2099-01-01T00:00:00.000000Z"' in listed.text
    # A task written by msgspec directly reads as the codec's document of the same task.
    now = await server.post("/task", {"queue": "q", "payload": {"a": [1, 2]}})
    retained = await server.put("/task/q", params={"worker": "w", "limit": "5"})
    assert retained.status == 200
    [task] = retained.json["body"]
    assert task["id"] == now.json["id"]
    decoded = codec.decode(Task, task)
    assert dumps(codec.encode(decoded)).decode() in retained.text
