"""Every decoder of the server: each route of the route table, each JSON body field, query
parameter, path parameter and header it reads, fed hostile values, answers a 2xx or a 4xx with
the error envelope: never a 5xx, a traceback, a hang or an error in the server's log; and
nothing it accepts writes a row that breaks a later read (SPEC §4, §7.2, §7.3).

The routes and their inputs come from the running server (tests/server/decoders.py), so a new
route, parameter or field is fuzzed without anyone listing it, and the test fails until its
values are described. Two tests: a sweep of every curated value through every input (all
else valid), and a hypothesis property over batches of one call per route, mixing generated
values and several hostile inputs at once. PGQUEUE_FUZZ_EXAMPLES sets the number of batches;
PGQUEUE_FUZZ_SEED explores other inputs than CI's fixed ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, seed, settings
from sanic import Sanic

from pgqueue_core import NotFound, QueueMeta, TaskMeta, TickerMeta
from pgqueue_server import ServerConfig
from pgqueue_server.auth import TokenScope
from tests.support.server import make_config

from .decoders import FIELDS, PATH, QUERY, RETAINED, WORKER, Call, Route, Sweep, batches, discover
from .rawhttp import RawReply, exchange, port_of, request
from .threaded import ThreadedServer, served_in_thread

ADMIN, READER, TENANT = "decoders-admin-0123", "decoders-reader-0123", "decoders-tenant-0123"
# Authorization values: the admin token first, then what the property and sweep try instead.
AUTH = [
    f"Bearer {ADMIN}".encode(), f"Bearer {READER}".encode(), f"Bearer {TENANT}".encode(),
    b"", b"Bearer", b"Bearer ", b"Basic YWxhZGRpbjpvcGVu", f"bearer {ADMIN}".encode(),
    f"Bearer {ADMIN} x".encode(), f"Bearer  {ADMIN}".encode(), b"Bearer \xff", b"Bearer \x00",
    b"Bearer " + b"a" * 9000, f"Bearer {ADMIN}\xff".encode("latin-1"), f"{ADMIN}".encode(),
]  # fmt: skip
EXAMPLES = int(os.environ.get("PGQUEUE_FUZZ_EXAMPLES", "40"))
SEED = os.environ.get("PGQUEUE_FUZZ_SEED")
ENVELOPE = {"object", "code", "reason", "detail", "error"}
ERROR_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_COUNT = re.compile(rb'^\{"count":(\d+),')


def _config(dsn: str) -> ServerConfig:
    scopes = (
        (READER, TokenScope("reader", read_only=True)),
        (TENANT, TokenScope("tenant", frozenset({"other"}))),
    )
    return make_config(dsn, token=ADMIN, tokens=scopes, max_streams_per_token=0)


def problem(reply: RawReply, method: str) -> str | None:
    """What is wrong with an answer to a hostile request (None: nothing)."""
    if b"Traceback" in reply.body:
        return "a traceback in the answer"
    if not (200 <= reply.status < 300 or 400 <= reply.status < 500):
        return f"status {reply.status}"
    json_type = reply.headers.get("content-type", "").startswith("application/json")
    if method == "HEAD" or reply.status == 204:
        return None if reply.status < 400 or json_type else "an error that is not JSON"
    if reply.status < 400:
        try:
            _ = reply.json if json_type else None
        except ValueError:
            return "a 2xx whose JSON body does not parse"
        except RecursionError:  # nested deeper than this test, deep in its stack, can read
            pass
        return None
    try:
        body = reply.json
    except ValueError:
        return "an error that is not JSON"
    if not isinstance(body, dict) or set(body) != ENVELOPE:
        return "an error without the envelope"
    if body["object"] != "error" or body["code"] != reply.status:
        return "an envelope whose object or code is wrong"
    if not isinstance(body["error"], str) or not ERROR_KEY.match(body["error"]):
        return "an envelope without a snake_case error key"
    if not isinstance(body["reason"], str) or not body["reason"]:
        return "an envelope without a reason"
    return None


class _Errors(logging.Handler):
    """Every record at ERROR or above, from any logger (the server runs in this process)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def since(self, count: int) -> list[str]:
        return [f"logged: {r.getMessage()[:300]}" for r in self.records[count:]]


async def _named(app: Sanic) -> None:
    """The queue `jobs` and the ticker `t1`, as the valid requests expect them."""
    mgr = app.ctx.manager
    await mgr.register_queue(
        QueueMeta(
            queue="jobs",
            ttl=timedelta(hours=1),
            retries=3,
            retry_delay=timedelta(minutes=2),
            lease=timedelta(minutes=5),
            concurrency=0,
            paused=False,
        )
    )
    await mgr.register_ticker(TickerMeta(ticker="t1", interval=timedelta(hours=1)))


async def _retained(app: Sanic) -> int:
    """The id of a task just retained by WORKER (what RETAINED in a path stands for)."""
    mgr = app.ctx.manager
    try:
        await mgr.create_task("jobs", TaskMeta(payload={"n": 1}))
    except NotFound:
        await _named(app)
        await mgr.create_task("jobs", TaskMeta(payload={"n": 1}))
    task = await mgr.next_task(WORKER, "jobs")
    return task.id if task else 1


class Session:
    """Sends calls to the server and collects what is wrong with the answers, the log and the
    reads after them; keeps `jobs`, `t1` and a retained task there for the calls."""

    def __init__(self, ts: ThreadedServer, errors: _Errors) -> None:
        self.ts = ts
        self.port = port_of(ts.server.base)
        self.errors = errors
        self.found: list[str] = []
        self.written: list[dict[str, Any]] = []
        self.covered: dict[str, set[str]] = defaultdict(set)
        self.dirty = True
        self.retained = 1

    def raw(self, data: bytes) -> RawReply:
        return self.ts.run(exchange(self.port, data, within=10), 15)

    def send(self, call: Call) -> None:
        app = self.ts.server.app
        if self.dirty:
            self.ts.run(_named(app), 15)
            self.dirty = False
        if any(RETAINED in value for value in call.path.values()):
            self.retained = self.ts.run(_retained(app), 15)
        logged = len(self.errors.records)
        try:
            reply = self.raw(call.bytes(self.retained))
        except TimeoutError:
            self.found.append(f"{call!r}: no answer within 15 s")
            return
        except (OSError, asyncio.IncompleteReadError) as exc:
            self.found.append(f"{call!r}: connection lost without an answer ({exc!r})")
            return
        self.covered[call.route.label] |= call.covers
        issue = problem(reply, call.route.method)
        if issue:
            self.found.append(f"{call!r}: {issue}: {reply.status} {reply.body[:300]!r}")
        self.found += [f"{call!r}: {line}" for line in self.errors.since(logged)]
        if 200 <= reply.status < 300 and call.route.method not in ("GET", "HEAD"):
            self.dirty = True
            if reply.body.startswith(b"{"):
                with contextlib.suppress(RecursionError):
                    self.written.append(json.loads(reply.body))

    def check_reads(self) -> None:
        """Reads that must answer 200 whatever rows the calls wrote, and each object they
        wrote read back (200, or 404 when a later call removed it)."""
        auth = [(b"Authorization", f"Bearer {ADMIN}".encode())]
        prefix = self.ts.server.config.prefix

        def get(path: str, ok: tuple[int, ...] = (200,)) -> RawReply:
            reply = self.raw(request("GET", prefix + path, auth))
            if reply.status not in ok:
                self.found.append(
                    f"GET {path} after the calls: {reply.status} {reply.body[:300]!r}"
                )
            return reply

        written, self.written = self.written, []
        objects = [o for o in written if isinstance(o.get("namespace"), str)]
        for ns in sorted({"default"} | {o["namespace"] for o in objects}):
            query = "?namespace=" + quote(ns)
            # The count alone: a payload may nest deeper than this test, deep in hypothesis'
            # stack, can parse.
            count = _COUNT.match(get("/task" + query).body)
            if count and int(count.group(1)) > 100:
                get(f"/task{query}&offset={int(count.group(1)) - 100}")
            for path in ("/stats", "/queue", "/ticker"):
                get(path + query)
        get("/metrics")
        get("/namespace")
        for obj in objects:
            query = "?namespace=" + quote(obj["namespace"])
            if {"id", "status", "attempt"} <= obj.keys():
                get(f"/task/{obj['id']}{query}", (200, 404))
            elif {"queue", "ttl"} <= obj.keys():
                get(f"/queue/{quote(obj['queue'])}{query}", (200, 404))
            elif {"ticker", "interval"} <= obj.keys():
                get(f"/ticker/{quote(obj['ticker'])}{query}", (200, 404))

    def check_coverage(self, routes: list[Route], *, inputs: bool = True) -> None:
        """Every route was called; with `inputs`, with a hostile value in each input."""
        assert not {r.label for r in routes} - set(self.covered), "routes never called"
        if not inputs:
            return
        missing = {r.label: sorted(r.inputs() - self.covered[r.label]) for r in routes}
        missing = {label: inputs for label, inputs in missing.items() if inputs}
        assert not missing, f"never sent: {missing}\n{coverage_table(routes)}"

    def check_metrics(self) -> None:
        """No request was counted with a 5xx (streams and HEAD included)."""
        registry = self.ts.server.app.ctx.metrics.registry
        fives = [
            sample
            for metric in registry.collect()
            for sample in metric.samples
            if sample.labels.get("status", "").startswith("5")
        ]
        assert not fives, fives


def _undescribed(routes: list[Route]) -> list[str]:
    """Inputs the server reads that have no values in decoders.py yet."""
    missing = []
    for route in routes:
        missing += [f"{route.label}: field {f}" for f in route.fields or () if f not in FIELDS]
        missing += [f"{route.label}: query {q}" for q in route.query if q not in QUERY]
        missing += [f"{route.label}: path {p}" for p in route.params if p not in PATH]
    return missing


def coverage_table(routes: list[Route]) -> str:
    """The routes and the inputs the tests feed them."""
    return "\n".join(f"{r.label:36} {' '.join(sorted(r.inputs()))}" for r in routes)


@pytest.fixture
def session(dsn: str) -> Iterator[tuple[Session, list[Route]]]:
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    try:
        with served_in_thread(_config(dsn)) as ts:
            routes = discover(ts, ADMIN)
            assert not _undescribed(routes), "describe their values in decoders.py"
            yield Session(ts, errors), routes
    finally:
        logging.getLogger().removeHandler(errors)


def _report(found: list[str]) -> str:
    return f"{len(found)} bad answer(s):\n" + "\n".join(line[:1200] for line in found[:40])


@pytest.mark.timeout(300)
def test_every_curated_value_in_every_input(session: tuple[Session, list[Route]]) -> None:
    """The sweep: each curated value in each input of each route, all else valid."""
    s, routes = session
    calls = Sweep(AUTH)
    for route in routes:
        for call in calls.calls(route):
            s.send(call)
        s.check_reads()
    assert not s.found, _report(s.found)
    s.check_coverage(routes)
    s.check_metrics()


@pytest.mark.timeout(300)
def test_every_decoder_answers_2xx_or_a_4xx_envelope(session: tuple[Session, list[Route]]) -> None:
    """The property: batches of one call per route, hostile inputs alone or together."""
    s, routes = session

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=SEED is None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(batches(routes, AUTH))
    def batch(calls: list[Call]) -> None:
        s.dirty = True
        for call in calls:
            s.send(call)
        s.check_reads()
        found, s.found = s.found, []
        assert not found, _report(found)

    if SEED is not None:
        batch = seed(int(SEED))(batch)
    batch()
    s.check_coverage(routes, inputs=False)  # the sweep sends every input its values
    s.check_metrics()
