"""A real pgqueue app served in the test's own event loop (on a port the OS picks), a small
aiohttp client for it, and a reader of its Server-Sent Events."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from sanic import Sanic

from pgqueue_server import GuardedHttpProtocol, ServerConfig, create_app

from .waiting import wait_for

# Many apps start in one process here: Sanic's test mode lets each re-apply its start-up
# code rewriting ("touchup") instead of failing on the already rewritten methods.
Sanic.test_mode = True


@dataclass
class Reply:
    status: int
    headers: Any
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Server:
    """A running server: `base` is the URL of the API prefix."""

    app: Sanic
    base: str
    session: aiohttp.ClientSession
    config: ServerConfig

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        data: bytes | str | None = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
    ) -> Reply:
        hdrs = dict(headers or {})
        if token is None:
            token = self.config.token
        if token:
            hdrs.setdefault("Authorization", f"Bearer {token}")
        kwargs: dict[str, Any] = {"params": params, "headers": hdrs}
        if body is not None:
            kwargs["json"] = body
        elif data is not None:
            kwargs["data"] = data
        async with self.session.request(method, self.base + path, **kwargs) as resp:
            return Reply(resp.status, resp.headers, await resp.text())

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return await self.call("POST", path, body=body, **kw)

    async def put(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return await self.call("PUT", path, body=body, **kw)

    async def patch(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return await self.call("PATCH", path, body=body, **kw)

    async def delete(self, path: str, **kw: Any) -> Reply:
        return await self.call("DELETE", path, **kw)


def make_config(dsn: str, **changes: Any) -> ServerConfig:
    """A config for tests: small pool, quick SSE polling, an app name of its own (tests run
    several apps at once, and Sanic's registry holds one app per name)."""
    base = ServerConfig(
        dsn=dsn,
        pool_min=1,
        pool_max=4,
        acquire_timeout=5.0,
        app_name=f"pgqueue_{uuid.uuid4().hex[:12]}",
    )
    return dataclasses.replace(base, **changes)


@contextlib.asynccontextmanager
async def serving_app(config: ServerConfig, *, port: int = 0) -> AsyncIterator[Server]:
    """Serve `config` on 127.0.0.1 at a port the OS picks (or `port`: a restart on the port
    of a server that stopped), inside this event loop; the app leaves Sanic's registry of
    apps when it stops."""
    app = create_app(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    server = await app.create_server(
        sock=sock,
        return_asyncio_server=True,
        access_log=False,
        protocol=GuardedHttpProtocol,
        # Accept connections only once the listeners have run: clients of a server that
        # restarts on its port reconnect at once, and must not meet an app without a pool.
        asyncio_server_kwargs={"start_serving": False},
    )
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.start_serving()
    await server.after_start()
    session = aiohttp.ClientSession()
    try:
        yield Server(app, f"http://127.0.0.1:{port}{config.prefix}", session, config)
    finally:
        await session.close()
        await server.before_stop()
        server.close()
        await server.wait_closed()
        # As Sanic's own shutdown: idle keep-alive connections close now, busy ones get a
        # grace period, then whatever is left is aborted.
        for conn in list(server.connections):
            conn.close_if_idle()
        with contextlib.suppress(AssertionError):
            await wait_for(lambda: not server.connections, 2.0, "connections to close")
        for conn in list(server.connections):
            conn.abort()
        await server.after_stop()
        sock.close()
        Sanic.unregister_app(app)


@dataclass
class Event:
    event: str
    id: str | None
    data: str

    @property
    def json(self) -> Any:
        return json.loads(self.data)


class EventStream:
    """A Server-Sent Events response read line by line: events, comments and `retry:`."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.comments: list[str] = []
        self.retry: int | None = None

    async def next_event(self, within: float = 5.0) -> Event:
        """The next event (comments and retry hints are recorded on the way)."""
        async with asyncio.timeout(within):
            fields: dict[str, list[str]] = {}
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    raise EOFError("the stream ended")
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if "data" in fields or "event" in fields:
                        return Event(
                            fields.get("event", ["message"])[0],
                            fields.get("id", [None])[0],
                            "\n".join(fields.get("data", [])),
                        )
                    continue
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "retry":
                    self.retry = int(value)
                else:
                    fields.setdefault(name, []).append(value)

    async def next_comment(self, within: float = 5.0) -> str:
        """The next comment line (e.g. a keep-alive)."""
        seen = len(self.comments)
        async with asyncio.timeout(within):
            while len(self.comments) <= seen:
                raw = await self.response.content.readline()
                if not raw:
                    raise EOFError("the stream ended")
                line = raw.decode().rstrip("\r\n")
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                elif line.startswith("retry:"):
                    self.retry = int(line.partition(":")[2])
        return self.comments[seen]


@contextlib.asynccontextmanager
async def open_stream(
    srv: Server,
    path: str = "/ticker/next",
    *,
    namespace: str | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[EventStream]:
    """An SSE stream of the server, closed (the client goes away) when the block ends."""
    hdrs = {"Accept": "text/event-stream", **(headers or {})}
    if srv.config.token:
        hdrs.setdefault("Authorization", f"Bearer {srv.config.token}")
    params = {"namespace": namespace} if namespace else None
    # A separate session per stream, so closing it really drops the connection.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        resp = await session.get(srv.base + path, headers=hdrs, params=params)
        try:
            yield EventStream(resp)
        finally:
            resp.close()
