"""The server's JSON writer: msgspec, for speed, and so that JSON text stored by another
client that Python cannot read (`RawJSON`) goes out exactly as it is stored."""

from __future__ import annotations

from typing import Any

import msgspec

from pgqueue_core.models import RawJSON


def _raw(value: Any) -> Any:
    if isinstance(value, RawJSON):
        return msgspec.Raw(value.text.encode())
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


_ENCODER = msgspec.json.Encoder(enc_hook=_raw)


def dumps(value: Any, **_: Any) -> bytes:
    """Compact JSON bytes (Sanic passes no options; any are ignored)."""
    return _ENCODER.encode(value)
