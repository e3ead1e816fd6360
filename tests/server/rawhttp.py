"""HTTP/1.1 over a plain socket, for what ordinary clients refuse to send: any bytes in the
request line and headers, requests cut short, bytes trickled; and when the server closed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass
class RawReply:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def request(
    method: str,
    target: bytes | str,
    headers: Iterable[tuple[bytes | str, bytes | str]] = (),
    body: bytes = b"",
    *,
    close: bool = True,
) -> bytes:
    """The bytes of one request, exactly as given (nothing is encoded or checked)."""

    def raw(value: bytes | str) -> bytes:
        return value if isinstance(value, bytes) else value.encode("latin-1")

    lines = [raw(method) + b" " + raw(target) + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [raw(name) + b": " + raw(value) for name, value in headers]
    if body:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def read_reply(
    reader: asyncio.StreamReader, *, head_only: bool = False, within: float = 10.0
) -> RawReply:
    """One response: the head, then a body by Content-Length or chunks. An event stream's
    body is not read (it never ends); `head_only` (a HEAD request) reads no body."""
    async with asyncio.timeout(within):
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ")[1])
        headers = {}
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = b""
        if head_only or status in (204, 304):
            pass
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("content-type", "").startswith("text/event-stream"):
            pass
        elif headers.get("transfer-encoding") == "chunked":
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if not size:
                    break
                body += chunk[:-2]
        else:
            body = await reader.read()
        return RawReply(status, headers, body)


@contextlib.asynccontextmanager
async def connection(
    port: int,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def exchange(port: int, data: bytes, *, within: float = 10.0) -> RawReply:
    """Send `data` on a new connection and read the one response."""
    async with connection(port) as (reader, writer):
        writer.write(data)
        await writer.drain()
        return await read_reply(reader, head_only=data.startswith(b"HEAD "), within=within)


async def closed_after(reader: asyncio.StreamReader, within: float) -> tuple[float, bytes]:
    """Read until the server closes the connection: the seconds that took, and what it sent.
    Fails when the connection is still open after `within` seconds."""
    started = time.monotonic()
    received = b""
    async with asyncio.timeout(within):
        while True:
            try:
                chunk = await reader.read(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    return time.monotonic() - started, received


def port_of(base: str) -> int:
    """The port of a server's base URL (http://127.0.0.1:PORT/prefix)."""
    return int(base.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
