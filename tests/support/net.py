"""Ports for processes that bind their own."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port free right now (the process binds it itself, so the OS cannot pick it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
