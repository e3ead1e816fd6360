"""The database goes away under a running server: the CLI exits 4 with the server's 503."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.support.cli import Server, assert_error, run_cli


class TcpProxy:
    """Forwards 127.0.0.1:port to the database until `close()` cuts every connection."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)  # lets the accept loop see `closed`
        self.port = int(self.listener.getsockname()[1])
        self.closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.closed.set()
        self.listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


@pytest.fixture
def proxied_dsn(dsn: str) -> Iterator[tuple[str, TcpProxy]]:
    parts = urlsplit(dsn)
    if not parts.hostname or parts.hostname.startswith("/") or "host=" in parts.query:
        pytest.skip("the test database is not reached over TCP")
    proxy = TcpProxy(parts.hostname, parts.port or 5432)
    netloc = parts.netloc.rsplit("@", 1)
    address = f"127.0.0.1:{proxy.port}"
    proxied = urlunsplit(
        parts._replace(netloc=f"{netloc[0]}@{address}" if len(netloc) == 2 else address)
    )
    try:
        yield proxied, proxy
    finally:
        proxy.close()


def test_database_outage_is_exit_4_with_retry_after(
    proxied_dsn: tuple[str, TcpProxy], log_dir: str
) -> None:
    dsn, proxy = proxied_dsn
    server = Server(dsn, log_dir=log_dir)
    server.start()
    try:
        assert run_cli("queues", url=server.url).code == 0
        proxy.close()
        result = run_cli("create-queue", "q", url=server.url)
        assert_error(result, 4, "retry after")
    finally:
        server.stop()
