"""Opaque pagination cursors, signed and bound to the tenant and the query.

A cursor is `base64url(json(position)).base64url(mac)`, where the MAC covers the
tenant, a fingerprint of the query that made it, and the position.  Altered
bytes, another tenant or another query all fail the MAC → `invalid_cursor`.

Only the exact string the server issued is accepted: base64 decoders forgive a lot
(padding, the standard alphabet's `+/`, whitespace and other skipped characters,
non-zero unused bits), so a cursor is decoded, re-encoded and compared with what
it was.  Any other spelling of the same bytes is `invalid_cursor` too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

from common.runtime.errors import InvalidCursor
from common.store.secrets import derived_key

_MAC_BYTES = 16
# Unpadded base64url, two parts: what `encode` writes and nothing else.
_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _query_fingerprint(query: Mapping[str, Any]) -> bytes:
    canonical = json.dumps(dict(query), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()


def _mac(tenant: str, query: Mapping[str, Any], payload: bytes) -> bytes:
    message = tenant.encode() + b"\x00" + _query_fingerprint(query) + b"\x00" + payload
    return hmac.new(derived_key("cursor"), message, hashlib.sha256).digest()[:_MAC_BYTES]


def encode(tenant: str, query: Mapping[str, Any], position: Mapping[str, Any]) -> str:
    """A cursor for `position` (e.g. a LastEvaluatedKey) within this tenant's `query`."""
    payload = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(payload)}.{_b64(_mac(tenant, query, payload))}"


def decode(token: str, tenant: str, query: Mapping[str, Any]) -> dict[str, Any]:
    """The position inside `token`, or `invalid_cursor` if it was not made for this query."""
    if not _SHAPE.fullmatch(token):
        raise InvalidCursor()
    payload_part, mac_part = token.split(".", 1)
    try:
        payload, mac = _unb64(payload_part), _unb64(mac_part)
    except ValueError:  # a length no base64 encoding has (4n + 1)
        raise InvalidCursor() from None
    # Canonical form: re-encoding gives back the very characters (no padding, no
    # stray bits in the last character).  Not secret-dependent, so a plain compare.
    if f"{_b64(payload)}.{_b64(mac)}" != token:
        raise InvalidCursor()
    if not hmac.compare_digest(mac, _mac(tenant, query, payload)):
        raise InvalidCursor()
    try:
        position = json.loads(payload)
    except ValueError:  # pragma: no cover - a valid MAC over invalid JSON needs our key
        raise InvalidCursor() from None
    if not isinstance(position, dict):  # pragma: no cover - same
        raise InvalidCursor()
    return position
