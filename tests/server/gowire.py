"""The original Go client's requests, byte for byte, and the checks its decoder makes.

go-pg's `pkg/queue/httpclient` (at 2d74e0c) talks through github.com/mutablelogic/go-client
v1.4.9 over Go's net/http. Go is not installed here, so this module writes what that stack
puts on the wire, over a raw keep-alive socket (no aiohttp, which would add and normalise
headers):

* go-client `client.go:180-214` (request): the body is always the non-nil `Payload`, so
  every request carries `Content-Type: application/json` (even GET and DELETE) and
  `Accept: */*` unless the call names another (`text/event-stream` for NextTicker, which
  also sets `Cache-Control: no-cache` and `X-Accel-Buffering: no`).
* That body is go-client's own reader type, whose length net/http cannot know
  (`transfer.go`, `outgoingLength` = -1): PUT, POST and PATCH go out with
  `Transfer-Encoding: chunked` (PUT /task with an empty chunked body); GET and DELETE are
  probed first — an empty body is dropped, NextTicker's `null\\n` body goes chunked, its
  first byte in a chunk of its own (the probe).
* Header order as `Request.write` has it: Host, User-Agent `Go-http-client/1.1`, the
  transfer header, the request's headers sorted by name, then the Transport's
  `Accept-Encoding: gzip`.
* Bodies are `json.NewEncoder(...).Encode(v)` output: compact, field order of the struct,
  a trailing newline; the callers below spell them out as literal bytes.

On the way back (go-client `client.go:318-460`): a status outside 2xx decodes the body as
`httpresponse.ErrResponse` (`code` must equal the status); a 2xx must be
`application/json` to be decoded (a 204 without a body is an error to the caller); then
`encoding/json` fills the Go struct, which fails on a wrong JSON type for a field.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

GO_USER_AGENT = "Go-http-client/1.1"
# Go methods whose (possibly empty) body is probed before sending (transfer.go,
# requestMethodUsuallyLacksBody); every other method streams a chunked body unprobed.
PROBED = {"GET", "HEAD", "DELETE", "OPTIONS"}


@dataclass
class GoReply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class GoClient:
    """One keep-alive connection, as Go's Transport reuses it between calls."""

    base: str  # e.g. http://127.0.0.1:1234/api
    _reader: asyncio.StreamReader | None = field(default=None, repr=False)
    _writer: asyncio.StreamWriter | None = field(default=None, repr=False)

    @property
    def _url(self) -> Any:
        return urlsplit(self.base)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._reader = self._writer = None

    def request_bytes(
        self,
        method: str,
        path: str,
        query: str = "",
        body: bytes | None = None,
        *,
        stream: bool = False,
    ) -> bytes:
        """The request as Go writes it; `body` None is go-client's NewRequestEx (no JSON)."""
        url = self._url
        target = url.path.rstrip("/") + path + (f"?{query}" if query else "")
        headers = [f"Host: {url.netloc}", f"User-Agent: {GO_USER_AGENT}"]
        chunks: list[bytes] = []
        if method in PROBED:
            if body:  # probed: one byte, then the rest
                headers.append("Transfer-Encoding: chunked")
                chunks = [body[:1], body[1:]]
        elif method in ("POST", "PUT", "PATCH"):
            headers.append("Transfer-Encoding: chunked")
            chunks = [body] if body else []
        own = {"Accept": "text/event-stream" if stream else "*/*"}
        own["Content-Type"] = "application/json"
        if stream:
            own["Cache-Control"] = "no-cache"
            own["X-Accel-Buffering"] = "no"
        headers += [f"{k}: {own[k]}" for k in sorted(own)]
        headers.append("Accept-Encoding: gzip")
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n"
        out = head.encode()
        if any(h.startswith("Transfer-Encoding") for h in headers):
            for chunk in chunks:
                out += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
            out += b"0\r\n\r\n"
        return out

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._writer is None or self._writer.is_closing():
            url = self._url
            self._reader, self._writer = await asyncio.open_connection(url.hostname, url.port)
        assert self._reader is not None and self._writer is not None
        return self._reader, self._writer

    async def do(
        self, method: str, path: str, query: str = "", body: bytes | None = None
    ) -> GoReply:
        reader, writer = await self._connect()
        writer.write(self.request_bytes(method, path, query, body))
        await writer.drain()
        async with asyncio.timeout(10):
            status, headers = await _read_head(reader)
            payload = await _read_body(reader, headers, status, method)
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return GoReply(status, headers, payload)

    async def stream(self, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int]:
        """NextTicker: GET with Accept text/event-stream and the JSON body `null` (ticker.go:93),
        on a connection of its own. Returns the reader after the response head."""
        url = self._url
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        writer.write(self.request_bytes("GET", path, "", b"null\n", stream=True))
        await writer.drain()
        async with asyncio.timeout(10):
            status, headers = await _read_head(reader)
        assert headers.get("content-type", "").startswith("text/event-stream"), headers
        return reader, writer, status


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _read_body(
    reader: asyncio.StreamReader, headers: Mapping[str, str], status: int, method: str
) -> bytes:
    if status in (204, 304) or method == "HEAD":
        return b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                return out
            out += data[:-2]
    return await reader.readexactly(int(headers.get("content-length", "0")))


async def next_sse_event(reader: asyncio.StreamReader, within: float = 10.0) -> dict[str, str]:
    """The next event as go-client's TextStream.Decode yields it (textstream.go): fields
    trimmed, comments skipped; pings and data-less events are events too."""
    fields: dict[str, str] = {}
    async with asyncio.timeout(within):
        while True:
            line = (await reader.readline()).decode().strip()
            if not line:
                if fields:
                    return fields
                continue
            key, _, value = line.partition(":")
            if key.strip():
                fields[key.strip().lower()] = value.strip()


# ---- what encoding/json accepts for each Go field ---------------------------------------

# time.Time.UnmarshalJSON: strict RFC 3339 (Go 1.20+).
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
INT64_MAX = 2**63 - 1


def _check(kind: Any, value: Any, where: str) -> None:
    if value is None:
        return  # null leaves a pointer nil and any other Go value unchanged
    if isinstance(kind, list):
        assert isinstance(value, list), f"{where}: want an array, got {value!r}"
        for i, item in enumerate(value):
            _check(kind[0], item, f"{where}[{i}]")
    elif isinstance(kind, dict):
        go_decode(kind, value, where)
    elif kind == "uint64":
        assert type(value) is int and 0 <= value < 2**64, f"{where}: uint64, got {value!r}"
    elif kind == "duration":  # time.Duration is an int64 of nanoseconds
        assert type(value) is int and abs(value) <= INT64_MAX, f"{where}: ns, got {value!r}"
    elif kind == "time":
        assert isinstance(value, str) and _RFC3339.match(value), f"{where}: time, got {value!r}"
    elif kind == "string":
        assert isinstance(value, str), f"{where}: string, got {value!r}"
    else:
        assert kind == "any", kind


def go_decode(schema: Mapping[str, Any], doc: Any, where: str = "$") -> None:
    """Fail as Go's json.Unmarshal into the struct described by `schema` would."""
    assert isinstance(doc, dict), f"{where}: want an object, got {doc!r}"
    for name, kind in schema.items():
        _check(kind, doc.get(name), f"{where}.{name}")


# The Go structs the client decodes into (pkg/queue/schema at 2d74e0c, JSON names only).
QUEUE = {  # schema/queue.go:18-28
    "queue": "string",
    "ttl": "duration",
    "retries": "uint64",
    "retry_delay": "duration",
    "namespace": "string",
}
TASK = {  # schema/task.go:30-47
    "id": "uint64",
    "payload": "any",
    "delayed_at": "time",
    "worker": "string",
    "namespace": "string",
    "queue": "string",
    "result": "any",
    "created_at": "time",
    "started_at": "time",
    "finished_at": "time",
    "dies_at": "time",
    "retries": "uint64",
}
TASK_WITH_STATUS = {**TASK, "status": "string"}  # schema/task.go:49-52
TICKER = {  # schema/ticker.go:19-29
    "ticker": "string",
    "payload": "any",
    "interval": "duration",
    "namespace": "string",
    "timestamp": "time",
}
PAGING = {"offset": "uint64", "limit": "uint64"}  # go-pg offsetlimit.go:10-13


def go_list(item: Mapping[str, Any]) -> dict[str, Any]:
    """QueueList / TaskList / TickerList: {count, body, offset?, limit?}."""
    return {**PAGING, "count": "uint64", "body": [item]}


NAMESPACE_LIST = {"count": "uint64", "body": ["string"]}  # schema/namespace.go:14-17
ERROR = {"code": "uint64", "reason": "string"}  # go-server httpresponse/error.go:20-25
