"""A real server on its own event loop in a thread, for synchronous drivers such as hypothesis'
@given: the test thread runs coroutines on the server's loop and blocks, with a deadline, on
their results (a request that never completes fails the test instead of hanging it)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from pgqueue_server import ServerConfig
from tests.support.server import Server, serving_app

T = TypeVar("T")


@dataclass
class ThreadedServer:
    server: Server
    loop: asyncio.AbstractEventLoop

    def run(self, coro: Coroutine[Any, Any, T], within: float) -> T:
        """Run `coro` on the server's loop; TimeoutError when it takes over `within` s."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(within)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {within}s") from None


@contextlib.contextmanager
def served_in_thread(config: ServerConfig, within: float = 30.0) -> Iterator[ThreadedServer]:
    """Serve `config` (as `running` does) on a new loop in a thread, for the block."""
    loop = asyncio.new_event_loop()
    started: concurrent.futures.Future[Server] = concurrent.futures.Future()
    stop = asyncio.Event()

    async def serve() -> None:
        try:
            async with serving_app(config) as srv:
                started.set_result(srv)
                await stop.wait()
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            raise

    def main() -> None:
        asyncio.set_event_loop(loop)
        with contextlib.suppress(BaseException):
            loop.run_until_complete(serve())

    thread = threading.Thread(target=main, name="pgqueue-test-server", daemon=True)
    thread.start()
    try:
        yield ThreadedServer(started.result(within), loop)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(within)
        if not thread.is_alive():
            loop.close()
