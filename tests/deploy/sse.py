"""A minimal Server-Sent Events reader for the deployment tests (events with arrival times)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass(frozen=True)
class Received:
    source: str  # which server sent it
    event: str
    id: str | None
    data: Any
    at: float = field(default_factory=time.time)  # wall clock on arrival (same host)


async def read_events(
    session: aiohttp.ClientSession, url: str, source: str, into: list[Received]
) -> None:
    """Append every event of the stream at `url` to `into` until the stream ends or the
    task is cancelled (comments and `retry:` hints are skipped)."""
    headers = {"Accept": "text/event-stream"}
    async with session.get(url, headers=headers) as resp:
        assert resp.status == 200, f"{source}: {resp.status} {await resp.text()}"
        assert resp.content_type == "text/event-stream"
        fields: dict[str, list[str]] = {}
        async for raw in resp.content:
            line = raw.decode().rstrip("\r\n")
            if not line:
                if "data" in fields:
                    into.append(
                        Received(
                            source,
                            fields.get("event", ["message"])[0],
                            fields.get("id", [None])[0],
                            json.loads("\n".join(fields["data"])),
                        )
                    )
                fields = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)
