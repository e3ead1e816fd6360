"""What `pgqueue run` checks in its TLS files before serving them, with public APIs only.

Sanic serves a certificate under the host names of its subjectAltName and fails on one
without (so does every current client: none reads the subject's CN any more). The standard
library decodes a certificate only for a handshake's peer, so the extension is looked up in
the certificate's DER encoding: a walk of four nested ASN.1 elements (RFC 5280, 4.1).
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
from collections.abc import Iterator

_PEM_CERTIFICATE = re.compile(
    r"-----BEGIN (?:TRUSTED )?CERTIFICATE-----(?P<body>[A-Za-z0-9+/=\s]+?)"
    r"-----END (?:TRUSTED )?CERTIFICATE-----"
)
# The DER encoding of OID 2.5.29.17, id-ce-subjectAltName: tag, length, value.
_SUBJECT_ALT_NAME = bytes.fromhex("0603551d11")
_EXTENSIONS = 0xA3  # [3] EXPLICIT, the last field of TBSCertificate


def check_tls_files(cert: str, key: str) -> None:
    """RuntimeError with a clear message when Sanic could not serve `cert` and `key`."""
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise RuntimeError(f"cannot use --tls-cert/--tls-key: {exc}") from exc
    try:
        with open(cert, encoding="ascii", errors="replace") as file:
            named = has_subject_alt_name(file.read())
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"cannot read the certificate {cert}: {exc}") from exc
    if not named:
        raise RuntimeError(
            f"the certificate {cert} has no subjectAltName "
            "(add one, e.g. DNS:localhost,IP:127.0.0.1)"
        )


def has_subject_alt_name(pem: str) -> bool:
    """Whether the first certificate of a PEM text (the one a server presents, as
    `load_cert_chain` takes it) has a subjectAltName extension. ValueError if unreadable."""
    match = _PEM_CERTIFICATE.search(pem)
    if match is None:
        raise ValueError("no PEM certificate found")
    try:
        der = base64.b64decode("".join(match.group("body").split()), validate=True)
        return _SUBJECT_ALT_NAME in _extension_ids(der)
    except (binascii.Error, IndexError) as exc:
        raise ValueError(f"not a DER certificate ({exc})") from None


def _extension_ids(der: bytes) -> list[bytes]:
    """The encoded OIDs of a DER certificate's extensions (none for a v1 certificate)."""
    _, start, end = _element(der, 0)  # Certificate ::= SEQUENCE
    _, start, end = _element(der, start)  # tbsCertificate ::= SEQUENCE
    for tag, value, _ in _elements(der, start, end):
        if tag == _EXTENSIONS:
            _, start, end = _element(der, value)  # Extensions ::= SEQUENCE OF Extension
            # Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, ... }
            return [der[ext : _element(der, ext)[2]] for _, ext, _ in _elements(der, start, end)]
    return []


def _elements(der: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """The (tag, value start, value end) of each element in der[start:end]."""
    while start < end:
        tag, value, start = _element(der, start)
        yield tag, value, start


def _element(der: bytes, at: int) -> tuple[int, int, int]:
    """(tag, value start, value end) of the DER element at `at` (single-byte tags only: a
    certificate uses no others)."""
    tag, length = der[at], der[at + 1]
    at += 2
    if length & 0x80:  # long form: the next (length & 0x7f) bytes hold the length
        size = length & 0x7F
        length = int.from_bytes(der[at : at + size], "big")
        at += size
    if at + length > len(der):
        raise IndexError("truncated element")
    return tag, at, at + length
