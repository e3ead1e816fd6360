"""What the server decodes, asked of the server itself: every route of the route table with the
query parameters and JSON body fields it accepts (from the 400 that an unknown parameter or
field gets, which lists them); and the hostile requests for them: a sweep that puts every
curated value in every input of every route (all else valid), and hypothesis strategies that
mix curated and generated values, one input or many at a time."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st
from sanic import Sanic

from pgqueue_core import parse_duration

from . import nasty
from .nasty import RETAINED
from .rawhttp import RawReply, exchange, port_of, request
from .threaded import ThreadedServer

PROBE = "zz_probe"
_ACCEPTED = re.compile(rf"unknown query parameter\(s\): {PROBE} \(accepted: ([^)]*)\)")
_ALLOWED = re.compile(rf"unknown field\(s\) in [^:]+: {PROBE} \(allowed: ([^)]*)\)")
_PARAM = re.compile(r"<([^:>]+)(?::[^>]*)?>")
READS = ("GET", "HEAD")
WORKER = "fuzz-worker"
FRESH = "@FRESH@"  # a name no queue or ticker has yet
_fresh = itertools.count(1)


@dataclass(frozen=True)
class Values:
    """The values of one input: a valid one (so that a hostile value elsewhere reaches the
    database), the curated hostile ones (each sent by the sweep), and a strategy for more."""

    valid: st.SearchStrategy[Any]
    curated: list[Any]
    more: st.SearchStrategy[Any]

    @property
    def hostile(self) -> st.SearchStrategy[Any]:
        return st.one_of(st.sampled_from(self.curated), self.more)


_name = st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True)
_durations = st.sampled_from(["1h", "90s", "PT5M", "1h30m", 3600 * 10**9, 5 * 10**9])
_lists = [["jobs"], ["jobs", "jobs"], [], ["jobs", 1], ["\ud800"], [[]], ["JOBS", " jobs "]]

# Inputs by name. A name the server reads that is missing here fails the test: describe its
# values, do not skip it.
FIELDS: dict[str, Values] = {
    "queue": Values(
        st.one_of(st.just("jobs"), _name),
        [*nasty.NAME_VALUES, *_lists],
        st.one_of(nasty.name_values, st.lists(nasty.names, max_size=3)),
    ),
    "ticker": Values(st.one_of(st.just("t1"), _name), nasty.NAME_VALUES, nasty.name_values),
    "ttl": Values(_durations, nasty.DURATION_VALUES, nasty.durations),
    "retry_delay": Values(_durations, nasty.DURATION_VALUES, nasty.durations),
    "lease": Values(_durations, nasty.DURATION_VALUES, nasty.durations),
    "interval": Values(_durations, nasty.DURATION_VALUES, nasty.durations),
    "retries": Values(st.integers(0, 10), nasty.INTS, nasty.int_values),
    "concurrency": Values(st.integers(0, 5), nasty.INTS, nasty.int_values),
    "priority": Values(st.integers(-5, 5), nasty.INTS, nasty.int_values),
    "rate": Values(st.one_of(st.integers(0, 500), st.floats(0, 500)), nasty.INTS, nasty.int_values),
    "burst": Values(st.integers(0, 50), nasty.INTS, nasty.int_values),
    "weight": Values(st.integers(1, 5), nasty.INTS, nasty.int_values),
    "breaker_threshold": Values(st.integers(0, 5), nasty.INTS, nasty.int_values),
    "breaker_cooldown": Values(_durations, nasty.DURATION_VALUES, nasty.durations),
    "paused": Values(st.just(False), nasty.BOOLS, nasty.bool_values),
    "fail": Values(st.booleans(), nasty.BOOLS, nasty.bool_values),
    "heartbeat": Values(st.booleans(), nasty.BOOLS, nasty.bool_values),
    "payload": Values(nasty.scalars, nasty.JSONS, nasty.json_values),
    "result": Values(nasty.scalars, nasty.JSONS, nasty.json_values),
    "delayed_at": Values(nasty.soon, nasty.TIMESTAMP_VALUES, nasty.timestamps),
    "key": Values(_name, [*nasty.TEXTS, *nasty.WRONG_TYPES], nasty.texts),
    "worker": Values(st.just(WORKER), nasty.WORKER_VALUES, nasty.workers),
    "status": Values(
        st.sampled_from(["failed", "expired", "cancelled"]), nasty.STATUS_VALUES, nasty.statuses
    ),
}
# Fields the queue and ticker bodies ignore (they come back in GET answers), and others.
OTHER_FIELDS = ["namespace", "created_at", "timestamp", "id", "\u0000", "", "\ud800"]


def _no_long_wait(value: Any) -> bool:
    """Whether `value` is not a wait the server would honour for longer than 50 ms: such
    waits would only slow the run down (waiting itself is tested in test_long_poll.py)."""
    try:
        seconds = parse_duration(value, "wait").total_seconds()
    except Exception:
        return True
    return not 0.05 < seconds <= 60


QUERY: dict[str, Values] = {
    "namespace": Values(st.just("default"), nasty.NAMESPACES, nasty.namespaces),
    "offset": Values(st.integers(0, 200).map(str), nasty.UINT_TEXTS, nasty.uint_texts),
    "limit": Values(st.integers(0, 100).map(str), nasty.UINT_TEXTS, nasty.uint_texts),
    "queue": Values(st.just("jobs"), [*nasty.PATH_NAMES, *nasty.QUEUE_LISTS], nasty.queue_lists),
    "status": Values(
        st.sampled_from(["new", "retained", "failed"]), nasty.STATUS_TEXTS, nasty.statuses
    ),
    "worker": Values(st.just(WORKER), [*nasty.WORKERS, *nasty.TEXTS], nasty.workers),
    "types": Values(
        st.sampled_from(["task", "queue,stats", "ticker", "task,queue,ticker,stats"]),
        [*nasty.TEXTS, "task,", ",", "tasks", "TASK"],
        nasty.texts,
    ),
    "wait": Values(
        st.sampled_from(["0s", "1ms", "10ms"]),
        [v for v in [*nasty.DURATION_TEXTS, "61s", "60.000001s"] if _no_long_wait(v)],
        st.one_of(
            st.sampled_from(nasty.DURATION_TEXTS), nasty.go_durations, nasty.iso_durations
        ).filter(_no_long_wait),
    ),
    "last_event_id": Values(st.integers(0, 10**15).map(str), nasty.UINT_TEXTS, nasty.uint_texts),
}
PATH: dict[str, Values] = {
    "task_id": Values(st.just(RETAINED), nasty.ID_TEXTS, nasty.task_ids),
    "name": Values(st.just("jobs"), nasty.PATH_NAMES, nasty.path_names),
    "queue": Values(st.just("jobs"), nasty.PATH_NAMES, nasty.path_names),
}
# Headers the server reads (Last-Event-ID is not read today: sent all the same). The
# Authorization values are completed with the test's tokens.
HEADERS: dict[str, tuple[list[bytes], st.SearchStrategy[bytes]]] = {
    "Accept": (nasty.ACCEPTS, nasty.accepts),
    "Content-Type": (nasty.CONTENT_TYPES, nasty.content_types),
    "Last-Event-ID": (nasty.EVENT_IDS, nasty.event_ids),
}
# Whole bodies, as bytes.
BODIES = [
    b"", b" ", b"\n", b"{", b"}", b"{}", b"[]", b"null", b'"x"', b"1", b"-0", b"NaN",
    b"-Infinity", b'{"a":NaN}', b"\xff", b"\xef\xbb\xbf{}", "{}".encode("utf-16"), b"{}{}",
    b"{} x", b'{"queue":"jobs"', b"\x00", b"[" * 100_000, b'{"a":' * 50_000, b"[1,]",
    b'{"a":1,}', b"{'a':1}", b'{"\\ud800":1}', b'"\\u0000"', b"1" * 5000, b"[{}]",
]  # fmt: skip
# A valid body of each route that needs one (by the route's label without the prefix); a
# field sent hostile replaces its valid value. NEEDS: fields another field needs.
COMPANIONS: dict[str, dict[str, Any]] = {
    "POST /queue": {"queue": FRESH},
    "POST /task": {"queue": "jobs", "payload": 1},
    "POST /ticker": {"ticker": FRESH},
    "PATCH /queue/{name}": {"retries": 3},
    "PATCH /ticker/{name}": {"interval": "1h"},
    "PATCH /ticker/next": {"interval": "1h"},
    "PUT /task": {"worker": WORKER},
    "PUT /task/{queue}": {"worker": WORKER},
    "PATCH /task/{task_id}": {"worker": WORKER},
    "POST /queue/{name}/requeue": {"status": "failed"},
}
NEEDS = {"lease": {"heartbeat": True}}


@dataclass(frozen=True)
class Route:
    """One method of one path template, and what it decodes."""

    method: str
    template: str  # with the prefix: /api/task/<task_id:str>
    prefix: str
    query: frozenset[str]  # besides `namespace`
    fields: frozenset[str] | None  # JSON body fields; None: the body is not read

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.template)

    @property
    def label(self) -> str:
        return self.method + " " + _PARAM.sub(r"{\1}", self.template)

    @property
    def short(self) -> str:
        return self.label.replace(" " + self.prefix, " ", 1)

    def inputs(self) -> set[str]:
        """Every input of the route, as coverage labels."""
        found = {f"path:{p}" for p in self.params} | {f"header:{h}" for h in HEADERS}
        found |= {f"query:{q}" for q in self.query | {"namespace"}} | {"header:Authorization"}
        return found | {f"body:{f}" for f in self.fields or ()}

    def valid_path(self, param: str) -> str:
        if param == "name" and "/ticker/" in self.template:
            return "t1"
        return {"task_id": RETAINED}.get(param, "jobs")


def route_table(app: Sanic) -> list[tuple[str, str]]:
    """Every (method, path template) the app serves."""
    return sorted(
        (method, "/" + route.path) for route in app.router.routes for method in route.methods
    )


def discover(ts: ThreadedServer, token: str) -> list[Route]:
    """The route table, each route with the query parameters and body fields it accepts."""
    auth = [(b"Authorization", f"Bearer {token}".encode())]
    prefix = ts.server.config.prefix

    def probe(method: str, target: str, body: bytes) -> RawReply:
        raw = request(method, target, auth, body)
        return ts.run(exchange(port_of(ts.server.base), raw), 15)

    found: dict[tuple[str, str], Route] = {}
    for method, template in route_table(ts.server.app):
        if method == "HEAD":
            continue  # the GET handler's: described by the GET probe
        path = _PARAM.sub(lambda m: "1" if m.group(1) == "task_id" else "jobs", template)
        reply = probe(method, f"{path}?{PROBE}=1", b"{}")
        accepted = _ACCEPTED.search(reply.json.get("reason", "")) if reply.status == 400 else None
        assert accepted, f"{method} {template} does not refuse unknown query parameters: {reply}"
        query = frozenset(accepted.group(1).split(", ")) - {"namespace"}
        fields = None
        if method not in READS:
            reply = probe(method, path, f'{{"{PROBE}": 1}}'.encode())
            allowed = _ALLOWED.search(reply.json.get("reason", "")) if reply.status == 400 else None
            fields = frozenset(allowed.group(1).split(", ")) if allowed else None
        found[method, template] = Route(method, template, prefix, query, fields)
        if method == "GET":
            found["HEAD", template] = Route("HEAD", template, prefix, query, None)
    return [found[key] for key in route_table(ts.server.app)]


# ---- requests --------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request for `route`. Path and query values are text, percent-encoded as UTF-8
    (lone surrogates included) unless `raw`; RETAINED and FRESH are filled in when sent."""

    route: Route
    path: dict[str, str] = field(default_factory=dict)
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    covers: frozenset[str] = frozenset()
    raw: bool = False

    def bytes(self, retained: int) -> bytes:
        def text(value: str, safe: str = "") -> str:
            value = value.replace(RETAINED, str(retained)).replace(FRESH, f"f{next(_fresh)}")
            if self.raw:  # as typed, minus what would end the request line or the parameter
                return re.sub(r"[ \r\n#&?/]", "_", nasty.to_bytes(value).decode("latin-1"))
            return quote(nasty.to_bytes(value), safe=safe)

        target = _PARAM.sub(lambda m: text(self.path[m.group(1)]), self.route.template)
        if self.query:
            target += "?" + "&".join(text(k) + "=" + text(v) for k, v in self.query)
        body = self.body.replace(FRESH.encode(), f"f{next(_fresh)}".encode())
        return request(self.route.method, target.encode("latin-1"), self.headers, body)

    def __repr__(self) -> str:
        return f"Call({self.bytes(0)[:600]!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis' reports
        printer.text(repr(self))


def json_body(pairs: list[tuple[str, Any]], *, ascii_only: bool = True) -> bytes:
    return nasty.to_bytes(nasty.emit(nasty.Obj(tuple(pairs)), ascii_only=ascii_only))


def _companions(route: Route, hostile: str | None, query: set[str]) -> list[tuple[str, Any]]:
    """The valid body of `route` around a hostile field (or none), without the fields the
    query gives (a worker in both is refused)."""
    body = dict(COMPANIONS.get(route.short, {}))
    for name, value in NEEDS.get(hostile or "", {}).items():
        if route.fields and name in route.fields:
            body[name] = value
    return [(k, v) for k, v in body.items() if k != hostile and k not in query]


class Sweep:
    """Every curated value in every input of every route, one input at a time, all else
    valid. An input's whole list goes to the first route that reads the input; the routes
    after it, which share its decoder, get a spread of a dozen of the values (CI time)."""

    SPREAD = 12

    def __init__(self, auth: list[bytes]) -> None:
        self.auth = auth
        self.seen: set[str] = set()

    def values(self, what: str, curated: list[Any]) -> list[Any]:
        if what not in self.seen:
            self.seen.add(what)
            return curated
        return curated[:: max(1, len(curated) // self.SPREAD)]

    def calls(self, route: Route) -> Iterator[Call]:
        path = {p: route.valid_path(p) for p in route.params}
        admin = [(b"Authorization", self.auth[0])]
        body = b"" if route.fields is None else json_body(_companions(route, None, set()))
        for param in route.params:
            covers = frozenset({f"path:{param}"})
            for value in self.values(f"path:{param}", PATH[param].curated):
                yield Call(route, {**path, param: value}, [], admin, body, covers)
        for name in sorted(route.query | {"namespace"}):
            rest = b"" if route.fields is None else json_body(_companions(route, None, {name}))
            covers = frozenset({f"query:{name}"})
            for value in self.values(f"query:{name}", QUERY[name].curated):
                yield Call(route, path, [(name, value)], admin, rest, covers)
        for name in sorted(route.fields or ()):
            covers = frozenset({f"body:{name}"})
            curated = FIELDS[name].curated
            for value in self.values(f"body:{name}", curated):
                pairs = [*_companions(route, name, set()), (name, value)]
                yield Call(route, path, [], admin, json_body(pairs), covers)
            for first, last in ((curated[0], curated[-1]), (curated[-1], curated[0])):
                pairs = [*_companions(route, name, set()), (name, first), (name, last)]
                yield Call(route, path, [], admin, json_body(pairs), covers)  # a key twice
        covers = frozenset({"header:Authorization"})
        for value in [None, *self.values("header:Authorization", self.auth[1:])]:
            hostile = [] if value is None else [(b"Authorization", value)]
            yield Call(route, path, [], hostile, body, covers)
        for header, (values, _) in HEADERS.items():
            covers = frozenset({f"header:{header}"})
            for value in self.values(f"header:{header}", values):
                yield Call(route, path, [], [*admin, (header.encode(), value)], body, covers)
        kind = "bodies:read" if route.fields is None else "bodies:fields"
        for raw in self.values(kind, BODIES):
            yield Call(route, path, [], admin, raw)
        # Bytes a URL may not hold (a control character): as they are, not %-encoded.
        yield Call(route, {p: "\x1b" for p in path}, [("\x1b", "\x7f")], admin, body, raw=True)


# ---- hypothesis ------------------------------------------------------------------------

_how = st.sampled_from(["absent", "valid", "hostile", "hostile"])
_rarely = st.sampled_from([False] * 7 + [True])


@st.composite
def batches(draw: st.DrawFn, routes: list[Route], auth: list[bytes]) -> list[Call]:
    """One call of every route, in some order (so that every batch covers the route table)."""
    return [draw(call(route, auth)) for route in draw(st.permutations(routes))]


@st.composite
def call(draw: st.DrawFn, route: Route, auth: list[bytes]) -> Call:
    """A call with one hostile input (all else valid), or with each input absent, valid or
    hostile at random."""
    inputs = sorted(route.inputs())
    focus = draw(st.sampled_from(inputs)) if draw(st.booleans()) else None
    if focus is None:
        choices = {label: draw(_how) for label in inputs}
        choices["header:Authorization"] = "hostile" if draw(_rarely) else "valid"
    else:
        choices = {label: "hostile" if label == focus else "valid" for label in inputs}
    how = choices.__getitem__
    covers = set()
    path = {}
    for param in route.params:
        hostile = how(f"path:{param}") == "hostile"
        path[param] = draw(PATH[param].hostile if hostile else PATH[param].valid)
        covers |= {f"path:{param}"} if hostile else set()
    query = []
    for name in sorted(route.query | {"namespace"}):
        chosen = how(f"query:{name}")
        if chosen == "absent" or (chosen == "valid" and focus is not None):
            continue
        values = QUERY[name]
        for _ in range(2 if draw(_rarely) else 1):  # given twice: refused
            query.append((name, draw(values.hostile if chosen == "hostile" else values.valid)))
        covers.add(f"query:{name}")
    headers: list[tuple[bytes, bytes]] = []
    if how("header:Authorization") == "hostile":
        scheme = draw(st.sampled_from(nasty.AUTH_SCHEMES))
        value = draw(st.one_of(st.sampled_from(auth[1:]), nasty.header_text.map(scheme.__add__)))
        headers.append((b"Authorization", value))
        covers.add("header:Authorization")
    else:
        headers.append((b"Authorization", auth[0]))
    for header, (_, values) in HEADERS.items():
        if how(f"header:{header}") == "hostile":
            headers.append((header.encode(), draw(values)))
            covers.add(f"header:{header}")
    body, fields = draw(_body(route, focus, how, {k for k, _ in query}))
    raw = draw(_rarely)
    return Call(route, path, query, headers, body, frozenset(covers | fields), raw)


@st.composite
def _body(
    draw: st.DrawFn, route: Route, focus: str | None, how: Any, query: set[str]
) -> tuple[bytes, set[str]]:
    if focus is None and draw(_rarely):
        whole = nasty.json_values.map(nasty.emit).map(nasty.to_bytes)
        return draw(st.one_of(st.sampled_from(BODIES), whole)), set()
    if route.fields is None:
        return b"", set()
    hostile = focus[5:] if focus and focus.startswith("body:") else None
    pairs = _companions(route, hostile, query) if focus else []
    for name in sorted(route.fields):
        chosen = how(f"body:{name}")
        if chosen == "hostile":
            pairs.append((name, draw(st.one_of(FIELDS[name].hostile, nasty.json_values))))
        elif chosen == "valid" and focus is None:
            pairs.append((name, draw(FIELDS[name].valid)))
    if pairs and draw(_rarely):  # a key twice: Python's json keeps the last
        name = pairs[draw(st.integers(0, len(pairs) - 1))][0]
        pairs.append((name, draw(FIELDS[name].hostile if name in FIELDS else nasty.json_values)))
    if draw(_rarely):  # a field the route ignores or refuses
        pairs.append((draw(st.sampled_from(OTHER_FIELDS)), draw(nasty.json_values)))
    ascii_only = draw(st.sampled_from([True] * 3 + [False]))
    covers = {f"body:{k}" for k, _ in pairs if k in route.fields and how(f"body:{k}") == "hostile"}
    return json_body(pairs, ascii_only=ascii_only), covers
